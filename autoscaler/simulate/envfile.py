"""``simulate --env-file FILE``: the autoscaler app's config vars as one simulation's settings.

The file is what ``heroku config -s -a AUTOSCALER-APP`` prints: one ``NAME='value'`` per line,
shell-quoted (a quoted value may span lines); ``NAME=value`` is accepted too, blank lines and
``#`` comments are skipped. Values are split with :mod:`shlex`, never evaluated. The variables
are then validated by :func:`autoscaler.config.load_settings`, as the daemon validates them at
start-up, so a file the daemon would refuse is refused with the daemon's messages. The token
and the app's name are not needed: ``HEROKU_API_KEY``, ``HEROKU_API_URL``, ``AUTOSCALER_APP``
and ``HEROKU_APP_NAME`` are dropped unread; no value of the file is ever printed.

One process type is simulated (``--process`` picks it when the file configures several). Its
settings become the values of the run, named in problems by their variables: the process's kind
(from its ``SOURCE`` unless ``--kind`` says; a ``router`` process is web, on the router's signal
unless ``--signal`` says), targets, bounds, size, every engine setting it sets, ``WINDOW``,
``AUTOSCALER_INTERVAL``, and the app's ``AUTOSCALER_MAX_MONTHLY_COST`` and ``AUTOSCALER_PRICES``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoscaler import sizes
from autoscaler.config import ProcessConfig, Settings, load_settings, process_var
from autoscaler.errors import ConfigError
from autoscaler.policy import EngineConfig, monthly_price
from autoscaler.simulate.settings import Signal, whole_seconds
from autoscaler.simulate.workloads import Kind

FLAG = "--env-file"
IGNORED = frozenset({"HEROKU_API_KEY", "HEROKU_API_URL", "AUTOSCALER_APP", "HEROKU_APP_NAME"})
"""Variables the simulation does not need; dropped before validation, never read or printed."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENGINE_FIELDS = frozenset(f.name for f in dataclasses.fields(EngineConfig)) & set(ProcessConfig.model_fields)
"""The process settings the engine reads (the source's own, such as URL or QUEUES, are not simulated)."""
_KIND_FIELDS: dict[Kind, tuple[str, ...]] = {
    "web": ("queue_time_ms", "response_time_ms", "processes_per_dyno", "window"),
    "worker": ("max_latency", "concurrency", "jobs_per_dyno"),
}
_COMMON_FIELDS = ("min_dynos", "max_dynos", "size")
QUEUE_SOURCES = frozenset({"rq", "celery", "dramatiq", "redis_list", "sql", "http_json"})
"""Sources of worker processes: simulated as the ``rq`` source's reading of the simulated queue."""


def parse(text: str, where: str) -> dict[str, str]:
    """The ``NAME=value`` assignments of ``text``; ConfigError naming the line of each bad one."""
    found: dict[str, str] = {}
    problems: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        start = index
        statement = lines[index]
        index += 1
        if not statement.strip() or statement.lstrip().startswith("#"):
            continue
        while True:
            try:
                words = shlex.split(statement, comments=False, posix=True)
                break
            except ValueError as exc:  # an open quote: the value goes on, up to the end of the file
                if index >= len(lines):
                    problems.append(f"{FLAG}: {where} line {start + 1}: {exc}")
                    words = []
                    break
                statement += "\n" + lines[index]
                index += 1
        if not words:
            continue
        name, equals, value = words[0].partition("=")
        if len(words) != 1 or not equals or not _NAME.fullmatch(name):
            problems.append(f"{FLAG}: {where} line {start + 1}: expected NAME=value (as heroku config -s prints)")
            continue
        found[name] = value
    if problems:
        raise ConfigError(problems[:20])
    return found


@dataclass(frozen=True, slots=True)
class EnvProcess:
    """The validated configuration of the file and the process type simulated."""

    where: str
    settings: Settings
    name: str
    process: ProcessConfig
    variables: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Every variable of the file (``--from-history`` finds the state store and the app with them)."""

    @property
    def kind(self) -> Kind | None:
        """What its source reads: ``web`` for the web and router sources, ``worker`` for a queue's;
        None for a source the simulation does not model (``--kind`` must then say)."""
        if self.process.source in {"web", "router"}:
            return "web"
        return "worker" if self.process.source in QUEUE_SOURCES else None

    @property
    def signal(self) -> Signal:
        """What the source of a web process reads: the router's response time, or queue time."""
        return "router" if self.process.source == "router" else "web"

    @property
    def others(self) -> list[str]:
        """The file's other process types (not simulated)."""
        return sorted(name for name in self.settings.processes if name != self.name)

    def variable(self, key: str) -> str:
        """The variable behind one value of the run, for problems and the header."""
        return "AUTOSCALER_INTERVAL" if key == "interval" else process_var(self.name, key)

    def values(self, kind: Kind, signal: Signal = "web") -> dict[str, Any]:
        """The run's values from the process, keyed as ``--config`` keys them, and every engine setting
        the process sets. Run as another kind (``--kind``), its targets and per-dyno counts do not
        apply: the run's defaults (or flags) do; run on the middleware's signal, RESPONSE_TIME_MS
        does not."""
        process = self.process
        values: dict[str, Any] = {"interval": whole_seconds(self.settings.interval)}
        own = _KIND_FIELDS[kind] if kind == self.kind else ()
        if signal != "router":
            own = tuple(key for key in own if key != "response_time_ms")
        for key in (*_COMMON_FIELDS, *own):
            value = getattr(process, key, None)
            if key == "processes_per_dyno" and value is None:
                value = 1  # as the engine assumes without PROCESSES_PER_DYNO or WEB_CONCURRENCY
            if key == "window" and value is not None:
                value = math.ceil(value)  # as many 5 s slots as the source reads
            if value is not None:
                values[key] = value
        every_kind = {key for fields in _KIND_FIELDS.values() for key in fields}
        engine = process.model_fields_set & _ENGINE_FIELDS - every_kind - set(_COMMON_FIELDS)
        values.update(process.model_dump(include=engine, mode="json"))
        return values

    def target_in_engine(self, kind: Kind) -> bool:
        """False for a worker that sets no MAX_LATENCY (it scales on JOBS_PER_DYNO alone)."""
        return kind != "worker" or self.kind != "worker" or self.process.max_latency is not None

    def notes(self) -> list[str]:
        """Header lines: what of the file is simulated, and what is not."""
        lines = [f"configuration: {FLAG} {self.where}, process type {self.name} (SOURCE {self.process.source})"]
        interval = self.settings.interval
        if interval != whole_seconds(interval):
            lines.append(
                f"AUTOSCALER_INTERVAL {interval:g} s is simulated as {whole_seconds(interval)} s (whole seconds)"
            )
        if self.others:
            budget = "; the budget is this process type's alone" if self.settings.max_monthly_cost else ""
            lines.append(f"not simulated: the file's other process types ({', '.join(self.others)}){budget}")
        if self.settings.dry_run:
            lines.append(
                "AUTOSCALER_DRY_RUN is on in the file: ours is simulated as if it were off (a dry run never scales)"
            )
        return lines

    def prices(self) -> dict[str, float]:
        return dict(self.settings.prices)

    def monthly_usd(self, size: sizes.DynoSize) -> float:
        """One dyno's price: AUTOSCALER_PRICES, else the catalogue."""
        found = monthly_price(size.name, {sizes.normalize(name): p for name, p in self.settings.prices.items()})
        return size.monthly_usd if found is None else found


def load(path: str, text: str, process: str | None) -> EnvProcess:
    """Validates the file as the daemon's configuration and picks the process type to simulate."""
    assigned = parse(text, path)
    env = {name: value for name, value in assigned.items() if name.upper() not in IGNORED}
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        raise ConfigError([f"{FLAG}: {problem}" for problem in exc.problems]) from None
    names = sorted(settings.processes)
    if process is None:
        if len(names) > 1:
            raise ConfigError(
                [f"--process: {path} configures several process types ({', '.join(names)}): choose one with --process"]
            )
        chosen = names[0]
    else:
        chosen = process.strip().lower()
        if chosen not in settings.processes:
            raise ConfigError([f"--process: {path} configures no process type {process!r}; it has: {', '.join(names)}"])
    return EnvProcess(path, settings, chosen, settings.processes[chosen], assigned)
