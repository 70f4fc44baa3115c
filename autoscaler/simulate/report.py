"""What ``simulate`` prints: the summary per policy, as a table and as JSON (the plot is :mod:`.plot`).

Per policy: SLO-violation minutes (web: the 1-minute p95 queue time, or response time with the
router's signal, above the target; workers: the oldest job older than MAX_LATENCY at some point
of the minute), the share of requests or jobs that waited longer than the target, the cost in
USD from billed
dyno-seconds, its difference to the clairvoyant cost, the SPEC RG elasticity metrics
against the clairvoyant demand, scale actions per hour, Platform API calls, and (in JSON)
the largest formation of the run.
The verdict checks the goal ``ours`` is held to: no more SLO minutes than any baseline,
cheaper than every baseline with as many, within 15 % of the clairvoyant cost, and no
baseline that is better on one of SLO minutes and cost without being worse on the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autoscaler.simulate.metrics import Elasticity, elasticity, speedup
from autoscaler.simulate.runner import Inputs, Run

COST_MARGIN = 0.15
"""``ours`` should cost at most this much more than the clairvoyant demand."""
REFERENCE = "clairvoyant"


@dataclass(frozen=True, slots=True)
class Summary:
    policy: str
    slo_minutes: int
    over_target: float
    cost_usd: float
    vs_clairvoyant: float
    """cost / clairvoyant cost − 1."""
    actions_per_hour: float
    api_calls: int
    api_failures: int
    peak_dynos: int
    """The largest quantity of the formation in the run (booting dynos included)."""
    dyno_hours: float
    jobs_killed: float
    elasticity: Elasticity
    speedup_vs_hpa: float | None


def summarise(inputs: Inputs, runs: Sequence[Run]) -> list[Summary]:
    hours = inputs.workload.duration / 3600
    reference = next(run for run in runs if run.policy == REFERENCE)
    metrics = {run.policy: elasticity(inputs.demand, run.supply) for run in runs}
    hpa = metrics.get("hpa")

    def versus_hpa(run: Run) -> float | None:
        if hpa is None or run.policy == REFERENCE:
            return None
        return speedup(metrics[run.policy].as_dict(), hpa.as_dict())

    summaries = []
    for run in runs:
        mine = metrics[run.policy]
        summaries.append(
            Summary(
                policy=run.policy,
                slo_minutes=run.slo_minutes,
                over_target=run.over_target,
                cost_usd=run.cost_usd,
                vs_clairvoyant=run.cost_usd / reference.cost_usd - 1 if reference.cost_usd > 0 else 0.0,
                actions_per_hour=run.scale_actions / hours,
                api_calls=run.api_calls,
                api_failures=run.api_failures,
                peak_dynos=run.peak_dynos,
                dyno_hours=run.dyno_seconds / 3600,
                jobs_killed=run.jobs_killed,
                elasticity=mine,
                speedup_vs_hpa=versus_hpa(run),
            )
        )
    return summaries


OURS = ("ours", "ours-predict")
"""The daemon's rows (without and with ``PREDICT``); every other row but the reference is a baseline."""


def verdict(summaries: Sequence[Summary], policy: str = "ours") -> dict[str, Any] | None:
    """The goal of ``policy`` (``ours`` or ``ours-predict``), checked against the baselines of this
    run (None when the run has no such row)."""
    ours = next((s for s in summaries if s.policy == policy), None)
    if ours is None:
        return None
    baselines = [s for s in summaries if s.policy not in {*OURS, REFERENCE}]
    cents = round(ours.cost_usd, 2)
    dominated_by = [
        s.policy
        for s in baselines
        if s.slo_minutes <= ours.slo_minutes
        and round(s.cost_usd, 2) <= cents
        and (s.slo_minutes < ours.slo_minutes or round(s.cost_usd, 2) < cents)
    ]
    return {
        "fewest_slo_minutes": all(ours.slo_minutes <= s.slo_minutes for s in baselines),
        "more_slo_minutes_than": [s.policy for s in baselines if s.slo_minutes < ours.slo_minutes],
        "cheaper_at_equal_slo": all(
            cents < round(s.cost_usd, 2) for s in baselines if s.slo_minutes == ours.slo_minutes
        ),
        "within_cost_margin": ours.vs_clairvoyant <= COST_MARGIN,
        "dominated_by": dominated_by,
    }


# --- JSON ---------------------------------------------------------------------------------------


def _round(value: float, digits: int = 4) -> float:
    return 0.0 if value == 0 else round(value, digits)


def as_json(summary: Summary) -> dict[str, Any]:
    return {
        "policy": summary.policy,
        "slo_minutes": summary.slo_minutes,
        "over_target": _round(summary.over_target, 6),
        "cost_usd": _round(summary.cost_usd),
        "cost_vs_clairvoyant": _round(summary.vs_clairvoyant),
        "scale_actions_per_hour": _round(summary.actions_per_hour),
        "api_calls": summary.api_calls,
        "api_failures": summary.api_failures,
        "peak_dynos": summary.peak_dynos,
        "dyno_hours": _round(summary.dyno_hours),
        "jobs_killed": _round(summary.jobs_killed),
        "elasticity": {name: _round(value) for name, value in summary.elasticity.as_dict().items()},
        "speedup_vs_hpa": None if summary.speedup_vs_hpa is None else _round(summary.speedup_vs_hpa),
    }


# --- the table ------------------------------------------------------------------------------------


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(widths[0]) if column == 0 else cell.rjust(widths[column]) for column, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def signed(value: float) -> str:
    percent = round(value * 100, 1)
    return f"{percent + 0.0:+.1f} %"  # + 0.0 turns -0.0 into 0.0


def main_table(summaries: Sequence[Summary]) -> list[str]:
    rows = [["policy", "SLO min", "over target", "cost USD", "vs d_t", "actions/h", "API calls"]]
    for s in summaries:
        reference = s.policy == REFERENCE
        calls = "-" if reference else str(s.api_calls) + (f" ({s.api_failures} failed)" if s.api_failures else "")
        rows.append(
            [
                s.policy,
                str(s.slo_minutes),
                f"{s.over_target * 100:.2f} %",
                f"{s.cost_usd:.2f}",
                "-" if reference else signed(s.vs_clairvoyant),
                f"{s.actions_per_hour:.1f}",
                calls,
            ]
        )
    return _align(rows)


def elasticity_table(summaries: Sequence[Summary]) -> list[str]:
    rows = [["policy", "acc_U", "acc_O", "ts_U", "ts_O", "jitter/min", "θ_U", "θ_O", "υ", "ε vs hpa"]]
    for s in summaries:
        e = s.elasticity
        rows.append(
            [
                s.policy,
                f"{e.accuracy_u:.2f}",
                f"{e.accuracy_o:.2f}",
                f"{e.timeshare_u * 100:.1f} %",
                f"{e.timeshare_o * 100:.1f} %",
                f"{e.jitter:+.3f}",
                f"{e.theta_u:.1f} %",
                f"{e.theta_o:.1f} %",
                f"{e.upsilon:.1f} %",
                "-" if s.speedup_vs_hpa is None else f"{s.speedup_vs_hpa:.2f}",
            ]
        )
    return _align(rows)


def verdict_lines(found: dict[str, Any] | None, summaries: Sequence[Summary], policy: str = "ours") -> list[str]:
    if found is None:
        return []
    ours = next(s for s in summaries if s.policy == policy)
    worse = ", ".join(found["more_slo_minutes_than"])
    lines = [
        f"goal for {policy}: as few SLO minutes as the best baseline, for less, near the clairvoyant cost:",
        "  no more SLO minutes than any baseline: " + ("yes" if found["fewest_slo_minutes"] else f"NO ({worse} fewer)"),
        "  cheaper than every baseline with as many SLO minutes: " + ("yes" if found["cheaper_at_equal_slo"] else "NO"),
        f"  within {COST_MARGIN:.0%} of the clairvoyant cost: "
        + ("yes" if found["within_cost_margin"] else "NO")
        + f" ({signed(ours.vs_clairvoyant)})",
        "  dominated (fewer-or-equal SLO minutes and cost) by: " + (", ".join(found["dominated_by"]) or "none"),
    ]
    return lines
