"""What ``plan`` prints: a readable table with header lines and a verdict, or the ``--json`` document."""

from __future__ import annotations

import json
from collections.abc import Sequence

from autoscaler.plan.formatting import money, number
from autoscaler.plan.model import Demand, Load, Row


def demand_header(demand: Demand) -> str:
    """The header line that says how many processes are needed, or for which load."""
    if isinstance(demand, Load):
        share = number((1 - demand.quantile) * 100)
        return (
            f"Processes: per size, for {number(demand.rps)} req/s at {number(demand.app_time_s * 1000)} ms "
            f"each, P(queue wait > {number(demand.queue_time_s * 1000)} ms) <= {share}% "
            f"(random routing across dynos)"
        )
    return f"Processes: {demand}"


def render_json(rows: Sequence[Row], best: Row | None) -> str:
    """``{"rows": [...], "best": row or null}``, indented, with a final newline."""
    document = {"rows": [row.as_json() for row in rows], "best": None if best is None else best.as_json()}
    return json.dumps(document, indent=2) + "\n"


def render_table(rows: Sequence[Row], best: Row | None, headers: Sequence[str], *, with_processes: bool) -> str:
    """The readable output: header lines, the table with the best row marked ``*``, a verdict."""
    titles = ["", "size", "memory", "proc/dyno", "dynos"]
    titles += ["processes"] if with_processes else []
    titles += ["monthly", "cost/process", "note"]
    table = [titles]
    for row in rows:
        cells = ["*" if row is best else "", row.size, f"{number(row.memory_mb)} MB"]
        cells += [str(row.processes_per_dyno), "-" if row.dynos is None else str(row.dynos)]
        if with_processes:
            cells.append("-" if row.processes is None else str(row.processes))
        cells += [money(row.monthly_cost), money(row.cost_per_process), row.note]
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
            f"{money(best.monthly_cost)}/month"
        )
    return "\n".join(lines) + "\n"
