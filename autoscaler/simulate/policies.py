"""The policies ``simulate`` compares: ours, the common autoscalers as baselines, and the references.

Each policy ticks on its own period and answers, at each tick, the quantity it wants (or
None for "no change"). Its parameters are the published defaults, fixed here before any
run and never tuned to a result:

``static-peak``
    A constant formation at the highest clairvoyant demand of the run. No ticks, no API calls.
``hpa`` (Kubernetes HPA defaults)
    Every 15 s. Web: ``ceil(ready × utilization / 0.80)`` on busy-process utilization over
    the signal window; booting dynos are not ready and count at 0 % on a scale-up; no
    change within the 0.1 tolerance or when the direction flips. Workers: AverageValue on
    the backlog, ``ceil(waiting / target)`` with target ``JOBS_PER_DYNO``, else
    ``MAX_LATENCY × k / S`` (the backlog a dyno of k workers clears within the target).
    Scale-up at most max(+4, +100 %) per tick; scale-down only to the highest
    recommendation of the last 300 s; no scale-down on a missing metric; at least 1.
``heroku-native`` (web only)
    Every 60 s, one dyno toward N*, the fewest dynos meeting the p95 response-time target at
    the measured throughput (Heroku's model is undocumented: here the random-routing model,
    N independent M/M/k queues, with the measured app time). The response-time target is calibrated to the queue-time
    SLO: the p95 response time of a dyno whose p95 queue wait is exactly the target, so N*
    is the SLO-meeting count. With the router's signal (``--signal router``) the run's target is
    that p95 response time itself (RESPONSE_TIME_MS), and N* the fewest dynos whose p95 response
    time (wait plus app time) meets it. Scale-down waits :data:`HEROKU_DOWN_SPACING` s after any
    event ("less aggressive"; Heroku's value is not published). At least 1 dyno. No Platform API
    calls: it runs inside Heroku.
``judoscale-like``
    Every 10 s on the last complete 10 s bucket, reported 10 s late: web the bucket's p95
    queue time (from its own middleware: not run with the router's signal), workers the
    oldest job's age. Band: up = the target, down = half of it.
    Above up: +1 (first upscale immediate, then at most one per
    :data:`JUDOSCALE_UPSCALE_EVERY` s). All buckets below down for 10 min: −1, then −1 every
    10 min. Formation reads are not counted (the service's cadence is not published).
``keda`` (workers only)
    The HPA above on the waiting jobs with KEDA's Redis-list default ``listLength`` 5 (or
    ``JOBS_PER_DYNO``), at least 1 while active; every 30 s the operator activates 0 → 1
    when jobs wait, and scales to 0 after ``cooldownPeriod`` 300 s without waiting jobs.
``ours``
    The daemon itself (:mod:`autoscaler.simulate.ours`), one :meth:`~autoscaler.daemon.Daemon.tick`
    every AUTOSCALER_INTERVAL.
``clairvoyant``
    The demand line d_t (:mod:`autoscaler.simulate.demand`), set at each minute's start
    with dynos that serve at once. Not a policy anyone can run: the reference.

The self-hosted baselines (hpa, keda) read the formation once per tick; ours reads it as the
deployed daemon does (kept between reads, read again every minute and before each PATCH), with
the other calls the daemon makes. Every policy but heroku-native and the references PATCHes
through the Platform API, where ``--api-failures`` applies.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from autoscaler import queueing
from autoscaler.errors import ConfigError
from autoscaler.policy.response import ResponseModel
from autoscaler.simulate.model import Formation, Platform, System
from autoscaler.simulate.ours import Ours
from autoscaler.simulate.settings import START_EPOCH, SimConfig
from autoscaler.simulate.webqueues import WebQueues
from autoscaler.simulate.workerqueue import WorkerQueue

HPA_TARGET_UTILIZATION = 0.80
HPA_TOLERANCE = 0.1
HPA_DOWN_WINDOW = 300
KEDA_LIST_LENGTH = 5.0
KEDA_POLL = 30
KEDA_COOLDOWN = 300
HEROKU_UP_SPACING = 60
HEROKU_DOWN_SPACING = 120
JUDOSCALE_TICK = 10
JUDOSCALE_UPSCALE_EVERY = 60
JUDOSCALE_DOWNSCALE_DELAY = 600
JUDOSCALE_DOWN_FRACTION = 0.5

POLICIES: dict[str, tuple[str, ...]] = {
    "web": ("ours", "static-peak", "hpa", "heroku-native", "judoscale-like"),
    "worker": ("ours", "static-peak", "hpa", "judoscale-like", "keda"),
}
"""The policies run for each kind of process, in report order (the clairvoyant line is always added)."""
ROUTER_POLICIES = ("ours", "static-peak", "hpa", "heroku-native")
"""The policies run for a web process on the router's signal: judoscale-like reads queue time from
its own middleware, which the router's lines do not carry."""
ALL_POLICIES = ("ours", "ours-predict", "static-peak", "hpa", "heroku-native", "judoscale-like", "keda")
PREDICTING = "ours-predict"
"""``ours`` with ``PREDICT=true``: run by default when the workload lasts :data:`PREDICT_AFTER_S` or more
(the forecast needs a day of recorded demand; before that it is ``ours``)."""
PREDICT_AFTER_S = 2 * 86400


def for_kind(kind: str, signal: str = "web") -> tuple[str, ...]:
    """The policies a run of ``kind`` compares by default, in report order; on the router's
    ``signal``, those that can read it."""
    return ROUTER_POLICIES if kind == "web" and signal == "router" else POLICIES[kind]


def available(config: SimConfig) -> tuple[str, ...]:
    """The policies a run of ``config`` compares by default, in report order."""
    return for_kind(config.kind, config.signal)


class Policy(Protocol):
    name: str
    tick_s: int
    """Seconds between ticks; 0 never ticks."""
    first_tick: int
    boots: bool
    """New dynos boot for U(20, 60) s (False only for the clairvoyant reference)."""

    def start(self, platform: Platform) -> Callable[[int], None]:
        """Takes charge of ``platform``'s app for a run; returns the tick, called with the second."""
        ...


class _Base:
    """A baseline: each tick reads the formation (when ``reads_api``), decides, and sets the quantity
    (through a PATCH when ``patches_api``)."""

    name = ""
    tick_s = 15
    first_tick = 15
    reads_api = True
    """One formation read (GET) per tick."""
    patches_api = True
    """Changes are Platform API PATCHes (counted, and subject to API failures)."""
    boots = True

    def __init__(self, config: SimConfig) -> None:
        self.config = config

    def clamp(self, value: int, minimum: int | None = None) -> int:
        low = self.config.min_dynos if minimum is None else minimum
        return min(max(value, low), self.config.max_dynos)

    def decide(self, now: int, formation: Formation, system: System) -> int | None:
        raise NotImplementedError

    def applied(self, now: int, previous: int, quantity: int) -> None:
        return None

    def start(self, platform: Platform) -> Callable[[int], None]:
        def tick(second: int) -> None:
            if self.reads_api and not platform.read(second):
                return
            formation = platform.formation
            desired = self.decide(second, formation, platform.system)
            if desired is None or desired == formation.quantity:
                return
            if self.patches_api and not platform.patch(second):
                return
            previous = formation.quantity
            platform.scale(desired, second)
            self.applied(second, previous, desired)

        return tick


class StaticPeak(_Base):
    name = "static-peak"
    tick_s = 0
    reads_api = patches_api = False


class Clairvoyant(_Base):
    name = "clairvoyant"
    tick_s = 60
    first_tick = 0
    reads_api = patches_api = boots = False

    def __init__(self, config: SimConfig, demand: Sequence[int]) -> None:
        super().__init__(config)
        self.demand = demand

    def decide(self, now: int, formation: Formation, system: System) -> int | None:
        return self.demand[now // 60]


class Hpa(_Base):
    name = "hpa"

    def __init__(self, config: SimConfig, backlog_target: float | None = None) -> None:
        super().__init__(config)
        self.recommendations: deque[tuple[int, int]] = deque()
        per_dyno_rate = config.per_dyno / config.service_s
        self.backlog_target = backlog_target or config.jobs_per_dyno or config.target_s * per_dyno_rate

    def decide(self, now: int, formation: Formation, system: System) -> int | None:
        if isinstance(system, WebQueues):
            raw = self._utilization(now, formation, system)
        else:
            raw = self._backlog(formation, system)
        if raw is None:
            return None  # missing metric: no scale-down, and nothing to scale up on
        return self.stabilise(now, formation.quantity, raw)

    def _utilization(self, now: int, formation: Formation, system: WebQueues) -> int | None:
        utilization = system.utilization(now, self.config.window_s)
        ready, unready = formation.serving, len(formation.booting)
        if utilization is None or ready == 0:
            return None
        ratio = utilization / HPA_TARGET_UTILIZATION
        if abs(ratio - 1) <= HPA_TOLERANCE:
            return formation.quantity
        if ratio > 1 and unready:
            ratio = utilization * ready / (HPA_TARGET_UTILIZATION * (ready + unready))
            if ratio <= 1 + HPA_TOLERANCE:  # within tolerance, or the direction flips
                return formation.quantity
            return math.ceil(ratio * (ready + unready))
        return math.ceil(ratio * ready)

    def _backlog(self, formation: Formation, system: WorkerQueue) -> int:
        current = formation.quantity
        waiting = system.queued
        if current > 0 and abs(waiting / (self.backlog_target * current) - 1) <= HPA_TOLERANCE:
            return current
        return math.ceil(waiting / self.backlog_target)

    def stabilise(self, now: int, current: int, raw: int) -> int:
        """HPA's default behavior: up at once within max(+4, +100 %), down to the 300 s rolling maximum.

        The first tick counts the running quantity as a recommendation, as for a deployment that
        was already running (and as the engine does at start-up)."""
        if not self.recommendations:
            self.recommendations.append((now, current))
        self.recommendations.append((now, raw))
        while self.recommendations[0][0] <= now - HPA_DOWN_WINDOW:
            self.recommendations.popleft()
        ceiling = max(value for _, value in self.recommendations)
        desired = min(max(current, raw), ceiling)
        desired = min(desired, max(current + 4, 2 * current))
        return self.clamp(desired, max(1, self.config.min_dynos))


class Keda(_Base):
    name = "keda"

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.hpa = Hpa(config, backlog_target=config.jobs_per_dyno or KEDA_LIST_LENGTH)
        self.last_active = 0
        """The run starts as if jobs had just been seen (a deployment that has been running)."""

    def decide(self, now: int, formation: Formation, system: System) -> int | None:
        assert isinstance(system, WorkerQueue)
        current = formation.quantity
        if now % KEDA_POLL == 0:
            active = system.queued > 0
            if active:
                self.last_active = now
            if current == 0:
                return 1 if active else None
            if not active and now - self.last_active >= KEDA_COOLDOWN:
                return 0
        if current == 0:
            return None
        return self.hpa.decide(now, formation, system)


class HerokuNative(_Base):
    name = "heroku-native"
    tick_s = first_tick = HEROKU_UP_SPACING
    reads_api = patches_api = False

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.last_event = -math.inf

    def decide(self, now: int, formation: Formation, system: System) -> int | None:
        assert isinstance(system, WebQueues)
        reading = system.reading(now, START_EPOCH + now, self.config.window_s)
        if reading.rate is None or not reading.app_time:
            return None
        if self.config.router:
            model = ResponseModel(self.config.per_dyno, reading.app_time / 1000)
            found = model.dynos(reading.rate, self.config.target_s, queueing.MAX_DYNOS_SEARCHED)
        else:
            found = queueing.dynos_for_random_routing(
                reading.rate, reading.app_time / 1000, self.config.per_dyno, self.config.target_s
            )
        need = self.clamp(self.config.max_dynos if found is None else found, max(1, self.config.min_dynos))
        current = formation.quantity
        if need > current and now - self.last_event >= HEROKU_UP_SPACING:
            return current + 1
        if need < current and now - self.last_event >= HEROKU_DOWN_SPACING:
            return current - 1
        return None

    def applied(self, now: int, previous: int, quantity: int) -> None:
        self.last_event = now


def response_target_ms(config: SimConfig) -> float:
    """heroku-native's desired p95 response time: that of a dyno whose p95 queue wait is the target
    (with the router's signal, the target itself)."""
    if config.router:
        return config.target_s * 1000
    return queue_equivalent_ms(config.per_dyno, config.service_s, config.target_s)


def queue_equivalent_ms(k: int, service_s: float, queue_target_s: float) -> float:
    """The p95 response time of a dyno of ``k`` processes whose p95 queue wait is ``queue_target_s``."""
    low, high = 0.0, k / service_s
    for _ in range(60):  # the highest per-dyno rate that still meets the queue-time target
        middle = (low + high) / 2
        if queueing.wait_tail(k, middle, service_s, queue_target_s) <= 1 - queueing.DEFAULT_QUANTILE:
            low = middle
        else:
            high = middle
    return queueing.response_quantile(k, low, service_s) * 1000


class JudoscaleLike(_Base):
    name = "judoscale-like"
    tick_s = first_tick = JUDOSCALE_TICK
    reads_api = False

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.up = config.target_s
        self.down = config.target_s * JUDOSCALE_DOWN_FRACTION
        self.last_up = -math.inf
        self.last_down = -math.inf
        self.below_since: int | None = None

    def _signal(self, now: int, system: System) -> float | None:
        reported = now - JUDOSCALE_TICK  # the last complete 10 s bucket, reported up to 10 s later
        if isinstance(system, WebQueues):
            return system.p95_between(reported - JUDOSCALE_TICK, reported)
        return system.ages[reported - 1] if reported > 0 else None

    def decide(self, now: int, formation: Formation, system: System) -> int | None:
        value = self._signal(now, system)
        if value is None:
            return None
        current = formation.quantity
        if value > self.up:
            self.below_since = None
            if now - self.last_up >= JUDOSCALE_UPSCALE_EVERY:
                return self.clamp(current + 1)
            return None
        if value >= self.down:
            self.below_since = None
            return None
        if self.below_since is None:
            self.below_since = now
        waited = now - self.below_since >= JUDOSCALE_DOWNSCALE_DELAY
        if waited and now - self.last_down >= JUDOSCALE_DOWNSCALE_DELAY:
            return self.clamp(current - 1)
        return None

    def applied(self, now: int, previous: int, quantity: int) -> None:
        if quantity > previous:
            self.last_up = now
        else:
            self.last_down = now


class OursPredicting(Ours):
    """The daemon with ``PREDICT=true``, configured as ``ours`` otherwise."""

    name = PREDICTING

    def __init__(self, config: SimConfig) -> None:
        super().__init__(replace(config, engine={**config.engine, "predict": True}))


def defaults(config: SimConfig, duration_s: int) -> list[str]:
    """The policies a run of ``duration_s`` seconds compares by default: :func:`available`, with
    ``ours-predict`` beside ``ours`` when the run is long enough for the forecast to act."""
    names = list(available(config))
    if duration_s >= PREDICT_AFTER_S and not config.engine.get("predict"):
        names.insert(names.index("ours") + 1, PREDICTING)
    return names


def make(name: str, config: SimConfig) -> Policy:
    """The policy called ``name`` (one of :data:`ALL_POLICIES`, except the references)."""
    if name == PREDICTING:
        return OursPredicting(config)
    if name not in POLICIES[config.kind]:
        only = "web" if name == "heroku-native" else "worker"
        raise ConfigError([f"--policy: {name} models {only} processes only; this run is {config.kind}"])
    if name not in available(config):
        raise ConfigError([f"--policy: {name} scales on queue time from its own middleware, not with --signal router"])
    policies: dict[str, Callable[[SimConfig], Policy]] = {
        "ours": Ours,
        "static-peak": StaticPeak,
        "hpa": Hpa,
        "heroku-native": HerokuNative,
        "judoscale-like": JudoscaleLike,
        "keda": Keda,
    }
    return policies[name](config)
