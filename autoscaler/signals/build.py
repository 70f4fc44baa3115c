"""Builds the configured sources, sharing one connection per backend URL.

Each source module exposes ``build(name, process, settings, connections) -> Source``;
:data:`SOURCE_MODULES` says which module serves which ``SOURCE`` value, and is imported
only when a process uses it.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import redis

from autoscaler.config import ProcessConfig, Settings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Source
from autoscaler.signals.redis_conn import connect

SIGNAL_TIMEOUT = 5.0
"""Seconds one backend call may take (socket timeouts); well under a tick."""

SOURCE_MODULES: dict[str, str] = {
    "rq": "autoscaler.signals.rq",
    "celery": "autoscaler.signals.celery",
    "dramatiq": "autoscaler.signals.dramatiq",
    "redis_list": "autoscaler.signals.redis_list",
    "sql": "autoscaler.signals.sql",
    "http_json": "autoscaler.signals.http_json",
    "web": "autoscaler.signals.web",
    "router": "autoscaler.signals.router",
}


class Connections:
    """One client per backend URL, shared by the sources that read the same server."""

    def __init__(self, timeout: float = SIGNAL_TIMEOUT) -> None:
        self.timeout = timeout
        self._redis: dict[tuple[str, bool], redis.Redis] = {}

    def redis(self, url: str, verify_tls: bool = False) -> redis.Redis:
        key = (url, verify_tls)
        if key not in self._redis:
            self._redis[key] = connect(url, verify_tls=verify_tls, timeout=self.timeout)
        return self._redis[key]


class SourceBuilder(Protocol):
    def __call__(self, name: str, process: ProcessConfig, settings: Settings, connections: Connections) -> Source: ...


def build_sources(settings: Settings, *, timeout: float = SIGNAL_TIMEOUT) -> dict[str, Source]:
    """One Source per managed process type. Connections are opened lazily by the clients,
    so an unreachable backend shows up as an unknown reading, not as a start-up crash."""
    connections = Connections(timeout)
    sources: dict[str, Source] = {}
    problems: list[str] = []
    for name, process in settings.processes.items():
        module_name = SOURCE_MODULES.get(process.source)
        var = f"AUTOSCALER_PROCESSES__{name.upper()}"
        if module_name is None:
            problems.append(f"{var}__SOURCE: cannot build a {process.source!r} source")
            continue
        builder: SourceBuilder = importlib.import_module(module_name).build
        try:
            sources[name] = builder(name, process, settings, connections)
        except SignalError as exc:
            problems.append(f"{var}__URL: {exc}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return sources
