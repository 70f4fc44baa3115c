"""Builds the configured sources, sharing one connection per backend URL.

Each source module exposes ``build(name, process, settings, connections) -> Source``; the
settings model of each ``SOURCE`` names its module (:data:`autoscaler.config.SOURCES`), which
is imported only when a process uses it.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import redis

from autoscaler.config import Settings, process_var
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Source
from autoscaler.signals.redis_conn import connect

SIGNAL_TIMEOUT = 5.0
"""Seconds one backend call may take (socket timeouts); well under a tick."""


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
    def __call__(self, name: str, process: Any, settings: Settings, connections: Connections) -> Source: ...


def build_sources(settings: Settings, *, timeout: float = SIGNAL_TIMEOUT) -> dict[str, Source]:
    """One Source per managed process type. Connections are opened lazily by the clients,
    so an unreachable backend shows up as an unknown reading, not as a start-up crash."""
    connections = Connections(timeout)
    sources: dict[str, Source] = {}
    problems: list[str] = []
    for name, process in settings.processes.items():
        builder: SourceBuilder = importlib.import_module(process.MODULE).build
        try:
            sources[name] = builder(name, process, settings, connections)
        except SignalError as exc:
            problems.append(f"{settings.url_variable(name, process) or process_var(name, 'url')}: {exc}")
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return sources
