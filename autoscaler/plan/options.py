"""The values of ``plan``'s flags, checked all at once: every problem is one line of a ConfigError."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from autoscaler import queueing
from autoscaler.errors import ConfigError
from autoscaler.plan.model import Demand, Load

DEFAULT_PROCESS_TYPE = "web"

_N = TypeVar("_N", int, float)


@dataclass(frozen=True, slots=True)
class Options:
    """Where RAM per process comes from, the demand to size for and the dyno limit."""

    ram_per_process_mb: float | None
    from_logs: str | None
    process_type: str
    concurrency: int | None
    demand: Demand
    max_dynos: int | None


def _checked(
    problems: list[str], flag: str, raw: str | None, convert: Callable[[str], _N], ok: Callable[[_N], bool], wanted: str
) -> _N | None:
    """``raw`` converted, or None when not given; adds "FLAG: must be WANTED" to ``problems`` when bad."""
    if raw is None:
        return None
    try:
        value: _N | None = convert(raw)
    except ValueError:
        value = None
    if value is None or not ok(value):
        problems.append(f"{flag}: must be {wanted}, got {raw!r}")
        return None
    return value


def _positive_float(problems: list[str], flag: str, raw: str | None) -> float | None:
    return _checked(problems, flag, raw, float, lambda value: math.isfinite(value) and value > 0, "a number > 0")


def _positive_int(problems: list[str], flag: str, raw: str | None) -> int | None:
    return _checked(problems, flag, raw, int, lambda value: value >= 1, "a whole number >= 1")


def _demand(args: argparse.Namespace, problems: list[str]) -> Demand | None:
    processes = _positive_int(problems, "--processes", args.processes)
    load_flags = {"--rps": args.rps, "--app-time-ms": args.app_time_ms, "--queue-time-ms": args.queue_time_ms}
    given = [flag for flag, raw in load_flags.items() if raw is not None]
    values = [_positive_float(problems, flag, raw) for flag, raw in load_flags.items()]
    quantile = _positive_float(problems, "--quantile", args.quantile)
    if quantile is not None and quantile >= 1:
        problems.append(f"--quantile: must be between 0 and 1, got {args.quantile!r}")
        return None
    if args.quantile is not None and not given:
        problems.append("--quantile: only used with --rps, --app-time-ms and --queue-time-ms")
    if args.processes is not None and given:
        problems.append("--processes: give either --processes or --rps/--app-time-ms/--queue-time-ms, not both")
        return None
    if args.processes is None and not given:
        problems.append("--processes: required (or --rps, --app-time-ms and --queue-time-ms)")
        return None
    if given and len(given) < len(load_flags):
        missing = [flag for flag in load_flags if flag not in given]
        problems.append(f"{missing[0]}: required with {', '.join(given)}")
        return None
    if not given:
        return processes
    rps, app_ms, queue_ms = values
    if rps is None or app_ms is None or queue_ms is None:
        return None
    q = queueing.DEFAULT_QUANTILE if quantile is None else quantile
    return Load(rps, app_ms / 1000, queue_ms / 1000, q)


def parse_options(args: argparse.Namespace, env: Mapping[str, str]) -> Options:
    """The checked values of ``args`` (``WEB_CONCURRENCY`` from ``env``); ConfigError lists every problem."""
    problems: list[str] = []
    ram = _positive_float(problems, "--ram-per-process", args.ram_per_process)
    if args.ram_per_process is not None and args.from_logs is not None:
        problems.append("--ram-per-process: give either --ram-per-process or --from-logs, not both")
    if args.ram_per_process is None and args.from_logs is None:
        problems.append("--ram-per-process: required (or --from-logs FILE)")
    concurrency = _positive_int(problems, "--concurrency", args.concurrency)
    for flag, raw in (("--concurrency", args.concurrency), ("--process-type", args.process_type)):
        if raw is not None and args.from_logs is None:
            problems.append(f"{flag}: only used with --from-logs")
    if args.process_type is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", args.process_type):
        problems.append(f"--process-type: not a process type name: {args.process_type!r}")
    web_concurrency = env.get("WEB_CONCURRENCY", "").strip() or None
    if args.from_logs is not None and args.concurrency is None:
        concurrency = _positive_int(problems, "WEB_CONCURRENCY", web_concurrency)
    demand = _demand(args, problems)
    max_dynos = _positive_int(problems, "--max-dynos", args.max_dynos)
    if problems or demand is None:
        raise ConfigError(problems)
    return Options(
        ram_per_process_mb=ram,
        from_logs=args.from_logs,
        process_type=args.process_type or DEFAULT_PROCESS_TYPE,
        concurrency=concurrency,
        demand=demand,
        max_dynos=max_dynos,
    )
