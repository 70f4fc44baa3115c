"""The simulator's parts: metrics, queue models, formation, workloads, demand and policies.

Reference numbers: the random-routing worked example (λ = 150 req/s, S = 120 ms, k = 4,
P(queue wait > 50 ms) ≤ 5 %: 10 dynos fail it, 11 meet it), pooled workers, and the SPEC RG
test vector of one step late with a slow scale-in.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from autoscaler import appview, queueing, sizes
from autoscaler.appview import PlatformAPI
from autoscaler.config import Settings
from autoscaler.errors import ConfigError, ServerError
from autoscaler.heroku import BUCKET_CAPACITY, FormationUpdate
from autoscaler.heroku import Formation as ApiFormation
from autoscaler.policy import Observation, ProcessState, Reason, decide_formation
from autoscaler.simulate import demand, metrics, policies, workloads
from autoscaler.simulate.model import Formation, Platform
from autoscaler.simulate.ours import Ours, SimClock, SimulatedHeroku
from autoscaler.simulate.runner import Inputs, Run, simulate
from autoscaler.simulate.settings import DEFAULT_INTERVAL, START_EPOCH, SimConfig
from autoscaler.simulate.streams import ApiFaults, BootDelays
from autoscaler.simulate.webqueues import WebQueues, quantile, survival
from autoscaler.simulate.workerqueue import WorkerQueue
from autoscaler.simulate.workloads import Kind, Workload

from .helpers import sim_config

RATE = 150.0
SERVICE_S = 0.120
TARGET_S = 0.050


def _constant(kind: Kind, rate: float, seconds: int, service_s: float, dumps: dict[int, int] | None = None) -> Workload:
    return Workload("constant", kind, "constant", (rate,) * seconds, (service_s,) * seconds, dumps or {})


def _web_minute(dynos: int, rate: float = RATE) -> WebQueues:
    queues = WebQueues(4, TARGET_S, 60, dynos, [1.0] * 13)
    for second in range(60):
        queues.step(second, rate, SERVICE_S)
    return queues


class _Recorder:
    """Wraps a policy's ``applied`` to keep every change it made: (time, previous, quantity)."""

    def __init__(self, policy: Any) -> None:
        self.changes: list[tuple[int, int, int]] = []
        applied = policy.applied

        def record(now: int, previous: int, quantity: int) -> None:
            self.changes.append((now, previous, quantity))
            applied(now, previous, quantity)

        policy.applied = record


# --- SPEC RG metrics ---------------------------------------------------------------------------

DEMAND = [2, 2, 3, 5, 8, 8, 6, 4, 3, 2]
SUPPLY = [2, 2, 2, 3, 5, 8, 8, 8, 6, 4]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("accuracy_u", 0.6, id="accuracy_U"),
        pytest.param("accuracy_o", 1.1, id="accuracy_O"),
        pytest.param("timeshare_u", 0.3, id="timeshare_U"),
        pytest.param("timeshare_o", 0.4, id="timeshare_O"),
        pytest.param("jitter", -0.2, id="jitter"),
        pytest.param("theta_u", 11.08, id="theta_U"),
        pytest.param("theta_o", 33.33, id="theta_O"),
        pytest.param("tau_u", 30.0, id="tau_U"),
        pytest.param("tau_o", 40.0, id="tau_O"),
        pytest.param("upsilon", 44.44, id="upsilon"),
    ],
)
def test_spec_rg_test_vector(name: str, expected: float) -> None:
    """The SPEC RG test vector: one step late with a slow scale-in gives the published values (Δt = 60 s)."""
    found = metrics.elasticity(DEMAND, SUPPLY, 60.0).as_dict()
    assert expected == pytest.approx(found[name], abs=0.005)


def test_supply_equal_to_demand_scores_zero_everywhere() -> None:
    """A supply that follows demand exactly has no under- or over-provisioning, jitter or instability."""
    found = metrics.elasticity(DEMAND, DEMAND, 60.0).as_dict()
    assert {name: 0.0 for name in found} == found


def test_speedup_above_one_for_a_policy_better_on_every_metric() -> None:
    """The elastic speedup is the geometric mean of reference/policy ratios: halving every metric gives 2."""
    reference = {name: 10.0 for name in metrics.SPEEDUP_METRICS}
    better = {name: 5.0 for name in metrics.SPEEDUP_METRICS}
    assert 2.0 == pytest.approx(metrics.speedup(better, reference))


# --- web: random routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dynos", "expected"),
    [pytest.param(10, 0.0514, id="N=10 fails the SLO"), pytest.param(11, 0.0362, id="N=11 meets it")],
)
def test_random_routing_matches_the_worked_example(dynos: int, expected: float) -> None:
    """N independent M/M/4 queues fed 150/N req/s: P(queue wait > 50 ms) is 5.14 % at N = 10, 3.62 % at 11."""
    queues = _web_minute(dynos)
    assert expected == pytest.approx(queues.over_target(0), abs=5e-4)


def test_web_reading_p95_matches_the_worked_example() -> None:
    """Random routing to 10 M/M/4 dynos at 150 req/s: the p95 queue wait is 51 ms, and the signal reports it."""
    queues = _web_minute(10)
    reading = queues.reading(63, 0.0, 60)
    assert reading.queue_time_p95 is not None
    assert 51.0 == pytest.approx(reading.queue_time_p95, abs=1.0)


def test_web_reading_reports_rate_and_app_time() -> None:
    """The web reading's rate is the served requests per second and app_time the mean app time in ms."""
    reading = _web_minute(10).reading(63, 0.0, 60)
    assert pytest.approx((RATE, SERVICE_S * 1000)) == (reading.rate, reading.app_time)


def test_web_queues_are_not_pooled() -> None:
    """Six dynos would meet the SLO as one pooled M/M/24 queue, but random routing misses it badly."""
    pooled = queueing.wait_tail(24, RATE, SERVICE_S, TARGET_S)
    routed = _web_minute(6).over_target(0)
    assert (True, True) == (pooled <= 0.05, routed > 0.2)


def test_web_readings_cover_complete_slots_read_three_seconds_late() -> None:
    """As the web source: at t = 100 the 60 s window is the twelve 5 s slots from t = 35 to t = 95."""
    queues = WebQueues(4, TARGET_S, 200, 10, [1.0] * 41)
    window = queues.window(100, 60)
    assert (7, 19, 12) == (window.start, window.stop, len(window))


def test_web_reading_is_unknown_without_a_serving_dyno() -> None:
    """No dyno served during the window: no middleware wrote a slot, so the reading is unknown, never 0."""
    assert False is _web_minute(0).reading(60, 0.0, 60).ok


def test_overload_builds_a_backlog_that_new_dynos_do_not_share() -> None:
    """Past capacity the excess waits per dyno; a dyno added later starts with an empty queue."""
    queues = WebQueues(4, TARGET_S, 120, 2, [1.0] * 25)
    for second in range(30):
        queues.step(second, 90.0, SERVICE_S)  # 2 dynos serve at most 66.7 req/s
    queues.add(1)
    queues.step(30, 90.0, SERVICE_S)  # 30 req/s per dyno: the new one keeps up, the old two still wait
    assert ([2.0], 1) == ([group[0] for group in queues.backlogged], queues.free)


def test_backlog_shows_in_the_signal_when_requests_start() -> None:
    """Queue-time samples are recorded when a request starts, so a growing backlog reaches the signal late."""
    queues = WebQueues(4, TARGET_S, 200, 1, [1.0] * 41)
    for second in range(20):
        queues.step(second, 60.0, SERVICE_S)  # one dyno serves 33.3 req/s
    started_late = sum(queues.b_weight[4:])
    assert started_late > 0


def test_every_request_fails_without_a_web_dyno() -> None:
    """With no serving dyno (H14) every request of the minute counts above the target."""
    assert 1.0 == _web_minute(0).over_target(0)


def test_quantile_of_a_single_exponential_tail_is_exact() -> None:
    """Log-linear interpolation on the grid reproduces ln(C / 0.05) / θ for an M/M/k tail."""
    waiting, drain = 0.4, 20.0
    expected = math.log(waiting / 0.05) / drain
    assert expected == pytest.approx(quantile(survival(waiting, drain, 0.0), 1.0), rel=1e-6)


# --- workers -----------------------------------------------------------------------------------------


def test_worker_queue_drains_at_k_over_s_per_dyno() -> None:
    """1,000 jobs on 2 dynos × 5 workers of 2 s jobs (5 jobs/s) take about 200 s, first in first out."""
    queue = WorkerQueue(5, 60.0, 400, 2, requeue=True)
    queue.step(0, 1000, 2.0)
    second = 1
    while queue.queued and second < 400:
        queue.step(second, 0, 2.0)
        second += 1
    assert 195 <= second <= 200


def test_oldest_job_age_grows_one_second_per_second() -> None:
    """With no worker at all, the oldest job's age counts the seconds since it was enqueued."""
    queue = WorkerQueue(5, 60.0, 10, 0, requeue=True)
    for second in range(10):
        queue.step(second, 1 if second == 0 else 0, 2.0)
    assert [float(s + 1) for s in range(10)] == queue.ages


def test_worker_reading_has_depth_latency_and_busy() -> None:
    """The rq reading: no job waits at 2 jobs/s on 5 workers of 2 s jobs, and 4 are running (Little's law)."""
    queue = WorkerQueue(5, 60.0, 100, 1, requeue=True)
    for second in range(60):
        queue.step(second, 2, 2.0)
    reading = queue.reading(60, 123.0)
    assert (123.0, 0, 0.0, 4) == (reading.at, reading.depth, reading.latency, reading.busy)


@pytest.mark.parametrize(("requeue", "waiting", "lost"), [(True, 4, 0), (False, 0, 4)])
def test_jobs_running_past_the_drain_are_killed(requeue: bool, waiting: int, lost: int) -> None:
    """Stopping a dyno gives its running jobs 30 s: most 100 s jobs die, and are re-enqueued or lost."""
    queue = WorkerQueue(5, 60.0, 400, 1, requeue=requeue)
    queue.step(0, 5, 100.0)
    queue.remove(1, 1, 100.0, 30.0)
    assert (waiting, lost) == (queue.queued, queue.lost)


# --- the formation -----------------------------------------------------------------------------------


def test_booting_dynos_are_counted_but_do_not_serve() -> None:
    """A scale-up raises the quantity at once; the new dyno serves only after its boot delay."""
    boots = BootDelays(1, 20, 60)
    formation = Formation(1, boots)
    formation.scale(2, 100)
    before = (formation.quantity, formation.serving)
    formation.ready(100 + boots[0])
    assert ((2, 1), (2, 2)) == (before, (formation.quantity, formation.serving))


def test_boot_delays_are_one_seeded_sequence_within_20_to_60_s() -> None:
    """Every policy's i-th new dyno boots for the same delay (common random numbers), between 20 and 60 s."""
    first, second = BootDelays(7, 20, 60), BootDelays(7, 20, 60)
    delays = [first[i] for i in range(50)]
    assert (delays, True) == ([second[i] for i in range(50)], all(20 <= d <= 60 for d in delays))


def test_scale_down_stops_booting_dynos_first() -> None:
    """Going back down removes the dynos still booting before any serving one."""
    formation = Formation(3, BootDelays(1, 20, 60))
    formation.scale(5, 0)
    stopped = formation.scale(3, 1)
    assert (0, 3, []) == (stopped, formation.serving, formation.booting)


def test_booting_dynos_are_billed() -> None:
    """Billing counts every dyno of the formation each second, booting ones included."""
    config = sim_config("worker")
    inputs = Inputs.prepare(_constant("worker", 0.0, 60, 2.0), config)
    policy = policies.Clairvoyant(config, [3])
    policy.boots = True  # the reference with real boot delays: 3 dynos billed from the first second
    run = simulate(inputs, policy, 1)
    assert 180.0 == run.dyno_seconds


# --- workloads ------------------------------------------------------------------------------------------


def _hour_mean(workload: Workload, hour: float) -> float:
    start = int(hour * 3600)
    return sum(workload.rate[start : start + 3600]) / 3600


def test_diurnal_is_lowest_at_four_and_highest_at_sixteen() -> None:
    """The web day runs from about 20 req/s around 04:00 to about 150 around 16:00, over 24 h."""
    day = workloads.build("diurnal", "web", 1, None, SERVICE_S)
    low, high = _hour_mean(day, 3.5), _hour_mean(day, 15.5)
    assert 86400 == day.duration
    assert pytest.approx((20.0, 150.0), rel=0.05) == (low, high)


def test_step_burst_triples_within_30_seconds() -> None:
    """At 0:30 the load goes from 40 to 120 req/s, the full step within 30 s, and back at 1:30."""
    burst = workloads.build("step-burst", "web", 1, None, SERVICE_S)

    def mean(start: int, end: int) -> float:
        return sum(burst.rate[start:end]) / (end - start)

    before, during, after = mean(1200, 1800), mean(1830, 5400), mean(5400, 7200)
    assert pytest.approx((40.0, 120.0, 40.0), rel=0.03) == (before, during, after)
    assert pytest.approx(120.0, rel=0.1) == burst.rate[1829]


def test_slow_ramp_rises_hour_after_hour() -> None:
    """Between 0:30 and 3:30 every hour carries more load than the one before."""
    ramp = workloads.build("slow-ramp", "web", 1, None, SERVICE_S)
    means = [_hour_mean(ramp, hour) for hour in (0.5, 1.5, 2.5)]
    assert (sorted(means), True) == (means, means[0] < means[-1] / 2)


def test_flash_crowd_is_five_times_for_ten_minutes_then_decays() -> None:
    """×5 at once at 0:30, held 10 minutes, then back toward the base with a 5 min time constant."""
    flash = workloads.build("flash-crowd", "web", 1, None, SERVICE_S)
    base, peak, held = flash.rate[1790], flash.rate[1800], flash.rate[2390]
    decayed = flash.rate[2400 + 300]
    assert pytest.approx((5.0, 5.0, 30 + 120 / math.e), rel=0.1) == (peak / base, held / base, decayed)


def test_batch_dump_enqueues_twenty_thousand_jobs_at_once() -> None:
    """The batch dump is a worker scenario: 20,000 jobs at 0:30 on a 1 job/s trickle."""
    dump = workloads.build("batch-dump", "worker", 1, None, 2.0)
    assert ({1800: 20_000}, ("worker",)) == (dict(dump.dumps), workloads.scenario_kinds("batch-dump"))


def test_trickle_is_steady_with_noise() -> None:
    """The trickle averages 12 req/s with about 25 % noise per 10 s block."""
    trickle = workloads.build("trickle", "web", 1, None, SERVICE_S)
    blocks = trickle.rate[::10]
    mean = sum(blocks) / len(blocks)
    spread = math.sqrt(sum((b - mean) ** 2 for b in blocks) / len(blocks)) / mean
    assert 12.0 == pytest.approx(mean, rel=0.05)
    assert 0.25 == pytest.approx(spread, abs=0.04)


def test_scenarios_follow_their_seed() -> None:
    """The same seed draws the same noise; another seed draws another."""
    one, again, other = (workloads.build("trickle", "web", seed, 1, SERVICE_S).rate for seed in (1, 1, 2))
    assert (True, False) == (one == again, one == other)


def test_hours_cut_a_scenario() -> None:
    """--hours sets the length of a built-in scenario."""
    assert 1800 == workloads.build("diurnal", "web", 1, 0.5, SERVICE_S).duration


def test_trace_rows_hold_until_the_next_row() -> None:
    """Each row's rate holds until the next row; the last one for as long as the step before it."""
    trace = workloads.parse_trace("t,arrivals_per_s\n0,5\n3,7\n", "t.csv", "web", SERVICE_S, None)
    assert (5.0, 5.0, 5.0, 7.0, 7.0, 7.0) == trace.rate


def test_trace_service_column_sets_the_service_time() -> None:
    """An optional service_ms column gives the app time per row, in seconds inside the simulator."""
    trace = workloads.parse_trace("t,arrivals_per_s,service_ms\n0,5,200\n1,5,100\n", "t.csv", "web", SERVICE_S, None)
    assert (0.2, 0.1) == trace.service_s


def test_trace_times_count_from_the_first_row() -> None:
    """A trace exported with absolute times starts at its first row."""
    trace = workloads.parse_trace("t,arrivals_per_s\n1000,5\n1002,9\n", "t.csv", "worker", 2.0, None)
    assert (5.0, 5.0, 9.0, 9.0) == trace.rate


def test_trace_problems_name_their_lines() -> None:
    """Every bad row is reported with its line number."""
    text = "t,arrivals_per_s\n0,5\n0,6\n2,-1\nx,3\n"
    with pytest.raises(ConfigError) as caught:
        workloads.parse_trace(text, "t.csv", "web", SERVICE_S, None)
    assert [
        "--trace: t.csv line 3: t must increase, got '0' after 0",
        "--trace: t.csv line 4: arrivals_per_s must be a number >= 0, got '-1'",
        "--trace: t.csv line 5: t must be a number of seconds >= 0, got 'x'",
    ] == caught.value.problems


def test_trace_needs_its_header() -> None:
    """A CSV without the t,arrivals_per_s header is refused."""
    with pytest.raises(ConfigError) as caught:
        workloads.parse_trace("0,5\n1,6\n", "t.csv", "web", SERVICE_S, None)
    assert "header must be t,arrivals_per_s[,service_ms]" in caught.value.problems[0]


# --- demand -------------------------------------------------------------------------------------------


def test_web_demand_is_the_random_routing_count() -> None:
    """At a constant 150 req/s the clairvoyant needs the 11 dynos of the random-routing example every minute."""
    needs = demand.per_minute(_constant("web", RATE, 180, SERVICE_S), sim_config())
    assert [11, 11, 11] == needs


def test_worker_demand_spreads_a_dump_over_max_latency() -> None:
    """3,000 jobs of 2 s with MAX_LATENCY 60 s need 6,000 worker-seconds within a minute: 20 dynos of 5."""
    needs = demand.worker_per_second(_constant("worker", 0.0, 120, 2.0, {0: 3000}), sim_config("worker"))
    assert (20, 20, 1) == (needs[0], needs[59], needs[60])


def test_worker_demand_carries_work_beyond_max_dynos() -> None:
    """Work the MAX_DYNOS cannot take within MAX_LATENCY keeps the demand at the maximum longer."""
    needs = demand.worker_per_second(_constant("worker", 0.0, 300, 2.0, {0: 12_000}), sim_config("worker"))
    assert (20, 20, 1) == (needs[0], needs[200], needs[260])


@pytest.mark.parametrize("name", [n for n, s in workloads.SCENARIOS.items() if "web" in s.shapes])
def test_clairvoyant_meets_the_slo_on_every_web_scenario(name: str) -> None:
    """Dynos set to d_t at each minute keep every 1-minute p95 within the target (the demand is exact)."""
    config = sim_config()
    inputs = Inputs.prepare(workloads.build(name, "web", 1, None, SERVICE_S), config)
    run = simulate(inputs, policies.Clairvoyant(config, inputs.demand), inputs.demand[0])
    assert 0 == run.slo_minutes


# --- policies on small inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "raw", "expected"),
    [
        pytest.param(3, 50, 7, id="small: +4"),
        pytest.param(10, 50, 20, id="large: doubles"),
        pytest.param(10, 12, 12, id="within the limit: all of it"),
    ],
)
def test_hpa_scales_up_by_max_four_or_double(current: int, raw: int, expected: int) -> None:
    """HPA's default scale-up policies: at most max(+4, +100 %) per 15 s tick."""
    hpa = policies.Hpa(sim_config(max_dynos=100))
    assert expected == hpa.stabilise(0, current, raw)


def test_hpa_scales_down_to_the_rolling_maximum_of_five_minutes() -> None:
    """A lower recommendation waits until the higher one is 300 s old, then applies at once."""
    hpa = policies.Hpa(sim_config())
    hpa.stabilise(0, 8, 8)
    held = hpa.stabilise(290, 8, 2)
    released = hpa.stabilise(300, 8, 2)
    assert (8, 2) == (held, released)


def test_hpa_counts_booting_dynos_at_zero_on_a_scale_up() -> None:
    """Utilization 100 % on 2 ready dynos with 2 booting: the ratio over 4 is 0.625, so HPA holds."""
    formation = Formation(2, BootDelays(1, 20, 60))
    formation.scale(4, 0)
    queues = WebQueues(4, TARGET_S, 100, 2, [1.0] * 21)
    for second in range(80):
        queues.step(second, 100.0, SERVICE_S)  # overloaded: busy 100 %
    hpa = policies.Hpa(sim_config())
    assert 4 == hpa.decide(80, formation, queues)


def test_hpa_workers_target_the_backlog_one_dyno_clears_in_max_latency() -> None:
    """Without JOBS_PER_DYNO, HPA's backlog target is MAX_LATENCY × k / S = 60 × 5 / 2 = 150 jobs."""
    assert 150.0 == policies.Hpa(sim_config("worker")).backlog_target


def _run_recorded(name: str, kind: Kind, scenario: str) -> tuple[Run, list[tuple[int, int, int]]]:
    config = sim_config(kind)
    service_s = config.service_s
    inputs = Inputs.prepare(workloads.build(scenario, kind, 1, None, service_s), config)
    policy = policies.make(name, config)
    recorder = _Recorder(policy)
    return simulate(inputs, policy, inputs.demand[0]), recorder.changes


def test_heroku_native_moves_one_dyno_per_event_at_least_60_s_apart() -> None:
    """Heroku's autoscaling adds or removes one dyno per event, events ≥ 60 s apart, downs ≥ 120 s after any."""
    _, changes = _run_recorded("heroku-native", "web", "flash-crowd")
    steps = {abs(quantity - previous) for _, previous, quantity in changes}
    gaps = [(b[0] - a[0], b[2] < b[1]) for a, b in itertools.pairwise(changes)]
    assert ({1}, True, True) == (
        steps,
        all(gap >= 60 for gap, _ in gaps),
        all(gap >= 120 for gap, down in gaps if down),
    )


def test_judoscale_upscales_one_at_a_time_with_a_cooldown() -> None:
    """Judoscale-like adds one dyno per upscale, at most one upscale every 60 s."""
    _, changes = _run_recorded("judoscale-like", "web", "flash-crowd")
    ups = [(now, quantity - previous) for now, previous, quantity in changes if quantity > previous]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(ups)]
    assert ({1}, True) == ({step for _, step in ups}, all(gap >= 60 for gap in gaps))


def test_judoscale_downscales_one_dyno_per_ten_minutes() -> None:
    """Judoscale-like removes one dyno at a time, 10 minutes apart at least."""
    _, changes = _run_recorded("judoscale-like", "web", "flash-crowd")
    downs = [(now, previous - quantity) for now, previous, quantity in changes if quantity < previous]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(downs)]
    assert ({1}, True) == ({step for _, step in downs}, all(gap >= 600 for gap in gaps))


def test_keda_scales_to_zero_after_the_cooldown_and_back_when_jobs_wait() -> None:
    """KEDA drops to 0 after 300 s without waiting jobs, and activates 0 → 1 when one waits."""
    keda = policies.Keda(sim_config("worker"))
    queue = WorkerQueue(5, 60.0, 1000, 2, requeue=True)
    formation = Formation(2, BootDelays(1, 20, 60))
    early = keda.decide(270, formation, queue)
    to_zero = keda.decide(300, formation, queue)
    formation.scale(0, 300)
    queue.queued = 3
    back = keda.decide(330, formation, queue)
    assert (2, 0, 1) == (early, to_zero, back)


def test_static_peak_never_scales_nor_calls_the_api() -> None:
    """Static peak runs the highest demand all along: no action, no API call."""
    run, changes = _run_recorded("static-peak", "web", "flash-crowd")
    assert ([], 0, 0) == (changes, run.scale_actions, run.api_calls)


def test_policies_of_the_wrong_kind_are_refused() -> None:
    """KEDA models workers only, Heroku's autoscaling web only."""
    with pytest.raises(ConfigError) as caught:
        policies.make("keda", sim_config("web"))
    assert ["--policy: keda models worker processes only; this run is web"] == caught.value.problems


# --- ours: the daemon itself ---------------------------------------------------------------------------


def _ours(config: SimConfig, scenario: str = "step-burst") -> tuple[Ours, Inputs, Run]:
    inputs = Inputs.prepare(workloads.build(scenario, config.kind, 1, None, config.service_s), config)
    policy = Ours(config)
    return policy, inputs, simulate(inputs, policy, inputs.demand[0])


def _platform(config: SimConfig, faults: ApiFaults, quantity: int = 2) -> Platform:
    system = WorkerQueue(config.per_dyno, config.target_s, 600, quantity, True)
    return Platform(Formation(quantity, BootDelays(1, 20, 60)), system, faults, [config.service_s] * 600, 30.0)


def _calls(policy: Ours, name: str) -> list[int]:
    """The seconds at which ours's Platform API got the call ``name``."""
    assert policy.api is not None
    return [second for second, call in policy.api.requests if call == name]


def test_ours_is_the_daemon_ticking_every_interval() -> None:
    """ours is a real Daemon: one tick per AUTOSCALER_INTERVAL, and its PATCHes are the scale actions; the
    engine's reason codes come out of its decisions."""
    config = sim_config("worker")
    policy, inputs, run = _ours(config)
    ticks = len(range(config.interval, inputs.workload.duration, config.interval))
    assert policy.daemon is not None
    assert policy.last is not None
    assert (ticks, run.scale_actions, True) == (
        policy.daemon.ticks,
        len(_calls(policy, "PATCH formation")),
        policy.last.decisions[0].reason in set(Reason),
    )


def test_ours_calls_the_platform_api_as_deployed() -> None:
    """The daemon keeps the formation as deployed: read at the first tick, again at least every minute and in
    the tick of each PATCH (before it); the app and its sizes read once, the rate limit every 5 minutes; every
    call is one API call, the free rate-limit check too."""
    config = sim_config("web")
    policy, inputs, run = _ours(config)
    assert policy.daemon is not None
    reads, patches = _calls(policy, "GET formation"), _calls(policy, "PATCH formation")
    gaps = [later - earlier for earlier, later in itertools.pairwise(reads)]
    rate_checks = list(range(config.interval, inputs.workload.duration, round(appview.RATE_CHECK_EVERY)))
    assert (True, True, 60, True, [config.interval], [config.interval], rate_checks, run.api_calls) == (
        policy.daemon.view.keeps_formation,
        run.scale_actions > 0,
        max(gaps),
        all(second in reads for second in patches),
        _calls(policy, "GET app"),
        _calls(policy, "GET available-dyno-sizes"),
        _calls(policy, "GET account/rate-limits"),
        len(reads) + len(patches) + len(rate_checks) + 2,
    )
    assert len(reads) < inputs.workload.duration // 60 + 1 + len(patches)


def test_ours_reads_the_running_dynos_once_a_minute_with_a_budget() -> None:
    """With AUTOSCALER_MAX_MONTHLY_COST the daemon reads the running dynos once a minute (none without)."""
    budget, _, _ = _ours(sim_config("worker", max_monthly_cost=500.0))
    free, _, _ = _ours(sim_config("worker"))
    seconds = _calls(budget, "GET dynos")
    assert ({60}, []) == (
        {later - earlier for earlier, later in itertools.pairwise(seconds)},
        _calls(free, "GET dynos"),
    )


def test_simulated_heroku_speaks_the_platform_calls_of_the_daemon() -> None:
    """The app is on its size's generation (Cedar), its sizes priced by the run (the run's size at the run's
    price), no one-off dyno runs, the rate limit is full; each call is one API call."""
    config = sim_config("worker")
    platform = _platform(config, ApiFaults(1, 0.0, 600), quantity=3)
    api = SimulatedHeroku(platform, SimClock(), "worker", "Standard-2X", 33.0)
    available = {size.name: size.monthly_usd for size in api.available_dyno_sizes("app")}
    dynos = api.dynos("app")
    assert (True, "cedar", 33.0, 25.0, ["worker"] * 3, BUCKET_CAPACITY, BUCKET_CAPACITY, 4) == (
        isinstance(api, PlatformAPI),
        sizes.parse_generation(api.app("app")["generation"]),
        available["standard-2x"],
        available["standard-1x"],
        [dyno.type for dyno in dynos],
        api.rate_limits(),
        api.rate_limit_remaining,
        platform.api_calls,
    )


def test_ours_learns_the_price_from_the_platform() -> None:
    """The daemon's prices are the API's: the run's price of its size (AUTOSCALER_PRICES wins when set)."""
    policy = Ours(sim_config("worker", monthly_usd=40.0))
    policy.start(_platform(sim_config("worker"), ApiFaults(1, 0.0, 600)))(2)
    assert policy.daemon is not None
    assert (40.0, sizes.Generation.CEDAR) == (policy.daemon.view.price("standard-2x"), policy.daemon.view.generation)


def test_ours_decides_what_the_engine_decides() -> None:
    """The simulated edges add nothing: the daemon's decision on the simulated formation and reading is
    decide_formation's for the same observation."""
    config = sim_config("worker")
    policy = Ours(config)
    platform = _platform(config, ApiFaults(1, 0.0, 600))
    platform.system.queued = 500  # type: ignore[union-attr]
    tick = policy.start(platform)
    tick(100)
    assert policy.last is not None
    reading = policy.last.readings["worker"]
    direct, _ = decide_formation(
        {"worker": Observation("worker", 2, config.size.name, reading)},
        {"worker": ProcessState()},
        {"worker": config.process_config()},
        START_EPOCH + 100,
    )
    assert (direct["worker"].desired, direct["worker"].desired) == (
        policy.last.decisions[0].desired,
        platform.formation.quantity,
    )


def test_platform_faults_are_the_clients_errors_and_the_daemon_holds() -> None:
    """A failing call raises the client's ServerError (503), so the daemon's own handling runs: the first
    tick's rate-limit check and formation GET fail (the GETs of one second share its draw), the tick ends
    with the formation held, and each failure is counted once."""
    config = sim_config("worker")
    policy = Ours(config)
    platform = _platform(config, ApiFaults(1, 0.99, 600))
    policy.start(platform)(15)
    assert policy.last is not None
    assert (False, ["formation: HTTP 503: simulated Platform API failure (GET formation)"], 2, 2, 2) == (
        policy.last.ok,
        policy.last.errors,
        platform.api_calls,
        platform.api_failures,
        platform.formation.quantity,
    )


def test_platform_faults_fail_the_platform_reads_too() -> None:
    """--api-failures applies to the app, sizes, dynos and rate-limit reads as to the formation GET."""
    config = sim_config("worker")
    api = SimulatedHeroku(_platform(config, ApiFaults(1, 0.99, 600)), SimClock(), "worker", "Standard-2X")
    calls = [
        lambda: api.app("app"),
        lambda: api.available_dyno_sizes("app"),
        lambda: api.dynos("app"),
        lambda: api.rate_limits(),
    ]
    failed = []
    for call in calls:
        with pytest.raises(ServerError) as caught:
            call()
        failed.append(caught.value.status)
    assert ([503] * 4, 4) == (failed, api.platform.api_failures)


def test_simulated_heroku_reports_booting_dynos_and_applies_the_patch() -> None:
    """The formation GET counts booting dynos as Heroku does; the PATCH sets the quantity."""
    config = sim_config("worker")
    platform = _platform(config, ApiFaults(1, 0.0, 600))
    api = SimulatedHeroku(platform, SimClock(), "worker", "Standard-2X")
    api.update_formation("app", [FormationUpdate(type="worker", quantity=5)])
    assert ([ApiFormation("worker", 5, "Standard-2X")], 2, 1, 5) == (
        api.formation("app"),
        platform.formation.serving,
        platform.scale_actions,
        platform.peak,
    )


def test_api_failures_skip_ticks_and_leave_the_formation() -> None:
    """With half the API calls failing, ours loses reads and PATCHes; failed PATCHes change nothing, and
    the formation never goes above MAX_DYNOS."""
    config = sim_config("worker", api_failure_rate=0.5, max_dynos=6)
    policy, _, run = _ours(config)
    reads = _calls(policy, "GET formation")
    patches = _calls(policy, "PATCH formation")
    assert (True, True, True) == (
        run.api_failures > len(reads) // 3,
        run.scale_actions < len(patches),
        run.peak_dynos <= 6,
    )


def test_peak_dynos_is_the_largest_formation() -> None:
    """peak_dynos is the largest quantity of the run, booting dynos included."""
    _, _, run = _ours(sim_config("web"), "flash-crowd")
    assert (run.peak_dynos, run.peak_dynos >= 2) == (max(run.quantity), True)


def test_budget_caps_ours_through_the_daemons_limits() -> None:
    """AUTOSCALER_MAX_MONTHLY_COST goes to the daemon, whose app limits trim ours to what it pays for."""
    config = sim_config("web", max_monthly_cost=150.0)
    _, _, capped = _ours(config, "flash-crowd")
    _, _, free = _ours(sim_config("web"), "flash-crowd")
    assert (3, True) == (capped.peak_dynos, free.peak_dynos > 3)


def test_ours_ticks_at_the_daemons_default_interval() -> None:
    """Unless told otherwise, ours ticks at the daemon's own AUTOSCALER_INTERVAL default."""
    assert (Settings.model_fields["interval"].default,) * 2 == (DEFAULT_INTERVAL, sim_config("web").interval)


def test_daemon_settings_carry_the_process_the_tick_and_the_budget() -> None:
    """The daemon is configured from the run's values alone, never from the environment."""
    config = sim_config("worker", interval=30, max_monthly_cost=99.0, prices={"standard-2x": 33.0}, process="urgent")
    settings = config.daemon_settings()
    assert (30.0, 99.0, {"standard-2x": 33.0}, ["urgent"], False) == (
        settings.interval,
        settings.max_monthly_cost,
        settings.prices,
        list(settings.processes),
        settings.dry_run,
    )
