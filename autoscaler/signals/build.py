"""Builds the configured sources, sharing one connection per backend URL."""

from __future__ import annotations

import redis

from autoscaler.config import Settings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Source
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.rq import RQSource

SIGNAL_TIMEOUT = 5.0
"""Seconds one backend call may take (socket timeouts); well under a tick."""


def build_sources(settings: Settings, *, timeout: float = SIGNAL_TIMEOUT) -> dict[str, Source]:
    """One Source per managed process type. Connections are opened lazily by the clients,
    so an unreachable backend shows up as an unknown reading, not as a start-up crash."""
    clients: dict[tuple[str, bool], redis.Redis] = {}

    def redis_client(url: str, verify_tls: bool) -> redis.Redis:
        key = (url, verify_tls)
        if key not in clients:
            clients[key] = connect(url, verify_tls=verify_tls, timeout=timeout)
        return clients[key]

    sources: dict[str, Source] = {}
    problems: list[str] = []
    for name, process in settings.processes.items():
        url = settings.source_url(process)
        try:
            if process.source == "rq" and url is not None:
                client = redis_client(url, process.verify_tls)
                sources[name] = RQSource(client, process.queue_names(), prefix=settings.rq_prefix(process))
            else:
                problems.append(f"AUTOSCALER_PROCESSES__{name.upper()}__SOURCE: cannot build {process.source!r}")
        except SignalError as exc:
            problems.append(f"AUTOSCALER_PROCESSES__{name.upper()}__URL: {exc}")
    if problems:
        raise ConfigError(problems)
    return sources
