"""One process type, one tick: :func:`decide`, the steps in order.

1. **Readiness of the data.** A reading that failed or is older than ``STALE_AFTER`` is
   unknown. Unknown data never lowers the formation: hold, and after ``FALLBACK_AFTER``
   unknown readings in a row raise to ``FALLBACK_QUANTITY`` if one is set.
2. **Learning** from the reading (:mod:`.learning`), then the **recommendations**
   (:mod:`.rules`): the largest wins. With ``PREDICT``, the rise in demand the recorded pattern
   expects within the boot time is added to it (:mod:`.forecast`; reason ``predicted``).
3. **Stabilisation** (:mod:`.stabilise`): step limits, the downscale window, the boot, burst
   and manual-change holds.
4. **Bounds** (:mod:`.limits`): ``[MIN_DYNOS, MAX_DYNOS]`` as changed by active schedules, then
   Heroku's per-type limit of the size (Eco/Basic 1, Performance 10 unless ``SIZE_LIMIT`` says more).
"""

from __future__ import annotations

import math
from dataclasses import replace

from autoscaler import sizes
from autoscaler.policy.decision import Decision, Observation, Outcome, ProcessState, Reason
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.policy.learning import learn
from autoscaler.policy.limits import Span
from autoscaler.policy.rules import Want, missing, recommend
from autoscaler.policy.stabilise import booting, hold_manual, note_manual_change, remember, stabilise
from autoscaler.policy.tick import Tick


def decide(obs: Observation, state: ProcessState, config: EngineConfig, now: float) -> tuple[Decision, ProcessState]:
    """Decide the quantity (and size) of one process type. Pure."""
    tick, state = _begin(obs, state, config, now)
    unknown = _unknown(tick)
    if unknown is not None:
        return _hold_unknown(tick, replace(state, failures=state.failures + 1), unknown)
    state = learn(tick.reading, replace(state, failures=0), tick.serving, config)
    wants = recommend(tick.reading, config, tick.ready, state, tick.obs.size)
    needed = missing(tick.reading, config)
    if not wants or (needed and max(w.dynos for w in wants) <= tick.current):
        why = f"{', '.join(needed) or 'signal'} unknown: holding"
        return tick.decision(Outcome(tick.span.clamp(tick.current), Reason.HELD_SIGNAL_UNKNOWN, why)), state
    reactive = max(wants, key=lambda w: w.dynos)
    best = _ahead(tick, reactive)
    state = remember(tick, state, best.dynos, any(w.burst for w in wants))
    outcome = stabilise(tick, state, best.dynos, best.why, best.reason)
    if best is not reactive and outcome.reason is Reason.WITHIN_TARGET:
        outcome = replace(outcome, reason=Reason.PREDICTED)
    outcome = hold_manual(tick, state, outcome)
    outcome = _resized(tick, tick.span.bound(outcome, tick.current))
    return tick.decision(outcome, reactive.dynos, state), state


def _ahead(tick: Tick, reactive: Want) -> Want:
    """``PREDICT``: the reactive recommendation plus the rise the recorded pattern expects within
    the boot time (:mod:`.forecast`), so that the dynos are up when it comes. When the signals
    already ask for more than the pattern expects now, the rise is under way: only up to its peak."""
    forecast = tick.obs.forecast
    if not tick.config.predict or forecast is None or forecast.add <= 0:
        return reactive
    add = forecast.add
    if forecast.level is not None and forecast.peak is not None and reactive.dynos > forecast.level:
        add = min(add, max(0, math.ceil(forecast.peak - reactive.dynos - 1e-9)))
    if add <= 0:
        return reactive
    why = f"{reactive.why}; forecast: {forecast.message}: {reactive.dynos} + {add}"
    reason = Reason.PREDICTED if reactive.reason is Reason.SCALE_UP else reactive.reason
    return Want(reactive.dynos + add, why, reason=reason)


def _begin(obs: Observation, state: ProcessState, config: EngineConfig, now: float) -> tuple[Tick, ProcessState]:
    """The values of this tick; a manual change since the last one is noted in the state."""
    state, manual_change = note_manual_change(state, obs.quantity, config, now)
    span = Span.at(config, config.size or obs.size, now)
    return Tick(obs, config, now, span, booting(state, config, now), manual_change), state


def _unknown(tick: Tick) -> str | None:
    """Why the reading cannot be used (it failed, or is older than STALE_AFTER); None when it can."""
    reading = tick.reading
    if not reading.ok:
        return reading.error or "no value"
    age = tick.now - reading.at
    if age > tick.config.stale_after:
        return f"reading is {age:.0f}s old (STALE_AFTER {tick.config.stale_after:g}s)"
    return None


def _hold_unknown(tick: Tick, state: ProcessState, why: str) -> tuple[Decision, ProcessState]:
    """Without data: hold (within the bounds), or raise to the fallback quantity after enough failures."""
    config, current = tick.config, tick.current
    if config.fallback_quantity is not None and state.failures >= config.fallback_after:
        desired = tick.span.clamp(max(current, config.fallback_quantity))
        message = f"signal unknown {state.failures} times in a row ({why}): fallback to {config.fallback_quantity}"
        if desired > current:
            return tick.decision(Outcome(desired, Reason.FALLBACK, message)), state
    held, reason = tick.span.hold(current)
    return tick.decision(Outcome(held, reason, f"signal unknown ({why}): holding")), state


def _resized(tick: Tick, outcome: Outcome) -> Outcome:
    """A decision that keeps the quantity but not the size is a resize."""
    if outcome.reason is Reason.WITHIN_TARGET and sizes.normalize(tick.span.size) != sizes.normalize(tick.obs.size):
        return replace(outcome, reason=Reason.RESIZE)
    return outcome
