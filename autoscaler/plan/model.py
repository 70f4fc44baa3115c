"""The arithmetic of ``plan``: what each size needs for a demand, what it costs, which is best.

For each size, ``processes_per_dyno = floor(memory_mb / ram_per_process_mb)``. With a fixed
number of processes, ``dynos = ceil(processes / processes_per_dyno)``; with a :class:`Load`,
``dynos`` is the fewest N for which N random-routed M/M/k queues (k = processes_per_dyno)
keep the queue wait within target, see :func:`autoscaler.queueing.dynos_for_random_routing`.
``monthly_cost = dynos × monthly price``, ``cost_per_process = monthly_cost / processes``.
A size is infeasible when one process does not fit, or when ``dynos`` exceeds its limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from autoscaler import queueing
from autoscaler.plan.formatting import number

_FIT_SLACK = 1e-9
"""Absorbs float noise so that 1024 / (1024 / 3) counts as 3 processes, not 2."""


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


def processes_per_dyno(memory_mb: float, ram_per_process_mb: float) -> int:
    """How many processes of ``ram_per_process_mb`` fit in ``memory_mb``."""
    return math.floor(memory_mb / ram_per_process_mb + _FIT_SLACK)


def plan_row(size: SizeOption, ram_per_process_mb: float, demand: Demand, max_dynos: int | None = None) -> Row:
    """The formation ``size`` needs for ``demand``, with its cost and feasibility."""
    per_dyno = processes_per_dyno(size.memory_mb, ram_per_process_mb)
    empty = Row(size.key, size.memory_mb, per_dyno, None, None, None, None, feasible=False)
    if per_dyno == 0:
        return replace(empty, note=f"one process ({number(ram_per_process_mb)} MB) does not fit")
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
