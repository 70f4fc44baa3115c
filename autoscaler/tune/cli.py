"""The command line of ``tune``: its flags, and :func:`run`, which checks them, searches and prints.

Every bad flag is one line of a :class:`~autoscaler.errors.ConfigError` (exit status 2), all of
them at once; the env file is then read and checked exactly as ``simulate --env-file`` reads it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TextIO

from autoscaler import simulate
from autoscaler.config import load_settings
from autoscaler.errors import ConfigError
from autoscaler.history.cli import parse_since
from autoscaler.simulate import envfile, options, workloads
from autoscaler.simulate.settings import SimConfig
from autoscaler.simulate.workloads import Kind, Workload
from autoscaler.tune import report, space
from autoscaler.tune.evaluate import Evaluator
from autoscaler.tune.search import DEFAULT_BUDGET, LONG_BUDGET, MIN_BUDGET, default_budget, search
from autoscaler.tune.variables import Names

DEFAULT_SEEDS = 2
DEFAULT_SINCE = "24h"
"""--from-history replays the last day unless --since says otherwise (a day takes a few minutes)."""
MAX_SEEDS = 20


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the flags of ``tune`` to ``parser``. Values are checked by :func:`run`, all at once."""
    parser.description = (
        "Searches the settings of one process type (its target as the daemon's setpoint, DOWNSCALE_DELAY, "
        "the step limits, BOOT_TIME, TOLERANCE) by simulating the daemon with each, and suggests better ones."
    )
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        help="the autoscaler app's config vars, as `heroku config -s -a AUTOSCALER-APP` prints them (required)",
    )
    parser.add_argument("--kind", metavar="web|worker", help="the kind of process type to tune (required)")
    parser.add_argument("--process", metavar="TYPE", help="the process type (default: the file's only one of --kind)")
    load = parser.add_argument_group("workload (exactly one)")
    load.add_argument("--trace", metavar="FILE", help="CSV with the header t,arrivals_per_s[,service_ms]")
    load.add_argument("--scenario", metavar="NAME", help=f"built-in: {', '.join(workloads.SCENARIOS)}")
    load.add_argument(
        "--from-history", action="store_true", help="the load the daemon recorded in its state store (history)"
    )
    load.add_argument(
        "--since",
        metavar="DURATION",
        help=f"with --from-history: how far back, as for history (default {DEFAULT_SINCE}: the last day)",
    )
    load.add_argument("--hours", metavar="H", help="with --trace or --scenario: the length of the run")
    parser.add_argument("--service-ms", metavar="MS", help="app time (web) or job duration (worker) in ms")
    parser.add_argument(
        "--slo",
        metavar="VALUE",
        help="the threshold SLO minutes are counted against: ms (web) or s (worker); default the configured target",
    )
    parser.add_argument("--seeds", metavar="N", help=f"seeds each candidate runs on (default {DEFAULT_SEEDS})")
    parser.add_argument(
        "--budget",
        metavar="N",
        help=f"settings simulated at most, the current ones included (default {DEFAULT_BUDGET} for a day of load or "
        f"less; fewer for a longer one, at least {LONG_BUDGET})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _whole(problems: list[str], flag: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    text = raw.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        problems.append(f"{flag}: must be a whole number from {low} to {high}, got {raw!r}")
        return default
    return int(text)


def _positive(problems: list[str], flag: str, raw: str | None) -> float | None:
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


def _since(problems: list[str], raw: str | None) -> float | None:
    """Seconds back that --since names (None when not given)."""
    if raw is None:
        return None
    now = time.time()
    try:
        back = now - parse_since(raw, now)
    except ConfigError as exc:
        problems += exc.problems
        return None
    if back <= 0:
        problems.append(f"--since: {raw!r} is not in the past")
        return None
    return back


def _flag_problems(args: argparse.Namespace) -> list[str]:
    problems: list[str] = []
    if args.env_file is None:
        problems.append("--env-file: required: the autoscaler app's config vars (heroku config -s -a AUTOSCALER-APP)")
    if args.kind is None:
        problems.append("--kind: required: web or worker")
    elif args.kind not in workloads.KINDS:
        problems.append(f"--kind: must be web or worker, got {args.kind!r}")
    sources = [flag for flag, given in (("--trace", args.trace), ("--scenario", args.scenario)) if given is not None]
    sources += ["--from-history"] if args.from_history else []
    if len(sources) != 1:
        given = f"got {' and '.join(sources)}" if sources else "got none"
        problems.append(
            f"{(sources or ['--trace'])[-1]}: give exactly one of --trace, --scenario, --from-history; {given}"
        )
    if args.scenario is not None and args.scenario not in workloads.SCENARIOS:
        problems.append(f"--scenario: unknown scenario {args.scenario!r}; known: {', '.join(workloads.SCENARIOS)}")
    elif args.scenario is not None and args.kind in workloads.KINDS:
        kinds = workloads.scenario_kinds(args.scenario)
        if args.kind not in kinds:
            problems.append(
                f"--kind: scenario {args.scenario} has no {args.kind} variant (it is {' and '.join(kinds)})"
            )
    if args.since is not None and not args.from_history:
        problems.append("--since: applies to --from-history")
    elif args.since is not None:
        _since(problems, args.since)
    if args.hours is not None and args.from_history:
        problems.append("--hours: applies to --trace and --scenario; with --from-history, --since sets the period")
    _whole(problems, "--seeds", args.seeds, DEFAULT_SEEDS, 1, MAX_SEEDS)
    _whole(problems, "--budget", args.budget, DEFAULT_BUDGET, MIN_BUDGET, 10_000)
    _positive(problems, "--slo", args.slo)
    return problems


def _process(path: str, text: str, kind: Kind, wanted: str | None) -> str:
    """The process type to tune: ``wanted``, else the file's only one of ``kind``."""
    assigned = envfile.parse(text, path)
    try:
        settings = load_settings({k: v for k, v in assigned.items() if k.upper() not in envfile.IGNORED})
    except ConfigError as exc:
        raise ConfigError([f"{envfile.FLAG}: {problem}" for problem in exc.problems]) from None
    kinds = {name: envfile.EnvProcess(path, settings, name, p).kind for name, p in settings.processes.items()}
    described = ", ".join(f"{name} ({settings.processes[name].source})" for name in sorted(kinds))
    if wanted is not None:
        name = wanted.strip().lower()
        if name in kinds and kinds[name] not in (None, kind):
            raise ConfigError([f"--kind: process type {name} of {path} is a {kinds[name]} process, not {kind}"])
        return name  # an unknown one is refused, naming the file's, by the env file's reader
    mine = sorted(name for name, found in kinds.items() if found in (None, kind))
    if not mine:
        raise ConfigError([f"--kind: {path} configures no {kind} process type; it has: {described}"])
    if len(mine) > 1:
        raise ConfigError([f"--process: {path} configures several {kind} process types ({', '.join(mine)}): pick one"])
    return mine[0]


def _simulate_args(args: argparse.Namespace, process: str) -> argparse.Namespace:
    """The flags of ``simulate`` this run amounts to, every other one at its default."""
    parser = argparse.ArgumentParser(add_help=False)
    simulate.configure_parser(parser)
    given = parser.parse_args([])
    for key, value in {
        "env_file": args.env_file,
        "process": process,
        "kind": args.kind,
        "trace": args.trace,
        "scenario": args.scenario,
        "hours": args.hours,
        "service_ms": args.service_ms,
        "seed": "1",
    }.items():
        setattr(given, key, value)
    return given


def _slo(config: SimConfig, raw: str | None) -> SimConfig:
    if raw is None:
        return replace(config, slo_s=config.target_s)
    value = float(raw) / 1000 if config.kind == "web" else float(raw)
    if config.router and value <= config.service_s * options.APP_P95_FACTOR:
        own = config.service_s * options.APP_P95_FACTOR * 1000
        raise ConfigError([f"--slo: {raw} ms is not above the p95 of the app time alone ({own:.0f} ms)"])
    return replace(config, slo_s=value)


def _workloads(
    args: argparse.Namespace,
    given: argparse.Namespace,
    config: SimConfig,
    env: Mapping[str, str],
    assigned: dict[str, str],
) -> dict[int, Workload]:
    """The load of each seed: a scenario's noise is drawn from the seed; a trace or the history is the same."""
    seeds = range(1, _whole([], "--seeds", args.seeds, DEFAULT_SEEDS, 1, MAX_SEEDS) + 1)
    kind: Kind = config.kind
    if args.scenario is not None:
        return {s: options.workload(given, kind, args.scenario, replace(config, seed=s)) for s in seeds}
    if args.trace is not None:
        found = options.workload(given, kind, None, config)
        return dict.fromkeys(seeds, found)
    from autoscaler.simulate.replay import from_history  # only --from-history reads a state store

    since_s = _since([], DEFAULT_SINCE if args.since is None else args.since)
    merged = {**env, **assigned}  # the file's variables; the environment's where the file has none
    found = from_history(merged, process=config.process, since_s=since_s, kind=kind, service_s=config.service_s)
    return dict.fromkeys(seeds, found)


def run(args: argparse.Namespace, out: TextIO, env: Mapping[str, str], err: TextIO | None = None) -> int:
    """Runs ``tune``: prints the suggestion (or that there is none) to ``out`` and returns 0;
    progress goes to ``err``. ``env`` is read by --from-history only. ConfigError for bad input."""
    problems = _flag_problems(args)
    if problems:
        raise ConfigError(problems)
    kind: Kind = args.kind
    text = options.read_file(envfile.FLAG, args.env_file)
    process = _process(args.env_file, text, kind, args.process)
    given = _simulate_args(args, process)
    env_process = options.env_process(given)
    assert env_process is not None
    config = _slo(options.sim_config(given, kind, env_process), args.slo)
    assigned = envfile.parse(text, args.env_file)
    loads = _workloads(args, given, config, env, assigned)
    knobs = space.knobs(config)
    duration = next(iter(loads.values())).duration
    budget = _whole([], "--budget", args.budget, default_budget(duration), MIN_BUDGET, 10_000)
    stream = sys.stderr if err is None else err

    def progress(phase: str, count: int) -> None:
        stream.write(f"tune: {phase}: {count} settings x {len(loads)} seeds\n")
        stream.flush()

    started = time.perf_counter()
    with Evaluator(config, loads) as evaluator:
        outcome = search(knobs, evaluator.scores, budget, progress)
        runs, jobs = evaluator.runs, evaluator.processes
    tuned = report.Tuned(
        workload=next(iter(loads.values())),
        config=config,
        notes=env_process.notes(),
        seeds=sorted(loads),
        outcome=outcome,
        names=Names(assigned, process),
        simulations=runs,
        jobs=jobs,
        seconds=time.perf_counter() - started,
    )
    if args.json:
        out.write(report.as_json(tuned) + "\n")
    else:
        out.write("\n".join(report.text(tuned)) + "\n")
    return 0
