"""The ``simulate`` command: what each policy would have done to a workload, offline.

``python -m autoscaler simulate [--scenario NAME | --trace FILE] [--kind web|worker]
[--policy NAME[,NAME...]] [--config FILE | --env-file FILE [--process TYPE]] [--seed N] [--hours H]
[--json] [--plot FILE.png]`` plus flags for the process (``--service-ms``,
``--processes-per-dyno``/``--concurrency``, ``--size``, ``--min-dynos``, ``--max-dynos``,
``--queue-time-ms``/``--max-latency``, ``--jobs-per-dyno``, ``--interval``, ``--api-failures``).
Every value has a documented default (:mod:`autoscaler.simulate.settings`) printed at the top
of the report; a ``--config`` JSON object sets the same values and any engine field of the
process configuration (``downscale_delay``, ``tolerance``, ...); ``--env-file`` takes them, and
the budget, from the autoscaler app's config vars (:mod:`~autoscaler.simulate.envfile`); flags
win over either file.

The package, from the load to the report:

* :mod:`~autoscaler.simulate.workloads` built-in scenarios and ``--trace`` CSV files;
* :mod:`~autoscaler.simulate.model` the platform (boot, drain, billing) and the queues
  (web: random routing to per-dyno M/M/k queues; workers: one shared FIFO);
* :mod:`~autoscaler.simulate.demand` the clairvoyant demand d_t;
* :mod:`~autoscaler.simulate.policies` the baselines, and ``ours``:
  :mod:`~autoscaler.simulate.ours` runs the daemon itself on a simulated Platform API, source and clock;
* :mod:`~autoscaler.simulate.runner` the one-second loop;
* :mod:`~autoscaler.simulate.metrics` and :mod:`~autoscaler.simulate.report`;
* :mod:`~autoscaler.simulate.plot` the ``--plot`` picture, the only module that imports
  matplotlib, and only when a plot is asked for.

Every bad input raises :class:`~autoscaler.errors.ConfigError` (exit status 2), naming its
flag or ``--config`` key, before the run starts; so does a plot that cannot be saved. The
same seed gives the same output, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TextIO

from autoscaler import sizes
from autoscaler.config import ProcessConfig
from autoscaler.errors import ConfigError
from autoscaler.policy import size_limit
from autoscaler.simulate import envfile, plot, policies, report, workloads
from autoscaler.simulate.model import GRACE_S, SLOT_S
from autoscaler.simulate.runner import Inputs, compare
from autoscaler.simulate.settings import DEFAULTS, SimConfig
from autoscaler.simulate.workloads import Kind, Workload

MAX_HOURS = workloads.MAX_DURATION_S / 3600
MAX_PROCESSES = 1000
"""The most web processes per dyno simulated (each dyno's queue is an M/M/k with k of them)."""
_SIM_KEYS = {"service_ms", "interval", "api_failures", "killed_jobs"}
"""``--config`` keys of the simulation itself."""
_OWN_KEYS = {"min_dynos", "max_dynos", "size", "queue_time_ms", "max_latency", "jobs_per_dyno"}
_OWN_KEYS |= {"processes_per_dyno", "concurrency", "window"}
"""``--config`` keys of the run itself (``window``: the web source's); every other ProcessConfig field
goes to the engine as it is."""
_KIND_KEYS: dict[str, Kind] = {
    "queue_time_ms": "web",
    "processes_per_dyno": "web",
    "window": "web",
    "max_latency": "worker",
    "concurrency": "worker",
    "jobs_per_dyno": "worker",
}


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
    load.add_argument("--kind", metavar="web|worker", help="process kind (default web; batch-dump is worker)")
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
    process.add_argument("--process", metavar="TYPE", help="with --env-file: the process type to simulate")
    process.add_argument("--service-ms", metavar="MS", help="app time (web) or job duration (worker) in ms")
    process.add_argument("--processes-per-dyno", metavar="K", help="web: app processes per dyno")
    process.add_argument("--concurrency", metavar="K", help="worker: jobs one dyno runs at once")
    process.add_argument("--size", metavar="NAME", help="dyno size (any case), for its price and limit")
    process.add_argument("--min-dynos", metavar="N", help="MIN_DYNOS")
    process.add_argument("--max-dynos", metavar="N", help="MAX_DYNOS")
    process.add_argument("--queue-time-ms", metavar="MS", help="web: target p95 request queue time")
    process.add_argument("--max-latency", metavar="S", help="worker: seconds the oldest job may wait")
    process.add_argument("--jobs-per-dyno", metavar="N", help="worker: JOBS_PER_DYNO target (default none)")
    process.add_argument("--interval", metavar="S", help="seconds between the daemon's ticks (default 15)")
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


# --- parsing ------------------------------------------------------------------------------------


def _number(
    problems: list[str], flag: str, raw: object, *, low: float = 0.0, high: float = math.inf, inclusive: bool = False
) -> float | None:
    """A number above ``low`` (or equal to it when ``inclusive``) and at most ``high``; None when not given."""
    if raw is None:
        return None
    try:
        value = math.nan if isinstance(raw, bool) else float(str(raw))
    except ValueError:
        value = math.nan
    above = value >= low if inclusive else value > low
    if not (math.isfinite(value) and above and value <= high):
        bound = f"{'>=' if inclusive else '>'} {low:g}" + (f" and <= {high:g}" if math.isfinite(high) else "")
        problems.append(f"{flag}: must be a number {bound}, got {raw!r}")
        return None
    return value


def _whole(problems: list[str], flag: str, raw: object, *, low: int) -> int | None:
    """A whole number >= ``low``; None when not given."""
    if raw is None:
        return None
    text = str(raw).strip()
    value: int | None = None
    if not isinstance(raw, bool) and (text.isdigit() or (text.startswith("-") and text[1:].isdigit())):
        try:
            value = int(text)
        except ValueError:  # more digits than Python converts
            value = None
    if value is None or value < low:
        shown = raw if len(text) <= 40 else text[:20] + "..."
        problems.append(f"{flag}: must be a whole number >= {low}, got {shown!r}")
        return None
    return value


def _read(flag: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{flag}: cannot read {path}: {exc}"]) from exc


def _config_file(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(_read("--config", path))
    except json.JSONDecodeError as exc:
        raise ConfigError([f"--config: {path} is not valid JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError([f"--config: {path} must hold one JSON object"])
    known = _SIM_KEYS | set(ProcessConfig.model_fields) - {"source"}
    unknown = sorted(key for key in data if key not in known)
    if unknown:
        raise ConfigError([f"--config: unknown key {key!r}; known: {', '.join(sorted(known))}" for key in unknown])
    return data


def _env_file(args: argparse.Namespace) -> envfile.EnvProcess | None:
    """The configuration of --env-file and the process type it simulates (None without the flag)."""
    problems: list[str] = []
    if args.process is not None and args.env_file is None:
        problems.append("--process: picks a process type of --env-file; give --env-file too")
    if args.env_file is not None and args.config is not None:
        problems.append("--config: give either --config or --env-file, not both")
    if problems:
        raise ConfigError(problems)
    if args.env_file is None:
        return None
    return envfile.load(args.env_file, _read(envfile.FLAG, args.env_file), args.process)


def _kind(args: argparse.Namespace, env: envfile.EnvProcess | None = None) -> tuple[Kind, str | None]:
    """The kind of process (--kind, else that of the --env-file process, else web), and the built-in
    scenario (None with --trace)."""
    problems: list[str] = []
    if args.kind is not None and args.kind not in workloads.KINDS:
        problems.append(f"--kind: must be web or worker, got {args.kind!r}")
    if args.scenario is not None and args.trace is not None:
        problems.append("--scenario: give either --scenario or --trace, not both")
    name = args.scenario if args.scenario is not None else workloads.DEFAULT_SCENARIO
    if args.trace is not None:
        name = None
    if name is not None and name not in workloads.SCENARIOS:
        problems.append(f"--scenario: unknown scenario {name!r}; known: {', '.join(workloads.SCENARIOS)}")
    if problems:
        raise ConfigError(problems)
    chosen: Kind | None = args.kind if args.kind is not None else None if env is None else env.kind
    if env is not None and chosen is None:
        raise ConfigError(
            [
                f"--kind: process type {env.name} of --env-file reads SOURCE {env.process.source}, which simulate "
                "does not model; give --kind web or --kind worker to simulate it with the web or the rq readings"
            ]
        )
    if name is None:
        return (chosen or "web"), None
    kinds = workloads.scenario_kinds(name)
    kind: Kind = chosen or kinds[0]
    if kind not in kinds:
        if args.kind is None and env is not None:
            raise ConfigError(
                [
                    f"--scenario: {name} has no {kind} variant (it is {' and '.join(kinds)} only), and process type "
                    f"{env.name} of --env-file is a {kind} process"
                ]
            )
        raise ConfigError([f"--kind: scenario {name} has no {kind} variant (it is {' and '.join(kinds)} only)"])
    return kind, name


@dataclass(frozen=True, slots=True)
class _Given:
    """The values of the file given (--config, or the process of --env-file) and how a problem names each."""

    values: Mapping[str, Any]
    name: Callable[[str], str]

    @classmethod
    def of(cls, args: argparse.Namespace, kind: Kind, env: envfile.EnvProcess | None) -> _Given:
        if env is not None:
            return cls(env.values(kind), lambda key: f"{envfile.FLAG}: {env.variable(key)}")
        return cls(_config_file(args.config), lambda key: f"--config: {key}")


def _pick(flag: object, file: Mapping[str, Any], key: str) -> object:
    return flag if flag is not None else file.get(key)


def _settings(args: argparse.Namespace, kind: Kind, env: envfile.EnvProcess | None = None) -> SimConfig:
    given = _Given.of(args, kind, env)
    file = given.values

    def _from(args: argparse.Namespace, flag: str, key: str) -> str:
        """How a problem names a value: by its flag when given, else as the file names it."""
        return flag if getattr(args, key) is not None else given.name(key)

    problems: list[str] = []
    for key, only in _KIND_KEYS.items():
        if key in file and only != kind:
            problems.append(f"--config: {key} applies to {only} processes; this run is {kind}")
    for flag, only in (
        ("--queue-time-ms", "web"),
        ("--processes-per-dyno", "web"),
        ("--max-latency", "worker"),
        ("--concurrency", "worker"),
        ("--jobs-per-dyno", "worker"),
    ):
        if getattr(args, flag[2:].replace("-", "_")) is not None and only != kind:
            problems.append(f"{flag}: applies to {only} processes; this run is {kind}")
    defaults = DEFAULTS[kind]
    web = kind == "web"
    per_dyno_key = "processes_per_dyno" if web else "concurrency"
    per_dyno_flag = "--processes-per-dyno" if web else "--concurrency"
    target_key, target_flag = ("queue_time_ms", "--queue-time-ms") if web else ("max_latency", "--max-latency")
    per_dyno = _whole(
        problems,
        _from(args, per_dyno_flag, per_dyno_key),
        _pick(getattr(args, per_dyno_key), file, per_dyno_key),
        low=1,
    )
    service_ms = _number(
        problems, _from(args, "--service-ms", "service_ms"), _pick(args.service_ms, file, "service_ms")
    )
    min_dynos = _whole(
        problems, _from(args, "--min-dynos", "min_dynos"), _pick(args.min_dynos, file, "min_dynos"), low=0
    )
    max_dynos = _whole(
        problems,
        _from(args, "--max-dynos", "max_dynos"),
        _pick(args.max_dynos, file, "max_dynos"),
        low=1,
    )
    target = _number(problems, _from(args, target_flag, target_key), _pick(getattr(args, target_key), file, target_key))
    jobs = _number(
        problems, _from(args, "--jobs-per-dyno", "jobs_per_dyno"), _pick(args.jobs_per_dyno, file, "jobs_per_dyno")
    )
    interval = _whole(problems, _from(args, "--interval", "interval"), _pick(args.interval, file, "interval"), low=1)
    failures = _number(
        problems,
        _from(args, "--api-failures", "api_failures"),
        _pick(args.api_failures, file, "api_failures"),
        high=0.99,
        inclusive=True,
    )
    seed = _whole(problems, "--seed", args.seed, low=0)
    window = _number(problems, given.name("window"), file.get("window"))
    size_value = _pick(args.size, file, "size")
    size_name = defaults.size if size_value is None else str(size_value)
    size = sizes.lookup(size_name)
    if size is None:
        problems.append(
            f"{_from(args, '--size', 'size')}: unknown dyno size {size_name!r}; "
            f"known sizes: {', '.join(sizes.known_names())}"
        )
    killed = file.get("killed_jobs", "requeue")
    if killed not in ("requeue", "lost"):
        problems.append(f"--config: killed_jobs must be requeue or lost, got {killed!r}")
    if web and per_dyno is not None and per_dyno > MAX_PROCESSES:
        flag = _from(args, per_dyno_flag, per_dyno_key)
        problems.append(f"{flag}: at most {MAX_PROCESSES} processes per dyno are simulated, got {per_dyno}")
    if max_dynos is not None and max_dynos > sizes.APP_DYNO_LIMIT:
        flag = _from(args, "--max-dynos", "max_dynos")
        problems.append(f"{flag}: Heroku runs at most {sizes.APP_DYNO_LIMIT} dynos in one app, got {max_dynos}")
    low = defaults.min_dynos if min_dynos is None else min_dynos
    high = defaults.max_dynos if max_dynos is None else max_dynos
    if high < max(low, 1):
        problems.append(f"--max-dynos: must be >= --min-dynos ({low}) and >= 1, got {high}")
    if problems or size is None:
        raise ConfigError(problems)
    target_value = defaults.target if target is None else target
    engine = {key: value for key, value in file.items() if key not in _SIM_KEYS and key not in _OWN_KEYS}
    config = SimConfig(
        kind=kind,
        per_dyno=per_dyno or defaults.per_dyno,
        service_s=(service_ms or defaults.service_ms) / 1000,
        size=size,
        monthly_usd=size.monthly_usd if env is None else env.monthly_usd(size),
        min_dynos=low,
        max_dynos=high,
        target_s=target_value / 1000 if web else target_value,
        jobs_per_dyno=jobs,
        interval=interval or 15,
        window_s=60 if window is None else math.ceil(window),
        api_failure_rate=failures or 0.0,
        killed_jobs="lost" if killed == "lost" else "requeue",
        seed=1 if seed is None else seed,
        engine=engine,
        process=None if env is None else env.name,
        target_in_engine=env is None or args.max_latency is not None or env.target_in_engine(kind),
        max_monthly_cost=None if env is None else env.settings.max_monthly_cost,
        prices={} if env is None else env.prices(),
    )
    process = config.process_config()  # validates the engine fields now, naming them
    return _within_heroku_limit(config, process)


def _within_heroku_limit(config: SimConfig, process: ProcessConfig) -> SimConfig:
    limit = size_limit(config.size.name, process.size_limit)
    if limit is not None and config.max_dynos > limit:
        return replace(config, max_dynos=limit, min_dynos=min(config.min_dynos, limit))
    return config


def _workload(args: argparse.Namespace, kind: Kind, name: str | None, config: SimConfig) -> Workload:
    problems: list[str] = []
    hours = _number(problems, "--hours", args.hours, high=MAX_HOURS)
    if problems:
        raise ConfigError(problems)
    if args.hours is not None and hours is not None and round(hours * 3600) < 60:
        raise ConfigError([f"--hours: at least one minute is simulated, got {args.hours!r}"])
    if name is not None:
        return workloads.build(name, kind, config.seed, hours, config.service_s)
    return workloads.parse_trace(_read("--trace", args.trace), args.trace, kind, config.service_s, hours)


def _policies(raw: str | None, kind: Kind) -> list[str]:
    if raw is None or raw.strip() == "all":
        return list(policies.POLICIES[kind])
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    known = (*policies.ALL_POLICIES, report.REFERENCE)
    problems = [f"--policy: unknown policy {name!r}; known: {', '.join(known)}" for name in names if name not in known]
    for name in names:
        if name in policies.ALL_POLICIES and name not in policies.POLICIES[kind]:
            problems.append(f"--policy: {name} models {'web' if kind == 'worker' else 'worker'} processes only")
    if not names:
        problems.append("--policy: names no policy")
    if problems:
        raise ConfigError(problems)
    return [name for name in dict.fromkeys(names) if name != report.REFERENCE]


# --- the header -------------------------------------------------------------------------------------


def header_lines(workload: Workload, config: SimConfig, names: list[str], notes: list[str] | None = None) -> list[str]:
    """What the run assumes, at the top of the report; ``notes`` say where the configuration came from."""
    web = config.kind == "web"
    if web:
        process = (
            f"web, {config.per_dyno} processes per dyno, app time {config.service_s * 1000:g} ms, "
            f"target p95 queue time {config.target_s * 1000:g} ms"
        )
    else:
        jobs = f", JOBS_PER_DYNO {config.jobs_per_dyno:g}" if config.jobs_per_dyno else ""
        latency = "" if config.target_in_engine else " (the SLO only: the process sets no MAX_LATENCY)"
        process = (
            f"worker, {config.per_dyno} jobs at once per dyno, {config.service_s * 1000:g} ms per job, "
            f"MAX_LATENCY {config.target_s:g} s{latency}{jobs}"
        )
    signal = (
        f"web readings: the complete {SLOT_S} s slots of the last {config.window_s} s, read {GRACE_S} s after"
        if web
        else "rq readings live at each tick"
    )
    lines = [
        f"workload: {workload.description}; seed {config.seed}",
        *(notes or []),
        f"process: {process}",
        f"formation: {config.size.name} at ${config.monthly_usd:g}/month, {config.min_dynos}-{config.max_dynos} dynos",
        f"platform: boot U({config.boot_s[0]:g}, {config.boot_s[1]:g}) s, SIGTERM to SIGKILL {config.drain_s:g} s, "
        f"ours ticks every {config.interval} s, {signal}, API failures {config.api_failure_rate:.0%}",
    ]
    if config.max_monthly_cost is not None:
        most = (
            f"at most {math.floor(config.max_monthly_cost / config.monthly_usd + 1e-9)} {config.size.name} dynos, "
            if config.monthly_usd > 0
            else ""
        )
        lines.append(
            f"budget: AUTOSCALER_MAX_MONTHLY_COST ${config.max_monthly_cost:g}/month caps ours "
            f"({most}never below MIN_DYNOS); the baselines have none"
        )
    if "heroku-native" in names:
        lines.append(
            f"heroku-native: desired p95 response {policies.response_target_ms(config):.0f} ms "
            f"(the queue-time target's equivalent), down-steps {policies.HEROKU_DOWN_SPACING} s apart"
        )
    if "judoscale-like" in names:
        unit, scale = ("ms", 1000.0) if web else ("s", 1.0)
        lines.append(
            f"judoscale-like: band {config.target_s * policies.JUDOSCALE_DOWN_FRACTION * scale:g}-"
            f"{config.target_s * scale:g} {unit}, upscale at most every {policies.JUDOSCALE_UPSCALE_EVERY} s, "
            f"downscale after {policies.JUDOSCALE_DOWNSCALE_DELAY} s"
        )
    if engine := dict(config.engine):
        lines.append(f"engine settings: {json.dumps(engine, sort_keys=True)}")
    return lines


# --- run ------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, out: TextIO, env: Mapping[str, str]) -> int:
    """Runs ``simulate``: prints the report (or JSON) to ``out`` and returns 0.

    ``env`` is not read: every default is documented and printed, so a run depends on its
    flags (and the files they name) alone. Raises ConfigError for every bad input.
    """
    env_process = _env_file(args)
    kind, name = _kind(args, env_process)
    config = _settings(args, kind, env_process)
    names = _policies(args.policy, kind)
    if args.plot is not None:
        plot.check(args.plot)
    workload = _workload(args, kind, name, config)
    started = time.perf_counter()
    inputs = Inputs.prepare(workload, config)
    runs = compare(inputs, names)
    elapsed = time.perf_counter() - started
    summaries = report.summarise(inputs, runs)
    found = report.verdict(summaries)
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
        out.write(json.dumps(document, indent=2) + "\n")
        return 0
    lines = [*header, "", *report.main_table(summaries), "", "elasticity against d_t, per minute:"]
    lines += report.elasticity_table(summaries)
    if found is not None:
        lines += ["", *report.verdict_lines(found, summaries)]
    lines += ["", f"simulated {workload.duration / 3600:g} h x {len(runs)} policies in {elapsed:.1f} s"]
    if args.plot is not None:
        lines.append(f"plot written to {args.plot}")
    out.write("\n".join(lines) + "\n")
    return 0
