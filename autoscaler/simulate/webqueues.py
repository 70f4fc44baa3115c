"""Web dynos behind Heroku's router: N dynos of k processes, each with its own queue.

The router sends each request to a random dyno, so N dynos of k processes are N independent
queues fed λ/N each (Poisson splitting), never one pooled queue. While a dyno keeps up
(λ/N < k/S) its queue wait is the analytic M/M/k one:
``P(W > t) = C(k, λS/N)·exp(−(k/S − λ/N)·t)`` at the rate of that second, exact for Poisson
arrivals and exponential app times in steady state. When it falls behind, the excess becomes a
fluid backlog per dyno (dynos that joined later start empty), and a request waits behind it,
``backlog·S/k``. The SLO (share of requests above the target per minute) is computed from each
second's exact tail. For the signal, each second's wait distribution is kept on a fixed grid in
5-second slots, by the time the request *started* (as the middleware records it, so a backlog
shows up late, as it does for real), and a reading is what :mod:`autoscaler.signals.web`
reports: the complete slots of the window, read 3 s after they end; unknown when no dyno served.

With the router's signal (``response``), what is kept, judged and read is the **response time**
instead, as Heroku's router logs it (``service``): the queue wait plus the app time, exponential
and independent of the wait, ``P(R > t) = (1 − C)·e^(−t/S) + C·P(W' + A > t)`` with ``W'`` the
wait of a request that waits; a request waiting behind a backlog adds it. A reading is what
:mod:`autoscaler.signals.router` reports: rate and response-time quantiles of the complete slots of
the window, read 5 s after they end; an H12 (a response over 30 s) counts as 30 s; requests with
no dyno to go to are H14 errors without a time. The SLO is then the share of requests whose
response time exceeds the target.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from autoscaler.drain.wire import H12_MS
from autoscaler.signals import Reading
from autoscaler.signals.router import GRACE_SECONDS as ROUTER_GRACE_SECONDS
from autoscaler.signals.web import GRACE_SECONDS
from autoscaler.signals.webwire import SLOT_SECONDS

SLOT_S = SLOT_SECONDS
"""Width of one slot of web samples, as the middleware writes them."""
GRACE_S = int(GRACE_SECONDS)
"""A slot is read once it ended this long ago, as the ``web`` source does."""
ROUTER_GRACE_S = int(ROUTER_GRACE_SECONDS)
"""A slot is read once it ended this long ago, as the ``router`` source does."""
TIMEOUT_S = H12_MS / 1000
"""The router ends a request after 30 s (H12), and the drain counts it as a 30 s response."""
QUANTILE = 0.95
GRID: tuple[float, ...] = (0.0, *(0.001 * 1.25**i for i in range(60)))
"""Wait times (seconds) at which each second's queue-wait survival function is kept: 0, then 1 ms
to about 8.7 min, 25 % apart (log-linear interpolation between points is exact for M/M/k tails)."""


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


def response_tail(waiting: float, drain: float, service_s: float, t: float) -> float:
    """P(wait + app time > ``t``): the wait 0 with probability ``1 − waiting``, else exponential of
    rate ``drain``; the app time exponential of mean ``service_s``, independent of it."""
    mu = 1.0 / service_s
    served = math.exp(-mu * t)
    if waiting <= 0.0:
        return served
    if math.isclose(drain, mu, rel_tol=1e-9):
        both = served * (1.0 + mu * t)
    else:
        both = (drain * served - mu * math.exp(-drain * t)) / (drain - mu)
    return (1.0 - waiting) * served + waiting * both


def response_survival(waiting: float, drain: float, service_s: float, shift: float) -> list[float]:
    """P(R > t) on :data:`GRID` for a wait of ``shift`` plus the M/M/k response time; 0 from
    :data:`TIMEOUT_S` on (an H12 counts as 30 s)."""
    return [
        0.0 if t >= TIMEOUT_S else 1.0 if t < shift else response_tail(waiting, drain, service_s, t - shift)
        for t in GRID
    ]


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


# --- the queues -----------------------------------------------------------------------------------


class WebQueues:
    """Random routing to N dynos of k processes, each dyno with its own queue (see the module doc)."""

    def __init__(
        self, k: int, target_s: float, duration: int, serving: int, noise: Sequence[float], response: bool = False
    ) -> None:
        self.k = k
        self.target = target_s
        self.response = response
        """Keep, judge and read the response time (the router's signal) rather than the queue wait."""
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
        self.b_unserved = [0.0] * slots
        """Per slot: requests with no dyno to go to (H14)."""
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
                self._tail = self._over(waiting, drain, service_s, 0.0)
                self._vec = self._shape(waiting, drain, service_s, 0.0)
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
            slot = second // SLOT_S
            if slot < len(self.b_unserved):
                self.b_unserved[slot] += rate
            return 1.0, 0.0, 0.0, 0.0  # no web dyno: every request fails (H14) and nothing is timed
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
                tail += share * self._over(waiting, drain, service_s, 0.0)
                self._add(second // SLOT_S, rate * share, self._shape(waiting, drain, service_s, 0.0))
                served += per_dyno * count
                busy += per_dyno * service_s * count
                self.free += int(count)
                continue
            after = max(0.0, after)
            shift = (backlog + after) / 2 / capacity
            tail += share * self._over(waiting, drain, service_s, shift)
            self._add(int((second + shift) // SLOT_S), rate * share, self._shape(waiting, drain, service_s, shift))
            served += min(capacity, per_dyno + backlog) * count
            busy += min(float(self.k), (per_dyno + backlog) * service_s) * count
            if after > 0:
                self.backlogged.append([count, after])
            else:
                self.free += int(count)
        return tail, served, busy, float(dynos)

    def _over(self, waiting: float, drain: float, service_s: float, shift: float) -> float:
        """The share of a second's requests above the target, waiting ``shift`` behind a backlog first."""
        if shift > self.target:
            return 1.0
        if self.response:
            return response_tail(waiting, drain, service_s, self.target - shift)
        return waiting * math.exp(-drain * (self.target - shift))

    def _shape(self, waiting: float, drain: float, service_s: float, shift: float) -> list[float]:
        """The survival function kept for the signal: of the queue wait, or of the response time."""
        if self.response:
            return response_survival(waiting, drain, service_s, shift)
        return survival(waiting, drain, shift)

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

    def window(self, now: int, window_s: int, grace_s: int = GRACE_S) -> range:
        """The slots a ``web`` source read at ``now`` covers: the complete ones of the last ``window_s``
        seconds, each read ``grace_s`` after it ended (so the data ends 3-8 s before ``now``; the
        ``router`` source waits :data:`ROUTER_GRACE_S`)."""
        self._flush()
        newest = (now - grace_s - SLOT_S) // SLOT_S
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

    def router_reading(self, now: int, at: float, window_s: int) -> Reading:
        """What the ``router`` source would report at ``now``: the rate of router lines, the
        response-time quantiles, and the H14 errors of requests no dyno took.

        As the real source: unknown when the window holds no line (no dyno served and no request
        failed), quantiles None when no request was timed; no runtime metrics are simulated."""
        slots = self.window(now, window_s, ROUTER_GRACE_S)
        unserved = sum(self.b_unserved[slot] * self.noise[slot] for slot in slots)
        if not slots or (sum(self.b_ready[slot] for slot in slots) <= 0 and unserved <= 0):
            return Reading.unknown(at, "no router line in the window")
        served = sum(self.b_served[slot] * self.noise[slot] for slot in slots)
        rate = (served + unserved) / (len(slots) * SLOT_S)
        errors = {"H14": round(unserved)} if round(unserved) > 0 else {}
        acc, weight = self._merged(slots)
        if weight <= 0:
            return Reading(at=at, rate=rate, errors=errors)
        p50, p95, p99 = (min(quantile(acc, weight, q), TIMEOUT_S) * 1000 for q in (0.50, 0.95, 0.99))
        return Reading(
            at=at, rate=rate, response_time_p50=p50, response_time_p95=p95, response_time_p99=p99, errors=errors
        )

    def utilization(self, now: int, window_s: int) -> float | None:
        """Busy processes / processes over the window (what a CPU-style metric would report)."""
        slots = self.window(now, window_s)
        ready = sum(self.b_ready[slot] for slot in slots) * self.k
        if ready <= 0:
            return None
        return min(1.0, sum(self.b_busy[slot] for slot in slots) / ready)

    def p95_between(self, start: int, end: int) -> float | None:
        """The p95 queue time (response time with the router's signal), in seconds, of the requests
        that started in [start, end); None when none did."""
        self._flush()
        acc, weight = self._merged(range(max(0, start // SLOT_S), min(len(self.b_surv), end // SLOT_S)))
        return quantile(acc, weight) if weight > 0 else None

    def over_target(self, minute: int) -> float:
        """Share of the minute's requests whose queue wait (response time) exceeds the target."""
        weight = self.m_weight[minute]
        return self.m_over[minute] / weight if weight > 0 else 0.0
