"""The engine's own configuration: plain, frozen values, only those the decisions read.

The daemon's settings (:class:`autoscaler.config.ProcessConfig`) also hold every source's
connection details; :meth:`~autoscaler.config.ProcessConfig.engine` builds an
:class:`EngineConfig` from them, in one place, so the engine never sees the settings model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Window:
    """A schedule: from each start ``cron`` names (in ``timezone``), for ``duration`` seconds,
    the bounds become ``min_dynos`` / ``max_dynos`` (None: unchanged)."""

    cron: str
    timezone: str
    duration: float
    min_dynos: int | None
    max_dynos: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineConfig:
    """How one process type is scaled, as the engine reads it. The meaning and the defaults of each
    field are those of the ``ProcessConfig`` field of the same name."""

    web: bool
    """A web process read through the middleware (its readings carry queue time, request rate and app
    time). A ``router`` process is not: its readings carry response time, and it is scaled on
    ``response_time_ms``."""
    min_dynos: int
    max_dynos: int
    size: str | None
    schedules: tuple[Window, ...]
    priority: int
    # targets
    jobs_per_dyno: float | None
    max_latency: float | None
    queue_time_ms: float | None
    response_time_ms: float | None = None
    """router: the p95 response time (the router's ``service``) to keep under, in ms."""
    tolerance: float
    # capacity of one dyno
    concurrency: int
    job_duration: float | None
    processes_per_dyno: int | None
    # pace of change
    downscale_delay: float
    scale_up_dynos: int
    scale_up_percent: float
    scale_down_per_minute: int | None
    boot_time: float
    predict: bool = False
    """Add the rise in demand the recorded pattern expects within the boot time (:mod:`.forecast`)."""
    manual_hold: float
    size_limit: int | None
    # unknown data
    stale_after: float
    fallback_after: int
    fallback_quantity: int | None


class HasEngineConfig(Protocol):
    """Settings that can build the engine's configuration (``ProcessConfig`` is one)."""

    def engine(self) -> EngineConfig: ...


def engine_config(config: EngineConfig | HasEngineConfig) -> EngineConfig:
    """``config`` itself, or the engine configuration built from the settings given instead."""
    return config if isinstance(config, EngineConfig) else config.engine()
