"""The ``--plot`` picture: what each policy did, readable without the table beside it.

Three panels over time, sharing one time axis: the load; the serving dynos of each policy
over the clairvoyant demand (shaded); and the queue (web: the 1-minute p95 queue time, or
response time with the router's signal; workers: the oldest job's wait), with the target.
``ours`` is drawn last, thick and in a colour no baseline uses. Values above the queue panel's
scale are drawn at its top edge and marked with ▲. The panel to the right holds the key and, per
policy, the SLO minutes and cost of the run, then what the numbers mean.

matplotlib is imported only here, and only when a plot is asked for: the simulation itself
needs nothing beyond the daemon's own requirements. :func:`check` validates the path
before the run, :func:`write` draws and saves; both raise ConfigError naming ``--plot``.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from autoscaler.errors import ConfigError
from autoscaler.simulate import report
from autoscaler.simulate.report import REFERENCE, Summary
from autoscaler.simulate.runner import Inputs, Run

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CEILING = 4
"""The queue panel shows up to this multiple of the target; higher values are marked ▲ at its top."""
INSTALL = "pip install matplotlib"
OURS_COLOUR = "#0047ff"
COLOURS = {
    "static-peak": "#e69f00",
    "hpa": "#009e73",
    "heroku-native": "#cc3311",
    "judoscale-like": "#aa4499",
    "keda": "#999933",
}
"""Baseline colours: distinct from each other and from ours, also for colour-blind readers."""
DEMAND_FILL = "#d0d0d0"
TARGET_COLOUR = "#222222"
OURS_WIDTH = 2.4
BASELINE_WIDTH = 1.0
SIDE_CHARS = 50
"""Width of the notes in the side panel, in characters."""


# --- before the run ---------------------------------------------------------------------------


def check(path: str) -> None:
    """Raises ConfigError when the plot could not be written to ``path`` or matplotlib is missing."""
    problems = _path_problems(path)
    if problems:
        raise ConfigError(problems)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError([f"--plot: needs matplotlib, which is not installed; install it with: {INSTALL}"]) from None


def _path_problems(path: str) -> list[str]:
    if not path.strip():
        return ["--plot: needs a file name ending in .png, got ''"]
    if not path.lower().endswith(".png"):
        return [f"--plot: writes a PNG image; give a file name ending in .png, got {path!r}"]
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return [f"--plot: {path} is a directory; give a file name ending in .png"]
    if os.path.exists(folder) and not os.path.isdir(folder):
        return [f"--plot: cannot write {path}: {folder} is not a directory"]
    if not os.path.isdir(folder):
        return [f"--plot: cannot write {path}: the directory {folder} does not exist"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"--plot: cannot write {path}: the directory {folder} is not writable"]
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return [f"--plot: cannot write {path}: the file exists and is not writable"]
    return []


# --- the picture -------------------------------------------------------------------------------


def write(path: str, inputs: Inputs, runs: Sequence[Run], summaries: Sequence[Summary]) -> None:
    """Draws the picture and saves it as a PNG at ``path``. Raises ConfigError if it cannot be saved."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure = _figure(pyplot, inputs, runs, summaries)
    try:
        figure.savefig(path, dpi=100, format="png")
    except Exception as exc:  # a full disk, a vanished directory, ...: the run is done, say why there is no plot
        raise ConfigError([f"--plot: cannot write {path}: {exc}"]) from None
    finally:
        pyplot.close(figure)


def _figure(pyplot: Any, inputs: Inputs, runs: Sequence[Run], summaries: Sequence[Summary]) -> Figure:
    workload, config = inputs.workload, inputs.config
    web = workload.kind == "web"
    figure: Figure = pyplot.figure(figsize=(16, 9.6), layout="constrained")
    grid = figure.add_gridspec(3, 2, width_ratios=(3, 1.1), height_ratios=(1, 1.5, 1.5))
    load_axes = figure.add_subplot(grid[0, 0])
    dynos_axes = figure.add_subplot(grid[1, 0], sharex=load_axes)
    queue_axes = figure.add_subplot(grid[2, 0], sharex=load_axes)
    side = figure.add_subplot(grid[:, 1])
    side.axis("off")
    figure.suptitle(
        f"{workload.name} ({workload.kind}), seed {config.seed}: what each scaling policy does to this load",
        fontsize=13,
        fontweight="bold",
        x=0.01,
        ha="left",
    )

    minutes = len(inputs.demand)
    hours = [m / 60 for m in range(minutes + 1)]
    _load(load_axes, inputs, web)
    _dynos(dynos_axes, inputs, runs, hours)
    clipped = _queue(queue_axes, inputs, runs, web)
    for axes in (load_axes, dynos_axes, queue_axes):
        axes.set_xlim(0, workload.duration / 3600)
        axes.grid(True, color="#e8e8e8", linewidth=0.6)
        axes.set_axisbelow(True)
    for axes in (load_axes, dynos_axes):
        axes.tick_params(labelbottom=False)
    _time_axis(queue_axes, workload.duration)
    _side(figure, side, inputs, summaries, clipped)
    return figure


def _time_axis(axes: Axes, duration: int) -> None:
    """Ticks in h:mm from the start of the run, at a step that gives about 6 to 12 of them."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    hours = duration / 3600
    steps = (1 / 60, 1 / 30, 1 / 12, 1 / 6, 0.25, 0.5, 1, 2, 3, 6, 12, 24)
    step = next((s for s in steps if hours / s <= 12), 24)
    axes.xaxis.set_major_locator(MultipleLocator(step))
    axes.xaxis.set_major_formatter(FuncFormatter(_clock))
    axes.set_xlabel("time from the start of the run (h:mm)")


def _clock(hours: float, _: object = None) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _colour(policy: str) -> str:
    return OURS_COLOUR if policy == "ours" else COLOURS.get(policy, "#777777")


def _style(policy: str) -> dict[str, Any]:
    ours = policy == "ours"
    return {
        "color": _colour(policy),
        "linewidth": OURS_WIDTH if ours else BASELINE_WIDTH,
        "zorder": 10 if ours else 3,
        "alpha": 1.0 if ours else 0.9,
        "gid": policy,
    }


def _load(axes: Axes, inputs: Inputs, web: bool) -> None:
    workload = inputs.workload
    rate = workload.rate
    per_minute = []
    for start in range(0, workload.duration, 60):
        chunk = rate[start : start + 60]
        per_minute.append(sum(chunk) / len(chunk))
    hours = [m / 60 for m in range(len(per_minute) + 1)]
    axes.plot(hours, [*per_minute, per_minute[-1]], drawstyle="steps-post", color="#333333", linewidth=1)
    axes.set_ylabel("load\n(requests/s)" if web else "load\n(jobs/s enqueued)")
    top = max(per_minute, default=0.0)
    axes.set_ylim(0, top * (1.3 if workload.dumps else 1.1) if top > 0 else 1)
    axes.set_title("load, per-minute average", fontsize=9, loc="left")
    for second, jobs in sorted(workload.dumps.items()):
        axes.axvline(second / 3600, color="#333333", linestyle="--", linewidth=1)
        axes.annotate(
            f" +{jobs:,} jobs at once",
            (second / 3600, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=9,
        )


def _dynos(axes: Axes, inputs: Inputs, runs: Sequence[Run], hours: list[float]) -> None:
    axes.fill_between(hours, [*inputs.demand, inputs.demand[-1]], step="post", color=DEMAND_FILL, linewidth=0, zorder=1)
    for run in runs:
        if run.policy != REFERENCE:
            axes.plot(hours, [*run.supply, run.supply[-1]], drawstyle="steps-post", **_style(run.policy))
    axes.set_ylabel("serving dynos\n(per-minute average)")
    axes.set_ylim(0, max([*inputs.demand, *(max(run.supply, default=0) for run in runs)]) * 1.08 + 0.5)
    axes.set_title(
        "dynos serving (booting ones excluded); grey: the clairvoyant demand, the fewest that meet the target",
        fontsize=9,
        loc="left",
    )


def _queue(axes: Axes, inputs: Inputs, runs: Sequence[Run], web: bool) -> dict[str, tuple[int, float]]:
    """Draws the queue panel; returns, per policy with values above the scale, their minutes and peak."""
    target = inputs.config.target_s * (1000 if web else 1)
    ceiling = CEILING * target
    clipped: dict[str, tuple[int, float]] = {}
    for run in runs:
        if run.policy == REFERENCE:
            continue
        values = [math.nan if v is None else v for v in run.queue]
        shown = [min(v, ceiling) for v in values]
        hours = [(m + 0.5) / 60 for m in range(len(values))]
        axes.plot(hours, shown, **_style(run.policy))
        over = [m for m, v in enumerate(values) if v > ceiling]
        if over:
            clipped[run.policy] = (len(over), max(values[m] for m in over))
            peaks = _peaks(over, values)
            axes.plot(
                [hours[m] for m in peaks],
                [ceiling] * len(peaks),
                linestyle="none",
                marker="^",
                markersize=7 if run.policy == "ours" else 6,
                color=_colour(run.policy),
                markeredgecolor="white",
                markeredgewidth=0.5,
                clip_on=False,
                zorder=12 if run.policy == "ours" else 11,
            )
    axes.axhline(target, color=TARGET_COLOUR, linestyle=(0, (4, 3)), linewidth=1.2, zorder=9)
    axes.set_ylim(0, ceiling)
    unit = "ms" if web else "s"
    ticks = [target * i for i in range(CEILING + 1)]
    axes.set_yticks(ticks, [f"{t:g}" for t in ticks[:-1]] + [f"{ticks[-1]:g}+"])
    if inputs.config.router:
        axes.set_ylabel("p95 response time\n(ms, per minute)")
        what = f"response time (queue wait + app time), p95 of each minute; dashed: the {target:g} ms target"
    elif web:
        axes.set_ylabel("p95 queue time\n(ms, per minute)")
        what = f"request queue time, p95 of each minute; dashed: the {target:g} ms target"
    else:
        axes.set_ylabel("oldest job's wait\n(s, most per minute)")
        what = f"wait of the oldest queued job, the most of each minute; dashed: MAX_LATENCY {target:g} s"
    axes.set_title(f"{what}; ▲: above {ceiling:g} {unit}, off the scale", fontsize=9, loc="left")
    return clipped


def _peaks(over: list[int], values: list[float]) -> list[int]:
    """The minute of the highest value of each run of consecutive minutes in ``over`` (ascending)."""
    peaks: list[int] = []
    for index, minute in enumerate(over):
        if index > 0 and over[index - 1] == minute - 1:
            if values[minute] > values[peaks[-1]]:
                peaks[-1] = minute
        else:
            peaks.append(minute)
    return peaks


def _side(
    figure: Figure, axes: Axes, inputs: Inputs, summaries: Sequence[Summary], clipped: dict[str, tuple[int, float]]
) -> None:
    """The key as a table (one row per policy: SLO minutes, cost, cost against d_t), then what it means."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    config = inputs.config
    web = config.kind == "web"
    rows = [
        (
            s.policy,
            str(s.slo_minutes),
            f"${s.cost_usd:.2f}",
            "" if s.policy == REFERENCE else report.signed(s.vs_clairvoyant),
        )
        for s in summaries
    ]
    header = ("policy", "SLO min", "cost", "vs d_t")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )

    handles: list[Any] = [Line2D([], [], linestyle="none")]
    labels = [line(header)]
    for s, row in zip(summaries, rows, strict=True):
        labels.append(line(row))
        if s.policy == REFERENCE:
            handles.append(Patch(facecolor=DEMAND_FILL, edgecolor="none"))
        else:
            handles.append(Line2D([], [], color=_colour(s.policy), linewidth=OURS_WIDTH if s.policy == "ours" else 1.6))
    unit = "ms" if web else "s"
    target = config.target_s * (1000 if web else 1)
    handles.append(Line2D([], [], color=TARGET_COLOUR, linestyle=(0, (4, 3)), linewidth=1.2))
    labels.append(f"target: {target:g} {unit}")
    if clipped:
        handles.append(Line2D([], [], linestyle="none", marker="^", color="#555555", markersize=6))
        labels.append(f"above {CEILING * target:g} {unit}, off the scale")
    legend = axes.legend(
        handles,
        labels,
        loc="upper left",
        bbox_to_anchor=(0.0, 1.0),
        frameon=False,
        prop={"family": "monospace", "size": 9},
        handlelength=2.2,
        borderaxespad=0.0,
    )
    texts = legend.get_texts()
    for text in texts:
        text.set_parse_math(False)  # a "$" is a dollar
    texts[0].set_fontweight("bold")
    for text, s in zip(texts[1:], summaries, strict=False):
        if s.policy == "ours":
            text.set_fontweight("bold")
    # The notes start under the key: its height is known once the figure is laid out.
    figure.draw_without_rendering()
    bottom = legend.get_window_extent()
    below = axes.transAxes.inverted().transform((bottom.x0, bottom.y0))[1] - 0.03
    notes = _notes(inputs, summaries, clipped)
    axes.text(0.0, below, notes, transform=axes.transAxes, va="top", fontsize=8.5, parse_math=False)


def _notes(inputs: Inputs, summaries: Sequence[Summary], clipped: dict[str, tuple[int, float]]) -> str:
    config, workload = inputs.config, inputs.workload
    web = config.kind == "web"
    low, high = min(workload.service_s, default=config.service_s), max(workload.service_s, default=config.service_s)
    service = f"{low * 1000:g}" if low == high else f"{low * 1000:g}-{high * 1000:g}"
    if config.router:
        slo = f"SLO minute: a minute whose p95 response time is above {config.target_s * 1000:.0f} ms."
        process = f"{config.per_dyno} processes per dyno, {service} ms app time"
    elif web:
        slo = f"SLO minute: a minute whose p95 request queue time is above {config.target_s * 1000:g} ms."
        process = f"{config.per_dyno} processes per dyno, {service} ms app time"
    else:
        slo = f"SLO minute: a minute in which the oldest queued job waited over {config.target_s:g} s."
        process = f"{config.per_dyno} jobs at once per dyno, {service} ms per job"
    paragraphs = [
        *_verdict(summaries),
        f"{workload.description}. {process}; {config.size.name} at ${config.monthly_usd:g}/month, "
        f"{config.min_dynos}-{config.max_dynos} dynos; new dynos boot for "
        f"{config.boot_s[0]:g}-{config.boot_s[1]:g} s before they serve.",
        slo,
        "cost: billed dyno time over the run, booting and draining dynos included.",
        "vs d_t: cost against the clairvoyant demand d_t, the fewest dynos that meet the target "
        "each minute, known in advance and serving at once: a bound no real policy reaches.",
    ]
    if clipped:
        unit = "ms" if web else "s"
        parts = [
            f"{policy} {minutes} min (up to {_amount(peak, unit)})"
            for policy, (minutes, peak) in sorted(clipped.items(), key=lambda item: -item[1][0])
        ]
        paragraphs.append("▲ off the scale: " + ", ".join(parts) + ".")
    return "\n\n".join(textwrap.fill(p, SIDE_CHARS) for p in paragraphs)


def _verdict(summaries: Sequence[Summary]) -> list[str]:
    """ours against the baselines, in words; nothing when ours did not run."""
    found = report.verdict(summaries)
    ours = next((s for s in summaries if s.policy == "ours"), None)
    if found is None or ours is None:
        return []
    baselines = [s for s in summaries if s.policy not in {"ours", REFERENCE}]
    cents = round(ours.cost_usd, 2)
    text = (
        f"ours: {ours.slo_minutes} SLO minutes for ${ours.cost_usd:.2f}, "
        f"{report.signed(ours.vs_clairvoyant)} against the clairvoyant cost."
    )
    fewer = [
        f"{s.policy} ({s.slo_minutes} SLO min, ${s.cost_usd:.2f})"
        for s in baselines
        if s.slo_minutes < ours.slo_minutes
    ]
    cheaper = [
        f"{s.policy} ({s.slo_minutes} SLO min, ${s.cost_usd:.2f})" for s in baselines if round(s.cost_usd, 2) < cents
    ]
    if fewer:
        text += " Fewer SLO minutes: " + ", ".join(fewer) + "."
    if cheaper:
        text += " Cheaper: " + ", ".join(cheaper) + "."
    if found["dominated_by"]:
        text += " Better on one count and no worse on the other: " + ", ".join(found["dominated_by"]) + "."
    else:
        text += " No baseline is better on one count without being worse on the other."
    return [text]


def _amount(value: float, unit: str) -> str:
    """A wait for the notes: ms up to 10 s, then seconds, minutes or hours."""
    seconds = value / 1000 if unit == "ms" else value
    if unit == "ms" and seconds < 10:
        return f"{value:,.0f} ms"
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"
