"""The decision engine: a pure function from what was observed to the formation wanted.

:func:`decide` takes (observation, state, config, now) and returns a :class:`Decision`
and the next :class:`ProcessState`. It reads no clock, does no I/O and touches no
globals, so every rule is tested with plain values (tests/test_policy.py).

Rules, in order:

1. **Signals → raw recommendation.** ``JOBS_PER_DYNO``: ``ceil(waiting / JOBS_PER_DYNO)``.
   ``MAX_LATENCY``: when the oldest job has waited longer than the target, scale
   proportionally, ``ceil(current × latency / target)`` and at least one more dyno;
   below the target, proportionally down. Several targets: the largest wins. Running
   jobs keep their dynos: never below ``ceil(busy / CONCURRENCY)``.
2. **Unknown signal → hold.** A signal a target needs could not be read: keep the
   current quantity, unless the signals that *were* read already ask for more.
3. **Stabilisation.** Scale up at once. Scale down only to the highest recommendation
   seen during the last ``DOWNSCALE_DELAY`` seconds (a rolling maximum, as Kubernetes'
   HPA does); the daemon's start counts as a recommendation of the current quantity,
   so a restart never scales down at once.
4. **Bounds.** ``[MIN_DYNOS, MAX_DYNOS]``, then Heroku's per-type limit of the size
   (Eco/Basic 1, Performance 10).

Every decision carries a reason code (:class:`Reason`) and a human message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from autoscaler import sizes
from autoscaler.config import ProcessConfig
from autoscaler.signals import Reading


class Reason(StrEnum):
    """Why a decision came out as it did. Logged as ``reason=``."""

    SCALE_UP = "scale_up"
    SCALE_DOWN = "scale_down"
    WITHIN_TARGET = "within_target"
    HELD_DOWNSCALE_DELAY = "held_downscale_delay"
    HELD_SIGNAL_UNKNOWN = "held_signal_unknown"
    CLAMPED_TO_MAX = "clamped_to_max"
    CLAMPED_TO_MIN = "clamped_to_min"
    CLAMPED_TO_HEROKU_LIMIT = "clamped_to_heroku_limit"
    RESIZE = "resize"


@dataclass(frozen=True, slots=True)
class Observation:
    """One process type as the daemon found it this tick."""

    process: str
    quantity: int
    size: str
    reading: Reading


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What the engine remembers about one process between ticks.

    ``history``: (time, recommendation) pairs within the downscale window, oldest first.
    """

    history: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one process type."""

    process: str
    current: int
    desired: int
    current_size: str
    desired_size: str
    reason: Reason
    message: str
    recommendation: int | None = None
    """The raw recommendation from the signals alone, before stabilisation and bounds."""
    inputs: dict[str, float | int | None] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.desired != self.current or sizes.normalize(self.desired_size) != sizes.normalize(self.current_size)


@dataclass(frozen=True, slots=True)
class _Raw:
    """The signals' recommendation, or None with the missing signals named."""

    value: int | None
    missing: tuple[str, ...]
    why: str


def _recommend(obs: Observation, config: ProcessConfig) -> _Raw:
    reading = obs.reading
    current = obs.quantity
    wants: list[tuple[int, str]] = []
    missing: list[str] = []

    if config.jobs_per_dyno is not None:
        if reading.depth is None:
            missing.append("depth")
        else:
            need = math.ceil(reading.depth / config.jobs_per_dyno)
            wants.append((need, f"{reading.depth} waiting / {config.jobs_per_dyno:g} per dyno → {need}"))

    if config.max_latency is not None:
        if reading.latency is None:
            missing.append("latency")
        else:
            ratio = reading.latency / config.max_latency
            if ratio > 1:
                need = max(current + 1, math.ceil(current * ratio))
                verb = "over"
            else:
                need = math.ceil(current * ratio)
                verb = "within"
            wants.append((need, f"oldest job {reading.latency:.1f}s {verb} target {config.max_latency:g}s → {need}"))

    if reading.busy is not None and reading.busy > 0:
        need = math.ceil(reading.busy / config.concurrency)
        wants.append((need, f"{reading.busy} running jobs keep {need}"))

    if not wants:
        return _Raw(None, tuple(missing), "")
    value, why = max(wants, key=lambda item: item[0])
    return _Raw(value, tuple(missing), why)


def _limit(config: ProcessConfig, size_name: str) -> tuple[int, int, int | None]:
    """(min, max, Heroku's per-type limit for the size)."""
    size = sizes.lookup(size_name)
    return config.min_dynos, config.max_dynos, size.max_per_type if size else None


def _clamp(value: int, config: ProcessConfig, size_name: str) -> tuple[int, Reason | None, str]:
    low, high, heroku_limit = _limit(config, size_name)
    if heroku_limit is not None and value > heroku_limit and heroku_limit < high:
        return heroku_limit, Reason.CLAMPED_TO_HEROKU_LIMIT, f"Heroku allows {heroku_limit} {size_name} dynos"
    if value > high:
        return high, Reason.CLAMPED_TO_MAX, f"at MAX_DYNOS {high}"
    if value < low:
        return low, Reason.CLAMPED_TO_MIN, f"at MIN_DYNOS {low}"
    return value, None, ""


def decide(obs: Observation, state: ProcessState, config: ProcessConfig, now: float) -> tuple[Decision, ProcessState]:
    """Decide the quantity (and size) of one process type. Pure."""
    current = obs.quantity
    size = config.size or obs.size
    inputs: dict[str, float | int | None] = {
        "depth": obs.reading.depth,
        "latency": obs.reading.latency,
        "busy": obs.reading.busy,
    }
    raw = _recommend(obs, config)

    def make(desired: int, reason: Reason, message: str, recommendation: int | None) -> Decision:
        return Decision(
            process=obs.process,
            current=current,
            desired=desired,
            current_size=obs.size,
            desired_size=size,
            reason=reason,
            message=message,
            recommendation=recommendation,
            inputs=inputs,
        )

    if raw.value is None or (raw.missing and raw.value <= current):
        held, clamp_reason, clamp_why = _clamp(current, config, size)
        missing = ", ".join(raw.missing) or "signal"
        why = obs.reading.error or "no value"
        if clamp_reason is not None:
            return make(held, clamp_reason, f"{missing} unknown ({why}); {clamp_why}", None), state
        return make(current, Reason.HELD_SIGNAL_UNKNOWN, f"{missing} unknown ({why}): holding", None), state

    # Stabilisation: a rolling maximum over the downscale window.
    window_start = now - config.downscale_delay
    history = tuple(entry for entry in state.history if entry[0] > window_start)
    if not state.history:
        history = ((now, current),)  # start-up counts as a recommendation of what runs now
    history += ((now, raw.value),)
    ceiling = max(value for _, value in history)
    stabilised = raw.value if raw.value >= current else min(current, ceiling)
    next_state = replace(state, history=history)

    desired, clamp_reason, clamp_why = _clamp(stabilised, config, size)
    if clamp_reason is Reason.CLAMPED_TO_MIN and desired <= current:
        # Resting at the floor, or coming down to it: not a clamp event, just the bound.
        reason = Reason.WITHIN_TARGET if desired == current else Reason.SCALE_DOWN
        return make(desired, reason, f"{raw.why}; {clamp_why}", raw.value), next_state
    if clamp_reason is not None:
        return make(desired, clamp_reason, f"{raw.why}; {clamp_why}", raw.value), next_state
    if desired > current:
        return make(desired, Reason.SCALE_UP, raw.why, raw.value), next_state
    if desired < current:
        return make(desired, Reason.SCALE_DOWN, raw.why, raw.value), next_state
    if raw.value < current:
        last = max(t for t, v in history if v == ceiling)
        message = (
            f"{raw.why}; holding {current}: {ceiling} was recommended {now - last:.0f}s ago, "
            f"scale-down possible in {last + config.downscale_delay - now:.0f}s"
        )
        return make(current, Reason.HELD_DOWNSCALE_DELAY, message, raw.value), next_state
    reason = Reason.RESIZE if sizes.normalize(size) != sizes.normalize(obs.size) else Reason.WITHIN_TARGET
    return make(current, reason, raw.why, raw.value), next_state
