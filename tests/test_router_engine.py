"""The engine on a ``router`` process: the response-time rule and model, memory over quota, and
the decision line of a router reading."""

from __future__ import annotations

import logging
import math
from typing import Any

import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import CapturingLogger

from autoscaler import queueing
from autoscaler.config import load_settings, process_config
from autoscaler.decision_log import DecisionLog
from autoscaler.notify import Alerts, NullNotifier
from autoscaler.policy import (
    AppLimits,
    EngineConfig,
    Observation,
    ProcessState,
    Reason,
    bounds,
    decide,
    decide_formation,
)
from autoscaler.policy.response import APP_P95_FACTOR, ResponseModel, fit_app, fit_correction
from autoscaler.policy.rules import recommend
from autoscaler.signals import Reading

NOW = 1_699_950_600.0
SIZE = "Standard-2X"


def router(**overrides: Any) -> EngineConfig:
    """The engine's configuration of a router process, as the settings build it."""
    values: dict[str, Any] = {
        "source": "router",
        "min_dynos": 1,
        "max_dynos": 40,
        "response_time_ms": 400,
        "processes_per_dyno": 4,
    }
    values.update(overrides)
    return process_config(**values).engine()


def p95_ms(rate: float, dynos: int, app_ms: float = 120.0, k: int = 4) -> float:
    """The p95 response time random routing gives: what the router would report."""
    return queueing.response_quantile(k, rate / dynos, app_ms / 1000) * 1000


def reading(rate: float, p95: float | None, at: float = NOW, **fields: Any) -> Reading:
    return Reading(
        at=at, rate=rate, response_time_p50=None if p95 is None else p95 / 4, response_time_p95=p95, **fields
    )


def run(config: EngineConfig, quantity: int, readings: list[Reading], state: ProcessState | None = None) -> Any:
    """Decides each reading in turn at its own time, applying nothing; returns the last decision and state."""
    state = state or ProcessState(history=((NOW - 10, quantity),))
    decision = None
    for one in readings:
        decision, state = decide(Observation("web", quantity, SIZE, one), state, config, one.at)
    return decision, state


# --- the configuration ------------------------------------------------------------------------------


def test_router_settings_give_the_engine_the_response_time_target() -> None:
    """RESPONSE_TIME_MS reaches the engine; a router process is not a middleware web process."""
    config = router(response_time_ms=500)
    assert (500, None, False) == (config.response_time_ms, config.queue_time_ms, config.web)


# --- the model ------------------------------------------------------------------------------------------


def test_the_model_is_the_m_m_k_response_time_without_correction() -> None:
    """With no correction, the response-time tail is queueing's M/M/k one (wait plus app time)."""
    model = ResponseModel(4, 0.120)
    for per_dyno in (1.0, 10.0, 25.0, 33.0):
        for t in (0.1, 0.371, 1.0):
            assert math.isclose(queueing.response_tail(4, per_dyno, 0.120, t), model.tail(per_dyno, t), rel_tol=1e-9)


def test_the_model_sizes_the_worked_example() -> None:
    """150 req/s × 120 ms on 4 processes per dyno, p95 response ≤ 371 ms: 11 dynos, as many as keep
    the p95 queue wait under 50 ms (371 ms is that wait's response-time equivalent)."""
    assert 11 == queueing.dynos_for_random_routing(150.0, 0.120, 4, 0.050)
    assert 11 == ResponseModel(4, 0.120).dynos(150.0, 0.371, 160)


def test_fits_recover_the_app_time_and_the_correction() -> None:
    """From a p95 the model produced, the fits find the app time and the correction it was made with."""
    assert math.isclose(0.120, fit_app(4, 5.0, 1.0, p95_ms(5.0, 1) / 1000), rel_tol=1e-6)
    slower = ResponseModel(4, 0.120, 2.0)
    low, high = 0.0, 10.0
    for _ in range(100):  # the p95 of the corrected model at 12 req/s per dyno
        middle = (low + high) / 2
        low, high = (middle, high) if slower.tail(12.0, middle) > 0.05 else (low, middle)
    assert math.isclose(2.0, fit_correction(4, 12.0, 0.120, high), rel_tol=1e-6)


# --- learning -----------------------------------------------------------------------------------------


def test_the_app_time_is_learned_from_quiet_readings() -> None:
    """At 20 req/s on 10 dynos the dynos are far from saturated: the p95 response time is the app's,
    and the app time comes out at the 120 ms that produced it, though the first guess was off."""
    config = router()
    quiet = [reading(20.0, p95_ms(20.0, 10), at=NOW + 15 * i) for i in range(20)]
    _, state = run(config, 10, quiet, ProcessState(history=((NOW - 10, 10),), app_time=300.0))
    assert state.app_time is not None
    assert abs(state.app_time - 120.0) < 1.0
    assert 1.0 == state.correction


def test_the_first_reading_gives_the_app_time() -> None:
    """Without an app time yet, the first reading gives it, whatever the load."""
    _, state = run(router(), 11, [reading(150.0, p95_ms(150.0, 11))])
    assert state.app_time is not None
    assert abs(state.app_time - 120.0) < 0.5


def test_the_correction_learns_more_queueing_than_modelled() -> None:
    """Busy readings whose p95 is above what the model predicts at the current dynos raise the
    correction (the app time stays), and the model then asks for more dynos."""
    state = ProcessState(history=((NOW - 10, 7),), app_time=120.0)
    slow = [reading(150.0, 3 * p95_ms(150.0, 7), at=NOW + 15 * i) for i in range(10)]
    _, learned = run(router(response_time_ms=371), 7, slow, state)
    assert (120.0, True) == (learned.app_time, learned.correction > 1.2)
    corrected = ResponseModel(4, 0.120, learned.correction).dynos(150.0, 0.371, 160)
    assert corrected is not None
    assert corrected > 11


def test_idle_readings_teach_nothing() -> None:
    """No request in the window: neither the app time nor the correction moves."""
    state = ProcessState(history=((NOW - 10, 3),), app_time=120.0, correction=1.5)
    _, after = run(router(), 3, [reading(0.0, None)], state)
    assert (120.0, 1.5) == (after.app_time, after.correction)


# --- the rules ------------------------------------------------------------------------------------------


def wants(config: EngineConfig, ready: int, one: Reading, state: ProcessState) -> dict[str, int]:
    """The router rules' recommendations, by the start of their message, for ``ready`` dynos (no learning)."""
    return {want.why.split(" ")[0]: want.dynos for want in recommend(one, config, ready, state, SIZE)}


def test_the_engine_holds_the_worked_example() -> None:
    """11 dynos at 150 req/s, the p95 what random routing gives there: the model asks for 11."""
    state = ProcessState(history=((NOW - 10, 11),), app_time=120.0)
    decision, _ = run(router(response_time_ms=371), 11, [reading(150.0, p95_ms(150.0, 11))], state)
    assert (11, 11, Reason.WITHIN_TARGET) == (decision.recommendation, decision.desired, decision.reason)


def test_proportional_rule_at_most_doubles() -> None:
    """A p95 far over the target (H12 timeouts count as 30 s) asks for at most twice the ready dynos,
    and is a burst: no scale-down for a while."""
    state = ProcessState(history=((NOW - 10, 5),), app_time=120.0)
    assert 10 == wants(router(), 5, reading(150.0, 30_000.0), state)["p95"]
    _, after = run(router(), 5, [reading(150.0, 30_000.0)], state)
    assert after.panic_until > NOW


def test_a_slow_app_at_low_load_is_learned_as_app_time() -> None:
    """Timeouts at 1 req/s on 5 dynos are the app's own slowness, not queueing: learned as app time,
    and no rule doubles the dynos."""
    state = ProcessState(history=((NOW - 10, 5),), app_time=120.0)
    decision, after = run(router(), 5, [reading(1.0, 30_000.0)], state)
    assert after.app_time is not None
    assert after.app_time > 1000
    assert decision.recommendation is not None
    assert decision.recommendation < 5


def test_proportional_rule_scales_on_the_queueing_part() -> None:
    """With the app's own p95 at 360 ms, a p95 of 420 ms against 400 ms is 60 ms of queueing against
    40 allowed: ×1.5."""
    state = ProcessState(app_time=360.0 / APP_P95_FACTOR)
    assert 6 == wants(router(), 4, reading(0.5, 420.0), state)["p95"]
    decision, _ = run(router(), 4, [reading(0.5, 420.0)], state)
    assert Reason.SCALE_UP == decision.reason
    assert "the app's own p95 " in decision.message


def test_within_tolerance_holds() -> None:
    """A p95 within TOLERANCE under the target: no change, and no scale-down either."""
    state = ProcessState(history=((NOW - 400, 4),), app_time=100.0)
    decision, _ = run(router(downscale_delay=0), 4, [reading(0.5, 395.0)], state)
    assert (4, Reason.WITHIN_TARGET) == (decision.desired, decision.reason)


def test_a_target_below_the_apps_own_p95_does_not_run_away() -> None:
    """An app whose own p95 (599 ms) is above the target (400 ms): more dynos cannot fix it, so the
    proportional rule stays out and the model keeps the wait within TOLERANCE of the app's own p95."""
    state = ProcessState(app_time=200.0)
    found = wants(router(), 4, reading(150.0, 900.0), state)
    assert ("p95" not in found, 13) == (True, found["model:"])
    model = next(w for w in recommend(reading(150.0, 900.0), router(), 4, state, SIZE) if w.why.startswith("model"))
    assert "the app alone takes 599ms at p95, so 659ms is aimed at" in model.why


def test_scale_down_waits_for_the_downscale_delay() -> None:
    """Little traffic: the model asks for fewer dynos, after DOWNSCALE_DELAY and not before."""
    config = router(downscale_delay=300)
    state = ProcessState(history=((NOW - 10, 8),), app_time=120.0)
    held, state = run(config, 8, [reading(10.0, p95_ms(10.0, 8))], state)
    later, _ = run(config, 8, [reading(10.0, p95_ms(10.0, 8), at=NOW + 301)], state)
    assert (8, Reason.HELD_DOWNSCALE_DELAY) == (held.desired, held.reason)
    assert (Reason.SCALE_DOWN, 1) == (later.reason, later.desired)


def test_no_requests_scale_down_to_the_minimum() -> None:
    """A known rate of 0 (runtime metrics only) is a reading, not an unknown one: down to MIN_DYNOS."""
    state = ProcessState(history=((NOW - 400, 3),), app_time=120.0)
    decision, _ = run(
        router(downscale_delay=0, min_dynos=2), 3, [reading(0.0, None, memory_mb={"web.1": 200.0})], state
    )
    assert (2, Reason.SCALE_DOWN) == (decision.desired, decision.reason)


def test_requests_and_no_dyno_start_one() -> None:
    """Router lines with no web dyno running (H14): one dyno."""
    decision, _ = run(router(min_dynos=0), 0, [reading(3.0, None, errors={"H14": 180})])
    assert (1, Reason.SCALE_UP) == (decision.desired, decision.reason)


def test_bounds_apply() -> None:
    """MAX_DYNOS caps the response-time rules as any other."""
    state = ProcessState(history=((NOW - 10, 6),), app_time=120.0)
    decision, _ = run(router(max_dynos=8), 6, [reading(300.0, 2000.0)], state)
    assert (8, Reason.CLAMPED_TO_MAX) == (decision.desired, decision.reason)


def test_budget_applies() -> None:
    """AUTOSCALER_MAX_MONTHLY_COST trims a router process as any other."""
    config = router()
    observations = {"web": Observation("web", 6, SIZE, reading(300.0, 2000.0))}
    states = {"web": ProcessState(history=((NOW - 10, 6),), app_time=120.0)}
    decisions, _ = decide_formation(observations, states, {"web": config}, NOW, AppLimits(max_monthly_cost=400))
    assert (8, Reason.CLAMPED_TO_BUDGET) == (decisions["web"].desired, decisions["web"].reason)


# --- memory ----------------------------------------------------------------------------------------------


def test_memory_over_quota_in_proportion_to_the_share_of_dynos() -> None:
    """Standard-2X has 1024 MB: 2 of 4 dynos over it ask for 4 + 2."""
    memory = {"web.1": 1100.0, "web.2": 1300.0, "web.3": 500.0, "web.4": 700.0}
    state = ProcessState(history=((NOW - 10, 4),), app_time=100.0)
    decision, _ = run(router(), 4, [reading(5.0, 310.0, memory_mb=memory)], state)
    assert (6, Reason.SCALE_UP_MEMORY) == (decision.desired, decision.reason)
    assert "2 of 4 dynos over the Standard-2X memory quota of 1024MB (web.1 1100MB, web.2 1300MB)" in decision.message


def test_memory_step_counts_booting_dynos() -> None:
    """A dyno added for memory and still booting covers the step: no second one at the next tick."""
    memory = {"web.1": 1100.0, "web.2": 500.0}
    state = ProcessState(history=((NOW - 10, 3),), app_time=100.0, ups=((NOW - 20, 1),))
    decision, _ = run(router(), 3, [reading(5.0, 310.0, memory_mb=memory)], state)
    assert 3 == decision.desired


def test_memory_within_quota_or_of_an_unknown_size_asks_nothing() -> None:
    """Dynos within their quota, or of a size not in the catalogue, add no recommendation."""
    state = ProcessState(history=((NOW - 10, 2),), app_time=100.0)
    quiet = reading(2.0, 310.0, memory_mb={"web.1": 1000.0})
    within, _ = run(router(), 2, [quiet], state)
    unknown, _ = decide(
        Observation("web", 2, "Mystery", reading(2.0, 310.0, memory_mb={"web.1": 9e9})), state, router(), NOW
    )
    assert Reason.SCALE_UP_MEMORY not in (within.reason, unknown.reason)


# --- unknown data and invariants -------------------------------------------------------------------------


def test_an_unknown_reading_holds() -> None:
    """The drain unread (no line in the window): hold, never 0."""
    decision, _ = run(router(downscale_delay=0), 5, [Reading.unknown(NOW, "no router line")])
    assert (5, Reason.HELD_SIGNAL_UNKNOWN) == (decision.desired, decision.reason)


router_readings = st.one_of(
    st.builds(
        reading,
        rate=st.floats(0, 5000),
        p95=st.one_of(st.none(), st.floats(1, 60_000)),
        memory_mb=st.one_of(st.none(), st.dictionaries(st.sampled_from(["web.1", "web.2"]), st.floats(0, 5000))),
    ),
    st.builds(Reading.unknown, at=st.just(NOW), error=st.just("down")),
)


@given(
    quantity=st.integers(0, 60),
    one=router_readings,
    app_time=st.one_of(st.none(), st.floats(1, 5000)),
    correction=st.floats(0.5, 4.0),
    max_dynos=st.integers(1, 40),
)
def test_router_decisions_stay_within_bounds(
    quantity: int, one: Reading, app_time: float | None, correction: float, max_dynos: int
) -> None:
    """Within [MIN, MAX], never below the current quantity on unknown data, and the step limits hold."""
    config = router(max_dynos=max_dynos)
    state = ProcessState(history=((NOW - 10, quantity),), app_time=app_time, correction=correction)
    decision, _ = decide(Observation("web", quantity, SIZE, one), state, config, NOW)
    low, high = bounds(config, NOW)
    assert low <= decision.desired <= high
    if not one.ok:
        assert decision.desired >= min(quantity, high)
    assert decision.desired <= max(quantity + max(4, quantity), low)


# --- the decision line -----------------------------------------------------------------------------------


def test_the_decision_line_carries_the_router_fields() -> None:
    """A router process's decision line shows what the router source read, as check does."""
    settings = load_settings(
        {
            "AUTOSCALER_APP": "my-app",
            "HEROKU_API_KEY": "token",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "AUTOSCALER_PROCESSES__WEB__SOURCE": "router",
            "AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS": "400",
            "AUTOSCALER_PROCESSES__WEB__MAX_DYNOS": "10",
        }
    )
    capture = CapturingLogger()
    bound: Any = structlog.make_filtering_bound_logger(logging.INFO)  # a class: mypy takes it for an instance
    log = bound(capture, [], {})
    one = reading(12.5, 310.0, errors={"H12": 1}, memory_mb={"web.1": 300.0}, load={"web.1": 0.5})
    decision, _ = decide(Observation("web", 2, SIZE, one), ProcessState(), settings.processes["web"].engine(), NOW)
    DecisionLog(log, Alerts(NullNotifier(), "my-app", 60.0), settings, {}).decision(decision, one)
    fields = next(call.kwargs for call in capture.calls if call.kwargs.get("event") == "decision")
    assert {
        "rate": 12.5,
        "response_time_p95": 310.0,
        "errors": {"H12": 1},
        "memory_mb": {"web.1": 300.0},
        "load": {"web.1": 0.5},
    }.items() <= fields.items()
    assert 310.0 == fields["sample#autoscaler.web.response_time_p95"]
    assert "queue_time_p95" not in fields
