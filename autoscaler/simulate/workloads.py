"""Workloads for ``simulate``: the built-in scenarios and ``--trace`` CSV files.

A :class:`Workload` is the arrival intensity of one process type, one value per second of
the run (requests per second for web, jobs per second for workers), the service time per
second (app time or job duration), and, for workers, jobs enqueued all at once ("dumps").

Built-in scenarios (a day, a step, a ramp, a flash crowd, a batch dump and a noisy
trickle) are piecewise constant over 10-second blocks, each block drawn once with
multiplicative log-normal noise from the run's seed, so every policy sees the very same
load (common random numbers). Their shapes are fixed in
this module and never tuned to a policy.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from autoscaler.errors import ConfigError

Kind = Literal["web", "worker"]
KINDS: tuple[Kind, ...] = ("web", "worker")
BLOCK_S = 10
"""Resolution of the built-in scenarios: the rate is constant over each 10-second block."""
MAX_DURATION_S = 7 * 86400
"""The longest run ``simulate`` accepts (a week of one-second steps)."""
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Workload:
    """The load of one run. ``rate[s]`` arrivals per second during second ``s``."""

    name: str
    kind: Kind
    description: str
    rate: tuple[float, ...]
    service_s: tuple[float, ...]
    dumps: Mapping[int, int] = field(default_factory=dict)
    """Second → jobs enqueued at once at its start (workers)."""

    @property
    def duration(self) -> int:
        return len(self.rate)


@dataclass(frozen=True, slots=True)
class Shape:
    """One scenario for one kind of process: mean rate over time, noise and dumps."""

    rate: Callable[[float], float]
    noise: float
    """σ of the multiplicative log-normal noise drawn per 10-second block."""
    text: str
    dumps: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    hours: float
    summary: str
    shapes: Mapping[Kind, Shape]


# --- shapes -------------------------------------------------------------------------------


def _diurnal(low: float, high: float) -> Callable[[float], float]:
    """A day: lowest at 04:00, highest at 16:00 (a cosine between the two)."""

    def rate(t: float) -> float:
        phase = 2 * math.pi * (t - 4 * HOUR) / (24 * HOUR)
        return low + (high - low) * (1 - math.cos(phase)) / 2

    return rate


def _step(base: float, peak: float, start: float, end: float, rise_s: float = 30.0) -> Callable[[float], float]:
    """``base``, then ×(peak/base) within ``rise_s`` at ``start``, back to ``base`` at ``end``."""

    def rate(t: float) -> float:
        if start <= t < end:
            return base + (peak - base) * min(1.0, (t - start + BLOCK_S) / rise_s)
        return base

    return rate


def _ramp(low: float, high: float, start: float, end: float) -> Callable[[float], float]:
    def rate(t: float) -> float:
        if t <= start:
            return low
        if t >= end:
            return high
        return low + (high - low) * (t - start) / (end - start)

    return rate


def _flash(base: float, peak: float, start: float, hold: float, decay: float) -> Callable[[float], float]:
    """``base``; at ``start`` straight to ``peak`` for ``hold`` seconds, then back with time constant ``decay``."""

    def rate(t: float) -> float:
        if t < start:
            return base
        if t < start + hold:
            return peak
        return base + (peak - base) * math.exp(-(t - start - hold) / decay)

    return rate


def _constant(value: float) -> Callable[[float], float]:
    return lambda t: value


def _weekdays(night: float, day: float, weekend: float) -> Callable[[float], float]:
    """A week from Monday 00:00: on weekdays ``night`` until 09:00, ``day`` within two minutes, back
    to ``night`` from 17:00 to 19:00; at the weekend a gentle bump to ``weekend`` around 14:00."""
    rise_s, start, fall, end = 120.0, 9 * HOUR, 17 * HOUR, 19 * HOUR

    def rate(t: float) -> float:
        days, s = divmod(t, 24 * HOUR)
        if days % 7 >= 5:
            bump = max(0.0, math.sin(math.pi * (s - 10 * HOUR) / (8 * HOUR))) if 10 * HOUR <= s < 18 * HOUR else 0.0
            return night + (weekend - night) * bump
        if s < start or s >= end:
            return night
        if s < start + rise_s:
            return night + (day - night) * (s - start + BLOCK_S) / rise_s
        if s < fall:
            return day
        return day + (night - day) * (s - fall) / (end - fall)

    return rate


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "diurnal",
            24,
            "a day: lowest at 04:00, peak at 16:00, ±5 % noise",
            {
                "web": Shape(_diurnal(20, 150), 0.05, "20 → 150 req/s"),
                "worker": Shape(_diurnal(0.5, 12), 0.05, "0.5 → 12 jobs/s"),
            },
        ),
        Scenario(
            "step-burst",
            2,
            "×3 within 30 s at 0:30, back at 1:30, ±3 % noise",
            {
                "web": Shape(_step(40, 120, 0.5 * HOUR, 1.5 * HOUR), 0.03, "40 → 120 req/s"),
                "worker": Shape(_step(4, 12, 0.5 * HOUR, 1.5 * HOUR), 0.03, "4 → 12 jobs/s"),
            },
        ),
        Scenario(
            "slow-ramp",
            4,
            "flat for 30 min, a 3-hour linear ramp, flat for 30 min, ±3 % noise",
            {
                "web": Shape(_ramp(20, 160, 0.5 * HOUR, 3.5 * HOUR), 0.03, "20 → 160 req/s"),
                "worker": Shape(_ramp(1, 14, 0.5 * HOUR, 3.5 * HOUR), 0.03, "1 → 14 jobs/s"),
            },
        ),
        Scenario(
            "flash-crowd",
            2,
            "×5 at once at 0:30 for 10 min, then decays (time constant 5 min), ±3 % noise",
            {
                "web": Shape(_flash(30, 150, 0.5 * HOUR, 600, 300), 0.03, "30 → 150 req/s"),
                "worker": Shape(_flash(2, 10, 0.5 * HOUR, 600, 300), 0.03, "2 → 10 jobs/s"),
            },
        ),
        Scenario(
            "batch-dump",
            2,
            "20,000 jobs enqueued at once at 0:30 on top of a trickle, ±10 % noise",
            {"worker": Shape(_constant(1.0), 0.10, "1 job/s + 20,000 jobs", dumps=((0.5 * HOUR, 20_000),))},
        ),
        Scenario(
            "weekday-rush",
            7 * 24,
            "a week from Monday: quiet nights, ×10 within 2 min at 09:00 on weekdays, back down 17:00-19:00, "
            "quiet weekend, ±5 % noise",
            {
                "web": Shape(_weekdays(15, 150, 30), 0.05, "15 → 150 req/s"),
                "worker": Shape(_weekdays(1, 12, 2), 0.05, "1 → 12 jobs/s"),
            },
        ),
        Scenario(
            "trickle",
            6,
            "steady low load with ±25 % noise, around the step from one dyno to two",
            {
                "web": Shape(_constant(12.0), 0.25, "12 req/s"),
                "worker": Shape(_constant(2.0), 0.25, "2 jobs/s"),
            },
        ),
    )
}
DEFAULT_SCENARIO = "diurnal"


def scenario_kinds(name: str) -> tuple[Kind, ...]:
    return tuple(SCENARIOS[name].shapes)


def build(name: str, kind: Kind, seed: int, hours: float | None, service_s: float) -> Workload:
    """The workload of built-in scenario ``name`` for ``kind``, ``hours`` long (its default when None)."""
    scenario = SCENARIOS[name]
    shape = scenario.shapes[kind]
    duration = round((scenario.hours if hours is None else hours) * HOUR)
    rng = random.Random(f"scenario:{name}:{kind}:{seed}")
    rate: list[float] = []
    spread = shape.noise
    for start in range(0, duration, BLOCK_S):
        noise = math.exp(spread * rng.gauss(0.0, 1.0) - spread * spread / 2) if spread else 1.0
        value = max(0.0, shape.rate(start) * noise)
        rate.extend([value] * min(BLOCK_S, duration - start))
    dumps = {round(t): jobs for t, jobs in shape.dumps if round(t) < duration}
    text = f"{name} ({kind}): {shape.text}, {scenario.summary}; {_hours(duration)}"
    return Workload(name, kind, text, tuple(rate), (service_s,) * duration, dumps)


def _hours(seconds: float) -> str:
    hours = seconds / HOUR
    return f"{hours:g} h" if hours >= 1 else f"{seconds / 60:g} min"


# --- traces -------------------------------------------------------------------------------


def parse_trace(text: str, where: str, kind: Kind, service_s: float, hours: float | None) -> Workload:
    """A workload from CSV text with the header ``t,arrivals_per_s[,service_ms]``.

    ``t`` is seconds from the start (the first row's ``t`` is taken as the start), strictly
    increasing; each row's values hold until the next row, the last row for as long as the
    step before it (one second for a single row). ``hours`` cuts the trace or holds its last
    value longer. Raises ConfigError with the line of every bad row.
    """
    rows = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1) if row]
    if not rows:
        raise ConfigError([f"--trace: {where} is empty"])
    header = [cell.strip().lower() for cell in rows[0][1]]
    if header not in (["t", "arrivals_per_s"], ["t", "arrivals_per_s", "service_ms"]):
        raise ConfigError(
            [f"--trace: {where} line 1: the header must be t,arrivals_per_s[,service_ms], got {rows[0][1]}"]
        )
    parsed, problems = _trace_rows(rows[1:], len(header), where)
    if not problems and not parsed:
        problems.append(f"--trace: {where} has a header but no rows")
    if problems:
        raise ConfigError(problems[:20])
    origin = parsed[0][0]
    times = [t - origin for t, _, _ in parsed]
    last_step = times[-1] - times[-2] if len(times) > 1 else 1.0
    natural = math.ceil(times[-1] + last_step)
    duration = natural if hours is None else round(hours * HOUR)
    if duration > MAX_DURATION_S:
        raise ConfigError([f"--trace: {where} lasts {_hours(duration)}; at most {_hours(MAX_DURATION_S)} is simulated"])
    if duration < 1:
        raise ConfigError([f"--trace: {where}: nothing to simulate (duration {duration} s)"])
    rate: list[float] = []
    service: list[float] = []
    index = 0
    for second in range(duration):
        while index + 1 < len(times) and times[index + 1] <= second:
            index += 1
        rate.append(parsed[index][1])
        service.append(parsed[index][2] or service_s)
    text_ = f"trace {where} ({kind}): {len(parsed)} rows, {_hours(duration)}"
    return Workload(f"trace:{where}", kind, text_, tuple(rate), tuple(service), {})


Row = tuple[float, float, float | None]
"""(t, arrivals per second, service seconds or None)."""


def _trace_rows(rows: list[tuple[int, list[str]]], width: int, where: str) -> tuple[list[Row], list[str]]:
    parsed: list[Row] = []
    problems: list[str] = []
    previous: float | None = None
    for number, row in rows:
        place = f"--trace: {where} line {number}"
        if len(row) != width:
            problems.append(f"{place}: expected {width} fields, got {len(row)}")
            continue
        t = _number(row[0])
        rate = _number(row[1])
        service = _number(row[2]) if width == 3 else None
        if t is None or t < 0:
            problems.append(f"{place}: t must be a number of seconds >= 0, got {row[0]!r}")
        elif previous is not None and t <= previous:
            problems.append(f"{place}: t must increase, got {row[0]!r} after {previous:g}")
        if rate is None or rate < 0:
            problems.append(f"{place}: arrivals_per_s must be a number >= 0, got {row[1]!r}")
        if width == 3 and (service is None or service <= 0):
            problems.append(f"{place}: service_ms must be a number > 0, got {row[2]!r}")
        if t is not None and rate is not None and (width == 2 or service is not None):
            parsed.append((t, rate, None if service is None else service / 1000))
            previous = t if previous is None or t > previous else previous
    return parsed, problems


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
