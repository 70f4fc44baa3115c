"""The decision engine, as a table of named cases: each row is a pure input bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from autoscaler.config import Schedule, process_config
from autoscaler.policy import (
    EngineConfig,
    Observation,
    ProcessState,
    Reason,
    decide,
)
from autoscaler.policy.forecast import Forecast, Status
from autoscaler.signals import Reading

NOW = 1_699_950_600.0  # Tuesday 2023-11-14 08:30 UTC: inside "0 8 * * *" windows of 2 h


def cfg(**overrides: Any) -> EngineConfig:
    """The engine's configuration of a worker process, as the settings build it."""
    values: dict[str, Any] = {"source": "rq", "min_dynos": 1, "max_dynos": 10, "jobs_per_dyno": 10}
    values.update(overrides)
    return process_config(**values).engine()


@dataclass
class Case:
    name: str
    quantity: int
    reading: Reading
    config: EngineConfig = field(default_factory=cfg)
    history: tuple[tuple[float, int], ...] = ((NOW - 600, 1),)
    size: str = "Standard-1X"
    desired: int = 0
    reason: Reason = Reason.WITHIN_TARGET
    state: dict[str, Any] = field(default_factory=dict)
    """Other ProcessState fields for this case."""
    forecast: Forecast | None = None


def rising(add: int) -> Forecast:
    """A forecast that expects demand to rise by ``add`` dynos within the boot time."""
    return Forecast(Status.RISE, add, f"demand expected to rise by {add} within 90s", peak=9.0, at=NOW + 90)


def r(depth: int | None = None, latency: float | None = None, busy: int | None = None) -> Reading:
    return Reading(at=NOW, depth=depth, latency=latency, busy=busy)


CASES = [
    Case(
        "predict: the rise the pattern expects is added to what the signals ask for now",
        3,
        r(25, 1.0, 0),
        config=cfg(predict=True),
        forecast=rising(4),
        desired=7,
        reason=Reason.PREDICTED,
    ),
    Case(
        "predict: a forecast is ignored when PREDICT is off",
        3,
        r(25, 1.0, 0),
        history=((NOW - 10, 3),),
        forecast=rising(4),
        desired=3,
    ),
    Case(
        "predict: the level the forecast asks for is held under its own reason",
        7,
        r(25, 1.0, 0),
        config=cfg(predict=True),
        forecast=rising(4),
        desired=7,
        reason=Reason.PREDICTED,
    ),
    Case(
        "predict: a steady forecast adds nothing",
        3,
        r(25, 1.0, 0),
        config=cfg(predict=True),
        history=((NOW - 10, 3),),
        forecast=Forecast(Status.STEADY, 0, "no rise expected"),
        desired=3,
    ),
    Case(
        "predict: a rise already under way is not added again (the signals ask for more than the pattern's peak)",
        10,
        r(150, 1.0, 0),
        config=cfg(predict=True, max_dynos=30),
        forecast=Forecast(Status.RISE, 8, "demand expected to rise by 8", peak=10.0, at=NOW + 90, level=2.0),
        desired=15,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "predict: a rise partly under way adds what is left of it (6 asked for, the pattern's peak 10)",
        6,
        r(55, 1.0, 0),
        config=cfg(predict=True),
        forecast=Forecast(Status.RISE, 8, "demand expected to rise by 8", peak=10.0, at=NOW + 90, level=2.0),
        desired=10,
        reason=Reason.PREDICTED,
    ),
    Case(
        "predict: MAX_DYNOS still binds a forecast",
        8,
        r(80, 1.0, 0),
        config=cfg(predict=True),
        forecast=rising(5),
        desired=10,
        reason=Reason.CLAMPED_TO_MAX,
    ),
    Case(
        "predict: step limits still bind a forecast",
        2,
        r(15, 1.0, 0),
        config=cfg(predict=True, scale_up_dynos=1, scale_up_percent=50),
        forecast=rising(6),
        desired=3,
        reason=Reason.SCALE_UP_LIMITED,
    ),
    Case("scale up: backlog above target", 1, r(45, 1.0, 0), desired=5, reason=Reason.SCALE_UP),
    Case("within target: backlog fits", 3, r(25, 1.0, 0), history=((NOW - 10, 3),), desired=3),
    Case(
        "scale down: lower recommendation held for the whole delay",
        5,
        r(10, 1.0, 0),
        history=((NOW - 400, 5),),
        desired=1,
        reason=Reason.SCALE_DOWN,
    ),
    Case(
        "scale down: blocked by delay",
        5,
        r(10, 1.0, 0),
        history=((NOW - 100, 5),),
        desired=5,
        reason=Reason.HELD_DOWNSCALE_DELAY,
    ),
    Case(
        "scale down: only to the highest recommendation within the delay",
        6,
        r(10, 1.0, 0),
        history=((NOW - 400, 6), (NOW - 200, 4), (NOW - 100, 2)),
        desired=4,
        reason=Reason.SCALE_DOWN,
    ),
    Case(
        "hold: signal unknown",
        4,
        Reading.unknown(NOW, "connection refused"),
        desired=4,
        reason=Reason.HELD_SIGNAL_UNKNOWN,
    ),
    Case(
        "hold: depth unknown never scales down",
        4,
        r(None, 0.0, 0),
        config=cfg(max_latency=60),
        desired=4,
        reason=Reason.HELD_SIGNAL_UNKNOWN,
    ),
    Case(
        "scale up: a known signal asks for more while another is unknown",
        2,
        r(None, 150.0, 0),
        config=cfg(max_latency=60),
        desired=5,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "scale up: limited to max(+4, +100 %) per tick",
        2,
        r(95, 1.0, 0),
        desired=6,
        reason=Reason.SCALE_UP_LIMITED,
    ),
    Case(
        "scale up: +100 % allows more than +4 from 6 dynos",
        6,
        r(300, 1.0, 0),
        config=cfg(max_dynos=40),
        desired=12,
        reason=Reason.SCALE_UP_LIMITED,
    ),
    Case("clamped: at max", 8, r(500, 1.0, 0), desired=10, reason=Reason.CLAMPED_TO_MAX),
    Case(
        "clamped: at min",
        2,
        r(0, 0.0, 0),
        config=cfg(min_dynos=2),
        history=((NOW - 600, 2),),
        desired=2,
        reason=Reason.WITHIN_TARGET,
    ),
    Case(
        "clamped: raised to min when running below it",
        0,
        r(0, 0.0, 0),
        config=cfg(min_dynos=2),
        history=((NOW - 600, 0),),
        desired=2,
        reason=Reason.CLAMPED_TO_MIN,
    ),
    Case(
        "clamped: Heroku allows one Basic dyno per process type",
        1,
        r(50, 1.0, 0),
        size="Basic",
        desired=1,
        reason=Reason.CLAMPED_TO_HEROKU_LIMIT,
    ),
    Case(
        "latency: over target scales proportionally",
        2,
        r(None, 90.0, 0),
        config=cfg(jobs_per_dyno=None, max_latency=30),
        desired=6,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "latency: within the tolerance band below the target, no change",
        4,
        r(None, 28.0, 0),
        config=cfg(jobs_per_dyno=None, max_latency=30),
        history=((NOW - 10, 4),),
        desired=4,
        reason=Reason.WITHIN_TARGET,
    ),
    Case(
        "backlog: within the tolerance band, no change",
        4,
        r(42, 1.0, 0),
        history=((NOW - 10, 4),),
        desired=4,
        reason=Reason.WITHIN_TARGET,
    ),
    Case(
        "latency: just over the target adds at least one dyno (the band lies below a time target)",
        4,
        r(None, 31.0, 0),
        config=cfg(jobs_per_dyno=None, max_latency=30),
        desired=5,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "latency: from zero on the first waiting job",
        0,
        r(None, 0.5, 0),
        config=cfg(jobs_per_dyno=None, max_latency=1, min_dynos=0),
        desired=1,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "several targets: the largest wins",
        1,
        r(20, 90.0, 0),
        config=cfg(max_latency=30),
        desired=3,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "busy: running jobs keep their dynos",
        5,
        r(0, 0.0, 4),
        history=((NOW - 600, 5),),
        desired=4,
        reason=Reason.SCALE_DOWN,
    ),
    Case(
        "busy: concurrency divides running jobs",
        5,
        r(0, 0.0, 8),
        config=cfg(concurrency=4),
        history=((NOW - 600, 5),),
        desired=2,
        reason=Reason.SCALE_DOWN,
    ),
    Case(
        "scale to zero: min 0 and nothing waits or runs",
        2,
        r(0, 0.0, 0),
        config=cfg(min_dynos=0),
        history=((NOW - 600, 2),),
        desired=0,
        reason=Reason.SCALE_DOWN,
    ),
    Case(
        "start-up: no history counts the current quantity, so no scale-down at once",
        5,
        r(0, 0.0, 0),
        history=(),
        desired=5,
        reason=Reason.HELD_DOWNSCALE_DELAY,
    ),
    # Arrivals: EWMA of 1.0/s and 1200/100 s (Little's law on the queue: all 10 workers are busy) = 4.3/s.
    # The oldest job breaches in 120 − 100 = 20 s, less than a quarter of the target, so 30 s: work in that
    # time 1200 + 4.3 × 30 = 1329 jobs; 10 running dynos do 10 × 2 × 30 = 600; the other 729, by new dynos
    # over max(30 − 60 s of boot, 60) = 60 s at 2/s: ceil(729 / 120) = 7 more → 17.
    Case(
        "latency: measured throughput drains the backlog before the oldest job breaches (Little's law)",
        10,
        r(1200, 100.0, 10),
        config=cfg(jobs_per_dyno=None, max_latency=120, boot_time=60, max_dynos=50),
        state={"per_dyno_rate": 2.0, "arrival_rate": 1.0},
        desired=17,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "latency: configured job duration gives the throughput",
        1,
        r(600, 10.0, 1),
        config=cfg(jobs_per_dyno=None, max_latency=60, job_duration=0.5, boot_time=30),
        desired=5,
        reason=Reason.SCALE_UP_LIMITED,
    ),
    Case(
        "boot: no scale-down while new dynos boot",
        6,
        r(0, 0.0, 0),
        config=cfg(downscale_delay=0),
        state={"ups": ((NOW - 20, 4),)},
        desired=6,
        reason=Reason.HELD_BOOTING,
    ),
    Case(
        "boot: latency seen by 2 ready dynos while 4 boot asks for no more than 6 (not ceil(6 × 1.5) = 9)",
        6,
        r(None, 45.0, 0),
        config=cfg(jobs_per_dyno=None, max_latency=30),
        state={"ups": ((NOW - 20, 4),)},
        history=((NOW - 20, 6),),
        desired=6,
        reason=Reason.HELD_BOOTING,
    ),
    Case(
        "panic: a burst blocks scale-down until it settles",
        6,
        r(0, 0.0, 0),
        config=cfg(downscale_delay=0),
        state={"panic_until": NOW + 30},
        desired=6,
        reason=Reason.HELD_PANIC,
    ),
    Case(
        "manual: a hand-scaled quantity is the floor during the hold",
        7,
        r(0, 0.0, 0),
        config=cfg(downscale_delay=0),
        state={"last_set": 2},
        desired=7,
        reason=Reason.HELD_MANUAL,
    ),
    Case(
        "manual: after the hold the engine resumes",
        7,
        r(0, 0.0, 0),
        config=cfg(downscale_delay=0),
        state={"last_set": 7, "manual_floor": 7, "manual_until": NOW - 1},
        desired=1,
        reason=Reason.SCALE_DOWN,
    ),
    Case(
        "scale down: at most SCALE_DOWN_PER_MINUTE dynos a minute",
        8,
        r(0, 0.0, 0),
        config=cfg(downscale_delay=0, scale_down_per_minute=2),
        state={"downs": ((NOW - 30, 1),)},
        desired=7,
        reason=Reason.SCALE_DOWN_LIMITED,
    ),
    Case(
        "fallback: after repeated unknown readings, raise to the fallback quantity",
        2,
        Reading.unknown(NOW, "timeout"),
        config=cfg(fallback_quantity=4, fallback_after=3),
        state={"failures": 2},
        desired=4,
        reason=Reason.FALLBACK,
    ),
    Case(
        "fallback: never lowers the formation",
        6,
        Reading.unknown(NOW, "timeout"),
        config=cfg(fallback_quantity=4, fallback_after=1),
        desired=6,
        reason=Reason.HELD_SIGNAL_UNKNOWN,
    ),
    Case(
        "stale: an old reading is unknown",
        5,
        Reading(at=NOW - 600, depth=0, latency=0.0, busy=0),
        config=cfg(downscale_delay=0),
        desired=5,
        reason=Reason.HELD_SIGNAL_UNKNOWN,
    ),
    Case(
        "schedule: an active window raises the minimum",
        2,
        r(0, 0.0, 0),
        config=cfg(schedules=[Schedule(cron="0 8 * * *", duration=7200, min_dynos=5)]),
        desired=5,
        reason=Reason.CLAMPED_TO_MIN,
    ),
    Case(
        "schedule: an active window changes the maximum",
        3,
        r(500, 1.0, 0),
        config=cfg(schedules=[Schedule(cron="0 8 * * *", duration=7200, max_dynos=4)]),
        desired=4,
        reason=Reason.CLAMPED_TO_MAX,
    ),
    Case(
        "schedule: an inactive window changes nothing",
        2,
        r(20, 1.0, 0),
        config=cfg(schedules=[Schedule(cron="0 20 * * *", duration=3600, min_dynos=5)]),
        history=((NOW - 10, 2),),
        desired=2,
        reason=Reason.WITHIN_TARGET,
    ),
    Case(
        "heroku limit: Performance stops at 10 per type",
        9,
        r(500, 1.0, 0),
        size="Performance-M",
        config=cfg(max_dynos=30),
        desired=10,
        reason=Reason.CLAMPED_TO_HEROKU_LIMIT,
    ),
    Case(
        "heroku limit: SIZE_LIMIT raises the Performance limit",
        9,
        r(500, 1.0, 0),
        size="Performance-M",
        config=cfg(max_dynos=30, size_limit=20),
        desired=18,
        reason=Reason.SCALE_UP_LIMITED,
    ),
    Case(
        "memory: a dyno over its size's memory quota swaps (R14): one more dyno",
        2,
        Reading(at=NOW, rate=10.0, response_time_p95=150.0, memory_mb={"web.1": 540.0, "web.2": 300.0}),
        config=cfg(source="router", jobs_per_dyno=None, response_time_ms=500),
        history=((NOW - 10, 2),),
        desired=3,
        reason=Reason.SCALE_UP_MEMORY,
    ),
    Case(
        "router: p95 response time over the target scales up, at most doubling",
        3,
        Reading(at=NOW, rate=30.0, response_time_p95=2400.0),
        config=cfg(source="router", jobs_per_dyno=None, response_time_ms=500),
        history=((NOW - 10, 3),),
        desired=6,
        reason=Reason.SCALE_UP,
    ),
    Case(
        "router: no response time and no rate holds",
        3,
        Reading(at=NOW, errors={}, memory_mb={"web.1": 200.0}),
        config=cfg(source="router", jobs_per_dyno=None, response_time_ms=500),
        desired=3,
        reason=Reason.HELD_SIGNAL_UNKNOWN,
    ),
    Case(
        "resize: configured size differs from the running one",
        2,
        r(15, 1.0, 0),
        config=cfg(size="standard-2x"),
        history=((NOW - 10, 2),),
        desired=2,
        reason=Reason.RESIZE,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_decide(case: Case) -> None:
    """Each named case yields its quantity and reason code."""
    obs = Observation("worker", case.quantity, case.size, case.reading, case.forecast)
    decision, _ = decide(obs, ProcessState(case.history, **case.state), case.config, NOW)
    assert (case.desired, case.reason) == (decision.desired, decision.reason), decision.message


def test_every_reason_has_a_case() -> None:
    """The table and the formation tests below cover every reason code the engine can return."""
    formation_level = {Reason.CLAMPED_TO_APP_LIMIT, Reason.CLAMPED_TO_BUDGET}
    assert set(Reason) == {case.reason for case in CASES} | formation_level


def test_decision_carries_inputs_and_message() -> None:
    """A decision names the signal values it used and says why in words."""
    obs = Observation("worker", 1, "Standard-1X", r(45, 2.5, 1))
    decision, _ = decide(obs, ProcessState(), cfg(), NOW)
    nothing_learned = {"arrival_rate": None, "job_time": None}
    assert {"depth": 45, "latency": 2.5, "busy": 1, "min": 1, "max": 10, **nothing_learned} == decision.inputs
    timed, _ = decide(obs, ProcessState(), cfg(job_duration=4.0, concurrency=2), NOW)
    assert timed.inputs["job_time"] == 4.0  # seconds one job takes, what a replay of the history needs
    assert "45 waiting" in decision.message
    assert decision.recommendation == 5


def test_unknown_signal_leaves_history_untouched() -> None:
    """A tick without data records no recommendation (the delay is measured on real readings only),
    and counts the failure."""
    state = ProcessState(((NOW - 100, 5),))
    _, new_state = decide(Observation("w", 5, "Standard-1X", Reading.unknown(NOW, "x")), state, cfg(), NOW)
    assert (state.history, 1) == (new_state.history, new_state.failures)


def test_history_forgets_entries_older_than_the_delay() -> None:
    """Entries older than DOWNSCALE_DELAY leave the window; the new one is appended."""
    state = ProcessState(((NOW - 900, 9), (NOW - 100, 3)))
    _, new_state = decide(Observation("w", 3, "Standard-1X", r(20, 1.0, 0)), state, cfg(), NOW)
    assert ((NOW - 100, 3), (NOW, 2)) == new_state.history


def test_scale_down_waits_for_the_delay_then_happens() -> None:
    """Driven over time: a drop in load removes dynos only after DOWNSCALE_DELAY has passed."""
    config = cfg(downscale_delay=300)
    state = ProcessState()
    quantity = 1
    timeline: list[tuple[float, int]] = []
    for t, depth in [(0, 80), (15, 80), (30, 0), (150, 0), (314, 0), (316, 0)]:
        obs = Observation("w", quantity, "Standard-1X", Reading(at=NOW + t, depth=depth, latency=0.0, busy=0))
        decision, state = decide(obs, state, config, NOW + t)
        quantity = decision.desired
        timeline.append((t, quantity))
    assert [(0, 5), (15, 8), (30, 8), (150, 8), (314, 8), (316, 1)] == timeline
