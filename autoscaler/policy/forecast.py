"""Prediction (``PREDICT=true``): the rise in demand the recorded daily and weekly pattern says is
coming within the next boot time, so that dynos are up when it arrives. Pure functions of the
recorded demand.

**Demand** is what the reactive rules asked for: per minute (the epoch's minute number), the
largest recommendation of the minute, in dynos, before stabilisation, bounds and any forecast
(so a forecast never feeds on itself). :class:`Demand` holds it, a few days of it.

**The pattern** (:func:`expected`): the demand expected at a minute is the demand of the same
minute a week earlier when the history reaches that far back, else the median of the same minute
on each of the previous days recorded (at most six), so one odd day does not make the pattern.

**The rise** (:func:`rise`): the largest demand expected from now to the end of the horizon (the
boot time plus :data:`MARGIN_S`) less the demand expected now. Only a *material* rise counts: at
least :data:`MIN_RISE` dynos and :data:`MIN_RISE_SHARE` of the demand expected now. The engine adds
it to what the signals ask for now, less what of it is already under way (when the signals already
ask for more than the pattern expects now, only up to the peak); the pattern's level is never used
as a floor, only its change, so a quieter day than the last costs nothing.

**Stepping aside** (:func:`forecast`): with less than :data:`MIN_HISTORY` minutes recorded there
is no pattern yet; and each material rise predicted is judged once its horizon and
:data:`JUDGE_SLACK` minutes more have passed: a hit when demand did rise materially meanwhile (by
how much is not judged: a day that met its rush reactively asked for more than a day whose dynos
were up in time): while fewer than half of the last
:data:`JUDGED` judgements were hits, the forecast is not used. Judging goes on meanwhile, so the
forecast comes back once the pattern holds again.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

MINUTE = 60
DAY = 1440
"""Minutes in a day."""
WEEK = 7 * DAY
MIN_HISTORY = DAY
"""Minutes of demand recorded (from the first to now) before anything is forecast."""
MARGIN_S = 60.0
"""Seconds the forecast looks ahead beyond the boot time."""
MIN_RISE = 2
MIN_RISE_SHARE = 0.25
"""A rise is material from ``max(MIN_RISE, MIN_RISE_SHARE × expected now)`` dynos."""
JUDGE_SLACK = 3
"""Minutes after the horizon a predicted rise may still come and be a hit: demand is what the rules
asked for, which follows the load a reading window behind it, and dynos started ahead of a rush
soften the first minute of it."""
JUDGED = 5
"""The latest judgements that decide whether the forecast is used."""
JUDGE_WITHIN = 20 * 60
"""Minutes back a judgement still counts: less than a day, so that a miss at one time of day does
not keep the next day's forecast of that same time aside."""


class Status(StrEnum):
    """What the forecast did this minute."""

    RISE = "rise"
    """A material rise is expected: the engine raises the floor."""
    STEADY = "steady"
    """No material rise is expected."""
    LEARNING = "learning"
    """Too little history."""
    MISSED = "missed"
    """Recent forecasts missed: stepping aside."""


@dataclass(frozen=True, slots=True)
class Demand:
    """Recorded demand: minute (epoch seconds // 60) → dynos asked for."""

    values: Mapping[int, float]
    first: int | None = None
    """The earliest minute recorded (None: nothing recorded)."""

    @classmethod
    def of(cls, values: Mapping[int, float]) -> Demand:
        return cls(values, min(values) if values else None)


@dataclass(frozen=True, slots=True)
class Rise:
    """The rise expected within a horizon, from the demand expected at its start."""

    dynos: int
    """Whole dynos the demand is expected to rise by (0 when it is not expected to rise)."""
    now: float
    """The demand expected at the start."""
    peak: float
    """The largest demand expected within the horizon."""
    at: int
    """The minute the peak is expected."""
    basis: str
    """Where the expectation comes from, for people."""

    @property
    def material(self) -> bool:
        return material(self.dynos, self.now)


def material(rise: float, start: float) -> bool:
    """A rise of ``rise`` dynos from ``start`` is worth acting on (and, seen, a rise that came)."""
    return rise >= max(MIN_RISE, math.ceil(MIN_RISE_SHARE * start))


@dataclass(frozen=True, slots=True)
class Forecast:
    """What the forecast says at one moment: the dynos to add to the reactive recommendation
    (``add``, 0 unless ``status`` is :attr:`Status.RISE`), and why."""

    status: Status
    add: int
    message: str
    peak: float | None = None
    """The demand expected at the peak of the horizon (dynos), when there is a pattern."""
    level: float | None = None
    """The demand the pattern expects now (dynos), when there is a pattern."""
    at: float | None = None
    """When that peak is expected (epoch seconds)."""


def expected(demand: Demand, minute: int) -> tuple[float, str] | None:
    """The demand expected at ``minute`` from the days before it, and its basis; None when no
    earlier day recorded it."""
    weekly = demand.values.get(minute - WEEK)
    if weekly is not None:
        return weekly, "same minute a week ago"
    days = [value for d in range(1, 7) if (value := demand.values.get(minute - d * DAY)) is not None]
    if not days:
        return None
    plural = "s" if len(days) > 1 else ""
    return statistics.median(days), f"median of {len(days)} previous day{plural}"


def horizon_minutes(lead_s: float) -> int:
    """Whole minutes the forecast looks ahead for a lead of ``lead_s`` seconds (at least one)."""
    return max(1, math.ceil(lead_s / MINUTE))


def rise(demand: Demand, minute: int, ahead: int) -> Rise | None:
    """The rise expected from ``minute`` over the next ``ahead`` minutes; None without a pattern."""
    start = expected(demand, minute)
    if start is None:
        return None
    peak, at = start[0], minute
    for later in range(minute + 1, minute + ahead + 1):
        found = expected(demand, later)
        if found is not None and found[0] > peak:
            peak, at = found[0], later
    dynos = max(0, math.ceil(peak - start[0] - 1e-9))
    return Rise(dynos, start[0], peak, at, start[1])


def judge(demand: Demand, minute: int, ahead: int) -> bool | None:
    """Whether the rise predicted at ``minute`` came (True) within the horizon and
    :data:`JUDGE_SLACK` minutes more, did not (False), or None when no material rise was predicted
    there or the demand of those minutes is not all recorded."""
    predicted = rise(demand, minute, ahead)
    if predicted is None or not predicted.material:
        return None
    seen = [demand.values.get(m) for m in range(minute, minute + ahead + JUDGE_SLACK + 1)]
    if any(value is None for value in seen):
        return None
    actual = [value for value in seen if value is not None]
    return material(max(actual) - actual[0], actual[0])


def missed(judgements: Sequence[bool]) -> bool:
    """Fewer than half of the latest :data:`JUDGED` judgements (oldest first) were hits."""
    latest = judgements[-JUDGED:]
    return bool(latest) and 2 * sum(latest) < len(latest)


def forecast(demand: Demand, now: float, lead_s: float, judgements: Sequence[bool] = ()) -> Forecast:
    """The forecast at ``now`` for a lead of ``lead_s`` seconds (boot time plus margin), given the
    recent judgements of earlier forecasts (oldest first)."""
    minute = int(now // MINUTE)
    recorded = 0 if demand.first is None else minute - demand.first
    if recorded < MIN_HISTORY:
        have = f"{recorded / 60:.1f} h" if recorded > 0 else "none"
        return Forecast(Status.LEARNING, 0, f"learning the pattern: {have} of demand recorded, 24 h needed")
    found = rise(demand, minute, horizon_minutes(lead_s))
    if found is None:
        return Forecast(Status.LEARNING, 0, "no demand recorded at this time on an earlier day")
    at = found.at * float(MINUTE)
    if missed(judgements):
        latest = judgements[-JUDGED:]
        misses = len(latest) - sum(latest)
        return Forecast(
            Status.MISSED,
            0,
            f"stepping aside: {misses} of the last {len(latest)} rises predicted did not come",
            peak=found.peak,
            at=at,
            level=found.now,
        )
    if not found.material:
        return Forecast(Status.STEADY, 0, f"no rise expected ({found.basis})", peak=found.peak, at=at, level=found.now)
    in_s = max(0.0, at - now)
    message = f"demand expected to rise by {found.dynos} within {in_s:.0f}s ({found.basis})"
    return Forecast(Status.RISE, found.dynos, message, peak=found.peak, at=at, level=found.now)
