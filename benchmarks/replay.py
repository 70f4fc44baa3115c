"""How faithfully ``simulate --from-history`` rebuilds a workload from the history the daemon records.

    .venv/bin/python -m benchmarks.replay [--seed 1] [--week]

For each case, a built-in scenario is simulated with ``ours`` recording its history in memory, a
slot a minute, exactly as the deployed daemon records it; the workload is rebuilt from those slots
(:mod:`autoscaler.simulate.replay`) and compared with the scenario it came from: the mean arrival
rate of each hour (mean absolute % error), the total arrivals and the total work (arrivals × job
time), then every policy is run on both and their SLO minutes and cost set side by side. A worker
is rebuilt twice: from the queue readings alone with the configured job time (the default) and
with what the engine learned (its arrival rate and job time). ``--week`` adds a week of web traffic
(a few minutes). Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.history import SLOT, MemoryHistory, Slot
from autoscaler.simulate import configure_parser, options
from autoscaler.simulate.ours import Ours
from autoscaler.simulate.recorded import Recorded
from autoscaler.simulate.replay import rebuild
from autoscaler.simulate.runner import Inputs, Run, compare, simulate
from autoscaler.simulate.settings import START_EPOCH, SimConfig
from autoscaler.simulate.workloads import HOUR, Kind, Workload, build

POLICIES = ["ours", "static-peak", "hpa", "heroku-native", "judoscale-like", "keda", "clairvoyant"]


@dataclass(frozen=True, slots=True)
class Case:
    scenario: str
    kind: Kind
    hours: float | None = None
    gaps: tuple[tuple[int, int], ...] = ()
    """(first minute, minutes) left out of the recorded history: a daemon down, a change of leader."""

    @property
    def label(self) -> str:
        hours = "" if self.hours is None else f", {self.hours:g} h"
        gaps = f", {sum(n for _, n in self.gaps)} min not recorded" if self.gaps else ""
        return f"{self.scenario} {self.kind}{hours}{gaps}"


CASES = [
    Case("diurnal", "web"),
    Case("diurnal", "worker"),
    Case("slow-ramp", "web"),
    Case("slow-ramp", "worker"),
    Case("flash-crowd", "web"),
    Case("flash-crowd", "worker"),
    Case("batch-dump", "worker"),
    Case("diurnal", "web", gaps=((600, 30), (960, 60))),
]
WEEK = Case("diurnal", "web", hours=168)


def config_of(kind: Kind, seed: int) -> SimConfig:
    """The run's configuration with simulate's defaults for ``kind``."""
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    return options.sim_config(parser.parse_args(["--kind", kind, "--seed", str(seed)]), kind)


def record(workload: Workload, config: SimConfig) -> Recorded:
    """The history ``ours`` records on ``workload``, a slot a minute, as the deployed daemon records it."""
    store = MemoryHistory(hours=workload.duration / HOUR + 1)
    inputs = Inputs.prepare(workload, config)
    simulate(inputs, Ours(config, store), inputs.demand[0])
    until = START_EPOCH + workload.duration
    slots = store.read(START_EPOCH, until, [config.process_name], events=0).slots[config.process_name]
    return Recorded(config.process_name, tuple(slots), START_EPOCH, until)


def without(found: Recorded, gaps: Sequence[tuple[int, int]]) -> Recorded:
    """``found`` less the minutes of ``gaps``."""

    def kept(slot: Slot) -> bool:
        minute = round((slot.at - START_EPOCH) / SLOT)
        return not any(first <= minute < first + count for first, count in gaps)

    return Recorded(found.process, tuple(s for s in found.slots if kept(s)), found.since, found.until)


def hourly(workload: Workload, offset: int = 0) -> list[float]:
    """Mean arrivals per second of each whole hour (dumps included); ``offset``: the workload's
    second 0 is the run's second ``offset``."""
    hours = (offset + workload.duration) // int(HOUR)
    totals = [0.0] * hours
    for second, rate in enumerate(workload.rate):
        hour = (offset + second) // int(HOUR)
        if hour < hours:
            totals[hour] += rate
    for second, jobs in workload.dumps.items():
        if (offset + second) // int(HOUR) < hours:
            totals[(offset + second) // int(HOUR)] += jobs
    return [total / HOUR for total in totals]


@dataclass(frozen=True, slots=True)
class Fidelity:
    hourly_mape: float
    """Mean absolute error of the hourly mean arrival rate, relative to the source's."""
    total: float
    """Relative error of the total arrivals."""
    work: float
    """Relative error of the total work (arrivals × job time)."""


def _work(workload: Workload) -> float:
    done = sum(rate * service for rate, service in zip(workload.rate, workload.service_s, strict=True))
    return done + sum(jobs * workload.service_s[second] for second, jobs in workload.dumps.items())


def fidelity(source: Workload, replayed: Workload, offset: int = 0) -> Fidelity:
    """How close ``replayed`` (starting at ``source``'s second ``offset``) is to ``source``."""
    want, got = hourly(source), hourly(replayed, offset)
    pairs = [(w, g) for w, g in zip(want, got, strict=False) if w > 0]
    mape = sum(abs(g - w) / w for w, g in pairs) / len(pairs) if pairs else float("nan")
    total = (sum(replayed.rate) + sum(replayed.dumps.values())) / (sum(source.rate) + sum(source.dumps.values()))
    return Fidelity(mape, total - 1, _work(replayed) / _work(source) - 1)


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    variant: str
    slots: int
    replayed: Workload
    fidelity: Fidelity
    source_runs: dict[str, Run]
    replay_runs: dict[str, Run]


def _runs(workload: Workload, config: SimConfig) -> dict[str, Run]:
    names = options.policy_names(None, workload.kind)
    return {run.policy: run for run in compare(Inputs.prepare(workload, config), names)}


def evaluate(case: Case, seed: int) -> list[Result]:
    config = config_of(case.kind, seed)
    source = build(case.scenario, case.kind, seed, case.hours, config.service_s)
    found = without(record(source, config), case.gaps)
    offset = round(found.slots[0].at - START_EPOCH)
    source_runs = _runs(source, config)
    variants = [("queue only", False), ("learned", True)] if case.kind == "worker" else [("", False)]
    results = []
    for variant, learned in variants:
        replayed = rebuild(found, None, config.service_s, learned=learned)
        results.append(
            Result(
                case,
                variant,
                len(found.slots),
                replayed,
                fidelity(source, replayed, offset),
                source_runs,
                _runs(replayed, config),
            )
        )
    return results


def _pct(value: float) -> str:
    text = f"{value * 100:+.1f} %"
    return "0.0 %" if text in ("+0.0 %", "-0.0 %") else text


def fidelity_table(results: Sequence[Result]) -> list[str]:
    lines = [
        "| case | arrivals | slots | hourly rate error (MAPE) | total arrivals | total work |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        f = r.fidelity
        lines.append(
            f"| {r.case.label} | {r.variant or 'request rate'} | {r.slots} | {f.hourly_mape * 100:.1f} % | "
            f"{_pct(f.total)} | {_pct(f.work)} |"
        )
    return lines


def _cell(source: Run | None, replay: Run | None) -> str:
    if source is None or replay is None:
        return "–"
    return f"{source.slo_minutes}→{replay.slo_minutes}, ${source.cost_usd:.2f}→${replay.cost_usd:.2f}"


def policy_table(results: Sequence[Result]) -> list[str]:
    lines = ["| case | arrivals | " + " | ".join(POLICIES) + " |", "|---" * (len(POLICIES) + 2) + "|"]
    for r in results:
        cells = [_cell(r.source_runs.get(p), r.replay_runs.get(p)) for p in POLICIES]
        lines.append(f"| {r.case.label} | {r.variant or 'request rate'} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--week", action="store_true", help="add a week of web traffic (a few minutes)")
    args = parser.parse_args()
    started = time.monotonic()
    results = [result for case in [*CASES, *([WEEK] if args.week else [])] for result in evaluate(case, args.seed)]
    print("\n".join(fidelity_table(results)))
    print("\nSLO minutes and cost, source → replay:\n")
    print("\n".join(policy_table(results)))
    print(f"\nseed {args.seed}; {len(results)} replays in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
