"""The values of ``simulate``'s flags and files, checked all at once before the run starts.

Every problem is one line of a :class:`~autoscaler.errors.ConfigError` (exit status 2) that
names its flag, ``--config`` key or ``--env-file`` variable. A flag wins over either file.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from autoscaler import sizes
from autoscaler.config import ProcessConfig
from autoscaler.errors import ConfigError
from autoscaler.policy import size_limit
from autoscaler.simulate import envfile, policies, replay, report, workloads
from autoscaler.simulate.recorded import Recorded
from autoscaler.simulate.settings import DEFAULT_INTERVAL, DEFAULTS, SIGNALS, Signal, SimConfig
from autoscaler.simulate.workloads import Kind, Workload

MAX_HOURS = workloads.MAX_DURATION_S / 3600
MAX_PROCESSES = 1000
"""The most web processes per dyno simulated (each dyno's queue is an M/M/k with k of them)."""
_SIM_KEYS = {"service_ms", "interval", "api_failures", "killed_jobs"}
"""``--config`` keys of the simulation itself."""
_OWN_KEYS = {"min_dynos", "max_dynos", "size", "queue_time_ms", "max_latency", "jobs_per_dyno"}
_OWN_KEYS |= {"processes_per_dyno", "concurrency", "window", "response_time_ms"}
"""``--config`` keys of the run itself (``window``: the web source's); every other ProcessConfig field
goes to the engine as it is."""
_KIND_KEYS: dict[str, Kind] = {
    "queue_time_ms": "web",
    "response_time_ms": "web",
    "processes_per_dyno": "web",
    "window": "web",
    "max_latency": "worker",
    "concurrency": "worker",
    "jobs_per_dyno": "worker",
}
"""Keys, and their flags, that apply to one kind of process only (``window`` has no flag)."""
APP_P95_FACTOR = math.log(20)
"""p95 / mean of the simulated (exponential) app time."""


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


def read_file(flag: str, path: str) -> str:
    """The text of the file ``path`` names; ConfigError naming ``flag`` when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{flag}: cannot read {path}: {exc}"]) from exc


def _config_file(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(read_file("--config", path))
    except json.JSONDecodeError as exc:
        raise ConfigError([f"--config: {path} is not valid JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError([f"--config: {path} must hold one JSON object"])
    known = _SIM_KEYS | {"window"} | set(ProcessConfig.model_fields) - {"source"}
    unknown = sorted(key for key in data if key not in known)
    if unknown:
        raise ConfigError([f"--config: unknown key {key!r}; known: {', '.join(sorted(known))}" for key in unknown])
    return data


def env_process(args: argparse.Namespace) -> envfile.EnvProcess | None:
    """The configuration of --env-file and the process type it simulates (None without the flag)."""
    problems: list[str] = []
    if args.process is not None and args.env_file is None and not args.from_history:
        problems.append("--process: picks a process type of --env-file or of --from-history; give one of them too")
    if args.env_file is not None and args.config is not None:
        problems.append("--config: give either --config or --env-file, not both")
    if problems:
        raise ConfigError(problems)
    if args.env_file is None:
        return None
    return envfile.load(args.env_file, read_file(envfile.FLAG, args.env_file), args.process)


def kind_and_scenario(
    args: argparse.Namespace, env: envfile.EnvProcess | None = None, recorded: Kind | None = None
) -> tuple[Kind, str | None]:
    """The kind of process (--kind, else that of the --env-file process, else ``recorded``, that of
    the --from-history slots, else web), and the built-in scenario (None with --trace or --from-history)."""
    problems: list[str] = []
    if args.kind is not None and args.kind not in workloads.KINDS:
        problems.append(f"--kind: must be web or worker, got {args.kind!r}")
    if args.scenario is not None and args.trace is not None:
        problems.append("--scenario: give either --scenario or --trace, not both")
    name = args.scenario if args.scenario is not None else workloads.DEFAULT_SCENARIO
    if args.trace is not None or args.from_history:
        name = None
    if name is not None and name not in workloads.SCENARIOS:
        problems.append(f"--scenario: unknown scenario {name!r}; known: {', '.join(workloads.SCENARIOS)}")
    if problems:
        raise ConfigError(problems)
    chosen: Kind | None = args.kind if args.kind is not None else recorded if env is None else env.kind
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


def workload_flag_problems(args: argparse.Namespace) -> list[str]:
    """--from-history given with another workload, or --since without it."""
    if not args.from_history:
        return [] if args.since is None else ["--since: applies to --from-history"]
    given = [flag for flag, value in (("--scenario", args.scenario), ("--trace", args.trace)) if value is not None]
    return [f"--from-history: give one of --scenario, --trace or --from-history, not {given[0]} too"] if given else []


def signal_of(args: argparse.Namespace, kind: Kind, env: envfile.EnvProcess | None = None) -> Signal:
    """What ours reads of a web process: --signal, else that of the --env-file process (``router``
    for a router process), else the middleware's (``web``)."""
    raw = getattr(args, "signal", None)
    if raw is not None and raw not in SIGNALS:
        raise ConfigError([f"--signal: must be web or router, got {raw!r}"])
    if raw is not None and kind != "web":
        raise ConfigError([f"--signal: applies to web processes; this run is {kind}"])
    if raw == "router" or (raw is None and env is not None and kind == "web" and env.signal == "router"):
        return "router"
    return "web"


def _flag(key: str) -> str:
    """The flag of a ``--config`` key: ``--service-ms`` for ``service_ms``."""
    return "--" + key.replace("_", "-")


@dataclass(frozen=True, slots=True)
class _Given:
    """The values of the flags and of the file given (--config, or the process of --env-file): a flag wins."""

    args: argparse.Namespace
    file: Mapping[str, Any]
    file_name: Callable[[str], str]
    """How a problem names a value of the file."""

    @classmethod
    def of(cls, args: argparse.Namespace, kind: Kind, env: envfile.EnvProcess | None, signal: Signal) -> _Given:
        if env is not None:
            return cls(args, env.values(kind, signal), lambda key: f"{envfile.FLAG}: {env.variable(key)}")
        return cls(args, _config_file(args.config), lambda key: f"--config: {key}")

    def flagged(self, key: str) -> object:
        """The flag's value of ``key`` (None when not given, or when ``key`` has no flag)."""
        return getattr(self.args, key, None)

    def name(self, key: str) -> str:
        """How a problem names the value of ``key``: by its flag when given, else as the file names it."""
        return _flag(key) if self.flagged(key) is not None else self.file_name(key)

    def value(self, key: str) -> tuple[str, object]:
        """The name of ``key`` and its value: the flag's, else the file's (None when neither gives it)."""
        flagged = self.flagged(key)
        return self.name(key), flagged if flagged is not None else self.file.get(key)


def _kind_problems(given: _Given, kind: Kind) -> list[str]:
    """Values given that apply to the other kind of process: the file's, then the flags'."""
    problems = [
        f"--config: {key} applies to {only} processes; this run is {kind}"
        for key, only in _KIND_KEYS.items()
        if key in given.file and only != kind
    ]
    problems += [
        f"{_flag(key)}: applies to {only} processes; this run is {kind}"
        for key, only in _KIND_KEYS.items()
        if given.flagged(key) is not None and only != kind
    ]
    return problems


def _signal_problems(given: _Given, kind: Kind, signal: Signal) -> list[str]:
    """A response-time target given for a run on the middleware's signal."""
    if kind != "web" or signal == "router" or given.value("response_time_ms")[1] is None:
        return []
    return [f"{given.name('response_time_ms')}: applies to the router's signal (--signal router)"]


def _router_target(problems: list[str], given: _Given, per_dyno: int, service_ms: float, target: float | None) -> float:
    """RESPONSE_TIME_MS: given, else the p95 response time (whole ms) of a dyno whose p95 queue wait is
    the queue-time target (QUEUE_TIME_MS, default 50 ms); it must be above the app's own p95."""
    if target is None:
        queue = _number(problems, *given.value("queue_time_ms"))
        queue_ms = DEFAULTS["web"].target if queue is None else queue
        target = float(round(policies.queue_equivalent_ms(per_dyno, service_ms / 1000, queue_ms / 1000)))
    own = service_ms * APP_P95_FACTOR
    if target <= own:
        problems.append(
            f"{given.name('response_time_ms')}: {target:g} ms is not above the p95 of the app time alone "
            f"({own:.0f} ms for a mean of {service_ms:g} ms): no number of dynos meets it"
        )
    return target


def sim_config(args: argparse.Namespace, kind: Kind, env: envfile.EnvProcess | None = None) -> SimConfig:
    """The run's configuration: flags, else the file given (--config or --env-file), else the defaults."""
    signal = signal_of(args, kind, env)
    router = signal == "router"
    given = _Given.of(args, kind, env, signal)
    file = given.file
    problems = _kind_problems(given, kind) + _signal_problems(given, kind, signal)
    defaults = DEFAULTS[kind]
    web = kind == "web"
    per_dyno_key = "processes_per_dyno" if web else "concurrency"
    target_key = "response_time_ms" if router else "queue_time_ms" if web else "max_latency"
    per_dyno = _whole(problems, *given.value(per_dyno_key), low=1)
    service_ms = _number(problems, *given.value("service_ms"))
    min_dynos = _whole(problems, *given.value("min_dynos"), low=0)
    max_dynos = _whole(problems, *given.value("max_dynos"), low=1)
    target = _number(problems, *given.value(target_key))
    jobs = _number(problems, *given.value("jobs_per_dyno"))
    interval = _whole(problems, *given.value("interval"), low=1)
    failures = _number(problems, *given.value("api_failures"), high=0.99, inclusive=True)
    seed = _whole(problems, "--seed", args.seed, low=0)
    window = _number(problems, *given.value("window"))
    size_flag, size_value = given.value("size")
    size_name = defaults.size if size_value is None else str(size_value)
    size = sizes.lookup(size_name)
    if size is None:
        problems.append(f"{size_flag}: unknown dyno size {size_name!r}; known sizes: {', '.join(sizes.known_names())}")
    killed = file.get("killed_jobs", "requeue")
    if killed not in ("requeue", "lost"):
        problems.append(f"--config: killed_jobs must be requeue or lost, got {killed!r}")
    if web and per_dyno is not None and per_dyno > MAX_PROCESSES:
        flag = given.name(per_dyno_key)
        problems.append(f"{flag}: at most {MAX_PROCESSES} processes per dyno are simulated, got {per_dyno}")
    if max_dynos is not None and max_dynos > sizes.APP_DYNO_LIMIT:
        flag = given.name("max_dynos")
        problems.append(f"{flag}: Heroku runs at most {sizes.APP_DYNO_LIMIT} dynos in one app, got {max_dynos}")
    low = defaults.min_dynos if min_dynos is None else min_dynos
    high = defaults.max_dynos if max_dynos is None else max_dynos
    if high < max(low, 1):
        problems.append(f"--max-dynos: must be >= --min-dynos ({low}) and >= 1, got {high}")
    if router:
        target = _router_target(
            problems, given, per_dyno or defaults.per_dyno, service_ms or defaults.service_ms, target
        )
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
        interval=DEFAULT_INTERVAL if interval is None else interval,
        window_s=60 if window is None else math.ceil(window),
        api_failure_rate=failures or 0.0,
        killed_jobs="lost" if killed == "lost" else "requeue",
        seed=1 if seed is None else seed,
        engine=engine,
        process=None if env is None else env.name,
        target_in_engine=env is None or args.max_latency is not None or env.target_in_engine(kind),
        max_monthly_cost=None if env is None else env.settings.max_monthly_cost,
        prices={} if env is None else env.prices(),
        signal=signal,
    )
    process = config.process_config()  # validates the engine fields now, naming them
    return _within_heroku_limit(config, process)


def _within_heroku_limit(config: SimConfig, process: ProcessConfig) -> SimConfig:
    limit = size_limit(config.size.name, process.size_limit)
    if limit is not None and config.max_dynos > limit:
        return replace(config, max_dynos=limit, min_dynos=min(config.min_dynos, limit))
    return config


def workload(
    args: argparse.Namespace, kind: Kind, name: str | None, config: SimConfig, history: Recorded | None = None
) -> Workload:
    """The load: the built-in scenario ``name`` (None: the --trace file, or ``history``, the slots
    --from-history read), for --hours when given."""
    problems: list[str] = []
    hours = _number(problems, "--hours", args.hours, high=MAX_HOURS)
    if problems:
        raise ConfigError(problems)
    if args.hours is not None and hours is not None and round(hours * 3600) < 60:
        raise ConfigError([f"--hours: at least one minute is simulated, got {args.hours!r}"])
    if name is not None:
        return workloads.build(name, kind, config.seed, hours, config.service_s)
    if history is not None:
        return replay.rebuild(history, kind, config.service_s, hours)
    return workloads.parse_trace(read_file("--trace", args.trace), args.trace, kind, config.service_s, hours)


def wants_default(raw: str | None) -> bool:
    """--policy leaves the choice to the run (not given, or ``all``)."""
    return raw is None or raw.strip() == "all"


def policy_names(raw: str | None, kind: Kind, signal: Signal = "web") -> list[str]:
    """The policies --policy names, in its order (default all of the kind and signal); the reference
    always runs."""
    if raw is None or wants_default(raw):
        return list(policies.for_kind(kind, signal))
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    known = (*policies.ALL_POLICIES, report.REFERENCE)
    problems = [f"--policy: unknown policy {name!r}; known: {', '.join(known)}" for name in names if name not in known]
    for name in names:
        if name in policies.ALL_POLICIES and name not in (*policies.POLICIES[kind], policies.PREDICTING):
            problems.append(f"--policy: {name} models {'web' if kind == 'worker' else 'worker'} processes only")
        elif (
            kind == "web" and signal == "router" and name in set(policies.POLICIES[kind]) - {*policies.ROUTER_POLICIES}
        ):
            problems.append(f"--policy: {name} scales on queue time from its own middleware, not with --signal router")
    if not names:
        problems.append("--policy: names no policy")
    if problems:
        raise ConfigError(problems)
    return [name for name in dict.fromkeys(names) if name != report.REFERENCE]
