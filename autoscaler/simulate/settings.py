"""What one simulation run assumes: the process, its targets and the platform's behaviour.

Every value has a documented default (printed at the top of the report) that a flag, a
``--config`` JSON file or an ``--env-file`` of config vars overrides. The process fields become
the :class:`~autoscaler.config.ProcessConfig`, and with the app-wide ones the
:class:`~autoscaler.config.Settings`, that the daemon (``ours``) is given, so it is judged with
the very configuration a user would deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from autoscaler.config import SOURCES, AnyProcess, Settings, process_config
from autoscaler.errors import ConfigError
from autoscaler.simulate.workloads import Kind
from autoscaler.sizes import DynoSize

START_EPOCH = 1_704_067_200.0
"""Wall-clock time of second 0 of every run: 2024-01-01 00:00 UTC, a Monday (schedules see it)."""


def whole_seconds(value: float) -> int:
    """An interval as the simulation steps it: whole seconds, at least one."""
    return max(1, round(value))


DEFAULT_INTERVAL = whole_seconds(Settings.model_fields["interval"].default)
"""Seconds between the ticks of ``ours`` unless a flag or file says otherwise: the daemon's own
``AUTOSCALER_INTERVAL`` default."""


@dataclass(frozen=True, slots=True)
class KindDefaults:
    per_dyno: int
    service_ms: float
    size: str
    min_dynos: int
    max_dynos: int
    target: float
    """web: p95 queue time in ms; worker: MAX_LATENCY in seconds."""


DEFAULTS: dict[Kind, KindDefaults] = {
    # web: 4 processes per Standard-2X, 120 ms app time, p95 queue wait ≤ 50 ms.
    "web": KindDefaults(per_dyno=4, service_ms=120.0, size="standard-2x", min_dynos=1, max_dynos=20, target=50.0),
    # worker: 5 jobs at once per dyno, 2 s per job; the oldest job may wait a minute.
    "worker": KindDefaults(per_dyno=5, service_ms=2000.0, size="standard-2x", min_dynos=1, max_dynos=20, target=60.0),
}

KilledJobs = Literal["requeue", "lost"]
Signal = Literal["web", "router"]
"""What ``ours`` reads of a web process: the middleware's queue time (the ``web`` source), or
Heroku's router's response time from the log drain (the ``router`` source)."""
SIGNALS: tuple[Signal, ...] = ("web", "router")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything a run needs besides the workload and the policies."""

    kind: Kind
    per_dyno: int
    """web: processes per dyno (PROCESSES_PER_DYNO); worker: jobs at once per dyno (CONCURRENCY)."""
    service_s: float
    """App time or job duration when the trace has no ``service_ms`` column."""
    size: DynoSize
    monthly_usd: float
    min_dynos: int
    max_dynos: int
    target_s: float
    """web: the p95 request queue-time target (RESPONSE_TIME_MS, the p95 response-time target, with
    the router's signal); worker: MAX_LATENCY. All in seconds."""
    jobs_per_dyno: float | None = None
    interval: int = DEFAULT_INTERVAL
    """Seconds between the daemon's ticks (AUTOSCALER_INTERVAL)."""
    window_s: int = 60
    """Seconds of request samples behind one web reading (the web source's WINDOW)."""
    boot_s: tuple[float, float] = (20.0, 60.0)
    drain_s: float = 30.0
    """SIGTERM to SIGKILL on scale-down."""
    api_failure_rate: float = 0.0
    """Share of Platform API calls that fail (5xx or timeout), drawn per second, the same for every policy."""
    killed_jobs: KilledJobs = "requeue"
    seed: int = 1
    engine: Mapping[str, Any] = field(default_factory=dict)
    """Further ProcessConfig fields for the engine (DOWNSCALE_DELAY, TOLERANCE, ...)."""
    process: str | None = None
    """The process type's name in the formation (default: the kind)."""
    target_in_engine: bool = True
    """False when the process sets no MAX_LATENCY (a worker scaled on JOBS_PER_DYNO alone): the
    target is then the SLO of the report only, and the daemon is not given one."""
    max_monthly_cost: float | None = None
    """AUTOSCALER_MAX_MONTHLY_COST: the daemon's budget (ours only; the baselines have none)."""
    prices: Mapping[str, float] = field(default_factory=dict)
    """AUTOSCALER_PRICES: USD per month by size, for the daemon's budget."""
    signal: Signal = "web"
    """web: what ours reads, and what the SLO is of: queue time (``web``) or response time (``router``)."""
    slo_s: float | None = None
    """The SLO threshold SLO minutes and the clairvoyant demand are measured against, in the unit of
    ``target_s``; None: ``target_s`` itself. ``tune`` keeps the user's target here while it tries
    other targets as the daemon's setpoint."""

    @property
    def router(self) -> bool:
        """A web process scaled on the router's response time."""
        return self.kind == "web" and self.signal == "router"

    @property
    def slo_target_s(self) -> float:
        """The threshold of the SLO: :attr:`slo_s` when set, else the target."""
        return self.target_s if self.slo_s is None else self.slo_s

    @property
    def per_second_usd(self) -> float:
        return self.monthly_usd / (720 * 3600)

    @property
    def process_name(self) -> str:
        return self.process or self.kind

    def daemon_settings(self) -> Settings:
        """The daemon's configuration: this process type alone, its tick, budget and prices.

        Built from values already validated (:meth:`process_config`), and never from the
        environment of the process running the simulation."""
        return Settings.model_construct(
            interval=float(self.interval),
            max_monthly_cost=self.max_monthly_cost,
            prices=dict(self.prices),
            processes={self.process_name: self.process_config()},
        )

    def process_config(self) -> AnyProcess:
        """The configuration the daemon would be deployed with for this process."""
        fields: dict[str, Any] = {
            "min_dynos": self.min_dynos,
            "max_dynos": self.max_dynos,
            "size": self.size.name,
        }
        if self.router:
            fields.update(source="router", response_time_ms=self.target_s * 1000, processes_per_dyno=self.per_dyno)
        elif self.kind == "web":
            fields.update(source="web", queue_time_ms=self.target_s * 1000, processes_per_dyno=self.per_dyno)
        else:
            target = self.target_s if self.target_in_engine else None
            fields.update(source="rq", max_latency=target, concurrency=self.per_dyno)
            if self.jobs_per_dyno is not None:
                fields["jobs_per_dyno"] = self.jobs_per_dyno
        fields.update(self.engine)
        try:
            return process_config(**fields)
        except ValidationError as exc:
            raise ConfigError([_field_problem(err) for err in exc.errors()]) from None


def _field_problem(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] in SOURCES:  # the settings model of the source, which no key names
        loc = loc[1:]
    where = ".".join(loc) or "config"
    return f"--config: {where}: {error.get('msg', 'invalid')}"
