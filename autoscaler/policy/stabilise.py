"""Stabilisation: what keeps the formation from flapping between the recommendations.

- **Tolerance.** A proportional rule within ``TOLERANCE`` of its target recommends no change.
- **Step limits.** Scale up at once, at most ``max(SCALE_UP_DYNOS, SCALE_UP_PERCENT %)`` per tick;
  scale down at most ``SCALE_DOWN_PER_MINUTE`` dynos a minute when set.
- **Downscale window.** Scale down only to the highest recommendation of the last
  ``DOWNSCALE_DELAY`` seconds (a rolling maximum).
- **Holds.** No scale-down while new dynos boot (``BOOT_TIME``) or a burst is on (a signal at
  twice its target: "panic", as Knative does); a manual change (someone ran ``heroku ps:scale``)
  is the floor for ``MANUAL_HOLD`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import replace

from autoscaler.policy.decision import Outcome, ProcessState, Reason
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.policy.tick import Tick

PANIC_FACTOR = 2.0
"""A signal at this multiple of its target is a burst: no scale-down until it settles."""
PANIC_WINDOW = 60.0
"""Seconds a burst must stay away before scale-down may resume (at most DOWNSCALE_DELAY)."""


# --- tolerance ------------------------------------------------------------------------------


def within(ratio: float, tolerance: float) -> bool:
    """For load-per-dyno targets (backlog): no change within the band on either side."""
    return abs(ratio - 1.0) <= tolerance


def below_within(ratio: float, tolerance: float) -> bool:
    """For time targets (p95 queue time, oldest job): anything above the target breaches the SLO, so the
    band lies below it only: no scale-down while within TOLERANCE under the target."""
    return 1.0 - tolerance <= ratio <= 1.0


# --- what is remembered between ticks --------------------------------------------------------


def booting(state: ProcessState, config: EngineConfig, now: float) -> int:
    """Dynos added within the last BOOT_TIME seconds."""
    return sum(added for t, added in state.ups if now - t < config.boot_time)


def note_manual_change(
    state: ProcessState, current: int, config: EngineConfig, now: float
) -> tuple[ProcessState, bool]:
    """Whether the formation is not what the daemon last set (someone scaled by hand); if so, its
    quantity becomes the floor for MANUAL_HOLD seconds."""
    if state.last_set is None or current == state.last_set:
        return state, False
    return replace(state, manual_floor=current, manual_until=now + config.manual_hold, last_set=current), True


def remember(tick: Tick, state: ProcessState, raw: int, burst: bool) -> ProcessState:
    """Add the recommendation ``raw`` to the downscale window, forgetting entries older than the
    delay; a burst (re-)arms the panic hold, never for longer than the downscale delay."""
    now, delay = tick.now, tick.config.downscale_delay
    if burst:
        state = replace(state, panic_until=now + min(PANIC_WINDOW, delay))
    previous = state.history or ((now, tick.current),)  # start-up counts as a recommendation of what runs now
    history = (*(entry for entry in previous if now - entry[0] < delay), (now, raw))
    return replace(state, history=history)


def mark_applied(state: ProcessState, previous: int, quantity: int, now: float, boot_time: float) -> ProcessState:
    """Record that the formation was set to ``quantity`` (after a successful PATCH)."""
    ups = tuple((t, n) for t, n in state.ups if now - t < boot_time)
    downs = tuple((t, n) for t, n in state.downs if now - t < 60)
    if quantity > previous:
        ups += ((now, quantity - previous),)
    elif quantity < previous:
        downs += ((now, previous - quantity),)
    return replace(state, ups=ups, downs=downs, last_set=quantity)


# --- the steps of a decision -----------------------------------------------------------------


def stabilise(tick: Tick, state: ProcessState, raw: int, why: str, reason: Reason = Reason.SCALE_UP) -> Outcome:
    """The quantity to go to from the recommendation ``raw`` (already in ``state.history``); ``reason``
    is that of a scale-up to it (``scale_up``, or ``scale_up_memory``)."""
    if raw > tick.current:
        return _scale_up(tick, raw, why, reason)
    if raw < tick.current:
        return _scale_down(tick, state, why)
    return Outcome(tick.current, Reason.WITHIN_TARGET, why)


def _scale_up(tick: Tick, raw: int, why: str, reason: Reason) -> Outcome:
    current, config = tick.current, tick.config
    up_limit = current + max(config.scale_up_dynos, math.ceil(current * config.scale_up_percent / 100))
    if raw <= up_limit:
        return Outcome(raw, reason, why)
    return Outcome(up_limit, Reason.SCALE_UP_LIMITED, f"{why}; at most +{up_limit - current} per tick")


def _scale_down(tick: Tick, state: ProcessState, why: str) -> Outcome:
    current, now = tick.current, tick.now
    if tick.booting > 0:
        return Outcome(current, Reason.HELD_BOOTING, f"{why}; {tick.booting} new dynos still booting: no scale-down")
    if now < state.panic_until:
        hold = max(1, math.ceil(state.panic_until - now))
        return Outcome(current, Reason.HELD_PANIC, f"{why}; burst seen: no scale-down for {hold}s more")
    ceiling = max(value for _, value in state.history)
    if ceiling >= current:
        last = max(t for t, v in state.history if v == ceiling)
        wait = max(1, math.ceil(last + tick.config.downscale_delay - now))
        return Outcome(
            current,
            Reason.HELD_DOWNSCALE_DELAY,
            f"{why}; holding {current}: {ceiling} was recommended {now - last:.0f}s ago, "
            f"scale-down possible in {wait}s",
        )
    per_minute = tick.config.scale_down_per_minute
    if per_minute is not None:
        allowed = max(0, per_minute - sum(n for t, n in state.downs if now - t < 60))
        if current - ceiling > allowed:
            return Outcome(current - allowed, Reason.SCALE_DOWN_LIMITED, f"{why}; at most {per_minute}/min")
    return Outcome(ceiling, Reason.SCALE_DOWN, why)


def hold_manual(tick: Tick, state: ProcessState, outcome: Outcome) -> Outcome:
    """During MANUAL_HOLD, never below the quantity someone set by hand."""
    if tick.now >= state.manual_until or state.manual_floor is None or outcome.desired >= state.manual_floor:
        return outcome
    left = state.manual_until - tick.now
    message = f"{outcome.message}; manual change to {state.manual_floor} holds for {left:.0f}s more"
    return Outcome(state.manual_floor, Reason.HELD_MANUAL, message)
