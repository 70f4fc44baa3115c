"""The command line of ``plan``: its flags, and :func:`run`, which checks them and prints the plan."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TextIO

from autoscaler.errors import ConfigError
from autoscaler.plan.catalogue import FetchSizes, load_catalogue
from autoscaler.plan.formatting import number
from autoscaler.plan.model import Load, best_row, plan_rows
from autoscaler.plan.options import parse_options
from autoscaler.plan.render import demand_header, render_json, render_table
from autoscaler.plan.runtime_metrics import ram_from_logs


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
    sizes.add_argument(
        "--generation",
        metavar="GEN",
        help="cedar (default) or fir: the sizes of that generation (default fir when --sizes names only Fir sizes)",
    )
    sizes.add_argument("--sizes", metavar="A,B,...", help="only these sizes (any case)")
    sizes.add_argument(
        "--prices", metavar="FILE", help="monthly USD per size: JSON {size: price} or CSV size,monthly_usd"
    )
    sizes.add_argument(
        "--live", action="store_true", help="read sizes and prices from /dyno-sizes (needs HEROKU_API_KEY)"
    )
    sizes.add_argument("--max-dynos", metavar="N", help="per-process-type dyno limit for every size")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


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
    options = parse_options(args, env)
    catalogue = load_catalogue(
        live=args.live,
        prices_path=args.prices,
        wanted=args.sizes,
        env=env,
        fetch_sizes=fetch_sizes,
        generation=args.generation,
    )
    if options.from_logs is not None:
        ram, ram_header = ram_from_logs(options.from_logs, options.process_type, options.concurrency, stdin)
    else:
        assert options.ram_per_process_mb is not None
        ram = options.ram_per_process_mb
        ram_header = f"RAM per process: {number(ram)} MB"
    rows = plan_rows(catalogue.sizes, ram, options.demand, options.max_dynos)
    best = best_row(rows)
    if args.json:
        out.write(render_json(rows, best))
    else:
        headers = [ram_header, demand_header(options.demand), *catalogue.notes]
        if options.max_dynos is not None:
            headers.append(f"Dyno limit per process type: {options.max_dynos} (--max-dynos)")
        out.write(render_table(rows, best, headers, with_processes=isinstance(options.demand, Load)))
    if best is None:
        demand = "--rps/--app-time-ms/--queue-time-ms" if isinstance(options.demand, Load) else "--processes"
        source = "--from-logs" if options.from_logs is not None else "--ram-per-process"
        flags = f"{source}, {demand}" + (", --max-dynos" if options.max_dynos is not None else "")
        raise ConfigError([f"{flags}: no dyno size can serve this demand (each row above says why)"])
    return 0
