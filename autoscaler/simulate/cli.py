"""The command line of ``simulate``: its flags, and :func:`run`, which checks them, runs every
policy on the workload and prints the report."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from typing import Any, TextIO

from autoscaler.errors import ConfigError
from autoscaler.simulate import options, plot, policies, recorded, report, workloads
from autoscaler.simulate.envfile import EnvProcess
from autoscaler.simulate.header import header_lines
from autoscaler.simulate.recorded import Recorded
from autoscaler.simulate.replay import detect_kind, recorded_service_s
from autoscaler.simulate.runner import Inputs, compare
from autoscaler.simulate.settings import DEFAULT_INTERVAL


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the flags of ``simulate`` to ``parser``. Values are checked by :func:`run`, all at once."""
    parser.description = "What each scaling policy would have done to a workload: SLO, cost, elasticity."
    load = parser.add_argument_group("workload (one of)")
    load.add_argument(
        "--scenario",
        metavar="NAME",
        help=f"built-in: {', '.join(workloads.SCENARIOS)} (default {workloads.DEFAULT_SCENARIO})",
    )
    load.add_argument("--trace", metavar="FILE", help="CSV with the header t,arrivals_per_s[,service_ms]")
    load.add_argument(
        "--from-history",
        action="store_true",
        help="the workload the daemon recorded in the state store (found as the history command finds it)",
    )
    load.add_argument(
        "--since",
        metavar="WHEN",
        help=f"with --from-history: how far back, as for history (default {recorded.DEFAULT_SINCE})",
    )
    load.add_argument("--kind", metavar="web|worker", help="process kind (default web; batch-dump is worker)")
    load.add_argument(
        "--signal",
        metavar="web|router",
        help="web: what ours reads and the SLO is of: queue time from the middleware (web, the default) or "
        "response time from Heroku's router (router; the default for an --env-file router process)",
    )
    load.add_argument("--hours", metavar="H", help="length of the run (default: the scenario's or the trace's)")
    load.add_argument("--seed", metavar="N", help="seed of every random draw (default 1)")
    process = parser.add_argument_group("process (defaults printed at the top of the report)")
    process.add_argument("--config", metavar="FILE", help="JSON object of the values below and engine fields")
    process.add_argument(
        "--env-file",
        metavar="FILE",
        help="the autoscaler app's config vars, as `heroku config -s -a AUTOSCALER-APP` prints them: "
        "simulate that configuration (budget included); flags below still win",
    )
    process.add_argument(
        "--process",
        metavar="TYPE",
        help="with --env-file or --from-history: the process type to simulate (its configuration, its history)",
    )
    process.add_argument("--service-ms", metavar="MS", help="app time (web) or job duration (worker) in ms")
    process.add_argument("--processes-per-dyno", metavar="K", help="web: app processes per dyno")
    process.add_argument("--concurrency", metavar="K", help="worker: jobs one dyno runs at once")
    process.add_argument("--size", metavar="NAME", help="dyno size (any case), for its price and limit")
    process.add_argument("--min-dynos", metavar="N", help="MIN_DYNOS")
    process.add_argument("--max-dynos", metavar="N", help="MAX_DYNOS")
    process.add_argument("--queue-time-ms", metavar="MS", help="web: target p95 request queue time")
    process.add_argument(
        "--response-time-ms",
        metavar="MS",
        help="web, --signal router: target p95 response time (default: that of a 50 ms p95 queue wait, "
        "or of --queue-time-ms)",
    )
    process.add_argument("--max-latency", metavar="S", help="worker: seconds the oldest job may wait")
    process.add_argument("--jobs-per-dyno", metavar="N", help="worker: JOBS_PER_DYNO target (default none)")
    process.add_argument(
        "--interval",
        metavar="S",
        help=f"seconds between the daemon's ticks (default {DEFAULT_INTERVAL}, the daemon's AUTOSCALER_INTERVAL)",
    )
    process.add_argument("--api-failures", metavar="P", help="share of Platform API calls that fail (default 0)")
    parser.add_argument(
        "--policy",
        metavar="NAME[,NAME...]",
        help=f"policies to compare (default all for the kind): {', '.join(policies.ALL_POLICIES)}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also write a PNG: load, dynos and queue time per policy, each policy's SLO minutes and cost "
        "(needs matplotlib)",
    )


def run(args: argparse.Namespace, out: TextIO, env: Mapping[str, str]) -> int:
    """Runs ``simulate``: prints the report (or JSON) to ``out`` and returns 0.

    ``env`` is read by --from-history only, for the state store and the app, as ``history`` reads
    it: every default is documented and printed, so a run depends on its flags (and the files and
    history they name) alone. Raises ConfigError for every bad input.
    """
    env_process = options.env_process(args)
    history = _history(args, env, env_process)
    kind, name = options.kind_and_scenario(args, env_process, None if history is None else detect_kind(history.slots))
    recorded_s = None if history is None or args.service_ms is not None else recorded_service_s(history, kind)
    if recorded_s is not None:  # the run's app or job time is the one the history recorded
        args = argparse.Namespace(**(vars(args) | {"service_ms": f"{recorded_s * 1000:.4g}"}))
    config = options.sim_config(args, kind, env_process)
    names = options.policy_names(args.policy, kind, config.signal)
    if args.plot is not None:
        plot.check(args.plot)
    workload = options.workload(args, kind, name, config, history)
    if options.wants_default(args.policy):  # ours-predict too when the run is long enough
        names = policies.defaults(config, workload.duration)
    started = time.perf_counter()
    inputs = Inputs.prepare(workload, config)
    runs = compare(inputs, names)
    elapsed = time.perf_counter() - started
    summaries = report.summarise(inputs, runs)
    found = report.verdict(summaries)
    predicting = report.verdict(summaries, policies.PREDICTING)
    header = header_lines(workload, config, names, None if env_process is None else env_process.notes())
    if args.plot is not None:
        plot.write(args.plot, inputs, runs, summaries)
    if args.json:
        document: dict[str, Any] = {
            "scenario": {
                "name": workload.name,
                "kind": workload.kind,
                "description": workload.description,
                "duration_s": workload.duration,
                "seed": config.seed,
            },
            "settings": header,
            "policies": [report.as_json(summary) for summary in summaries],
            "verdict": found,
        }
        if predicting is not None:
            document["verdict_predict"] = predicting
        out.write(json.dumps(document, indent=2) + "\n")
        return 0
    lines = [*header, "", *report.main_table(summaries), "", "elasticity against d_t, per minute:"]
    lines += report.elasticity_table(summaries)
    if found is not None:
        lines += ["", *report.verdict_lines(found, summaries)]
    if predicting is not None:
        lines += ["", *report.verdict_lines(predicting, summaries, policies.PREDICTING)]
    lines += ["", f"simulated {workload.duration / 3600:g} h x {len(runs)} policies in {elapsed:.1f} s"]
    if args.plot is not None:
        lines.append(f"plot written to {args.plot}")
    out.write("\n".join(lines) + "\n")
    return 0


def _history(args: argparse.Namespace, env: Mapping[str, str], env_process: EnvProcess | None) -> Recorded | None:
    """With --from-history, the slots of the process type (--process, else that of --env-file, else the
    one the history holds) since --since; None without it."""
    problems = options.workload_flag_problems(args)
    if problems:
        raise ConfigError(problems)
    if not args.from_history:
        return None
    now = time.time()
    process = args.process if args.process is not None or env_process is None else env_process.name
    if env_process is not None:  # the autoscaler app's config vars name its state store and app
        env = {**env, **env_process.variables}
    return recorded.read(env, process, recorded.since_seconds(args.since, now), now)
