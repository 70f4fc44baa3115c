"""The recommendations: how many dynos each signal asks for, before stabilisation and bounds.

- backlog: ``ceil(waiting / JOBS_PER_DYNO)``;
- latency: with a measured (or configured) per-dyno throughput, the dynos that drain the
  backlog within ``MAX_LATENCY`` after booting (Little's law, and the backlog plus what
  arrives meanwhile divided by what a dyno clears in the time left); without one,
  ``ceil(ready × latency / MAX_LATENCY)``;
- web, proportional: ``ceil(ready × p95 / QUEUE_TIME_MS)``;
- web, model: the fewest dynos that keep the p95 queue wait under the target when Heroku's
  router sends each request to a random dyno (N independent M/M/k queues,
  :mod:`autoscaler.queueing`), with the app time corrected online (:mod:`.learning`);
- router, proportional: ``ceil(ready × (p95 − P) / (RESPONSE_TIME_MS − P))`` with ``P`` the app's
  own p95 (the response time is queue time plus app time: only the queueing part scales with dynos);
- router, model: the fewest dynos whose p95 response time (wait plus app time, under random
  routing) meets ``RESPONSE_TIME_MS`` at the measured rate (:mod:`.response`);
- running jobs: ``ceil(busy / CONCURRENCY)``: never remove dynos busy jobs need;
- memory: dynos over their size's memory quota (runtime metrics) swap (R14): one more dyno, or more
  in proportion to the share of dynos over it (reason ``scale_up_memory``).

A proportional rule within ``TOLERANCE`` of its target recommends no change; the proportional web
and router rules at most double the dynos per tick. The largest recommendation wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from autoscaler import queueing, sizes
from autoscaler.policy.decision import ProcessState, Reason
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.policy.learning import per_dyno_rate
from autoscaler.policy.response import APP_P95_FACTOR, ResponseModel
from autoscaler.policy.stabilise import PANIC_FACTOR, below_within, within
from autoscaler.signals import Reading

MAX_WEB_STEP = 2.0
"""The proportional web rule at most doubles the dynos per tick: queue time grows without bound near
saturation, so its ratio to the target overstates the capacity missing (the model sizes the rest)."""


@dataclass(frozen=True, slots=True)
class Want:
    """One rule's recommendation: ``dynos``, why, whether its signal is at a burst level, and the
    reason a scale-up to it is given."""

    dynos: int
    why: str
    burst: bool = False
    reason: Reason = Reason.SCALE_UP


def recommend(
    reading: Reading, config: EngineConfig, ready: int, state: ProcessState, size: str | None = None
) -> list[Want]:
    """Every rule's recommendation for this reading, ``ready`` dynos of ``size`` serving (in rule
    order: of equal recommendations, the first one's reason is given)."""
    wants = [
        _backlog(reading, config, ready),
        _latency(reading, config, ready, state),
        *_web(reading, config, ready, state),
        *_router(reading, config, ready, state),
        _busy(reading, config),
        _memory(reading, ready, size),
    ]
    return [want for want in wants if want is not None]


def missing(reading: Reading, config: EngineConfig) -> list[str]:
    """The signals a configured target needs that this reading lacks."""
    names = []
    if config.jobs_per_dyno is not None and reading.depth is None:
        names.append("depth")
    if config.max_latency is not None and reading.latency is None:
        names.append("latency")
    if config.queue_time_ms is not None and reading.queue_time_p95 is None and reading.rate is None:
        names.append("queue_time_p95")
    if config.response_time_ms is not None and reading.response_time_p95 is None and reading.rate is None:
        names.append("response_time_p95")
    return names


def _backlog(reading: Reading, config: EngineConfig, ready: int) -> Want | None:
    if config.jobs_per_dyno is None or reading.depth is None:
        return None
    need = math.ceil(reading.depth / config.jobs_per_dyno)
    capacity = max(ready, 1) * config.jobs_per_dyno
    burst = reading.depth >= PANIC_FACTOR * capacity and reading.depth > 0
    if ready > 0 and need != ready and within(reading.depth / (ready * config.jobs_per_dyno), config.tolerance):
        return Want(ready, f"{reading.depth} waiting is within {config.tolerance:.0%} of {ready} dynos' target")
    return Want(need, f"{reading.depth} waiting / {config.jobs_per_dyno:g} per dyno → {need}", burst)


def _latency(reading: Reading, config: EngineConfig, ready: int, state: ProcessState) -> Want | None:
    target = config.max_latency
    if target is None or reading.latency is None:
        return None
    latency = reading.latency
    ratio = latency / target
    burst = ratio >= PANIC_FACTOR
    rate = per_dyno_rate(config, state)
    depth = reading.depth
    if rate is not None and rate > 0 and depth is not None:
        drain = _Drain(depth, latency, state.arrival_rate or 0.0, rate)
        return Want(drain.dynos(ready, config), drain.why(config), burst)
    if ready == 0:  # from zero: one dyno, or as many as the latency says one dyno would need
        need = max(1, math.ceil(ratio)) if (depth or 0) > 0 or latency > 0 else 0
        return Want(need, f"oldest job {latency:.1f}s with no dyno running → {need}", burst)
    if below_within(ratio, config.tolerance):
        return Want(ready, f"oldest job {latency:.1f}s within {config.tolerance:.0%} of target {target:g}s")
    need = math.ceil(ready * ratio)
    if ratio > 1:
        need = max(need, ready + 1)
    verb = "over" if ratio > 1 else "under"
    return Want(need, f"oldest job {latency:.1f}s {verb} target {target:g}s → {need}", burst)


@dataclass(frozen=True, slots=True)
class _Drain:
    """A backlog to clear: ``depth`` jobs waiting, the oldest for ``latency`` s, ``arrivals`` more
    jobs a second, and ``rate`` jobs a second done by one dyno."""

    depth: int
    latency: float
    arrivals: float
    rate: float

    def dynos(self, ready: int, config: EngineConfig) -> int:
        """Dynos that keep up with arrivals and finish the backlog before its oldest job breaches
        MAX_LATENCY: ``(depth + arrivals × T) / (rate × T)`` with T the time left before that breach
        (Little's law for the steady part), counting that running dynos work the whole time while new
        ones help only after BOOT_TIME."""
        target = config.max_latency or 0.0
        arrivals, rate = self.arrivals, self.rate
        remaining = max(target - self.latency, target / 4)  # until the oldest waiting job breaches
        steady = math.ceil(arrivals / rate) if arrivals > 0 else 0
        if ready > 0 and steady > ready and within(arrivals / (ready * rate), config.tolerance):
            steady = ready  # arrivals within the band of what the running dynos do: no change for noise
        work = self.depth + arrivals * remaining
        if work <= ready * rate * remaining:
            return max(steady, math.ceil(work / (rate * remaining)) if work > 0 else 0)
        horizon = max(remaining - config.boot_time, target / 2)
        return max(steady, ready + math.ceil((work - ready * rate * remaining) / (rate * horizon)))

    def why(self, config: EngineConfig) -> str:
        return (
            f"oldest job {self.latency:.1f}s (target {config.max_latency:g}s): {self.depth} waiting, "
            f"{self.arrivals:.2f}/s arriving, {self.rate:.3g} jobs/s per dyno"
        )


def _web(reading: Reading, config: EngineConfig, ready: int, state: ProcessState) -> list[Want]:
    target = config.queue_time_ms
    if target is None:
        return []
    wants: list[Want] = []
    p95 = reading.queue_time_p95
    if p95 is not None:
        ratio = p95 / target
        if ready == 0:
            wants.append(Want(1, "web needs at least one dyno", ratio >= PANIC_FACTOR))
        elif below_within(ratio, config.tolerance):
            wants.append(Want(ready, f"p95 queue time {p95:.0f}ms within {config.tolerance:.0%} of {target:g}ms"))
        else:
            need = math.ceil(ready * min(ratio, MAX_WEB_STEP))
            wants.append(
                Want(need, f"p95 queue time {p95:.0f}ms vs target {target:g}ms → {need}", ratio >= PANIC_FACTOR)
            )
    model = _web_model(reading, config, state)
    if model is not None:
        wants.append(model)
    return wants


def _web_model(reading: Reading, config: EngineConfig, state: ProcessState) -> Want | None:
    """Dynos needed under random routing: N independent M/M/k queues each fed rate/N."""
    if config.queue_time_ms is None or reading.rate is None or not reading.app_time or reading.rate <= 0:
        return None
    k = config.processes_per_dyno or 1
    service_s = reading.app_time / 1000 * state.correction
    need = queueing.dynos_for_random_routing(
        reading.rate, service_s, k, config.queue_time_ms / 1000, quantile=0.95, max_dynos=max(config.max_dynos, 1) * 4
    )
    if need is None:  # not reachable within 4 × MAX_DYNOS: ask for everything allowed
        need = config.max_dynos
    why = (
        f"model: {reading.rate:.1f} req/s × {service_s * 1000:.0f}ms on {k} processes/dyno, "
        f"random routing → {need} for p95 wait ≤ {config.queue_time_ms:g}ms"
    )
    return Want(need, why)


def _router(reading: Reading, config: EngineConfig, ready: int, state: ProcessState) -> list[Want]:
    target = config.response_time_ms
    if target is None:
        return []
    wants: list[Want] = []
    p95 = reading.response_time_p95
    burst = p95 is not None and p95 >= PANIC_FACTOR * target
    if ready == 0:
        if p95 is not None or (reading.rate or 0.0) > 0:  # requests, and no dyno to serve them (H14)
            wants.append(Want(1, "web needs at least one dyno", burst))
    elif p95 is not None:
        proportional = _response_proportional(p95, target, ready, config, state)
        if proportional is not None:
            wants.append(replace(proportional, burst=burst))
    model = _response_model(reading, config, state)
    if model is not None:
        wants.append(model)
    return wants


def _response_proportional(
    p95: float, target: float, ready: int, config: EngineConfig, state: ProcessState
) -> Want | None:
    """On the p95's excess over the app's own p95 (the queueing part), against the target's."""
    own = state.app_time * APP_P95_FACTOR if state.app_time is not None else 0.0
    if own >= target:
        return None  # the app alone is slower than the target: more dynos cannot reach it (the model sizes)
    ratio = max(0.0, p95 - own) / (target - own)
    if below_within(ratio, config.tolerance):
        return Want(ready, f"p95 response time {p95:.0f}ms within {config.tolerance:.0%} of {target:g}ms")
    need = math.ceil(ready * min(ratio, MAX_WEB_STEP))
    app = f" (the app's own p95 {own:.0f}ms)" if own else ""
    return Want(need, f"p95 response time {p95:.0f}ms vs target {target:g}ms{app} → {need}")


def _response_model(reading: Reading, config: EngineConfig, state: ProcessState) -> Want | None:
    """Dynos needed under random routing for the p95 response time (:mod:`.response`)."""
    target, rate = config.response_time_ms, reading.rate
    if target is None or rate is None or state.app_time is None:
        return None
    if rate <= 0:
        return Want(0, "no request in the window")
    k = config.processes_per_dyno or 1
    model = ResponseModel(k, state.app_time / 1000, state.correction)
    goal, note = target / 1000, ""
    if goal <= model.app_p95:  # out of reach: keep the wait within TOLERANCE of the app's own p95
        goal = model.app_p95 * (1 + config.tolerance)
        note = f"; the app alone takes {model.app_p95 * 1000:.0f}ms at p95, so {goal * 1000:.0f}ms is aimed at"
    need = model.dynos(rate, goal, max(config.max_dynos, 1) * 4)
    if need is None:  # not reachable within 4 × MAX_DYNOS: ask for everything allowed
        need = config.max_dynos
    correction = f" (×{state.correction:.2f} in the wait)" if state.correction != 1.0 else ""
    why = (
        f"model: {rate:.1f} req/s × {state.app_time:.0f}ms app time{correction} on {k} processes/dyno, "
        f"random routing → {need} for p95 response ≤ {target:g}ms{note}"
    )
    return Want(need, why)


def _memory(reading: Reading, ready: int, size: str | None) -> Want | None:
    """Dynos over the size's memory quota swap (R14, slow): one more, or more in proportion to
    the share of dynos over it."""
    found = sizes.lookup(size) if size is not None else None
    if not reading.memory_mb or found is None:
        return None
    over = sorted((dyno for dyno, mb in reading.memory_mb.items() if mb > found.memory_mb), key=str)
    if not over:
        return None
    need = ready + max(1, math.ceil(ready * len(over) / len(reading.memory_mb)))
    named = ", ".join(f"{dyno} {reading.memory_mb[dyno]:.0f}MB" for dyno in over[:3])
    named += ", ..." if len(over) > 3 else ""
    why = (
        f"{len(over)} of {len(reading.memory_mb)} dynos over the {found.name} memory quota of {found.memory_mb}MB "
        f"({named}): swapping (R14) → {need}"
    )
    return Want(need, why, reason=Reason.SCALE_UP_MEMORY)


def _busy(reading: Reading, config: EngineConfig) -> Want | None:
    if reading.busy is None or reading.busy <= 0:
        return None
    need = math.ceil(reading.busy / config.concurrency)
    return Want(need, f"{reading.busy} running jobs keep {need}")
