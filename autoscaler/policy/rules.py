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
- running jobs: ``ceil(busy / CONCURRENCY)``: never remove dynos busy jobs need.

A proportional rule within ``TOLERANCE`` of its target recommends no change. The largest
recommendation wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoscaler import queueing
from autoscaler.policy.decision import ProcessState
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.policy.learning import per_dyno_rate
from autoscaler.policy.stabilise import PANIC_FACTOR, below_within, within
from autoscaler.signals import Reading

MAX_WEB_STEP = 2.0
"""The proportional web rule at most doubles the dynos per tick: queue time grows without bound near
saturation, so its ratio to the target overstates the capacity missing (the model sizes the rest)."""


@dataclass(frozen=True, slots=True)
class Want:
    """One rule's recommendation: ``dynos``, why, and whether its signal is at a burst level."""

    dynos: int
    why: str
    burst: bool = False


def recommend(reading: Reading, config: EngineConfig, ready: int, state: ProcessState) -> list[Want]:
    """Every rule's recommendation for this reading, ``ready`` dynos serving (in rule order: of equal
    recommendations, the first one's reason is given)."""
    wants = [
        _backlog(reading, config, ready),
        _latency(reading, config, ready, state),
        *_web(reading, config, ready, state),
        _busy(reading, config),
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


def _busy(reading: Reading, config: EngineConfig) -> Want | None:
    if reading.busy is None or reading.busy <= 0:
        return None
    need = math.ceil(reading.busy / config.concurrency)
    return Want(need, f"{reading.busy} running jobs keep {need}")
