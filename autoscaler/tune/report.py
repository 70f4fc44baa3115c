"""What ``tune`` prints: the workload, the search, current against suggested, and how to apply it;
as text, or as one JSON object (``--json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from autoscaler.simulate.settings import SimConfig
from autoscaler.simulate.workloads import Workload
from autoscaler.tune import space
from autoscaler.tune.decide import COST_MARGIN, SLO_MARGIN, Score
from autoscaler.tune.search import Outcome
from autoscaler.tune.variables import Names, config_set, shown

MONTH_S = 720 * 3600
"""Heroku bills a month as 720 hours."""


@dataclass(frozen=True, slots=True)
class Tuned:
    """Everything the report says."""

    workload: Workload
    config: SimConfig
    """The run's configuration, the SLO set."""
    notes: list[str]
    """Where the configuration came from (the env file's notes)."""
    seeds: list[int]
    outcome: Outcome
    names: Names
    simulations: int
    jobs: int
    seconds: float

    def monthly(self, score: Score) -> float:
        return score.cost_usd * MONTH_S / self.workload.duration

    def variables(self, point: space.Point) -> dict[str, space.Value]:
        values = space.settings(self.outcome.knobs, point)
        return {self.names.variable(field): _number(value) for field, value in values.items()}


def _number(value: space.Value) -> space.Value:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def slo_text(config: SimConfig) -> str:
    """What an SLO minute is, against the configured target."""
    slo = config.slo_target_s
    if config.router:
        return f"a minute whose p95 response time is above {slo * 1000:g} ms"
    if config.kind == "web":
        return f"a minute whose p95 request queue time is above {slo * 1000:g} ms"
    return f"a minute in which the oldest waiting job waited over {slo:g} s"


def _target_note(config: SimConfig) -> str:
    unit = f"{config.slo_target_s * 1000:g} ms" if config.kind == "web" else f"{config.slo_target_s:g} s"
    return f"  (the daemon's setpoint: SLO minutes stay counted against {unit})"


def text(tuned: Tuned) -> list[str]:
    outcome, config = tuned.outcome, tuned.config
    phases = ", ".join(f"{name} {count}" for name, count in outcome.phases.items())
    seeds = ", ".join(str(seed) for seed in tuned.seeds)
    lines = [
        f"workload: {tuned.workload.description}",
        *tuned.notes,
        f"SLO minute: {slo_text(config)}",
        f"searched: {_searched(tuned)}",
        f"search: {outcome.evaluations} settings ({phases}) x {len(tuned.seeds)} seeds ({seeds}) = "
        f"{tuned.simulations} simulations of ours on {tuned.jobs} process{'es' if tuned.jobs != 1 else ''} "
        f"in {tuned.seconds:.1f} s",
        "",
    ]
    found = outcome.suggested
    rows = [("", "SLO min", "cost USD", "USD/month"), _row("current", tuned, outcome.current)]
    if found is not None:
        rows.append(_row("suggested", tuned, found.score))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)) for r in rows]
    lines.append(
        f"(means over the {len(tuned.seeds)} seeds; cost USD of the {_length(tuned.workload.duration)} simulated, "
        "USD/month at that rate for 720 h)"
    )
    lines.append("")
    if found is None:
        lines += [
            "nothing better found: no setting tried had no more SLO minutes and no higher cost than the current",
            f"ones with {SLO_MARGIN:g} SLO minute fewer or {COST_MARGIN:.0%} lower cost. Keep the current settings.",
        ]
        return lines
    changes = space.changed(outcome.knobs, found.candidate)
    names = {field: tuned.names.variable(field) for field in changes}
    width = max(len(name) for name in names.values())
    lines.append("changed:")
    for field, value in changes.items():
        before = space.settings(outcome.knobs, space.current(outcome.knobs))[field]
        note = _target_note(config) if field in space.TARGET_KEYS and field != "jobs_per_dyno" else ""
        lines.append(f"  {names[field].ljust(width)}  {_plain(before)} → {_plain(value)}{note}")
    lines += ["", "apply it:", "  " + config_set(tuned.names.assignments(changes))]
    return lines


def _searched(tuned: Tuned) -> str:
    """The variables searched, without their common prefix."""
    names = [tuned.names.variable(knob.key) for knob in tuned.outcome.knobs]
    prefix = names[0][: names[0].rfind("__") + 2]
    short = [name.removeprefix(prefix) for name in names]
    return f"{prefix}{{{', '.join(short)}}}" if all(n.startswith(prefix) for n in names) else ", ".join(names)


def _plain(value: space.Value) -> str:
    return "no limit" if value is None else shown(value)


def _length(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _row(label: str, tuned: Tuned, score: Score) -> tuple[str, str, str, str]:
    return (label, f"{score.slo_minutes:.1f}", f"{score.cost_usd:.2f}", f"{tuned.monthly(score):.2f}")


def _score(tuned: Tuned, score: Score, point: space.Point) -> dict[str, Any]:
    return {
        "slo_minutes": round(score.slo_minutes, 4),
        "cost_usd": round(score.cost_usd, 4),
        "monthly_usd": round(tuned.monthly(score), 2),
        "settings": tuned.variables(point),
    }


def _changed(tuned: Tuned, point: space.Point) -> dict[str, space.Value]:
    changes = space.changed(tuned.outcome.knobs, point)
    return {tuned.names.variable(field): _number(value) for field, value in changes.items()}


def as_json(tuned: Tuned) -> str:
    outcome = tuned.outcome
    found = outcome.suggested
    suggested: dict[str, Any] | None = None
    command: str | None = None
    if found is not None:
        changes = space.changed(outcome.knobs, found.candidate)
        suggested = _score(tuned, found.score, found.candidate)
        suggested["changed"] = _changed(tuned, found.candidate)
        command = config_set(tuned.names.assignments(changes))
    document = {
        "workload": {
            "name": tuned.workload.name,
            "kind": tuned.workload.kind,
            "description": tuned.workload.description,
            "duration_s": tuned.workload.duration,
        },
        "process": tuned.config.process_name,
        "slo": slo_text(tuned.config),
        "seeds": tuned.seeds,
        "current": _score(tuned, outcome.current, space.current(outcome.knobs)),
        "suggested": suggested,
        "config_set": command,
        "rule": {"slo_margin_minutes": SLO_MARGIN, "cost_margin": COST_MARGIN},
        "evaluations": outcome.evaluations,
        "phases": outcome.phases,
        "simulations": tuned.simulations,
        "processes": tuned.jobs,
        "seconds": round(tuned.seconds, 1),
        "tried": [
            {
                "changed": _changed(tuned, s.candidate),
                "slo_minutes": round(s.score.slo_minutes, 4),
                "cost_usd": round(s.score.cost_usd, 4),
            }
            for s in outcome.tried
        ],
    }
    return json.dumps(document, indent=2)
