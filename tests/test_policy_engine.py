"""The engine over several ticks and across process types: learning, the web model, app bounds,
and the invariants every decision keeps (property tests)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from autoscaler import queueing
from autoscaler.config import Schedule, process_config
from autoscaler.policy import (
    AppLimits,
    EngineConfig,
    Observation,
    ProcessState,
    Reason,
    Window,
    bounds,
    decide,
    decide_formation,
    heroku_limit,
    mark_applied,
    monthly_price,
)
from autoscaler.signals import Reading

NOW = 1_699_950_600.0


def worker(**overrides: Any) -> EngineConfig:
    """The engine's configuration of a worker process, as the settings build it."""
    values: dict[str, Any] = {"source": "rq", "min_dynos": 1, "max_dynos": 20, "jobs_per_dyno": 10}
    values.update(overrides)
    return process_config(**values).engine()


def web(**overrides: Any) -> EngineConfig:
    """The engine's configuration of a web process, as the settings build it."""
    values: dict[str, Any] = {"source": "web", "min_dynos": 1, "max_dynos": 40, "queue_time_ms": 50}
    values.update(overrides)
    return process_config(**values).engine()


def obs(quantity: int, reading: Reading, process: str = "worker", size: str = "Standard-1X") -> Observation:
    return Observation(process, quantity, size, reading)


# --- learning from successive readings ----------------------------------------------------------


def test_throughput_is_measured_from_successive_readings() -> None:
    """Two saturated readings 15 s apart give the per-dyno throughput: the backlog fell by 30 while
    jobs kept arriving (depth / latency = 2/s), so 4 dynos did (30/15 + 2) / 4 = 1 job/s each."""
    config = worker(jobs_per_dyno=None, max_latency=600)
    state = ProcessState(history=((NOW - 10, 4),), arrival_rate=2.0, previous=(NOW - 15, 330, 150.0))
    _, new_state = decide(obs(4, Reading(at=NOW, depth=300, latency=150.0, busy=4)), state, config, NOW)
    assert new_state.per_dyno_rate is not None
    assert abs(1.0 - new_state.per_dyno_rate) < 1e-9


def test_throughput_counts_dynos_that_booted_sooner_than_boot_time() -> None:
    """2 of 4 dynos were added 20 s ago (BOOT_TIME 60 s), yet 20 jobs run at CONCURRENCY 5: all 4
    serve, and the throughput is per 4 dynos, not per the 2 the boot time counts."""
    config = worker(jobs_per_dyno=None, max_latency=600, concurrency=5)
    state = ProcessState(
        history=((NOW - 10, 4),), ups=((NOW - 20, 2),), arrival_rate=2.0, previous=(NOW - 15, 330, 150.0)
    )
    _, new_state = decide(obs(4, Reading(at=NOW, depth=300, latency=150.0, busy=20)), state, config, NOW)
    assert new_state.per_dyno_rate == 1.0
    prefetched = Reading(at=NOW, depth=300, latency=150.0, busy=80)  # more than the whole formation runs
    _, capped = decide(obs(4, prefetched), state, config, NOW)
    assert capped.per_dyno_rate == 1.0  # never counted over the formation's 4 dynos


def test_throughput_is_not_learned_from_idle_dynos() -> None:
    """With an empty queue the dynos are not saturated: no throughput sample is taken."""
    config = worker(jobs_per_dyno=None, max_latency=600)
    state = ProcessState(history=((NOW - 10, 4),), arrival_rate=2.0, previous=(NOW - 15, 0, 0.0))
    _, new_state = decide(obs(4, Reading(at=NOW, depth=0, latency=0.0, busy=1)), state, config, NOW)
    assert new_state.per_dyno_rate is None


def test_lower_bound_latency_is_not_used_for_arrivals() -> None:
    """A latency that is only a lower bound (Celery without stamps) does not feed Little's law."""
    config = worker(jobs_per_dyno=None, max_latency=60)
    reading = Reading(at=NOW, depth=100, latency=10.0, busy=1, latency_is_lower_bound=True)
    _, new_state = decide(obs(2, reading), ProcessState(history=((NOW - 5, 2),)), config, NOW)
    assert new_state.arrival_rate is None


# --- web: proportional and model ------------------------------------------------------------------


def web_reading(rate: float, p95: float, app_time: float = 120.0) -> Reading:
    return Reading(at=NOW, rate=rate, queue_time_p95=p95, queue_time_p50=0.0, app_time=app_time)


def test_web_proportional_within_tolerance_holds() -> None:
    """p95 queue time within 10 % under the target: no change (no rate, so no model)."""
    reading = Reading(at=NOW, queue_time_p95=47.0)
    decision, _ = decide(obs(5, reading, "web"), ProcessState(history=((NOW - 5, 5),)), web(), NOW)
    assert (5, Reason.WITHIN_TARGET) == (decision.desired, decision.reason)


def test_web_proportional_scales_on_queue_time() -> None:
    """p95 at twice the target doubles the dynos (no rate, so the proportional rule alone)."""
    reading = Reading(at=NOW, queue_time_p95=100.0)
    decision, _ = decide(obs(5, reading, "web"), ProcessState(history=((NOW - 5, 5),)), web(), NOW)
    assert (10, Reason.SCALE_UP) == (decision.desired, decision.reason)


def test_web_model_matches_the_worked_example() -> None:
    """150 req/s × 120 ms on 4 processes per dyno, p95 wait ≤ 50 ms → 11 dynos (the
    observed p95 is what the model predicts at 11 dynos, 34 ms, so the online correction stays at 1)."""
    reading = web_reading(150.0, queueing.wait_quantile(4, 150.0 / 11, 0.120, 0.95) * 1000)
    decision, _ = decide(
        obs(11, reading, "web"), ProcessState(history=((NOW - 5, 11),)), web(processes_per_dyno=4), NOW
    )
    assert (11, 11) == (decision.recommendation, decision.desired)


def test_web_model_correction_learns_a_slower_app() -> None:
    """When the observed p95 is higher than the model predicts at the current dynos, the app-time
    correction grows, so the next model answer asks for more dynos."""
    config = web(processes_per_dyno=4)
    predicted = queueing.wait_quantile(4, 150.0 / 10, 0.120, 0.95) * 1000
    state = ProcessState(history=((NOW - 5, 10),))
    for _ in range(10):
        _, state = decide(obs(10, web_reading(150.0, predicted * 3), "web"), state, config, NOW)
    assert state.correction > 1.1


# --- applied changes, manual changes --------------------------------------------------------------


def test_mark_applied_records_boots_and_removals() -> None:
    """A scale-up is remembered for BOOT_TIME, a scale-down for the per-minute limit."""
    state = mark_applied(ProcessState(), previous=2, quantity=5, now=NOW, boot_time=60)
    state = mark_applied(state, previous=5, quantity=4, now=NOW + 10, boot_time=60)
    assert (((NOW, 3),), ((NOW + 10, 1),), 4) == (state.ups, state.downs, state.last_set)


def test_manual_change_is_detected_and_held() -> None:
    """A formation that differs from what the daemon set is a manual change: flagged, and its quantity
    is the floor for MANUAL_HOLD seconds."""
    config = worker(downscale_delay=0, manual_hold=600)
    state = ProcessState(history=((NOW - 5, 2),), last_set=2)
    first, state = decide(obs(6, Reading(at=NOW, depth=0, latency=0.0, busy=0)), state, config, NOW)
    later, state = decide(obs(6, Reading(at=NOW + 601, depth=0, latency=0.0, busy=0)), state, config, NOW + 601)
    assert (True, 6, Reason.HELD_MANUAL) == (first.manual_change, first.desired, first.reason)
    assert (False, 1, Reason.SCALE_DOWN) == (later.manual_change, later.desired, later.reason)


# --- the formation: app limit and budget -------------------------------------------------------


def test_app_limit_trims_the_lowest_priority_first() -> None:
    """Heroku's 100 dynos per app: the process with the lower PRIORITY gives way."""
    configs = {"urgent": worker(max_dynos=90, priority=10), "batch": worker(max_dynos=90, priority=0)}
    reading = Reading(at=NOW, depth=600, latency=1.0, busy=0)
    observations = {name: obs(60, reading, name) for name in configs}
    states = {name: ProcessState(history=((NOW - 5, 60),)) for name in configs}
    decisions, _ = decide_formation(observations, states, configs, NOW, AppLimits(other_dynos=2))
    assert (60, 38, Reason.CLAMPED_TO_APP_LIMIT) == (
        decisions["urgent"].desired,
        decisions["batch"].desired,
        decisions["batch"].reason,
    )


def test_budget_trims_the_lowest_priority_first() -> None:
    """With a $300 ceiling, 10 + 10 Standard-1X ($500) loses 8 dynos from the low-priority process."""
    configs = {"urgent": worker(priority=5), "batch": worker(priority=1)}
    observations = {name: obs(10, Reading(at=NOW, depth=100, latency=1.0, busy=0), name) for name in configs}
    states = {name: ProcessState(history=((NOW - 5, 10),)) for name in configs}
    decisions, _ = decide_formation(observations, states, configs, NOW, AppLimits(max_monthly_cost=300))
    assert (10, 2, Reason.CLAMPED_TO_BUDGET) == (
        decisions["urgent"].desired,
        decisions["batch"].desired,
        decisions["batch"].reason,
    )


def test_budget_never_lowers_a_process_with_unknown_data() -> None:
    """Unknown data never lowers a formation, not even for the budget: its floor is its current quantity."""
    configs = {"blind": worker(priority=0), "seen": worker(priority=5)}
    observations = {
        "blind": obs(8, Reading.unknown(NOW, "down"), "blind"),
        "seen": obs(4, Reading(at=NOW, depth=40, latency=1.0, busy=0), "seen"),
    }
    states = {name: ProcessState(history=((NOW - 5, observations[name].quantity),)) for name in configs}
    decisions, _ = decide_formation(observations, states, configs, NOW, AppLimits(max_monthly_cost=250))
    assert (8, 2) == (decisions["blind"].desired, decisions["seen"].desired)


def test_price_overrides() -> None:
    """AUTOSCALER_PRICES overrides the catalogue; unknown sizes have no price."""
    assert (45.0, 25.0, None) == (
        monthly_price("Standard-2X", {"standard-2x": 45.0}),
        monthly_price("standard-1x", {}),
        monthly_price("Mystery", {}),
    )


# --- the engine's configuration ------------------------------------------------------------------


def test_engine_config_is_built_from_the_settings() -> None:
    """ProcessConfig.engine() copies every value the engine reads, by name; the schedules become plain
    windows and the source only says whether the process is web."""
    window = Schedule(cron="0 8 * * *", duration=7200, min_dynos=5)
    settings = process_config(source="web", max_dynos=8, queue_time_ms=80, size="standard-2x", schedules=[window])
    config = settings.engine()
    copied = {f.name for f in dataclasses.fields(EngineConfig)} - {"web", "schedules"}
    assert {name: getattr(settings, name) for name in copied} == {name: getattr(config, name) for name in copied}
    assert (True, (Window("0 8 * * *", "UTC", 7200, 5, None),)) == (config.web, config.schedules)


def test_engine_does_not_load_the_settings() -> None:
    """The engine imports nothing of the settings model (nor pydantic): it runs on plain values."""
    code = "import sys, autoscaler.policy; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'"
    code += " or m == 'autoscaler.config'))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[]" == loaded.strip()


def test_formation_accepts_the_settings_as_configs() -> None:
    """decide_formation builds the engine's configuration itself when given the settings."""
    settings = {"worker": process_config(source="rq", max_dynos=20, jobs_per_dyno=10)}
    observations = {"worker": obs(2, Reading(at=NOW, depth=45, latency=1.0, busy=0))}
    from_settings, _ = decide_formation(observations, {}, settings, NOW)
    from_engine, _ = decide_formation(observations, {}, {"worker": settings["worker"].engine()}, NOW)
    assert from_engine == from_settings


# --- invariants -------------------------------------------------------------------------------------

readings = st.one_of(
    st.builds(
        Reading,
        at=st.just(NOW),
        depth=st.one_of(st.none(), st.integers(0, 100_000)),
        latency=st.one_of(st.none(), st.floats(0, 10_000)),
        busy=st.one_of(st.none(), st.integers(0, 500)),
    ),
    st.builds(Reading.unknown, at=st.just(NOW), error=st.just("down")),
)
configs = st.builds(
    lambda low, span, jpd, lat, delay, size_limit: worker(
        min_dynos=low,
        max_dynos=low + span,
        jobs_per_dyno=jpd,
        max_latency=lat if lat or not jpd else None,
        downscale_delay=delay,
        size_limit=size_limit,
    ),
    st.integers(0, 5),
    st.integers(0, 30),
    st.one_of(st.none(), st.integers(1, 100)),
    st.one_of(st.none(), st.integers(1, 600)),
    st.sampled_from([0, 60, 300]),
    st.one_of(st.none(), st.integers(10, 30)),
)
histories = st.lists(st.tuples(st.floats(NOW - 900, NOW), st.integers(0, 60)), max_size=6).map(
    lambda entries: tuple(sorted(entries))
)
size_names = st.sampled_from(["Standard-1X", "Basic", "Performance-M", "Eco"])


@given(quantity=st.integers(0, 60), reading=readings, config=configs, history=histories, size=size_names)
def test_desired_stays_within_bounds_and_limits(
    quantity: int, reading: Reading, config: EngineConfig, history: tuple[tuple[float, int], ...], size: str
) -> None:
    """MIN ≤ desired ≤ MAX (after schedules), and never above Heroku's per-type limit."""
    decision, _ = decide(obs(quantity, reading, size=size), ProcessState(history), config, NOW)
    low, high = bounds(config, NOW)
    limit = heroku_limit(config, size)
    cap = high if limit is None else min(high, limit)
    assert min(low, cap) <= decision.desired <= cap


@given(quantity=st.integers(0, 60), config=configs, history=histories)
def test_never_scales_down_on_unknown_data(
    quantity: int, config: EngineConfig, history: tuple[tuple[float, int], ...]
) -> None:
    """An unknown reading never lowers the formation, except to obey MAX_DYNOS."""
    decision, _ = decide(obs(quantity, Reading.unknown(NOW, "x")), ProcessState(history), config, NOW)
    assert decision.desired >= min(quantity, config.max_dynos)


@given(quantity=st.integers(0, 60), reading=readings, config=configs, history=histories)
def test_never_more_than_the_step_limits(
    quantity: int, reading: Reading, config: EngineConfig, history: tuple[tuple[float, int], ...]
) -> None:
    """One tick adds at most max(SCALE_UP_DYNOS, SCALE_UP_PERCENT %) unless raised to MIN_DYNOS."""
    decision, _ = decide(obs(quantity, reading), ProcessState(history), config, NOW)
    step = max(config.scale_up_dynos, -(-quantity * int(config.scale_up_percent) // 100))
    assert decision.desired <= max(quantity + step, config.min_dynos)


@given(quantity=st.integers(0, 60), reading=readings, config=configs, history=histories)
def test_idempotent_when_nothing_changes(
    quantity: int, reading: Reading, config: EngineConfig, history: tuple[tuple[float, int], ...]
) -> None:
    """Deciding again at the same moment, on the same reading and the same formation (nothing was
    applied: a dry run, or a PATCH that failed), with the state the first decision returned, gives the
    same decision: a reading is learned from once, and repeating a recommendation changes nothing."""
    first, state = decide(obs(quantity, reading), ProcessState(history), config, NOW)
    second, _ = decide(obs(quantity, reading), state, config, NOW)
    assert (first.desired, first.reason) == (second.desired, second.reason)


@given(
    quantities=st.tuples(st.integers(0, 40), st.integers(0, 40)),
    budget=st.floats(50, 2000),
    depths=st.tuples(st.integers(0, 5000), st.integers(0, 5000)),
)
def test_budget_is_respected_above_the_floors(
    quantities: tuple[int, int], budget: float, depths: tuple[int, int]
) -> None:
    """The formation's cost stays within the budget unless the floors (MIN_DYNOS) alone exceed it."""
    configs = {"a": worker(max_dynos=40, priority=1), "b": worker(max_dynos=40, priority=2)}
    observations = {
        name: obs(q, Reading(at=NOW, depth=d, latency=1.0, busy=0), name)
        for name, q, d in zip("ab", quantities, depths, strict=True)
    }
    decisions, _ = decide_formation(observations, {}, configs, NOW, AppLimits(max_monthly_cost=budget))
    cost = sum(d.desired * 25.0 for d in decisions.values())
    floors = sum(c.min_dynos * 25.0 for c in configs.values())
    assert cost <= max(budget, floors)
