"""What goes into the engine and what comes out: observations, remembered state, decisions and
their reason codes. Plain data only."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from autoscaler import sizes
from autoscaler.policy.forecast import Forecast
from autoscaler.signals import Reading


class Reason(StrEnum):
    """Why a decision came out as it did. Logged as ``reason=``."""

    SCALE_UP = "scale_up"
    SCALE_UP_MEMORY = "scale_up_memory"
    SCALE_DOWN = "scale_down"
    WITHIN_TARGET = "within_target"
    HELD_DOWNSCALE_DELAY = "held_downscale_delay"
    HELD_BOOTING = "held_booting"
    HELD_PANIC = "held_panic"
    HELD_MANUAL = "held_manual"
    HELD_SIGNAL_UNKNOWN = "held_signal_unknown"
    FALLBACK = "fallback"
    CLAMPED_TO_MAX = "clamped_to_max"
    CLAMPED_TO_MIN = "clamped_to_min"
    CLAMPED_TO_HEROKU_LIMIT = "clamped_to_heroku_limit"
    CLAMPED_TO_APP_LIMIT = "clamped_to_app_limit"
    CLAMPED_TO_BUDGET = "clamped_to_budget"
    SCALE_UP_LIMITED = "scale_up_limited"
    SCALE_DOWN_LIMITED = "scale_down_limited"
    RESIZE = "resize"
    PREDICTED = "predicted"
    """``PREDICT``: the rise the recorded pattern expects within the boot time set the quantity."""


CLAMP_REASONS = frozenset(
    {
        Reason.CLAMPED_TO_MAX,
        Reason.CLAMPED_TO_MIN,
        Reason.CLAMPED_TO_HEROKU_LIMIT,
        Reason.CLAMPED_TO_APP_LIMIT,
        Reason.CLAMPED_TO_BUDGET,
    }
)


@dataclass(frozen=True, slots=True)
class Observation:
    """One process type as the daemon found it this tick."""

    process: str
    quantity: int
    size: str
    reading: Reading
    forecast: Forecast | None = None
    """``PREDICT``: what the recorded pattern expects within the boot time (None without it)."""


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What the engine remembers about one process type between ticks (all of it plain data,
    so the daemon can store it anywhere).

    ``history``: (time, recommendation) pairs of the downscale window, oldest first.
    ``ups``/``downs``: (time, dynos added/removed) of recent applied changes, for boot
    tracking and the scale-down rate. ``last_set``: the quantity the daemon last applied.
    """

    history: tuple[tuple[float, int], ...] = ()
    ups: tuple[tuple[float, int], ...] = ()
    downs: tuple[tuple[float, int], ...] = ()
    last_set: int | None = None
    manual_floor: int | None = None
    manual_until: float = 0.0
    failures: int = 0
    panic_until: float = 0.0
    previous: tuple[float, int, float] | None = None
    """(time, depth, latency) of the last good worker reading."""
    arrival_rate: float | None = None
    per_dyno_rate: float | None = None
    correction: float = 1.0
    """The web (or router) model's correction of the app time in the queue wait it predicts."""
    app_time: float | None = None
    """router: the mean app time in ms, learned from quiet readings (where the response time is
    almost all app time)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A quantity on its way through the steps of one decision, with its reason so far."""

    desired: int
    reason: Reason
    message: str


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
    manual_change: bool = False
    """The formation differed from what the daemon last set: someone scaled by hand."""
    forecast: Forecast | None = None
    """``PREDICT``: the forecast this decision saw (whether or not it raised the quantity)."""

    @property
    def changed(self) -> bool:
        return self.desired != self.current or sizes.normalize(self.desired_size) != sizes.normalize(self.current_size)
