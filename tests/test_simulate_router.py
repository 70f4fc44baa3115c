"""``simulate --signal router``: ours fed what the ``router`` source reads (the response time Heroku's
router logs), with a RESPONSE_TIME_MS target, against heroku-native on the same signal."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from autoscaler import queueing, sizes
from autoscaler.simulate import demand, policies
from autoscaler.simulate.settings import DEFAULTS, SimConfig
from autoscaler.simulate.webqueues import TIMEOUT_S, WebQueues
from autoscaler.simulate.workloads import Workload

from .helpers import simulate_json, simulate_problems, simulate_text

RATE = 150.0
SERVICE_S = 0.120
TARGET_S = 0.371
"""The p95 response time of a dyno of 4 processes whose p95 queue wait is 50 ms, in whole ms."""
SHORT = ["--hours", "1"]


def _rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["policy"]: row for row in data["policies"]}


def _config(**overrides: Any) -> SimConfig:
    defaults = DEFAULTS["web"]
    size = sizes.lookup(defaults.size)
    assert size is not None
    fields: dict[str, Any] = {
        "kind": "web",
        "per_dyno": defaults.per_dyno,
        "service_s": SERVICE_S,
        "size": size,
        "monthly_usd": size.monthly_usd,
        "min_dynos": defaults.min_dynos,
        "max_dynos": defaults.max_dynos,
        "target_s": TARGET_S,
        "signal": "router",
    }
    fields.update(overrides)
    return SimConfig(**fields)


def _minute(dynos: int, rate: float = RATE, seconds: int = 60) -> WebQueues:
    queues = WebQueues(4, TARGET_S, seconds, dynos, [1.0] * (seconds // 5 + 1), response=True)
    for second in range(seconds):
        queues.step(second, rate, SERVICE_S)
    return queues


# --- what the router source would read -------------------------------------------------------------


def test_router_reading_is_the_m_m_k_response_time() -> None:
    """10 dynos of 4 processes at 150 req/s: the router's p95 (queue wait plus app time) is the M/M/4
    response time's, and the rate is that of the router's lines."""
    reading = _minute(10).router_reading(65, 0.0, 60)
    expected = queueing.response_quantile(4, RATE / 10, SERVICE_S) * 1000
    assert reading.response_time_p95 is not None
    assert (True, RATE) == (abs(reading.response_time_p95 - expected) < 0.02 * expected, reading.rate)
    assert (None, None, {}) == (reading.queue_time_p95, reading.app_time, reading.errors)


def test_router_reading_waits_five_seconds_for_the_drain() -> None:
    """As the router source: at t = 98 the window ends with the slot that ended at t = 90 (the web
    source's, 3 s late, with the one that ended at t = 95)."""
    queues = WebQueues(4, TARGET_S, 200, 10, [1.0] * 41, response=True)
    assert (range(7, 19), range(6, 18)) == (queues.window(98, 60), queues.window(98, 60, 5))


def test_router_reading_counts_h12_as_30_seconds() -> None:
    """A backlog of minutes: the router ends requests at 30 s (H12), so the p95 is 30 s, not more."""
    queues = _minute(1, rate=60.0, seconds=300)  # one dyno serves 33 req/s
    reading = queues.router_reading(300, 0.0, 60)
    assert reading.response_time_p95 is not None
    assert TIMEOUT_S * 1000 == reading.response_time_p95


def test_router_reading_without_a_dyno_has_h14_errors_and_no_time() -> None:
    """Requests with no web dyno are router lines without a service time: a rate, H14s, no quantile."""
    reading = _minute(0).router_reading(65, 0.0, 60)
    assert (True, RATE, None) == (reading.ok, reading.rate, reading.response_time_p95)
    assert {"H14": 9000} == reading.errors


def test_router_reading_is_unknown_without_a_line() -> None:
    """No request and no dyno in the window: the source reads nothing, so unknown, never 0."""
    reading = _minute(0, rate=0.0).router_reading(65, 0.0, 60)
    assert False is reading.ok


def test_the_slo_is_the_response_time_share_over_the_target() -> None:
    """The share of a minute's requests whose response time exceeds the target is the M/M/4 tail."""
    assert queueing.response_tail(4, RATE / 11, SERVICE_S, TARGET_S) == pytest.approx(
        _minute(11).over_target(0), rel=1e-9
    )


# --- the demand and the baselines -----------------------------------------------------------------


def test_router_demand_is_the_response_time_count() -> None:
    """d_t: the fewest dynos whose p95 response time meets the target; at the calibrated target, the
    dynos whose p95 queue wait meets 50 ms."""
    workload = Workload("constant", "web", "constant", (RATE,) * 120, (SERVICE_S,) * 120)
    assert [11, 11] == demand.per_minute(workload, _config())
    assert 11 == queueing.dynos_for_random_routing(RATE, SERVICE_S, 4, 0.050)


def test_default_target_is_the_queue_time_targets_equivalent() -> None:
    """The default RESPONSE_TIME_MS is the p95 response time of a dyno at a 50 ms p95 queue wait (whole
    ms), what heroku-native aims at on the middleware's signal too."""
    middleware = _config(signal="web", target_s=0.050)
    assert round(policies.response_target_ms(middleware)) == 371
    assert "target p95 response time 371 ms" in simulate_text(["--signal", "router", *SHORT])


def test_router_runs_every_policy_that_reads_the_router() -> None:
    """judoscale-like reads queue time from its own middleware: a router run leaves it out."""
    data = simulate_json(["--signal", "router", "--scenario", "flash-crowd", *SHORT])
    assert ["ours", "static-peak", "hpa", "heroku-native", "clairvoyant"] == list(_rows(data))
    assert any("heroku-native: desired p95 response 371 ms (RESPONSE_TIME_MS)" in line for line in data["settings"])


def test_ours_beats_heroku_native_on_the_ramp() -> None:
    """On the slow ramp, both on the router's signal, ours breaches the target in fewer minutes."""
    rows = _rows(simulate_json(["--signal", "router", "--scenario", "slow-ramp"]))
    assert rows["ours"]["slo_minutes"] < rows["heroku-native"]["slo_minutes"]


def test_router_runs_are_deterministic() -> None:
    """The same seed gives the same report, byte for byte."""
    argv = ["--signal", "router", "--scenario", "step-burst", *SHORT, "--json"]
    assert simulate_text(argv) == simulate_text(argv)


# --- flags and files ------------------------------------------------------------------------------


ROUTER_ENV = """AUTOSCALER_APP='my-app'
HEROKU_API_KEY='HRKU-never-printed-0123456789'
REDIS_URL='redis://127.0.0.1:6379'
AUTOSCALER_PROCESSES__WEB__SOURCE='router'
AUTOSCALER_PROCESSES__WEB__RESPONSE_TIME_MS='500'
AUTOSCALER_PROCESSES__WEB__MAX_DYNOS='12'
AUTOSCALER_PROCESSES__WEB__PROCESSES_PER_DYNO='4'
"""


def test_env_file_router_process_runs_on_the_router_signal(tmp_path: Path) -> None:
    """A router process of --env-file is simulated on the router's signal with its RESPONSE_TIME_MS;
    --signal web runs it on the middleware's instead, with the default queue-time target."""
    path = tmp_path / "autoscaler.env"
    path.write_text(ROUTER_ENV)
    router = simulate_text(["--env-file", str(path), *SHORT])
    middleware = simulate_text(["--env-file", str(path), "--signal", "web", *SHORT])
    assert "target p95 response time 500 ms" in router
    assert "(SOURCE router)" in router
    assert "target p95 queue time 50 ms" in middleware


def test_response_time_flag_sets_the_target() -> None:
    """--response-time-ms is the router run's target; --queue-time-ms alone sets it to its equivalent."""
    assert "target p95 response time 600 ms" in simulate_text(
        ["--signal", "router", "--response-time-ms", "600", *SHORT]
    )
    looser = simulate_text(["--signal", "router", "--queue-time-ms", "100", *SHORT])
    assert "target p95 response time 371 ms" not in looser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--response-time-ms", "500"], "--response-time-ms: applies to the router's signal (--signal router)"),
        (["--signal", "router", "--response-time-ms", "300"], "--response-time-ms: 300 ms is not above the p95"),
        (["--signal", "router", "--kind", "worker"], "--signal: applies to web processes; this run is worker"),
        (["--signal", "tcp"], "--signal: must be web or router, got 'tcp'"),
        (["--signal", "router", "--policy", "judoscale-like"], "--policy: judoscale-like scales on queue time"),
    ],
)
def test_bad_router_input_is_a_usage_error(argv: list[str], expected: str) -> None:
    problems = simulate_problems(argv)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_the_app_alone_bounds_the_target() -> None:
    """The app's own p95 (exponential app time: ln 20 × the mean) is out of every formation's reach."""
    problems = simulate_problems(["--signal", "router", "--service-ms", "200", "--response-time-ms", "599"])
    assert [f"--response-time-ms: 599 ms is not above the p95 of the app time alone ({200 * math.log(20):.0f} ms"] == [
        problem.split(" for a mean")[0] for problem in problems
    ]
