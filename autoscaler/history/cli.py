"""``python -m autoscaler history``: the recorded history, one row per process type per minute.

Reads the state store only (``AUTOSCALER_STATE_URL``, else ``REDIS_TLS_URL`` / ``REDIS_URL``) and
the settings (the app's name, the process types and their targets); it needs no token and
talks to no Platform API. Output: an aligned table, ``--csv`` (for a spreadsheet) or ``--json``
(one object per line). Exit status: 0, 1 when the state store cannot be read, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from autoscaler.config import Settings, load_settings
from autoscaler.errors import ConfigError, SignalError, StateError
from autoscaler.history.model import MEASURED, History, SignalSpec, Slot, main_signal, number, signal_value
from autoscaler.history.store import TTL, HistoryStore, RedisHistory
from autoscaler.redact import Redactor
from autoscaler.signals.redis_conn import connect

COLUMNS = (
    "time",
    "process",
    "current",
    "size",
    "desired",
    "desired_size",
    "reason",
    "event",
    "signal",
    "signal_value",
    "signal_max",
    "target",
    "max_current",
    "max_desired",
    *MEASURED,
)
"""The columns of ``--csv`` (and the keys of ``--json``), in order."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIMEOUT = 10.0


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--process", metavar="P", help="one process type (default: every one)")
    parser.add_argument(
        "--since", default="24h", metavar="WHEN", help="how far back: 90m, 24h, 7d, or an ISO 8601 time (default 24h)"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="comma-separated values with a header (for a spreadsheet)")
    output.add_argument("--json", action="store_true", help="one JSON object per line")


def parse_since(text: str, now: float) -> float:
    """The epoch time ``--since`` names: a duration back from ``now`` (``24h``) or an ISO 8601 time
    (naive means UTC). ConfigError naming ``--since`` otherwise."""
    found = _DURATION.match(text)
    if found:
        seconds = float(found.group(1)) * _UNITS[found.group(2).lower()]
        if seconds > 0:
            return now - seconds
    else:
        try:
            parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise ConfigError([f"--since: expected a duration such as 90m, 24h or 7d, or an ISO 8601 time; got {text!r}"])


def pick_processes(settings: Settings, wanted: str | None) -> list[str]:
    """The process types to show: every configured one, or ``--process`` (ConfigError when unknown)."""
    known = list(settings.processes)
    if wanted is None:
        return known
    for name in known:
        if name.lower() == wanted.strip().lower():
            return [name]
    raise ConfigError([f"--process: unknown process type {wanted!r}; configured: {', '.join(known)}"])


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row(slot: Slot, spec: SignalSpec) -> dict[str, Any]:
    """One slot as a row of :data:`COLUMNS` (values as numbers, None when unknown)."""
    return {
        "time": iso(slot.at),
        "process": slot.process,
        "current": slot.current,
        "size": slot.size,
        "desired": slot.desired,
        "desired_size": slot.desired_size,
        "reason": slot.reason,
        "event": slot.event,
        "signal": spec.name,
        "signal_value": signal_value(spec, slot),
        "signal_max": slot.max_signal,
        "target": spec.target,
        "max_current": slot.max_current,
        "max_desired": slot.max_desired,
        "depth": slot.depth,
        "latency": slot.latency,
        "busy": slot.busy,
        "rate": slot.rate,
        "queue_time_p95": slot.queue_time_p95,
        "response_time_p95": slot.response_time_p95,
        "monthly_usd": slot.monthly_usd,
        "demand": slot.demand,
        "service_ms": slot.service_ms,
    }


def rows(history: History, specs: Mapping[str, SignalSpec]) -> list[dict[str, Any]]:
    """Every slot of ``history`` as a row, by time, then process type."""
    found = [(slot.at, slot.process, slot) for slots in history.slots.values() for slot in slots]
    found.sort(key=lambda item: (item[0], item[1]))
    return [row(slot, specs[slot.process]) for _, _, slot in found]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return number(value)
    return str(value)


def write_csv(table: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in table:
        writer.writerow([_cell(entry[column]) for column in COLUMNS])


def write_json(table: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    for entry in table:
        out.write(json.dumps(entry, separators=(",", ":")) + "\n")


_TEXT = (("time", 16), ("process", 0), ("current", 0), ("desired", 0), ("reason", 0), ("signal", 0), ("event", 0))


def write_text(table: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """An aligned table of the essentials: time (UTC), dynos, desired, reason, main signal/target, event."""
    lines = [[name for name, _ in _TEXT]]
    for entry in table:
        value, target = entry["signal_value"], entry["target"]
        signal = "" if value is None else f"{entry['signal']}={_cell(value)}"
        if signal and target is not None:
            signal += f"/{_cell(target)}"
        lines.append(
            [
                entry["time"][:16].replace("T", " "),
                entry["process"],
                f"{entry['current']} x {entry['size']}",
                str(entry["desired"]),
                entry["reason"],
                signal,
                entry["event"],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(_TEXT))]
    for line in lines:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")


def open_store(settings: Settings) -> HistoryStore:
    """The Redis history of the configured app; ConfigError when there is no app or state store."""
    problems: list[str] = []
    if not settings.app_name:
        problems.append("AUTOSCALER_APP: required: the name of the app whose history to read (or HEROKU_APP_NAME)")
    url = settings.effective_state_url
    if url is None:
        problems.append(
            "AUTOSCALER_STATE_URL: required: the history is kept in the state store (set it, or REDIS_URL / "
            "REDIS_TLS_URL); without one the daemon keeps only its last hours, in its own memory"
        )
    if problems or url is None:
        raise ConfigError(problems)
    try:
        client = connect(url, timeout=TIMEOUT)
    except SignalError as exc:
        raise ConfigError([f"AUTOSCALER_STATE_URL: {exc}"]) from None
    return RedisHistory(client, settings.app_name or "")


def run(
    args: argparse.Namespace,
    out: TextIO,
    env: Mapping[str, str],
    *,
    err: TextIO,
    clock: Callable[[], float],
    store_factory: Callable[[Settings], HistoryStore] = open_store,
) -> int:
    """The ``history`` command. ConfigError (exit status 2) for bad usage or configuration."""
    settings = load_settings(env)
    now = clock()
    since = parse_since(args.since, now)
    processes = pick_processes(settings, args.process)
    store = store_factory(settings)
    try:
        history = store.read(max(since, now - TTL), now, processes, events=0)
    except StateError as exc:
        err.write(f"autoscaler: cannot read the history: {Redactor(settings.secrets())(str(exc))}\n")
        return 1
    finally:
        store.close()
    table = rows(history, {name: main_signal(settings.processes[name]) for name in processes})
    if args.csv:
        write_csv(table, out)
    elif args.json:
        write_json(table, out)
    elif table:
        write_text(table, out)
    else:
        err.write(f"no history since {iso(since)} (the daemon records each tick it acts on; is it running?)\n")
    return 0
