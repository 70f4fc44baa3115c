"""The bounds of one process type: ``[MIN_DYNOS, MAX_DYNOS]`` as the active schedules change them,
and Heroku's per-type limit of the dyno size. Pure functions of the configuration, the size and
the time."""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler import sizes
from autoscaler.policy.decision import Outcome, Reason
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.schedule import window_active


def size_limit(size_name: str, raised: int | None = None) -> int | None:
    """Heroku's per-process-type quantity limit for a size (``raised``: a limit Heroku granted
    above the default, for Performance, Private and Shield only: never Eco, Basic or Fir's 255);
    None when only the app's limit applies."""
    size = sizes.lookup(size_name)
    if size is None or size.max_per_type is None:
        return None
    if raised is not None and size.raisable:
        return raised
    return size.max_per_type


def bounds(config: EngineConfig, now: float) -> tuple[int, int]:
    """``(min, max)`` after the schedules active at ``now``."""
    low, high = config.min_dynos, config.max_dynos
    scheduled_max: list[int] = []
    for window in config.schedules:
        if window_active(window.cron, window.timezone, window.duration, now):
            if window.min_dynos is not None:
                low = max(low, window.min_dynos)
            if window.max_dynos is not None:
                scheduled_max.append(window.max_dynos)
    if scheduled_max:
        high = max(scheduled_max)
    return low, max(low, high)


def heroku_limit(config: EngineConfig, size_name: str) -> int | None:
    """Heroku's per-process-type quantity limit for the size (or the configured raise)."""
    return size_limit(size_name, config.size_limit)


@dataclass(frozen=True, slots=True)
class Span:
    """The quantities one process type may have now: ``low`` to ``high``, and at most ``limit``
    (Heroku's, for ``size``) when there is one."""

    low: int
    high: int
    limit: int | None
    size: str

    @classmethod
    def at(cls, config: EngineConfig, size: str, now: float) -> Span:
        low, high = bounds(config, now)
        return cls(low, high, heroku_limit(config, size), size)

    def clamp(self, value: int) -> int:
        value = min(max(value, self.low), self.high)
        return min(value, self.limit) if self.limit is not None else value

    def bound(self, outcome: Outcome, current: int) -> Outcome:
        """``outcome`` brought within the span, with the reason a bound gives."""
        wanted = outcome.desired
        clamped = self.clamp(wanted)
        if clamped == wanted:
            return outcome
        message = outcome.message
        if self.limit is not None and clamped == self.limit and wanted > self.limit:
            reason = Reason.CLAMPED_TO_HEROKU_LIMIT
            message += f"; Heroku allows {self.limit} {self.size} dynos per process type"
        elif wanted > self.high:
            reason, message = Reason.CLAMPED_TO_MAX, f"{message}; at MAX_DYNOS {self.high}"
        # Below the minimum: coming down to the floor is a scale-down, being raised to it a clamp.
        elif clamped < current:
            reason, message = Reason.SCALE_DOWN, f"{message}; at MIN_DYNOS {self.low}"
        elif clamped == current:
            reason, message = Reason.WITHIN_TARGET, f"{message}; at MIN_DYNOS {self.low}"
        else:
            reason, message = Reason.CLAMPED_TO_MIN, f"{message}; raised to MIN_DYNOS {self.low}"
        return Outcome(clamped, reason, message)

    def hold(self, current: int) -> tuple[int, Reason]:
        """Holding ``current`` without a signal: the quantity the bounds allow, and the reason."""
        held = self.clamp(current)
        if held > current:
            return held, Reason.CLAMPED_TO_MIN
        if held < current:
            at_max = self.limit is None or held == self.high
            return held, Reason.CLAMPED_TO_MAX if at_max else Reason.CLAMPED_TO_HEROKU_LIMIT
        return held, Reason.HELD_SIGNAL_UNKNOWN
