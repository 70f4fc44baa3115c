"""The simulated platform: dynos that boot, serve and drain, and the queues in front of them.

Time advances in one-second steps. Per step:

* **Formation** (:class:`Formation`): a new dyno boots for a delay drawn from U(20, 60) s
  (the i-th dyno any policy starts gets the i-th delay of one seeded sequence: common
  random numbers) and is billed but does not serve while it boots. Scale-down stops
  booting dynos first (the newest), then serving ones, which are billed for their drain
  (in-flight work, at most the 30 s between SIGTERM and SIGKILL).
* **Web** (:class:`WebQueues`): Heroku's router sends each request to a random dyno, so N
  dynos of k processes are N independent queues fed λ/N each (Poisson splitting), never one
  pooled queue. While a dyno keeps up (λ/N < k/S) its queue wait is the analytic M/M/k
  one: ``P(W > t) = C(k, λS/N)·exp(−(k/S − λ/N)·t)`` at the rate of that second, exact for
  Poisson arrivals and exponential app times in steady state. When it falls behind, the
  excess becomes a fluid backlog per dyno (dynos that joined later start empty), and a
  request waits behind it, ``backlog·S/k``. The SLO (share of requests above the target per
  minute) is computed from each second's exact tail. For the signal, each second's wait
  distribution is kept on a fixed grid in 5-second slots, by the time the request
  *started* (as the middleware records it, so a backlog shows up late, as it does for
  real), and a reading is what :mod:`autoscaler.signals.web` reports: the complete slots
  of the window, read 3 s after they end; unknown when no dyno served.
* **Workers** (:class:`WorkerQueue`): one FIFO of whole jobs (Poisson arrivals per second,
  plus dumps) served by N·k workers at k/S jobs per second per dyno (a fluid service with
  integer job starts); the oldest job's age, waiting and running jobs are what the ``rq``
  source would read. Jobs still running 30 s after SIGTERM are killed and re-enqueued (or
  lost, by configuration).
"""

from __future__ import annotations

import math
import random
from array import array
from collections import deque
from collections.abc import Mapping, Sequence

from autoscaler.signals import Reading
from autoscaler.signals.web import GRACE_SECONDS
from autoscaler.signals.webwire import SLOT_SECONDS

SLOT_S = SLOT_SECONDS
"""Width of one slot of web samples, as the middleware writes them."""
GRACE_S = int(GRACE_SECONDS)
"""A slot is read once it ended this long ago, as the ``web`` source does."""
QUANTILE = 0.95
GRID: tuple[float, ...] = (0.0, *(0.001 * 1.25**i for i in range(60)))
"""Wait times (seconds) at which each second's queue-wait survival function is kept: 0, then 1 ms
to about 8.7 min, 25 % apart (log-linear interpolation between points is exact for M/M/k tails)."""


# --- random streams (common to every policy) ------------------------------------------------


class BootDelays:
    """Boot delays, whole seconds in [low, high]: the i-th dyno started by any policy gets the i-th."""

    def __init__(self, seed: int, low: float, high: float) -> None:
        self._rng = random.Random(f"boot:{seed}")
        self._low, self._high = low, high
        self._delays: list[float] = []

    def __getitem__(self, index: int) -> float:
        while len(self._delays) <= index:
            self._delays.append(float(round(self._rng.uniform(self._low, self._high))))
        return self._delays[index]


class ApiFaults:
    """Which Platform API calls fail: one uniform draw per second for reads and one for PATCHes."""

    def __init__(self, seed: int, rate: float, duration: int) -> None:
        self.rate = rate
        rng = random.Random(f"api:{seed}")
        self._reads = [rng.random() for _ in range(duration)] if rate > 0 else []
        self._patches = [rng.random() for _ in range(duration)] if rate > 0 else []

    def read_fails(self, second: int) -> bool:
        return self.rate > 0 and self._reads[second] < self.rate

    def patch_fails(self, second: int) -> bool:
        return self.rate > 0 and self._patches[second] < self.rate


def poisson(rng: random.Random, mean: float) -> int:
    """One Poisson draw: inversion for small means, a rounded normal above 50."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    u = rng.random()
    term = math.exp(-mean)
    total, count = term, 0
    while u > total and term > 0:
        count += 1
        term *= mean / count
        total += term
    return count


def job_arrivals(rate: Sequence[float], dumps: Mapping[int, int], seed: int) -> list[int]:
    """Jobs enqueued in each second: Poisson(rate) plus the dumps."""
    rng = random.Random(f"arrivals:{seed}")
    return [poisson(rng, value) + dumps.get(second, 0) for second, value in enumerate(rate)]


def request_noise(rate: Sequence[float], seed: int) -> list[float]:
    """Per slot, counted requests / expected requests: the sampling noise of a measured rate."""
    rng = random.Random(f"requests:{seed}")
    factors = []
    for start in range(0, len(rate), SLOT_S):
        expected = sum(rate[start : start + SLOT_S])
        factors.append(poisson(rng, expected) / expected if expected > 0 else 1.0)
    return factors


# --- queueing helpers -------------------------------------------------------------------------


def erlang_c(servers: int, load: float) -> float:
    """P(wait > 0) in M/M/c (the recurrence of autoscaler.queueing, unchecked for the hot loop)."""
    if load >= servers:
        return 1.0
    if load <= 0:
        return 0.0
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return servers * blocking / (servers - load * (1.0 - blocking))


def survival(waiting: float, drain: float, shift: float) -> list[float]:
    """P(W > t) on :data:`GRID` for a wait of ``shift`` plus an M/M/k tail ``waiting·exp(−drain·t)``."""
    return [1.0 if t < shift else waiting * math.exp(-drain * (t - shift)) for t in GRID]


def quantile(acc: Sequence[float], weight: float, q: float = QUANTILE) -> float:
    """The q-quantile (seconds) of a mixture whose weighted survival on :data:`GRID` is ``acc``."""
    allowed = 1.0 - q
    before_t, before_p = 0.0, acc[0] / weight
    if before_p <= allowed:
        return 0.0
    for t, mass in zip(GRID[1:], acc[1:], strict=True):
        p = mass / weight
        if p <= allowed:
            if p <= 0:
                return before_t + (t - before_t) * (before_p - allowed) / before_p
            return before_t + (t - before_t) * math.log(before_p / allowed) / math.log(before_p / p)
        before_t, before_p = t, p
    return GRID[-1]


# --- the formation ----------------------------------------------------------------------------


class Formation:
    """One process type's dynos: serving, and booting (billed, not serving yet)."""

    def __init__(self, serving: int, boots: BootDelays | None) -> None:
        self.serving = serving
        self.booting: list[float] = []
        """Ready times of booting dynos, in start order (the newest last)."""
        self.next_ready = math.inf
        self._boots = boots
        self._started = 0

    @property
    def quantity(self) -> int:
        """What ``GET /formation`` reports: booting and serving dynos."""
        return self.serving + len(self.booting)

    def ready(self, now: float) -> int:
        """Moves dynos whose boot is over to serving; returns how many."""
        if now < self.next_ready:
            return 0
        done = sum(1 for t in self.booting if t <= now)
        self.booting = [t for t in self.booting if t > now]
        self.serving += done
        self.next_ready = min(self.booting, default=math.inf)
        return done

    def scale(self, desired: int, now: float) -> int:
        """Sets the quantity; returns how many *serving* dynos were stopped (booting ones go first)."""
        while self.quantity < desired:
            delay = self._boots[self._started] if self._boots is not None else 0.0
            self._started += 1
            self.booting.append(now + delay)
        stopped = 0
        while self.quantity > desired:
            if self.booting:
                self.booting.pop()
            else:
                self.serving -= 1
                stopped += 1
        self.next_ready = min(self.booting, default=math.inf)
        return stopped


# --- web ----------------------------------------------------------------------------------------


class WebQueues:
    """Random routing to N dynos of k processes, each dyno with its own queue (see the module doc)."""

    def __init__(self, k: int, target_s: float, duration: int, serving: int, noise: Sequence[float]) -> None:
        self.k = k
        self.target = target_s
        self.free = serving
        """Dynos with no backlog (their wait is the stationary M/M/k one)."""
        self.backlogged: list[list[float]] = []
        """[dynos, requests waiting per dyno] of dynos that fell behind."""
        slots = duration // SLOT_S + 1
        minutes = (duration + 59) // 60
        self.noise = noise
        self.b_surv: list[array[float] | None] = [None] * slots
        """Per slot: Σ weight × P(W > t) on :data:`GRID` (arrays of doubles, to keep a week of slots small)."""
        self.b_weight = [0.0] * slots
        self.b_served = [0.0] * slots
        self.b_service = [0.0] * slots
        self.b_busy = [0.0] * slots
        self.b_ready = [0.0] * slots
        self.m_weight = [0.0] * minutes
        self.m_over = [0.0] * minutes
        self._key: tuple[float, float, int] | None = None
        self._vec: list[float] = []
        self._tail = 0.0
        self._pending = 0.0
        self._slot = 0

    @property
    def serving(self) -> int:
        return self.free + sum(int(group[0]) for group in self.backlogged)

    def add(self, dynos: int) -> None:
        self.free += dynos

    def remove(self, dynos: int, service_s: float, drain_s: float) -> float:
        """Stops ``dynos`` (idle ones first); returns the dyno-seconds billed for their drain."""
        billed = 0.0
        take = min(dynos, self.free)
        self.free -= take
        billed += take * min(drain_s, service_s)
        dynos -= take
        while dynos > 0 and self.backlogged:
            group = self.backlogged[-1]
            take = min(dynos, int(group[0]))
            group[0] -= take
            dynos -= take
            billed += take * min(drain_s, service_s + group[1] * service_s / self.k)
            if group[0] <= 0:
                self.backlogged.pop()
        return billed

    def step(self, second: int, rate: float, service_s: float) -> None:
        """Serves one second of traffic at ``rate`` requests per second."""
        slot = second // SLOT_S
        if slot != self._slot:
            self._flush()
            self._slot = slot
        free = self.free
        if not self.backlogged and free > 0 and rate * service_s < free * self.k:
            key = (rate, service_s, free)
            if key != self._key:
                self._flush()
                self._key = key
                per_dyno = rate / free
                waiting = erlang_c(self.k, per_dyno * service_s)
                drain = self.k / service_s - per_dyno
                self._tail = waiting * math.exp(-drain * self.target)
                self._vec = survival(waiting, drain, 0.0)
            self._pending += rate
            tail, served, busy, ready = self._tail, rate, rate * service_s, float(free)
        else:
            tail, served, busy, ready = self._behind(second, rate, service_s)
        minute = second // 60
        self.m_weight[minute] += rate
        self.m_over[minute] += rate * tail
        self.b_served[slot] += served
        self.b_service[slot] += served * service_s
        self.b_busy[slot] += busy
        self.b_ready[slot] += ready

    def _behind(self, second: int, rate: float, service_s: float) -> tuple[float, float, float, float]:
        """A second in which some dyno is (or falls) behind: each group of dynos on its own."""
        dynos = self.serving
        if dynos == 0:
            return 1.0, 0.0, 0.0, 0.0  # no web dyno: every request fails (H14) and nothing is measured
        self._flush()
        self._key = None
        per_dyno = rate / dynos
        capacity = self.k / service_s
        groups = ([(float(self.free), 0.0)] if self.free else []) + [(g[0], g[1]) for g in self.backlogged]
        self.free, self.backlogged = 0, []
        tail = served = busy = 0.0
        stable = per_dyno < capacity
        waiting = erlang_c(self.k, per_dyno * service_s) if stable else 0.0
        drain = capacity - per_dyno if stable else 0.0
        for count, backlog in groups:
            share = count / dynos
            after = backlog + per_dyno - capacity
            if backlog == 0 and after < 0:
                tail += share * waiting * math.exp(-drain * self.target)
                self._add(second // SLOT_S, rate * share, survival(waiting, drain, 0.0))
                served += per_dyno * count
                busy += per_dyno * service_s * count
                self.free += int(count)
                continue
            after = max(0.0, after)
            shift = (backlog + after) / 2 / capacity
            tail += share * (1.0 if shift > self.target else waiting * math.exp(-drain * (self.target - shift)))
            self._add(int((second + shift) // SLOT_S), rate * share, survival(waiting, drain, shift))
            served += min(capacity, per_dyno + backlog) * count
            busy += min(float(self.k), (per_dyno + backlog) * service_s) * count
            if after > 0:
                self.backlogged.append([count, after])
            else:
                self.free += int(count)
        return tail, served, busy, float(dynos)

    def _flush(self) -> None:
        if self._pending > 0:
            self._add(self._slot, self._pending, self._vec)
            self._pending = 0.0

    def _add(self, slot: int, weight: float, vec: list[float]) -> None:
        if slot >= len(self.b_surv) or weight <= 0:
            return
        acc = self.b_surv[slot]
        if acc is None:
            self.b_surv[slot] = array("d", [weight * x for x in vec])
        else:
            for index, x in enumerate(vec):
                acc[index] += weight * x
        self.b_weight[slot] += weight

    # --- what the signal pipeline sees ---------------------------------------------------

    def window(self, now: int, window_s: int) -> range:
        """The slots a ``web`` source read at ``now`` covers: the complete ones of the last ``window_s``
        seconds, each read :data:`GRACE_S` after it ended (so the data ends 3-8 s before ``now``)."""
        self._flush()
        newest = (now - GRACE_S - SLOT_S) // SLOT_S
        oldest = max(0, newest - math.ceil(window_s / SLOT_S) + 1)
        return range(oldest, newest + 1)

    def _merged(self, slots: range) -> tuple[list[float], float]:
        acc = [0.0] * len(GRID)
        for slot in slots:
            vec = self.b_surv[slot]
            if vec is not None:
                acc = [a + x for a, x in zip(acc, vec, strict=True)]
        return acc, sum(self.b_weight[slot] for slot in slots)

    def reading(self, now: int, at: float, window_s: int) -> Reading:
        """What the ``web`` source would report at ``now``: rate, queue-time quantiles, app time.

        As the real source: unknown when no dyno served during the window (no middleware wrote
        a slot), queue times 0.0 when no request came, app time None without requests."""
        slots = self.window(now, window_s)
        if not slots or sum(self.b_ready[slot] for slot in slots) <= 0:
            return Reading.unknown(at, "no request counts from the middleware in the window")
        served = sum(self.b_served[slot] * self.noise[slot] for slot in slots)
        plain = sum(self.b_served[slot] for slot in slots)
        rate = served / (len(slots) * SLOT_S)
        app_ms = sum(self.b_service[slot] for slot in slots) / plain * 1000 if plain > 0 else None
        acc, weight = self._merged(slots)
        if weight <= 0:
            return Reading(at=at, rate=rate, queue_time_p50=0.0, queue_time_p95=0.0, queue_time_p99=0.0)
        p50, p95, p99 = (quantile(acc, weight, q) * 1000 for q in (0.50, 0.95, 0.99))
        return Reading(at=at, rate=rate, queue_time_p50=p50, queue_time_p95=p95, queue_time_p99=p99, app_time=app_ms)

    def utilization(self, now: int, window_s: int) -> float | None:
        """Busy processes / processes over the window (what a CPU-style metric would report)."""
        slots = self.window(now, window_s)
        ready = sum(self.b_ready[slot] for slot in slots) * self.k
        if ready <= 0:
            return None
        return min(1.0, sum(self.b_busy[slot] for slot in slots) / ready)

    def p95_between(self, start: int, end: int) -> float | None:
        """The p95 queue time (seconds) of the requests that started in [start, end), None when none did."""
        self._flush()
        acc, weight = self._merged(range(max(0, start // SLOT_S), min(len(self.b_surv), end // SLOT_S)))
        return quantile(acc, weight) if weight > 0 else None

    def over_target(self, minute: int) -> float:
        """Share of the minute's requests whose queue wait exceeds the target."""
        weight = self.m_weight[minute]
        return self.m_over[minute] / weight if weight > 0 else 0.0


# --- workers --------------------------------------------------------------------------------------


class WorkerQueue:
    """One FIFO of jobs served by ``serving × k`` workers (see the module doc)."""

    def __init__(self, k: int, target_s: float, duration: int, serving: int, requeue: bool) -> None:
        self.k = k
        self.target = target_s
        self.serving = serving
        self.requeue = requeue
        self.cohorts: deque[list[int]] = deque()
        """[second enqueued, jobs] oldest first."""
        self.queued = 0
        self.busy = 0.0
        self.carry = 0.0
        self.ages = [0.0] * duration
        """The oldest waiting job's age at the end of each second."""
        self.started = 0
        self.late = 0
        self.killed = 0.0
        self.lost = 0
        self._decay: tuple[float, float] = (0.0, 0.0)

    def add(self, dynos: int) -> None:
        self.serving += dynos

    def remove(self, dynos: int, second: int, service_s: float, drain_s: float) -> float:
        """Stops ``dynos``: their running jobs get ``drain_s`` to finish; returns the billed drain."""
        if self.serving <= 0 or dynos <= 0:
            return 0.0
        running = self.busy * dynos / self.serving
        self.busy -= running
        self.serving -= dynos
        killed = running * math.exp(-drain_s / service_s)
        self.killed += killed
        whole = round(killed)
        if whole and self.requeue:
            self.cohorts.appendleft([second, whole])
            self.queued += whole
        elif whole:
            self.lost += whole
        per_dyno = min(drain_s, service_s) if running > 0.5 else 1.0
        return dynos * per_dyno

    def step(self, second: int, arrivals: int, service_s: float) -> None:
        """One second: enqueue the arrivals, start what the free workers can take, FIFO."""
        if arrivals:
            self.cohorts.append([second, arrivals])
            self.queued += arrivals
        workers = self.serving * self.k
        capacity = max(workers / service_s, workers - self.busy * (1 - 1 / service_s)) + self.carry
        can = int(capacity)
        starts = 0
        cohorts = self.cohorts
        while starts < can and cohorts:
            front = cohorts[0]
            take = min(front[1], can - starts)
            if second - front[0] > self.target:
                self.late += take
            starts += take
            front[1] -= take
            if front[1] == 0:
                cohorts.popleft()
        self.queued -= starts
        self.started += starts
        self.carry = capacity - can if starts == can else 0.0
        if self._decay[0] != service_s:
            self._decay = (service_s, math.exp(-1 / service_s))
        decay = self._decay[1]
        self.busy = min(float(workers), self.busy * decay + starts * service_s * (1 - decay))
        self.ages[second] = float(second + 1 - cohorts[0][0]) if cohorts else 0.0

    def reading(self, now: int, at: float) -> Reading:
        """What the ``rq`` source reads at ``now``: waiting jobs, the oldest one's age, running jobs."""
        latency = self.ages[now - 1] if now > 0 else 0.0
        return Reading(at=at, depth=self.queued, latency=latency, busy=round(self.busy))

    def minute_age(self, minute: int) -> float:
        return max(self.ages[minute * 60 : minute * 60 + 60], default=0.0)

    def late_share(self) -> float:
        """Share of jobs that waited longer than the target (jobs still waiting at the end included)."""
        waiting_late = sum(n for t, n in self.cohorts if len(self.ages) - t > self.target)
        total = self.started + self.queued
        return (self.late + waiting_late) / total if total else 0.0


# --- one app on the platform ------------------------------------------------------------------------

System = WebQueues | WorkerQueue


class Platform:
    """One policy's app: its formation, the queues behind it, and its Platform API.

    Every policy changes its formation here, so the counts are kept in one place: API calls
    (a formation GET or a PATCH), the calls that failed (one draw per second each for GETs and
    PATCHes, from :class:`ApiFaults`, the same for every policy), scale actions, the largest
    quantity, and the drain billed for the serving dynos a scale-down stopped."""

    def __init__(
        self, formation: Formation, system: System, faults: ApiFaults, service_s: Sequence[float], drain_s: float
    ) -> None:
        self.formation = formation
        self.system = system
        self.faults = faults
        self.service_s = service_s
        self.drain_s = drain_s
        self.api_calls = 0
        self.api_failures = 0
        self.scale_actions = 0
        self.peak = formation.quantity
        """The largest quantity of the formation so far (booting dynos included)."""
        self.drained = 0.0
        """Dyno-seconds billed for draining stopped dynos, not yet collected (:meth:`collect`)."""

    def read(self, second: int) -> bool:
        """One formation GET at ``second``: False when it fails."""
        self.api_calls += 1
        if self.faults.read_fails(second):
            self.api_failures += 1
            return False
        return True

    def patch(self, second: int) -> bool:
        """One formation PATCH at ``second``: False when it fails (the formation is then left as it is)."""
        self.api_calls += 1
        if self.faults.patch_fails(second):
            self.api_failures += 1
            return False
        return True

    def scale(self, desired: int, second: int) -> None:
        """Sets the quantity (one scale action); the serving dynos it stops drain, and are billed for it."""
        stopped = self.formation.scale(desired, second)
        self.scale_actions += 1
        self.peak = max(self.peak, desired)
        if not stopped:
            return
        service_s = self.service_s[second]
        if isinstance(self.system, WebQueues):
            self.drained += self.system.remove(stopped, service_s, self.drain_s)
        else:
            self.drained += self.system.remove(stopped, second, service_s, self.drain_s)

    def collect(self) -> float:
        """The drain billed since the last call."""
        drained, self.drained = self.drained, 0.0
        return drained
