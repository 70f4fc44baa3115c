"""The ``plan`` command: the cheapest dyno formation for a RAM-bound app, offline.

It answers three questions:

* **Which size is cheapest?** For each dyno size, ``processes_per_dyno =
  floor(memory_mb / ram_per_process_mb)``, ``dynos = ceil(processes /
  processes_per_dyno)``, ``monthly_cost = dynos × monthly price`` and
  ``cost_per_process = monthly_cost / processes``. A size is infeasible when one
  process does not fit, or when ``dynos`` exceeds its per-process-type limit: Eco and
  Basic 1, Performance/Private/Shield 10, Standard the app-wide 100 (``--max-dynos N``
  replaces the limit of every size). The best row is the cheapest feasible one; a tie
  goes to fewer dynos, then to the smaller size (catalogue order).
* **What is my RAM per process?** ``--from-logs FILE`` (``-`` for stdin) reads
  ``heroku logs`` output, keeps the log-runtime-metrics ``sample#memory_rss`` values of
  the dynos of ``--process-type`` (default ``web``; ``memory_total``, router and app
  lines are ignored), takes their p95 (nearest rank) as the RSS of one dyno and
  divides it by the processes per dyno (``--concurrency``, else ``WEB_CONCURRENCY``,
  else 1).
* **How many processes do I need?** ``--rps R --app-time-ms S --queue-time-ms T``
  replaces ``--processes``: per size, k = processes_per_dyno and dynos is the fewest N
  for which N random-routed M/M/k queues keep P(queue wait > T) ≤ 1 − ``--quantile``
  (default 0.95), see :func:`autoscaler.queueing.dynos_for_random_routing`; processes
  = dynos × k. Bigger dynos pool better, so the answer differs per size.

Sizes and prices. The built-in catalogue is :data:`autoscaler.sizes.CEDAR_SIZES`; by
default the table shows the Common Runtime sizes (Eco, Basic, Standard, Performance),
since Private and Shield sizes need a Private Space; ``--sizes`` picks any catalogue
sizes by name (any case, legacy names such as ``2x`` accepted). ``--live`` replaces the
catalogue with what ``GET /dyno-sizes`` reports (memory in GB, monthly cost); a size the
API gives no memory or cost for keeps the built-in value, or is left out when the
catalogue does not know it either.

Price file (``--prices FILE``), applied last: it replaces the monthly USD price of the
sizes it names, the others keep theirs. Two formats, told apart by the first
character that is not white space (``{`` means JSON):

* JSON, one object mapping size name to monthly USD: ``{"standard-1x": 25, "Performance-M": 250}``
* CSV with the header ``size,monthly_usd`` and one size a line::

      size,monthly_usd
      standard-1x,25
      performance-m,250

Names are matched in any case and must be sizes of the catalogue in use; prices are
numbers ≥ 0; a size named twice is an error.

Output: a readable table, or with ``--json`` exactly ``{"rows": [...], "best": row or
null}``, each row with the keys ``size`` (lower case), ``memory_mb``,
``processes_per_dyno``, ``dynos``, ``monthly_cost``, ``cost_per_process`` (USD rounded
to cents) and ``feasible``. ``dynos`` and the costs are null for a size that cannot hold
one process (or, with ``--rps``, for which no formation was found).

Every bad input raises :class:`~autoscaler.errors.ConfigError` with one line per
problem; the command line turns that into exit status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TextIO

from autoscaler import queueing
from autoscaler.errors import ConfigError
from autoscaler.sizes import APP_DYNO_LIMIT, CEDAR_SIZES, DynoSize, Tier, lookup, normalize

FetchSizes = Callable[[], list[tuple[str, float | None, float | None]]]
"""Reads ``/dyno-sizes``: (name, memory in GB or None, monthly USD or None) per size."""

DEFAULT_PROCESS_TYPE = "web"
_SPACE_ONLY_TIERS = frozenset({Tier.PRIVATE, Tier.SHIELD})
_FIT_SLACK = 1e-9
"""Absorbs float noise so that 1024 / (1024 / 3) counts as 3 processes, not 2."""


# --- data ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SizeOption:
    """One size the planner may choose: its key, memory, monthly price and quantity limit."""

    key: str
    memory_mb: int
    monthly_usd: float
    limit: int
    space_only: bool = False
    """Private/Shield: available only in a Private Space, so not shown by default."""


@dataclass(frozen=True, slots=True)
class Load:
    """The web traffic to size for: requests/s, mean app time and the queue-wait target."""

    rps: float
    app_time_s: float
    queue_time_s: float
    quantile: float = queueing.DEFAULT_QUANTILE


Demand = int | Load
"""Either a fixed number of processes or a load to compute them from, per size."""


@dataclass(frozen=True, slots=True)
class Row:
    """The formation one size needs. ``note`` says why a row is infeasible ("" when feasible)."""

    size: str
    memory_mb: int
    processes_per_dyno: int
    dynos: int | None
    processes: int | None
    monthly_cost: float | None
    cost_per_process: float | None
    feasible: bool
    note: str = ""

    def as_json(self) -> dict[str, object]:
        """The row as the ``--json`` output has it: exactly these keys, no more."""
        return {
            "size": self.size,
            "memory_mb": self.memory_mb,
            "processes_per_dyno": self.processes_per_dyno,
            "dynos": self.dynos,
            "monthly_cost": None if self.monthly_cost is None else round(self.monthly_cost, 2),
            "cost_per_process": None if self.cost_per_process is None else round(self.cost_per_process, 2),
            "feasible": self.feasible,
        }


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One log-runtime-metrics reading: the dyno (``web.1``) and its RSS in MB."""

    process_type: str
    dyno: str
    rss_mb: float


# --- the arithmetic --------------------------------------------------------------------


def option_from_size(size: DynoSize) -> SizeOption:
    """The planner's view of a catalogue entry."""
    return SizeOption(
        key=size.key,
        memory_mb=size.memory_mb,
        monthly_usd=size.monthly_usd,
        limit=size.max_per_type if size.max_per_type is not None else APP_DYNO_LIMIT,
        space_only=size.tier in _SPACE_ONLY_TIERS,
    )


def builtin_sizes() -> list[SizeOption]:
    """Every Cedar size of the shared catalogue, in catalogue order."""
    return [option_from_size(size) for size in CEDAR_SIZES]


def processes_per_dyno(memory_mb: float, ram_per_process_mb: float) -> int:
    """How many processes of ``ram_per_process_mb`` fit in ``memory_mb``."""
    return math.floor(memory_mb / ram_per_process_mb + _FIT_SLACK)


def plan_row(size: SizeOption, ram_per_process_mb: float, demand: Demand, max_dynos: int | None = None) -> Row:
    """The formation ``size`` needs for ``demand``, with its cost and feasibility."""
    per_dyno = processes_per_dyno(size.memory_mb, ram_per_process_mb)
    empty = Row(size.key, size.memory_mb, per_dyno, None, None, None, None, feasible=False)
    if per_dyno == 0:
        return replace(empty, note=f"one process ({_number(ram_per_process_mb)} MB) does not fit")
    if isinstance(demand, Load):
        found = queueing.dynos_for_random_routing(
            demand.rps, demand.app_time_s, per_dyno, demand.queue_time_s, demand.quantile
        )
        if found is None:
            return replace(empty, note=f"no formation up to {queueing.MAX_DYNOS_SEARCHED} dynos")
        dynos, processes = found, found * per_dyno
    else:
        dynos, processes = math.ceil(demand / per_dyno), demand
    cost = dynos * size.monthly_usd
    limit = size.limit if max_dynos is None else max_dynos
    feasible = dynos <= limit
    note = "" if feasible else f"needs {dynos} dynos, limit {limit}"
    return Row(size.key, size.memory_mb, per_dyno, dynos, processes, cost, cost / processes, feasible, note)


def plan_rows(
    sizes: Sequence[SizeOption], ram_per_process_mb: float, demand: Demand, max_dynos: int | None = None
) -> list[Row]:
    """One :class:`Row` per size, in the order given."""
    return [plan_row(size, ram_per_process_mb, demand, max_dynos) for size in sizes]


def best_row(rows: Sequence[Row]) -> Row | None:
    """The cheapest feasible row; ties go to fewer dynos, then to the earlier row; None if none is."""
    best: Row | None = None
    best_rank: tuple[float, int] | None = None
    for row in rows:
        if not row.feasible or row.monthly_cost is None or row.dynos is None:
            continue
        rank = (round(row.monthly_cost, 6), row.dynos)
        if best_rank is None or rank < best_rank:
            best, best_rank = row, rank
    return best


# --- logs -----------------------------------------------------------------------------

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
    """The ``sample#memory_rss`` readings of the dynos of ``process_type``, in log order.

    Only log-runtime-metrics lines count (``source=web.1 ... sample#memory_rss=210.5MB``);
    ``memory_total``, router lines, app output and other process types are skipped.
    """
    return [sample for sample in parse_all_runtime_metrics(lines) if sample.process_type == process_type]


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank: the ceil(0.95·n)-th smallest value."""
    if not values:
        raise ValueError("p95 of no values")
    ordered = sorted(values)
    rank = (95 * len(ordered) + 99) // 100
    return ordered[rank - 1]


# --- prices ---------------------------------------------------------------------------


def _price_value(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _collect_prices(pairs: Iterable[tuple[str, object, str]], where: str) -> dict[str, float]:
    """Checks (name, raw price, position) triples into a {key: price} map."""
    prices: dict[str, float] = {}
    problems: list[str] = []
    for name, raw, position in pairs:
        key = normalize(name)
        value = _price_value(raw)
        if not key:
            problems.append(f"--prices: {where} {position}: empty size name")
        elif value is None:
            problems.append(f"--prices: {where} {position}: price of {name!r} is not a number >= 0: {raw!r}")
        elif key in prices:
            problems.append(f"--prices: {where} {position}: {name!r} is named twice")
        else:
            prices[key] = value
    if problems:
        raise ConfigError(problems)
    if not prices:
        raise ConfigError([f"--prices: {where} names no size"])
    return prices


def _json_prices(text: str, where: str) -> dict[str, float]:
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"--prices: {where} is not valid JSON: {exc}"]) from exc
    if not isinstance(data, list) or not all(isinstance(pair, tuple) for pair in data):
        raise ConfigError([f"--prices: {where} must hold one JSON object {{size: monthly USD}}"])
    return _collect_prices(((name, raw, f"key {name!r}") for name, raw in data), where)


def _csv_prices(text: str, where: str) -> dict[str, float]:
    rows = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1) if row]
    if not rows or [cell.strip().lower() for cell in rows[0][1]] != ["size", "monthly_usd"]:
        raise ConfigError([f"--prices: {where} must be a JSON object or CSV with the header size,monthly_usd"])
    bad = [
        f"--prices: {where} line {number}: expected 2 fields, got {len(row)}"
        for number, row in rows[1:]
        if len(row) != 2
    ]
    if bad:
        raise ConfigError(bad)
    return _collect_prices(((row[0], row[1], f"line {number}") for number, row in rows[1:]), where)


def parse_prices(text: str, where: str = "the price file") -> dict[str, float]:
    """{normalised size key: monthly USD} from a price file's text (format in the module docstring)."""
    if text.lstrip().startswith("{"):
        return _json_prices(text, where)
    return _csv_prices(text, where)


def apply_prices(sizes: Sequence[SizeOption], prices: Mapping[str, float]) -> list[SizeOption]:
    """``sizes`` with the prices of ``prices`` put in; raises ConfigError for a name not among ``sizes``."""
    known = [size.key for size in sizes]
    unknown = [key for key in prices if key not in known]
    if unknown:
        raise ConfigError([f"--prices: unknown size {key!r}; known sizes: {', '.join(known)}" for key in unknown])
    return [replace(size, monthly_usd=prices.get(size.key, size.monthly_usd)) for size in sizes]


# --- live sizes -------------------------------------------------------------------------


def live_sizes(
    reported: Iterable[tuple[str, float | None, float | None]],
) -> tuple[list[SizeOption], list[str]]:
    """The sizes ``/dyno-sizes`` reported, and the names left out for want of memory or price.

    Missing values fall back to the built-in catalogue. Known sizes come in catalogue
    order, the others after them by memory.
    """
    order = {size.key: index for index, size in enumerate(CEDAR_SIZES)}
    options: dict[str, SizeOption] = {}
    skipped: list[str] = []
    for name, memory_gb, monthly_usd in reported:
        key = normalize(name)
        if not key or key in options:
            continue
        known = lookup(key)
        base = option_from_size(known) if known is not None else None
        memory_mb = _live_memory(memory_gb, base)
        price = _live_price(monthly_usd, base)
        if memory_mb is None or price is None:
            skipped.append(key)
            continue
        limit = base.limit if base is not None else APP_DYNO_LIMIT
        space_only = base.space_only if base is not None else key.startswith(("private-", "shield-"))
        options[key] = SizeOption(key, memory_mb, price, limit, space_only)
    ranked = sorted(options.values(), key=lambda size: (order.get(size.key, len(order)), size.memory_mb, size.key))
    return ranked, skipped


def _live_memory(memory_gb: float | None, base: SizeOption | None) -> int | None:
    if memory_gb is not None and math.isfinite(memory_gb) and memory_gb > 0:
        return round(memory_gb * 1024)
    return base.memory_mb if base is not None else None


def _live_price(monthly_usd: float | None, base: SizeOption | None) -> float | None:
    if monthly_usd is not None and math.isfinite(monthly_usd) and monthly_usd >= 0:
        return float(monthly_usd)
    return base.monthly_usd if base is not None else None


# --- the command line ---------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the flags of ``plan`` to ``parser``. Values are checked by :func:`run`, all at once."""
    parser.description = "The cheapest dyno formation for a RAM-bound app, computed offline."
    ram = parser.add_argument_group("RAM per process (one of)")
    ram.add_argument("--ram-per-process", metavar="MB", help="memory one process needs, in MB")
    ram.add_argument(
        "--from-logs", metavar="FILE", help="heroku logs output with log-runtime-metrics lines; - for stdin"
    )
    ram.add_argument("--process-type", metavar="TYPE", help="process type read from the logs (default web)")
    ram.add_argument("--concurrency", metavar="N", help="processes per dyno in the logs (default WEB_CONCURRENCY or 1)")
    need = parser.add_argument_group("processes needed (one of)")
    need.add_argument("--processes", metavar="N", help="total processes to run")
    need.add_argument("--rps", metavar="R", help="web requests per second to serve")
    need.add_argument("--app-time-ms", metavar="S", help="mean time the app spends on a request, in ms")
    need.add_argument("--queue-time-ms", metavar="T", help="target for the queue wait before the app, in ms")
    need.add_argument("--quantile", metavar="Q", help="share of requests that must wait at most T (default 0.95)")
    sizes = parser.add_argument_group("sizes and prices")
    sizes.add_argument("--sizes", metavar="A,B,...", help="only these sizes (any case)")
    sizes.add_argument(
        "--prices", metavar="FILE", help="monthly USD per size: JSON {size: price} or CSV size,monthly_usd"
    )
    sizes.add_argument(
        "--live", action="store_true", help="read sizes and prices from /dyno-sizes (needs HEROKU_API_KEY)"
    )
    sizes.add_argument("--max-dynos", metavar="N", help="per-process-type dyno limit for every size")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


@dataclass(frozen=True, slots=True)
class _Options:
    ram_per_process_mb: float | None
    from_logs: str | None
    process_type: str
    concurrency: int | None
    demand: Demand
    max_dynos: int | None


def _positive_float(problems: list[str], flag: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        problems.append(f"{flag}: must be a number > 0, got {raw!r}")
        return None
    return value


def _positive_int(problems: list[str], flag: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        problems.append(f"{flag}: must be a whole number >= 1, got {raw!r}")
        return None
    return value


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


def _options(args: argparse.Namespace, env: Mapping[str, str]) -> _Options:
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
    return _Options(
        ram_per_process_mb=ram,
        from_logs=args.from_logs,
        process_type=args.process_type or DEFAULT_PROCESS_TYPE,
        concurrency=concurrency,
        demand=demand,
        max_dynos=max_dynos,
    )


def _catalogue(
    args: argparse.Namespace, env: Mapping[str, str], fetch_sizes: FetchSizes | None
) -> tuple[list[SizeOption], list[str]]:
    """The sizes to plan with, prices applied and ``--sizes`` honoured, and header notes."""
    notes: list[str] = []
    if args.live:
        if fetch_sizes is None or not env.get("HEROKU_API_KEY", "").strip():
            raise ConfigError(["--live: needs HEROKU_API_KEY (a Platform API token) in the environment"])
        catalogue, skipped = live_sizes(fetch_sizes())
        if not catalogue:
            raise ConfigError(["--live: /dyno-sizes reported no size with a known memory and price"])
        notes.append("Sizes and prices: live, from /dyno-sizes")
        if skipped:
            notes.append(f"Left out (no memory or price reported): {', '.join(skipped)}")
    else:
        catalogue = builtin_sizes()
        notes.append("Sizes and prices: built-in Cedar list prices")
    if args.prices is not None:
        catalogue = apply_prices(catalogue, parse_prices(_read_text(args.prices), args.prices))
        notes.append(f"Prices from {args.prices}")
    return _select(catalogue, args.sizes), notes


def _select(catalogue: list[SizeOption], wanted: str | None) -> list[SizeOption]:
    if wanted is None:
        return [size for size in catalogue if not size.space_only] or catalogue
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    if not names:
        raise ConfigError(["--sizes: names no size"])
    by_key = {size.key: size for size in catalogue}
    known = ", ".join(by_key)
    unknown = [name for name in names if normalize(name) not in by_key]
    if unknown:
        raise ConfigError([f"--sizes: unknown size {name!r}; known sizes: {known}" for name in unknown])
    keys = list(dict.fromkeys(normalize(name) for name in names))
    return [size for size in catalogue if size.key in keys]


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"--prices: cannot read {path}: {exc}"]) from exc


def _ram_from_logs(options: _Options, stdin: TextIO | None) -> tuple[float, str]:
    """RAM per process from the logs, and the header line that says how it was found."""
    assert options.from_logs is not None
    where = "stdin" if options.from_logs == "-" else options.from_logs
    try:
        if options.from_logs == "-":
            samples = parse_all_runtime_metrics(stdin if stdin is not None else sys.stdin)
        else:
            with open(options.from_logs, encoding="utf-8", errors="replace") as handle:
                samples = parse_all_runtime_metrics(handle)
    except OSError as exc:
        raise ConfigError([f"--from-logs: cannot read {where}: {exc}"]) from exc
    mine = [sample for sample in samples if sample.process_type == options.process_type]
    if not mine:
        others = sorted({sample.process_type for sample in samples})
        seen = f" (it has samples of: {', '.join(others)})" if others else ""
        raise ConfigError(
            [
                f"--from-logs: no log-runtime-metrics sample#memory_rss lines for process type "
                f"{options.process_type!r} in {where}{seen}; enable them with "
                f"`heroku labs:enable log-runtime-metrics` and restart"
            ]
        )
    rss = p95([sample.rss_mb for sample in mine])
    concurrency = options.concurrency or 1
    dynos = len({sample.dyno for sample in mine})
    ram = rss / concurrency
    header = (
        f"RAM per process: {_number(ram)} MB = p95 memory_rss {_number(rss)} MB / {concurrency} "
        f"process{'es' if concurrency != 1 else ''} per dyno "
        f"({len(mine)} samples from {dynos} {options.process_type} dyno{'s' if dynos != 1 else ''})"
    )
    return ram, header


def run(
    args: argparse.Namespace,
    out: TextIO,
    env: Mapping[str, str],
    *,
    fetch_sizes: FetchSizes | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Runs ``plan``: prints the table (or JSON) to ``out`` and returns 0.

    Raises ConfigError for every bad input, and when no size is feasible (after printing
    the table, whose rows say why). ``fetch_sizes`` reads /dyno-sizes for
    ``--live``; ``stdin`` is read for ``--from-logs -`` (default: sys.stdin).
    """
    options = _options(args, env)
    catalogue, notes = _catalogue(args, env, fetch_sizes)
    if options.from_logs is not None:
        ram, ram_header = _ram_from_logs(options, stdin)
    else:
        assert options.ram_per_process_mb is not None
        ram = options.ram_per_process_mb
        ram_header = f"RAM per process: {_number(ram)} MB"
    rows = plan_rows(catalogue, ram, options.demand, options.max_dynos)
    best = best_row(rows)
    if args.json:
        document = {"rows": [row.as_json() for row in rows], "best": None if best is None else best.as_json()}
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        headers = [ram_header, _demand_header(options.demand), *notes]
        if options.max_dynos is not None:
            headers.append(f"Dyno limit per process type: {options.max_dynos} (--max-dynos)")
        out.write(render_table(rows, best, headers, with_processes=isinstance(options.demand, Load)))
    if best is None:
        flags = "--ram-per-process/--from-logs" + (", --max-dynos" if options.max_dynos is not None else "")
        raise ConfigError([f"{flags}: no dyno size can serve this demand (each row above says why)"])
    return 0


# --- rendering ---------------------------------------------------------------------------


def _number(value: float) -> str:
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _demand_header(demand: Demand) -> str:
    if isinstance(demand, Load):
        share = _number((1 - demand.quantile) * 100)
        return (
            f"Processes: per size, for {_number(demand.rps)} req/s at {_number(demand.app_time_s * 1000)} ms "
            f"each, P(queue wait > {_number(demand.queue_time_s * 1000)} ms) <= {share}% "
            f"(random routing across dynos)"
        )
    return f"Processes: {demand}"


def render_table(rows: Sequence[Row], best: Row | None, headers: Sequence[str], *, with_processes: bool) -> str:
    """The readable output: header lines, the table with the best row marked ``*``, a verdict."""
    titles = ["", "size", "memory", "proc/dyno", "dynos"]
    titles += ["processes"] if with_processes else []
    titles += ["monthly", "cost/process", "note"]
    table = [titles]
    for row in rows:
        cells = ["*" if row is best else "", row.size, f"{_number(row.memory_mb)} MB"]
        cells += [str(row.processes_per_dyno), "-" if row.dynos is None else str(row.dynos)]
        if with_processes:
            cells.append("-" if row.processes is None else str(row.processes))
        cells += [_money(row.monthly_cost), _money(row.cost_per_process), row.note]
        table.append(cells)
    widths = [max(len(line[column]) for line in table) for column in range(len(titles))]
    right = {2, 3, 4, 5, 6} | ({7} if with_processes else set())
    lines = [*headers, ""]
    for line in table:
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    if best is None:
        lines.append("No feasible size: every size is too small for one process or needs too many dynos.")
    else:
        lines.append(
            f"Best: {best.dynos} x {best.size}, {best.processes_per_dyno} processes per dyno, "
            f"{_money(best.monthly_cost)}/month"
        )
    return "\n".join(lines) + "\n"
