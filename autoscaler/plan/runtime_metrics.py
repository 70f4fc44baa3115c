"""RAM per process from ``heroku logs`` output (``--from-logs``).

Only log-runtime-metrics lines count (``source=web.1 ... sample#memory_rss=210.5MB``);
``memory_total``, router lines, app output and other process types are skipped. The p95
(nearest rank) of the ``memory_rss`` samples of one process type is the RSS of one dyno,
divided by the processes per dyno to give the RAM of one process.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from autoscaler.errors import ConfigError
from autoscaler.plan.formatting import number


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One log-runtime-metrics reading: the dyno (``web.1``) and its RSS in MB."""

    process_type: str
    dyno: str
    rss_mb: float


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOG_PREFIX = re.compile(r"^\S+\s+(?P<origin>[A-Za-z0-9_-]+)\[(?P<proc>[^\]]*)\]:\s")
_SOURCE = re.compile(r"(?:^|\s)source=(?P<type>[A-Za-z0-9_-]+)\.(?P<index>\d+)(?=\s|$)")
_RSS = re.compile(r"(?:^|\s)sample#memory_rss=(?P<value>\d+(?:\.\d*)?|\.\d+)(?P<unit>[A-Za-z]*)(?=\s|$)")
_TO_MB = {"": 1.0, "mb": 1.0, "kb": 1 / 1024, "gb": 1024.0, "b": 1 / (1024 * 1024)}


def _sample(line: str) -> MemorySample | None:
    """The memory_rss sample of one log line, or None for any other line."""
    line = _ANSI.sub("", line)
    prefix = _LOG_PREFIX.match(line)
    if prefix is not None and prefix.group("origin") == "app":
        return None  # the app's own output, even if it happens to print l2met tokens
    source = _SOURCE.search(line)
    rss = _RSS.search(line)
    if source is None or rss is None:
        return None
    factor = _TO_MB.get(rss.group("unit").lower())
    if factor is None:
        return None
    value = float(rss.group("value")) * factor
    if not value > 0:
        return None
    dyno = f"{source.group('type')}.{source.group('index')}"
    return MemorySample(source.group("type"), dyno, value)


def parse_all_runtime_metrics(lines: Iterable[str]) -> list[MemorySample]:
    """Every ``sample#memory_rss`` reading of every process type in ``heroku logs`` output."""
    samples = []
    for line in lines:
        sample = _sample(line)
        if sample is not None:
            samples.append(sample)
    return samples


def parse_runtime_metrics(lines: Iterable[str], process_type: str) -> list[MemorySample]:
    """The ``sample#memory_rss`` readings of the dynos of ``process_type``, in log order."""
    return [sample for sample in parse_all_runtime_metrics(lines) if sample.process_type == process_type]


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank: the ceil(0.95·n)-th smallest value."""
    if not values:
        raise ValueError("p95 of no values")
    ordered = sorted(values)
    rank = (95 * len(ordered) + 99) // 100
    return ordered[rank - 1]


def _read_samples(path: str, where: str, stdin: TextIO | None) -> list[MemorySample]:
    """Every sample in the file at ``path`` (``-``: ``stdin``, default sys.stdin)."""
    try:
        if path == "-":
            return parse_all_runtime_metrics(stdin if stdin is not None else sys.stdin)
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_all_runtime_metrics(handle)
    except OSError as exc:
        raise ConfigError([f"--from-logs: cannot read {where}: {exc}"]) from exc


def ram_from_logs(path: str, process_type: str, concurrency: int | None, stdin: TextIO | None) -> tuple[float, str]:
    """RAM per process from the logs at ``path``, and the header line that says how it was found.

    ``concurrency`` is the processes per dyno (None: 1). Raises ConfigError when the file
    cannot be read or holds no sample of ``process_type``.
    """
    where = "stdin" if path == "-" else path
    samples = _read_samples(path, where, stdin)
    mine = [sample for sample in samples if sample.process_type == process_type]
    if not mine:
        others = sorted({sample.process_type for sample in samples})
        seen = f" (it has samples of: {', '.join(others)})" if others else ""
        raise ConfigError(
            [
                f"--from-logs: no log-runtime-metrics sample#memory_rss lines for process type "
                f"{process_type!r} in {where}{seen}; enable them with "
                f"`heroku labs:enable log-runtime-metrics` and restart"
            ]
        )
    rss = p95([sample.rss_mb for sample in mine])
    per_dyno = concurrency or 1
    dynos = len({sample.dyno for sample in mine})
    ram = rss / per_dyno
    header = (
        f"RAM per process: {number(ram)} MB = p95 memory_rss {number(rss)} MB / {per_dyno} "
        f"process{'es' if per_dyno != 1 else ''} per dyno "
        f"({len(mine)} samples from {dynos} {process_type} dyno{'s' if dynos != 1 else ''})"
    )
    return ram, header
