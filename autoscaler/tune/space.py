"""What ``tune`` searches: the settings a user tunes, their current values, the values tried.

A :class:`Knob` is one per-process setting of :class:`~autoscaler.config.ProcessConfig`:

* the target the daemon aims at, whichever the process sets: ``QUEUE_TIME_MS`` (web),
  ``RESPONSE_TIME_MS`` (router), ``MAX_LATENCY`` and ``JOBS_PER_DYNO`` (workers). Only the
  daemon's setpoint moves: SLO minutes stay measured against the configured target;
* ``DOWNSCALE_DELAY``, ``SCALE_UP_DYNOS`` and ``SCALE_UP_PERCENT`` (the step limits),
  ``SCALE_DOWN_PER_MINUTE`` (no limit is a value too), ``BOOT_TIME`` and ``TOLERANCE``.

``MIN_DYNOS``, ``MAX_DYNOS``, ``SIZE`` and the budget are the user's and never searched. A
:data:`Point` is one value per knob, in the order of the knobs; every value is rounded to its
knob's resolution and kept within the bounds :class:`~autoscaler.config.ProcessConfig` accepts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from autoscaler.simulate.options import APP_P95_FACTOR
from autoscaler.simulate.settings import SimConfig

Value = float | int | None
"""A knob's value; None only for ``SCALE_DOWN_PER_MINUTE`` (no limit)."""
Point = tuple[Value, ...]
"""One value per knob, in the order of the knobs."""

TARGET_STEPS = (0.7, 0.85, 1.2)
"""The sweep's targets, as multiples of the current one: aiming below the SLO buys margin, above it saves."""
WIDE_STEPS = (0.5, 2.0)
"""The sweep's other values, as multiples of the current ones."""
TARGET_KEYS = ("queue_time_ms", "response_time_ms", "max_latency", "jobs_per_dyno")
ENGINE_KEYS = (
    "downscale_delay",
    "scale_up_dynos",
    "scale_up_percent",
    "scale_down_per_minute",
    "boot_time",
    "tolerance",
)
"""The engine settings searched, in the order the sweep tries them."""
_DEFAULTS_WHEN_ZERO: dict[str, tuple[float, ...]] = {
    "downscale_delay": (60.0, 150.0),
    "boot_time": (30.0, 60.0),
    "tolerance": (0.05, 0.1),
}
"""The sweep's values for a setting that is 0, where multiples would all be 0."""


@dataclass(frozen=True, slots=True)
class Knob:
    """One setting searched: its current value, the values the sweep tries, its resolution and bounds."""

    key: str
    """The ProcessConfig field (``downscale_delay``); its variable is ``..._DOWNSCALE_DELAY``."""
    current: Value
    sweep: tuple[Value, ...]
    """The values tried, each with the others at their current values (the current value excluded)."""
    step: float
    """The resolution: every value tried is a multiple of it."""
    low: float
    """The smallest value tried."""
    high: float = math.inf
    """The largest value tried."""
    integer: bool = False

    def rounded(self, value: float) -> float | int:
        """``value`` at the knob's resolution and within its bounds."""
        value = min(max(value, self.low), self.high)
        quantised = round(math.floor(value / self.step + 0.5) * self.step, 6)  # halves up
        quantised = min(max(quantised, self.low), self.high)
        return int(quantised) if self.integer else float(quantised)

    def between(self, value: Value, neighbours: Iterable[Value]) -> list[Value]:
        """Values halfway from ``value`` to the nearest of ``neighbours`` below it and above it (the
        refinement's finer steps); none for no limit (None), nor where no value lies between."""
        if value is None:
            return []
        numbers = sorted({float(n) for n in neighbours if n is not None and n != value})
        below = [n for n in numbers if n < value]
        above = [n for n in numbers if n > value]
        found: list[Value] = []
        for other in ([below[-1]] if below else []) + ([above[0]] if above else []):
            middle = self.rounded((float(value) + other) / 2)
            if middle != value and middle != other and middle not in found:
                found.append(middle)
        return found


def _sweep(knob: Knob, multiples: Sequence[float]) -> tuple[Value, ...]:
    current = knob.current
    assert current is not None
    raw = [current * m for m in multiples] if current > 0 else list(_DEFAULTS_WHEN_ZERO.get(knob.key, ()))
    values: list[Value] = []
    for value in raw:
        rounded = knob.rounded(value)
        if rounded != current and rounded not in values:
            values.append(rounded)
    return tuple(values)


def _target(key: str, current: float, *, low: float) -> Knob:
    """A target knob: whole ms for web; whole seconds or jobs for workers (tenths below 10)."""
    step = 1.0 if key.endswith("_ms") or current >= 10 else 0.1
    knob = Knob(key, current, (), step, low=max(step, math.ceil(round(low / step, 6)) * step))
    return replace(knob, sweep=_sweep(knob, TARGET_STEPS))


def _engine_knob(key: str, current: Value) -> Knob:
    if key == "scale_down_per_minute":
        if current is None:
            return Knob(key, None, (1, 2), 1.0, low=1.0, integer=True)
        assert isinstance(current, int)
        values = [None, current * 2] + ([current // 2] if current // 2 >= 1 else [])
        return Knob(key, current, tuple(values), 1.0, low=1.0, integer=True)
    assert current is not None
    shapes: dict[str, tuple[float, float, float, bool]] = {  # step, low, high, integer
        "downscale_delay": (10.0, 0.0, 3600.0, False),
        "scale_up_dynos": (1.0, 1.0, 50.0, True),
        "scale_up_percent": (5.0, 5.0, 1000.0, False),
        "boot_time": (5.0, 0.0, 600.0, False),
        "tolerance": (0.01, 0.0, 0.5, False),
    }
    step, low, high, integer = shapes[key]
    knob = Knob(key, current, (), step, low=low, high=max(high, float(current)), integer=integer)
    return replace(knob, sweep=_sweep(knob, WIDE_STEPS))


def knobs(config: SimConfig) -> list[Knob]:
    """The knobs of the process ``config`` simulates, with its current values: its targets first.

    A router target is never tried at or below the p95 of the app time alone (no number of dynos
    meets it)."""
    process = config.process_config()
    found: list[Knob] = []
    if config.kind == "web":
        key = "response_time_ms" if config.router else "queue_time_ms"
        floor = config.service_s * 1000 * APP_P95_FACTOR * 1.05 if config.router else 1.0
        found.append(_target(key, round(config.target_s * 1000, 6), low=floor))
    else:
        if config.target_in_engine:
            found.append(_target("max_latency", config.target_s, low=1.0))
        if config.jobs_per_dyno is not None:
            found.append(_target("jobs_per_dyno", config.jobs_per_dyno, low=0.1))
    for key in ENGINE_KEYS:
        found.append(_engine_knob(key, getattr(process, key)))
    return found


def current(found: Sequence[Knob]) -> Point:
    return tuple(knob.current for knob in found)


def settings(found: Sequence[Knob], point: Point) -> dict[str, Value]:
    """The point as ProcessConfig fields and values."""
    return {knob.key: value for knob, value in zip(found, point, strict=True)}


def changed(found: Sequence[Knob], point: Point) -> dict[str, Value]:
    """The fields whose value differs from the current one."""
    return {knob.key: value for knob, value in zip(found, point, strict=True) if value != knob.current}


def apply(config: SimConfig, values: Mapping[str, Value]) -> SimConfig:
    """``config`` with the daemon given ``values``; its SLO stays the configured target (or the one
    set already)."""
    engine = dict(config.engine)
    target_s, jobs = config.target_s, config.jobs_per_dyno
    for key, value in values.items():
        if key in ("queue_time_ms", "response_time_ms"):
            assert value is not None
            target_s = value / 1000
        elif key == "max_latency":
            assert value is not None
            target_s = float(value)
        elif key == "jobs_per_dyno":
            jobs = None if value is None else float(value)
        else:
            engine[key] = value
    return replace(config, target_s=target_s, jobs_per_dyno=jobs, engine=engine, slo_s=config.slo_target_s)


def sweep(found: Sequence[Knob]) -> list[Point]:
    """The coarse sweep: each knob at each of its sweep values, the others at their current values."""
    base = current(found)
    points: list[Point] = []
    for index, knob in enumerate(found):
        for value in knob.sweep:
            point = list(base)
            point[index] = value
            points.append(tuple(point))
    return points
