"""The settings of one process type: what every source shares, and what each source owns.

:class:`ProcessConfig` holds what the engine and the bounds read (targets, MIN/MAX, delays,
step limits, schedules) and builds the engine's plain :class:`~autoscaler.policy.EngineConfig`
(:meth:`ProcessConfig.engine`). Each ``SOURCE`` has its own subclass holding its own settings
(queues, key prefixes, a query, JSON pointers...) and its needs as class constants: the add-on
variables its URL defaults to, the URL schemes it reads, its default queues and the module that
reads it. :data:`SOURCES` is the one registry of them; the settings join them as a union
discriminated by ``SOURCE``, so a setting of another source is refused by name.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

from autoscaler import sizes
from autoscaler.config.values import Bool, IntList, NameList, Schedules
from autoscaler.policy import EngineConfig, Window

PROCESS_TYPE_PATTERN = r"^[-\w]{1,128}$"
REDIS_SCHEMES = ("redis", "rediss", "unix")
_REDIS_ADDONS = ("REDIS_TLS_URL", "REDIS_URL")


class ProcessConfig(BaseModel):
    """How one process type of the formation is scaled: the settings every source shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    URL_VARS: ClassVar[tuple[str, ...]] = ()
    """Heroku add-on variables tried in order when the process sets no ``URL``."""
    SCHEMES: ClassVar[tuple[str, ...]] = ()
    """The URL schemes the source reads."""
    MODULE: ClassVar[str] = ""
    """The module whose ``build(name, process, settings, connections)`` makes the source."""

    source: str
    url: str | None = None
    min_dynos: int = Field(1, ge=0)
    max_dynos: int = Field(ge=0)
    size: str | None = None
    jobs_per_dyno: float | None = Field(None, gt=0)
    max_latency: float | None = Field(None, gt=0)
    queue_time_ms: float | None = Field(None, gt=0)
    response_time_ms: float | None = Field(None, gt=0)
    """router: target p95 of the router's ``service`` time (ms), from the log drain."""
    downscale_delay: float = Field(300.0, ge=0)
    concurrency: int = Field(1, ge=1)
    """Jobs one dyno runs at once; running jobs keep ``ceil(busy / CONCURRENCY)`` dynos."""

    # --- engine ------------------------------------------------------------------------
    tolerance: float = Field(0.1, ge=0, lt=1)
    """No change while the signal is within this fraction of its target."""
    scale_up_dynos: int = Field(4, ge=1)
    scale_up_percent: float = Field(100.0, gt=0)
    """One tick adds at most max(SCALE_UP_DYNOS, SCALE_UP_PERCENT % of the current dynos)."""
    scale_down_per_minute: int | None = Field(None, ge=1)
    """Dynos removed per minute at most; None: down to the stabilised recommendation at once."""
    boot_time: float = Field(60.0, ge=0)
    """Seconds a new dyno needs before it serves; no scale-down while dynos boot."""
    predict: Bool = False
    """Raise capacity ahead of the demand the recorded daily and weekly pattern expects."""
    stale_after: float = Field(120.0, gt=0)
    """A reading older than this is treated as unknown."""
    fallback_after: int = Field(3, ge=1)
    fallback_quantity: int | None = Field(None, ge=0)
    """After FALLBACK_AFTER consecutive unknown readings, run this many dynos (None: keep holding)."""
    size_limit: int | None = Field(None, ge=1)
    """Per-type dyno limit Heroku granted above its default (Performance/Private/Shield: 10)."""
    manual_hold: float = Field(600.0, ge=0)
    """Seconds a manual ``heroku ps:scale`` quantity is kept as the floor."""
    priority: int = 0
    """Under AUTOSCALER_MAX_MONTHLY_COST, processes with the lowest priority are trimmed first."""
    job_duration: float | None = Field(None, gt=0)
    """Seconds one job takes on one worker (for the backlog-drain rule); measured when unset."""
    processes_per_dyno: int | None = Field(None, ge=1)
    """Web: app processes per dyno (gunicorn workers × threads); default WEB_CONCURRENCY or 1."""
    schedules: Schedules = Field(default_factory=list)

    @field_validator("size")
    @classmethod
    def _known_size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = sizes.lookup(value)
        if found is None:
            raise ValueError(f"unknown dyno size {value!r}; known sizes: {', '.join(sizes.known_names())}")
        return found.name

    def queue_names(self) -> list[str]:
        """The queues the source reads (none for a source without queues)."""
        return []

    def engine(self) -> EngineConfig:
        """The values the decision engine reads, as plain data (the engine never sees this model)."""
        return EngineConfig(
            web=self.source == "web",
            min_dynos=self.min_dynos,
            max_dynos=self.max_dynos,
            size=self.size,
            schedules=tuple(Window(w.cron, w.timezone, w.duration, w.min_dynos, w.max_dynos) for w in self.schedules),
            priority=self.priority,
            jobs_per_dyno=self.jobs_per_dyno,
            max_latency=self.max_latency,
            queue_time_ms=self.queue_time_ms,
            response_time_ms=self.response_time_ms,
            tolerance=self.tolerance,
            concurrency=self.concurrency,
            job_duration=self.job_duration,
            processes_per_dyno=self.processes_per_dyno,
            downscale_delay=self.downscale_delay,
            scale_up_dynos=self.scale_up_dynos,
            scale_up_percent=self.scale_up_percent,
            scale_down_per_minute=self.scale_down_per_minute,
            boot_time=self.boot_time,
            predict=self.predict,
            manual_hold=self.manual_hold,
            size_limit=self.size_limit,
            stale_after=self.stale_after,
            fallback_after=self.fallback_after,
            fallback_quantity=self.fallback_quantity,
        )


class _Queues(ProcessConfig):
    DEFAULT_QUEUES: ClassVar[tuple[str, ...]] = ("default",)

    queues: NameList | None = None

    def queue_names(self) -> list[str]:
        return list(self.queues or self.DEFAULT_QUEUES)


class _Redis(ProcessConfig):
    URL_VARS: ClassVar[tuple[str, ...]] = _REDIS_ADDONS
    SCHEMES: ClassVar[tuple[str, ...]] = REDIS_SCHEMES

    verify_tls: Bool = False
    """Check the certificate of a ``rediss://`` source (Heroku's are self-signed)."""


class RQSettings(_Queues, _Redis):
    """rq: ``QUEUES`` (default ``default``), ``PREFIX`` (``RQ_KEY_PREFIX``, default ``rq``)."""

    MODULE: ClassVar[str] = "autoscaler.signals.rq"

    source: Literal["rq"]
    prefix: str | None = None


class CelerySettings(_Queues, _Redis):
    """Celery on Redis or RabbitMQ (CloudAMQP first: a Celery app with it brokers there)."""

    URL_VARS: ClassVar[tuple[str, ...]] = ("CLOUDAMQP_URL", *_REDIS_ADDONS)
    SCHEMES: ClassVar[tuple[str, ...]] = (*REDIS_SCHEMES, "amqp", "amqps")
    DEFAULT_QUEUES: ClassVar[tuple[str, ...]] = ("celery",)
    MODULE: ClassVar[str] = "autoscaler.signals.celery"

    source: Literal["celery"]
    prefix: str | None = None
    """Celery's ``global_keyprefix`` (default none)."""
    priority_steps: IntList | None = None
    """Celery on Redis: kombu's ``priority_steps`` (default 0,3,6,9)."""
    priority_sep: str | None = None
    """Celery on Redis: kombu's ``sep`` between queue name and step (default ``\\x06\\x16``)."""
    management_url: str | None = None
    """Celery on RabbitMQ: management HTTP API base URL (ready and unacked counts)."""


class DramatiqSettings(_Queues, _Redis):
    """Dramatiq on Redis: ``PREFIX`` is its namespace (default ``dramatiq``)."""

    MODULE: ClassVar[str] = "autoscaler.signals.dramatiq"

    source: Literal["dramatiq"]
    prefix: str | None = None


class RedisListSettings(_Queues, _Redis):
    """Any Redis lists: ``QUEUES`` names the keys (required)."""

    MODULE: ClassVar[str] = "autoscaler.signals.redis_list"

    source: Literal["redis_list"]


class SQLSettings(_Queues):
    """A PostgreSQL query: ``QUERY`` of your own, or a ``PRESET`` for a queue library."""

    URL_VARS: ClassVar[tuple[str, ...]] = ("DATABASE_URL",)
    SCHEMES: ClassVar[tuple[str, ...]] = ("postgres", "postgresql")
    MODULE: ClassVar[str] = "autoscaler.signals.sql"

    source: Literal["sql"]
    query: str | None = None
    """A query returning ``depth`` and optionally ``latency`` and ``busy``."""
    preset: Literal["procrastinate", "pgqueuer", "django_q2"] | None = None
    """A built-in query for a Postgres-backed queue library."""
    prefix: str | None = None
    """The schema of the preset's tables."""


class HTTPJSONSettings(ProcessConfig):
    """An HTTP endpoint answering JSON (the HireFire format by default)."""

    SCHEMES: ClassVar[tuple[str, ...]] = ("http", "https")
    MODULE: ClassVar[str] = "autoscaler.signals.http_json"

    source: Literal["http_json"]
    pointer: str | None = None
    """JSON pointer to the depth (default: the HireFire info format)."""
    latency_pointer: str | None = None
    busy_pointer: str | None = None
    token: SecretStr | None = None
    """Token sent with the request (``Authorization: Bearer`` unless TOKEN_HEADER)."""
    token_header: str | None = None


class WebSettings(_Redis):
    """Request queue time recorded by the middleware in the app's Redis."""

    MODULE: ClassVar[str] = "autoscaler.signals.web"

    source: Literal["web"]
    prefix: str | None = None
    window: float = Field(60.0, gt=0)
    """Seconds of request samples behind one reading."""


class RouterSettings(_Redis):
    """Response time from Heroku's router, drained by the web process into the state store."""

    URL_VARS: ClassVar[tuple[str, ...]] = ("AUTOSCALER_STATE_URL", *_REDIS_ADDONS)
    MODULE: ClassVar[str] = "autoscaler.signals.router"

    source: Literal["router"]
    window: float = Field(60.0, gt=0)
    """Seconds of router lines behind one reading."""


AnyProcess = Annotated[
    RQSettings
    | CelerySettings
    | DramatiqSettings
    | RedisListSettings
    | SQLSettings
    | HTTPJSONSettings
    | WebSettings
    | RouterSettings,
    Field(discriminator="source"),
]
"""One process type's settings, of the model its ``SOURCE`` names."""

SOURCES: dict[str, type[ProcessConfig]] = {
    "rq": RQSettings,
    "celery": CelerySettings,
    "dramatiq": DramatiqSettings,
    "redis_list": RedisListSettings,
    "sql": SQLSettings,
    "http_json": HTTPJSONSettings,
    "web": WebSettings,
    "router": RouterSettings,
}
"""Every source, by its ``SOURCE`` name: the one registry."""

ALL_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(name for model in SOURCES.values() for name in model.model_fields))
"""Every per-process setting some source reads."""

_ADAPTER: TypeAdapter[AnyProcess] = TypeAdapter(AnyProcess)


def process_config(**fields: Any) -> AnyProcess:
    """Validate one process type's settings into the model of its ``source``."""
    return _ADAPTER.validate_python(fields)
