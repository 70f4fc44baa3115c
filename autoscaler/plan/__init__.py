"""The ``plan`` command: the cheapest dyno formation for a RAM-bound app, offline.

It answers three questions:

* **Which size is cheapest?** For each dyno size, ``processes_per_dyno =
  floor(memory_mb / ram_per_process_mb)``, ``dynos = ceil(processes /
  processes_per_dyno)``, ``monthly_cost = dynos × monthly price`` and
  ``cost_per_process = monthly_cost / processes``. A size is infeasible when one
  process does not fit, or when ``dynos`` exceeds its per-process-type limit: Eco and
  Basic 1, Performance/Private/Shield 10, Standard the app-wide 100, Fir sizes 255
  (``--max-dynos N`` replaces the limit of every size). The best row is the cheapest feasible one; a tie
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

Sizes and prices. A plan is for one generation of the platform, as an app runs on one:
Cedar by default (:data:`autoscaler.sizes.CEDAR_SIZES`), Fir with ``--generation fir``
(:data:`autoscaler.sizes.FIR_SIZES`, the ``dyno-Nc-Xgb`` sizes of Fir Private Spaces), or
Fir when ``--sizes`` names only Fir sizes. For Cedar the table shows the Common Runtime
sizes by default (Eco, Basic, Standard, Performance), since Private and Shield sizes need
a Private Space; for Fir, every Fir size. ``--sizes`` picks sizes of that generation by
name (any case, legacy names such as ``2x`` accepted). ``--live`` replaces the catalogue
with what ``GET /dyno-sizes`` reports for the generation (memory in GB, monthly cost); a
size the API gives no memory or cost for keeps the built-in value, or is left out when
the catalogue does not know it either. A price file (``--prices FILE``, JSON or CSV, see
:mod:`~autoscaler.plan.prices`), applied last, replaces the monthly USD price of the
sizes it names; the others keep theirs.

Output: a readable table, or with ``--json`` exactly ``{"rows": [...], "best": row or
null}``, each row with the keys ``size`` (lower case), ``memory_mb``,
``processes_per_dyno``, ``dynos``, ``monthly_cost``, ``cost_per_process`` (USD rounded
to cents) and ``feasible``. ``dynos`` and the costs are null for a size that cannot hold
one process (or, with ``--rps``, for which no formation was found).

Every bad input raises :class:`~autoscaler.errors.ConfigError` with one line per
problem; the command line turns that into exit status 2.

The package, from the flags to the output:

* :mod:`~autoscaler.plan.cli` the flags and :func:`run`;
* :mod:`~autoscaler.plan.options` checks the flags' values, all at once;
* :mod:`~autoscaler.plan.catalogue` the sizes: built-in or live, priced, picked;
* :mod:`~autoscaler.plan.prices` price files;
* :mod:`~autoscaler.plan.runtime_metrics` RAM per process from ``heroku logs``;
* :mod:`~autoscaler.plan.model` the rows: formation, cost and feasibility per size;
* :mod:`~autoscaler.plan.render` and :mod:`~autoscaler.plan.formatting` the table and JSON.
"""

from __future__ import annotations

from autoscaler.plan.catalogue import FetchSizes, builtin_sizes, live_sizes, option_from_size
from autoscaler.plan.cli import configure_parser, run
from autoscaler.plan.model import Demand, Load, Row, SizeOption, best_row, plan_row, plan_rows, processes_per_dyno
from autoscaler.plan.options import DEFAULT_PROCESS_TYPE
from autoscaler.plan.prices import apply_prices, parse_prices
from autoscaler.plan.render import render_table
from autoscaler.plan.runtime_metrics import MemorySample, p95, parse_all_runtime_metrics, parse_runtime_metrics

__all__ = [
    "DEFAULT_PROCESS_TYPE",
    "Demand",
    "FetchSizes",
    "Load",
    "MemorySample",
    "Row",
    "SizeOption",
    "apply_prices",
    "best_row",
    "builtin_sizes",
    "configure_parser",
    "live_sizes",
    "option_from_size",
    "p95",
    "parse_all_runtime_metrics",
    "parse_prices",
    "parse_runtime_metrics",
    "plan_row",
    "plan_rows",
    "processes_per_dyno",
    "render_table",
    "run",
]
