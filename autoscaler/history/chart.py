"""One process type's history as an inline SVG chart: no script, no image file, a few kB.

Two panels share the time axis (UTC):

- **dynos**: the quantity running (a filled step line) and the quantity the engine wanted
  (dashed), each the largest of its minute, and the scale events: ▲ up, ▼ down, hollow when
  dry run only would have scaled, ✕ when the PATCH failed;
- **the main signal** (:func:`autoscaler.history.model.main_signal`): its largest value of each
  minute, and its target as a dashed line.

A minute with no record (the daemon stopped, stood by, or could not read the formation) is a
gap in the lines. Long ranges are drawn from at most :data:`MAX_POINTS` buckets (the largest
value of each), so a chart of 8 days weighs what a chart of 12 hours does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from autoscaler.history.model import SLOT, SignalSpec, Slot, number, parse_event

WIDTH = 640
LEFT = 48
RIGHT = 14
DYNOS = (14.0, 150.0)
"""Top and bottom of the dynos panel, in SVG units."""
SIGNAL = (184.0, 292.0)
"""Top and bottom of the signal panel."""
HEIGHT = 318
MAX_POINTS = 480
"""Buckets drawn at most per line."""
_HOUR_STEPS = (1, 2, 3, 6, 12, 24, 48, 96)


@dataclass(slots=True)
class _Bucket:
    current: int
    desired: int
    signal: float | None


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (a round top for an axis)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def _buckets(slots: Sequence[Slot], start: float, seconds: float, count: int) -> dict[int, _Bucket]:
    found: dict[int, _Bucket] = {}
    for slot in slots:
        index = int((slot.at - start) // seconds)
        if not 0 <= index < count:
            continue
        bucket = found.get(index)
        if bucket is None:
            found[index] = _Bucket(slot.max_current, slot.max_desired, slot.max_signal)
            continue
        bucket.current = max(bucket.current, slot.max_current)
        bucket.desired = max(bucket.desired, slot.max_desired)
        if slot.max_signal is not None:
            bucket.signal = slot.max_signal if bucket.signal is None else max(bucket.signal, slot.max_signal)
    return found


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class _Axes:
    def __init__(self, start: float, end: float, count: int) -> None:
        self.start = start
        self.end = end
        self.count = count
        self.span = WIDTH - LEFT - RIGHT

    def x(self, index: float) -> float:
        return LEFT + self.span * index / self.count

    def x_at(self, at: float) -> float:
        return LEFT + self.span * (at - self.start) / (self.end - self.start)


def _y(value: float, top: float, panel: tuple[float, float]) -> float:
    low, high = panel[1], panel[0]
    return low - (low - high) * min(value, top) / top


def _runs(found: dict[int, _Bucket], count: int) -> list[list[int]]:
    """Consecutive bucket indexes that hold a record."""
    runs: list[list[int]] = []
    for index in range(count):
        if index not in found:
            continue
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _steps(axes: _Axes, runs: list[list[int]], values: dict[int, float], top: float, *, area: bool) -> str:
    parts: list[str] = []
    base = _f(DYNOS[1])
    for run in runs:
        first = run[0]
        y0 = _f(_y(values[first], top, DYNOS))
        parts.append(f"M{_f(axes.x(first))} {base if area else y0}")
        if area:
            parts.append(f"V{y0}")
        parts.append(f"H{_f(axes.x(first + 1))}")
        for index in run[1:]:
            parts.append(f"V{_f(_y(values[index], top, DYNOS))}H{_f(axes.x(index + 1))}")
        if area:
            parts.append(f"V{base}Z")
    return "".join(parts)


def _line(axes: _Axes, found: dict[int, _Bucket], count: int, top: float) -> str:
    parts: list[str] = []
    previous = -2
    for index in range(count):
        bucket = found.get(index)
        if bucket is None or bucket.signal is None:
            continue
        point = f"{_f(axes.x(index + 0.5))} {_f(_y(bucket.signal, top, SIGNAL))}"
        parts.append(f"L{point}" if index == previous + 1 else f"M{point}h0")
        previous = index
    return "".join(parts)


def _time_ticks(start: float, end: float) -> tuple[list[float], str]:
    hours = (end - start) / 3600
    step = next((s for s in _HOUR_STEPS if hours / s <= 8), _HOUR_STEPS[-1])
    first = math.ceil(start / (step * 3600)) * step * 3600
    ticks = [float(t) for t in range(int(first), int(end) + 1, step * 3600)]
    return ticks, "%H:%M" if step < 24 else "%d %b"


def _label(value: float) -> str:
    """An axis label: short (``2.5k`` for 2500)."""
    if abs(value) >= 1000:
        return f"{number(value / 1000)}k"
    return number(value)


def _grid(top: float, panel: tuple[float, float], step: float) -> list[str]:
    out = []
    for value in (step * i for i in range(round(top / step) + 1)):
        y = _f(_y(value, top, panel))
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="ylabel" x="{LEFT - 6}" y="{y}" dy="4">{escape(_label(value))}</text>')
    return out


def _marks(axes: _Axes, slots: Sequence[Slot], top: float) -> list[str]:
    out: list[str] = []
    for slot in slots:
        parsed = parse_event(slot.event)
        if parsed is None or not axes.start <= slot.at < axes.end:
            continue
        mark, before, after = parsed
        x = axes.x_at(slot.at + SLOT / 2)
        y = _y(after, top, DYNOS)
        when = datetime.fromtimestamp(slot.at, UTC).strftime("%d %b %H:%M")
        what = {"~": "dry run: would have scaled", "!": "scale failed"}.get(mark, "scaled")
        title = f"<title>{when} UTC: {what} {before} → {after}</title>"
        if mark == "!":
            d = f"M{_f(x - 5)} {_f(y - 5)}l10 10m0 -10l-10 10"
            out.append(f'<path class="ev failed" d="{d}">{title}</path>')
            continue
        kind = "up" if after >= before else "down"
        tip = -7 if kind == "up" else 7
        d = f"M{_f(x)} {_f(y + tip)}L{_f(x - 6)} {_f(y - tip)}H{_f(x + 6)}Z"
        cls = f"ev {kind}" + (" dry" if mark == "~" else "")
        out.append(f'<path class="{cls}" d="{d}">{title}</path>')
    return out


def chart(process: str, slots: Sequence[Slot], spec: SignalSpec, start: float, end: float) -> str:
    """The SVG of ``process`` from ``start`` to ``end`` (epoch seconds); ``slots`` oldest first."""
    minutes = max(1, math.ceil((end - start) / SLOT))
    count = min(MAX_POINTS, minutes)
    seconds = (end - start) / count
    found = _buckets(slots, start, seconds, count)
    axes = _Axes(start, end, count)
    runs = _runs(found, count)
    most = max([1, *(b.current for b in found.values()), *(b.desired for b in found.values())])
    dyno_step = max(1, math.ceil(most / 4))
    dyno_top = float(dyno_step * (most // dyno_step + 1))
    signals = [b.signal for b in found.values() if b.signal is not None]
    target = spec.target
    signal_step = nice_ceiling(max([*signals, (target or 0) * 1.25, 1e-9]) / 5)
    signal_top = signal_step * math.ceil(max([*signals, (target or 0) * 1.25, signal_step]) / signal_step - 1e-9)
    label = f"{spec.label} ({spec.unit})"
    name = escape(process)
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="t-{name}" '
        f'xmlns="http://www.w3.org/2000/svg" data-process="{name}">',
        f'<title id="t-{name}">{name}: dynos and {escape(spec.label)}</title>',
        f'<text class="panel" x="{LEFT + 4}" y="{DYNOS[0] - 3}">dynos</text>',
        f'<text class="panel" x="{LEFT + 4}" y="{SIGNAL[0] - 3}">{escape(label)}</text>',
    ]
    out += _grid(dyno_top, DYNOS, dyno_step)
    out += _grid(signal_top, SIGNAL, signal_step)
    ticks, fmt = _time_ticks(start, end)
    for at in ticks:
        x = _f(axes.x_at(at))
        out.append(f'<line class="tick" x1="{x}" x2="{x}" y1="{DYNOS[0]}" y2="{SIGNAL[1]}"/>')
        text = datetime.fromtimestamp(at, UTC).strftime(fmt)
        out.append(f'<text class="xlabel" x="{x}" y="{HEIGHT - 6}">{text}</text>')
    current = {i: float(b.current) for i, b in found.items()}
    desired = {i: float(b.desired) for i, b in found.items()}
    if runs:
        out.append(f'<path class="dynos-area" d="{_steps(axes, runs, current, dyno_top, area=True)}"/>')
        out.append(f'<path class="dynos" d="{_steps(axes, runs, current, dyno_top, area=False)}"/>')
        out.append(f'<path class="desired" d="{_steps(axes, runs, desired, dyno_top, area=False)}"/>')
    line = _line(axes, found, count, signal_top)
    if line:
        out.append(f'<path class="signal" d="{line}"/>')
    if target is not None:
        y = _f(_y(target, signal_top, SIGNAL))
        out.append(f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        out.append(
            f'<text class="target-label" x="{WIDTH - RIGHT - 2}" y="{y}" dy="-4">target {escape(number(target))}</text>'
        )
    out += _marks(axes, slots, dyno_top)
    if not runs:
        middle = (DYNOS[0] + DYNOS[1]) / 2
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{middle}">no record in this range</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{DYNOS[1]}" y2="{DYNOS[1]}"/>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{SIGNAL[1]}" y2="{SIGNAL[1]}"/>')
    out.append("</svg>")
    return "".join(out)
