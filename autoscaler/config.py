"""Configuration: every environment variable the product reads, validated once at start-up.

All settings come from the environment (Heroku config vars). :func:`load_settings`
returns a validated :class:`Settings` or raises :class:`~autoscaler.errors.ConfigError`
listing *every* problem, one line each, named by the environment variable a user sets
(``AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: must be >= MIN_DYNOS (2)``). Only
``__main__`` turns that error into exit status 2.

Per-process settings come from ``AUTOSCALER_PROCESSES__<TYPE>__<FIELD>`` variables, or the
whole map as JSON in ``AUTOSCALER_PROCESSES``; both may be combined (the per-field variables
win). Values are parsed, never evaluated.
"""

from __future__ import annotations

import difflib
import json
import netrc
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from autoscaler import sizes
from autoscaler.errors import ConfigError
from autoscaler.policy import EngineConfig, Window, size_limit
from autoscaler.urls import check_api_url, url_problem

SourceKind = Literal["rq", "celery", "dramatiq", "redis_list", "sql", "http_json", "web", "router"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What the configuration knows of one ``SOURCE``: where its URL comes from when the
    process sets none, which URL schemes it reads, and its default queues."""

    url_vars: tuple[str, ...]
    """Heroku add-on variables tried in order when the process sets no ``URL``."""
    schemes: tuple[str, ...]
    default_queues: tuple[str, ...] = ("default",)
    queues_required: bool = False


SOURCES: dict[str, SourceSpec] = {
    "rq": SourceSpec(("REDIS_TLS_URL", "REDIS_URL"), _REDIS_SCHEMES),
    # A Celery app with CloudAMQP brokers there; its Redis is then for results.
    "celery": SourceSpec(
        ("CLOUDAMQP_URL", "REDIS_TLS_URL", "REDIS_URL"), (*_REDIS_SCHEMES, "amqp", "amqps"), ("celery",)
    ),
    "dramatiq": SourceSpec(("REDIS_TLS_URL", "REDIS_URL"), _REDIS_SCHEMES),
    "redis_list": SourceSpec(("REDIS_TLS_URL", "REDIS_URL"), _REDIS_SCHEMES, queues_required=True),
    "sql": SourceSpec(("DATABASE_URL",), ("postgres", "postgresql")),
    "http_json": SourceSpec((), ("http", "https")),
    "web": SourceSpec(("REDIS_TLS_URL", "REDIS_URL"), _REDIS_SCHEMES),
    # The web process (python -m autoscaler web) stores the drained router lines in the state store.
    "router": SourceSpec(("AUTOSCALER_STATE_URL", "REDIS_TLS_URL", "REDIS_URL"), _REDIS_SCHEMES),
}
DEFAULT_API_URL = "https://api.heroku.com"
PROCESS_TYPE_PATTERN = r"^[-\w]{1,128}$"

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _parse_bool(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("must be true or false (also 1/0, yes/no)")
    return value


def _parse_list(value: object) -> object:
    """``"a,b"`` or a JSON list ``'["a","b"]'`` or a real list → list of names."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list ({exc.msg})") from None
        else:
            value = [part.strip() for part in text.split(",")]
    if isinstance(value, list):
        names = [str(item).strip() for item in value]
        if not names or any(not name for name in names):
            raise ValueError("must be a non-empty, comma-separated list of names")
        return names
    return value


def _parse_int_list(value: object) -> object:
    parsed = _parse_list(value)
    if isinstance(parsed, list):
        try:
            return [int(item) for item in parsed]
        except ValueError:
            raise ValueError("must be a comma-separated list of whole numbers") from None
    return parsed


def _parse_json_list(value: object) -> object:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
    return value


Bool = Annotated[bool, BeforeValidator(_parse_bool)]
NameList = Annotated[list[str], BeforeValidator(_parse_list)]


class Schedule(BaseModel):
    """A time window that changes the bounds: from each CRON start, for DURATION seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str
    duration: float = Field(gt=0)
    timezone: str = "UTC"
    min_dynos: int | None = Field(None, ge=0)
    max_dynos: int | None = Field(None, ge=0)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from autoscaler.schedule import parse_cron

        parse_cron(value, "UTC")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ProcessConfig(BaseModel):
    """How one process type of the formation is scaled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: SourceKind
    queues: NameList | None = None
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
    schedules: Annotated[list[Schedule], BeforeValidator(_parse_json_list)] = Field(default_factory=list)

    # --- sources -------------------------------------------------------------------------
    prefix: str | None = None
    """Key prefix: rq (``RQ_KEY_PREFIX``, default ``rq``), Celery's ``global_keyprefix``
    (default none), Dramatiq's namespace (default ``dramatiq``)."""
    verify_tls: Bool = False
    """Check the certificate of a ``rediss://`` source (Heroku's are self-signed)."""
    priority_steps: Annotated[list[int], BeforeValidator(_parse_int_list)] | None = None
    """Celery on Redis: kombu's ``priority_steps`` (default 0,3,6,9)."""
    priority_sep: str | None = None
    """Celery on Redis: kombu's ``sep`` between queue name and step (default ``\\x06\\x16``)."""
    management_url: str | None = None
    """Celery on RabbitMQ: management HTTP API base URL (ready and unacked counts)."""
    query: str | None = None
    """sql: a query returning ``depth`` and optionally ``latency`` and ``busy``."""
    preset: Literal["procrastinate", "pgqueuer", "django_q2"] | None = None
    """sql: a built-in query for a Postgres-backed queue library."""
    pointer: str | None = None
    """http_json: JSON pointer to the depth (default: the HireFire info format)."""
    latency_pointer: str | None = None
    busy_pointer: str | None = None
    token: SecretStr | None = None
    """http_json: token sent with the request (``Authorization: Bearer`` unless TOKEN_HEADER)."""
    token_header: str | None = None
    window: float = Field(60.0, gt=0)
    """web, router: seconds of request samples behind one reading."""

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
        return list(self.queues or SOURCES[self.source].default_queues)

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
            tolerance=self.tolerance,
            concurrency=self.concurrency,
            job_duration=self.job_duration,
            processes_per_dyno=self.processes_per_dyno,
            downscale_delay=self.downscale_delay,
            scale_up_dynos=self.scale_up_dynos,
            scale_up_percent=self.scale_up_percent,
            scale_down_per_minute=self.scale_down_per_minute,
            boot_time=self.boot_time,
            manual_hold=self.manual_hold,
            size_limit=self.size_limit,
            stale_after=self.stale_after,
            fallback_after=self.fallback_after,
            fallback_quantity=self.fallback_quantity,
        )


class Settings(BaseSettings):
    """The whole configuration. Build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="AUTOSCALER_",
        env_nested_delimiter="__",
        case_sensitive=False,
        extra="ignore",
        frozen=True,
    )

    heroku_api_key: SecretStr | None = Field(None, validation_alias="HEROKU_API_KEY")
    heroku_api_url: str = Field(DEFAULT_API_URL, validation_alias="HEROKU_API_URL")
    heroku_app_name: str | None = Field(None, validation_alias="HEROKU_APP_NAME")
    app: str | None = None
    interval: float = Field(15.0, ge=1)
    dry_run: Bool = False
    log_format: Literal["logfmt", "json", "console"] = "logfmt"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_monthly_cost: float | None = Field(None, gt=0)
    notify_url: SecretStr | None = None
    drain_password: SecretStr | None = None
    """The password of the log drain's URL (``https://drain:PASSWORD@.../drain``); unset: the drain is off."""
    notify_after: float = Field(300.0, ge=0)
    """Seconds a failure (Platform API, a signal, the state store) lasts before a notice is sent."""
    state_url: str | None = None
    redis_tls_url: str | None = Field(None, validation_alias="REDIS_TLS_URL")
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    cloudamqp_url: str | None = Field(None, validation_alias="CLOUDAMQP_URL")
    rq_key_prefix: str = Field("rq", validation_alias="RQ_KEY_PREFIX")
    web_concurrency: int | None = Field(None, ge=1, validation_alias="WEB_CONCURRENCY")
    prices: dict[str, float] = Field(default_factory=dict)
    """USD per month per size, overriding the built-in catalogue (``{"standard-2x": 45}``)."""
    processes: dict[str, ProcessConfig] = Field(default_factory=dict)

    @field_validator("heroku_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        problem = check_api_url(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # --- derived values -------------------------------------------------------------

    @property
    def app_name(self) -> str | None:
        return self.app or self.heroku_app_name

    @property
    def default_redis_url(self) -> str | None:
        """Heroku Redis: ``REDIS_TLS_URL`` before ``REDIS_URL``."""
        return self.redis_tls_url or self.redis_url

    @property
    def effective_state_url(self) -> str | None:
        return self.state_url or self.default_redis_url

    def addon_url(self, variable: str) -> str | None:
        """The value of a Heroku add-on variable (``REDIS_URL``, ``DATABASE_URL``, ...)."""
        if variable == "AUTOSCALER_STATE_URL":
            return self.state_url
        value: str | None = getattr(self, variable.lower())
        return value

    def url_variable(self, name: str, process: ProcessConfig) -> str | None:
        """The variable a process's source URL comes from: its own ``URL``, else the first
        add-on variable of its source that is set; None when there is none."""
        if process.url:
            return process_var(name, "url")
        return next((var for var in SOURCES[process.source].url_vars if self.addon_url(var)), None)

    def source_url(self, process: ProcessConfig) -> str | None:
        """The connection URL of a process's source: its own ``URL`` or the add-on variable."""
        if process.url:
            return process.url
        return next(filter(None, map(self.addon_url, SOURCES[process.source].url_vars)), None)

    def require_source_url(self, name: str, process: ProcessConfig) -> str:
        """:meth:`source_url`, or ConfigError naming the variable to set."""
        url = self.source_url(process)
        if url is None:
            raise ConfigError([f"{process_var(name, 'url')}: required: {url_needed(process)}"])
        return url

    def rq_prefix(self, process: ProcessConfig) -> str:
        return process.prefix or self.rq_key_prefix

    def secrets(self) -> list[str]:
        """Every secret value in the configuration, for the log redactor."""
        found: list[str] = []
        if self.heroku_api_key:
            found.append(self.heroku_api_key.get_secret_value())
        if self.notify_url:
            found.append(self.notify_url.get_secret_value())
        if self.drain_password:
            found.append(self.drain_password.get_secret_value())
        urls = [self.state_url, self.redis_tls_url, self.redis_url, self.database_url, self.cloudamqp_url]
        urls += [p.url for p in self.processes.values()]
        for url in urls:
            if url:
                password = urlsplit(url).password if "://" in url else None
                if password:
                    found.append(password)
        return found


# --- environment variable names for error messages -------------------------------------

_ALIASED = {
    "heroku_api_key": "HEROKU_API_KEY",
    "heroku_api_url": "HEROKU_API_URL",
    "heroku_app_name": "HEROKU_APP_NAME",
    "redis_tls_url": "REDIS_TLS_URL",
    "redis_url": "REDIS_URL",
    "database_url": "DATABASE_URL",
    "cloudamqp_url": "CLOUDAMQP_URL",
    "rq_key_prefix": "RQ_KEY_PREFIX",
    "web_concurrency": "WEB_CONCURRENCY",
}


def process_var(name: str, field: str | None = None) -> str:
    """The variable of a process type's setting: ``AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS``."""
    var = f"AUTOSCALER_PROCESSES__{name.upper()}"
    return f"{var}__{field.upper()}" if field else var


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name`` (a typo's likely intent), or None."""
    found = difflib.get_close_matches(name.upper(), [k.upper() for k in known], n=1, cutoff=0.6)
    return found[0] if found else None


def env_name(*loc: str | int) -> str:
    """The environment variable a user sets for a settings location.

    >>> env_name("processes", "worker", "max_dynos")
    'AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS'
    """
    parts = [str(part) for part in loc]
    if not parts:
        return "AUTOSCALER"
    if parts[0] in _ALIASED:
        return _ALIASED[parts[0]]
    if parts[0] in _ALIASED.values():  # pydantic reports aliased fields by their alias
        return parts[0]
    return "AUTOSCALER_" + "__".join(part.upper() for part in parts)


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        loc = error.get("loc") or ()
        guess = closest(str(loc[-1]), ProcessConfig.model_fields) if loc else None
        return "unknown setting" + (f"; did you mean {guess}?" if guess else f" (known: {_known_fields()})")
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal"}:
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<="}[kind]
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le")))
        bound_text = f"{bound:g}" if isinstance(bound, float) else str(bound)
        return f"must be {op} {bound_text}, got {error.get('input')!r}"
    if kind in {"int_parsing", "int_from_float", "int_type"}:
        return f"must be a whole number, got {error.get('input')!r}"
    if kind in {"float_parsing", "float_type"}:
        return f"must be a number, got {error.get('input')!r}"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "invalid")))
    return str(error.get("msg", "invalid"))


def _known_fields() -> str:
    return ", ".join(name.upper() for name in ProcessConfig.model_fields)


def _process_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    for name, process in settings.processes.items():
        var = process_var(name)
        if not re.match(PROCESS_TYPE_PATTERN, name):
            problems.append(f"{var}: {name!r} is not a Heroku process type name")
        if process.max_dynos < process.min_dynos:
            problems.append(f"{var}__MAX_DYNOS: must be >= MIN_DYNOS ({process.min_dynos})")
        if process.source == "web":
            if process.queue_time_ms is None:
                problems.append(f"{var}: a web process needs a target: set {var}__QUEUE_TIME_MS")
        elif process.source == "router":
            if process.response_time_ms is None:
                problems.append(f"{var}: a router process needs a target: set {var}__RESPONSE_TIME_MS")
        elif process.jobs_per_dyno is None and process.max_latency is None:
            problems.append(f"{var}: needs at least one target: set {var}__JOBS_PER_DYNO or {var}__MAX_LATENCY")
        problems += _limit_problems(name, process)
        problems += _source_problems(name, process, settings)
    return problems


def _limit_problems(name: str, process: ProcessConfig) -> list[str]:
    """Bounds Heroku would refuse, found at start-up rather than on the first PATCH."""
    problems: list[str] = []
    if process.size is not None:
        limit = size_limit(process.size, process.size_limit)
        if limit is not None and process.max_dynos > limit:
            problems.append(
                f"{process_var(name, 'max_dynos')}: {process.max_dynos} is more than Heroku runs of {process.size} "
                f"dynos per process type ({limit}); lower MAX_DYNOS or choose another SIZE"
            )
    if process.max_dynos > sizes.APP_DYNO_LIMIT:
        problems.append(
            f"{process_var(name, 'max_dynos')}: {process.max_dynos} is more than Heroku runs in one app "
            f"({sizes.APP_DYNO_LIMIT})"
        )
    for number, window in enumerate(process.schedules, 1):
        if window.min_dynos is not None and window.min_dynos > process.max_dynos:
            problems.append(
                f"{process_var(name, 'schedules')}: schedule {number} ({window.cron}) asks for "
                f"min_dynos {window.min_dynos}, more than MAX_DYNOS ({process.max_dynos})"
            )
        if window.min_dynos is not None and window.max_dynos is not None and window.max_dynos < window.min_dynos:
            problems.append(
                f"{process_var(name, 'schedules')}: schedule {number} ({window.cron}) has max_dynos "
                f"{window.max_dynos} below its min_dynos {window.min_dynos}"
            )
    return problems


def url_needed(process: ProcessConfig) -> str:
    """What to set when a process's source has no URL (its own, or an add-on variable)."""
    addons = SOURCES[process.source].url_vars
    return f"set it, or {' / '.join(addons)}" if addons else "the URL to GET"


def _source_problems(name: str, process: ProcessConfig, settings: Settings) -> list[str]:
    """What a source needs beyond the common fields, each named by the variable the user set."""
    problems: list[str] = []
    spec = SOURCES[process.source]
    url = settings.source_url(process)
    if url is None:
        problems.append(f"{process_var(name, 'url')}: required: {url_needed(process)}")
    else:
        problem = url_problem(url, spec.schemes)
        if problem:
            var = settings.url_variable(name, process)
            used = "" if var == process_var(name, "url") else f" (read by process type {name!r})"
            problems.append(f"{var}{used}: {problem}")
    if process.source == "sql" and (process.query is None) == (process.preset is None):
        problems.append(
            f"{process_var(name, 'query')}: set either QUERY (a query of your own) "
            "or PRESET (procrastinate, pgqueuer, django_q2)"
        )
    if spec.queues_required and not process.queues:
        problems.append(f"{process_var(name, 'queues')}: required: the Redis list keys to count")
    return problems


def _global_problems(settings: Settings) -> list[str]:
    """Global settings that parse but that a tick could not use."""
    problems: list[str] = []
    state_url = settings.effective_state_url
    source_urls = {settings.source_url(process) for process in settings.processes.values()}
    if state_url is not None and (settings.state_url or state_url not in source_urls):  # else said once, below
        problem = url_problem(state_url, _REDIS_SCHEMES)
        if problem:
            var = (
                "AUTOSCALER_STATE_URL"
                if settings.state_url
                else next(v for v in ("REDIS_TLS_URL", "REDIS_URL") if settings.addon_url(v))
            )
            problems.append(f"{var}: {problem} (the state store is Redis)")
    if settings.notify_url is not None:
        problem = url_problem(settings.notify_url.get_secret_value(), ("https", "http"))
        if problem:  # the webhook URL is a secret: say what is wrong, not what it is
            problems.append("AUTOSCALER_NOTIFY_URL: must be an https:// (or http://) webhook URL with a host")
    for size_name in settings.prices:
        if sizes.lookup(size_name) is None:
            problems.append(
                f"AUTOSCALER_PRICES: unknown dyno size {size_name!r}; known sizes: {', '.join(sizes.known_names())}"
            )
    return problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration from the environment.

    ``environ`` defaults to ``os.environ``; tests pass their own mapping. An empty value
    is the same as an unset variable (``heroku config:set NAME=`` unsets in effect). Raises
    ConfigError with one line per problem, each naming the variable the user set.
    """
    env = {key: value for key, value in (os.environ if environ is None else environ).items() if value.strip()}
    problems = unknown_variables(env)
    try:
        settings = _build(env)
    except ValidationError as exc:
        named = {line.split(":", 1)[0] for line in problems}
        for err in exc.errors():
            var = env_name(*err["loc"]) if err["type"] == "missing" else _error_var(err["loc"], env)
            if var not in named:
                problems.append(f"{var}: {_describe(err)}")
        raise ConfigError(problems) from None
    except SettingsError as exc:
        raise ConfigError([*problems, _settings_error_text(exc)]) from None
    settings = _with_defaults(settings)
    if not settings.processes:
        problems.append(
            "AUTOSCALER_PROCESSES: no process type configured: set e.g. "
            "AUTOSCALER_PROCESSES__WORKER__SOURCE=rq and AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS"
        )
    problems += _global_problems(settings)
    problems += _process_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _error_var(loc: tuple[str | int, ...], env: Mapping[str, str]) -> str:
    """The variable behind a validation error: the per-field variable when the user set one,
    else ``AUTOSCALER_PROCESSES (worker.max_dynos)`` for a field set in the JSON map."""
    if len(loc) < 3 or loc[0] != "processes":
        return env_name(*loc)
    field_var = env_name(*loc[:3])
    if field_var in {key.upper() for key in env}:
        inner = ".".join(str(part) for part in loc[3:])
        return f"{field_var} ({inner})" if inner else field_var
    return f"AUTOSCALER_PROCESSES ({'.'.join(str(part) for part in loc[1:])})"


def known_globals() -> list[str]:
    """Every global ``AUTOSCALER_*`` variable the product reads."""
    return [f"AUTOSCALER_{name.upper()}" for name, field in Settings.model_fields.items() if not field.validation_alias]


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A problem line for every ``AUTOSCALER_*`` variable the product does not know: a typo
    such as ``AUTOSCALER_DRYRUN`` must not silently leave a safety switch off."""
    globals_ = known_globals()
    fields = list(ProcessConfig.model_fields)
    problems: list[str] = []
    for key in sorted(env):
        upper = key.upper()
        if not upper.startswith("AUTOSCALER_") or upper in globals_:
            continue
        parts = upper.split("__")
        if parts[0] == "AUTOSCALER_PROCESSES" and len(parts) in {2, 3} and parts[1]:
            if len(parts) == 2 or parts[2].lower() in fields:
                continue
            guess = closest(parts[2], fields)
            hint = f"did you mean {process_var(parts[1], guess)}?" if guess else f"known fields: {_known_fields()}"
            problems.append(f"{key}: unknown setting of process type {parts[1].lower()!r}; {hint}")
            continue
        guess = closest(upper.removeprefix("AUTOSCALER_"), [name.removeprefix("AUTOSCALER_") for name in globals_])
        hint = f"did you mean AUTOSCALER_{guess}?" if guess else "see docs/configuration.md for the known names"
        problems.append(f"{key}: unknown variable; {hint}")
    return problems


def _with_defaults(settings: Settings) -> Settings:
    """Fill defaults that depend on other variables: a web process's PROCESSES_PER_DYNO comes
    from WEB_CONCURRENCY (as gunicorn reads it on Heroku) when not set."""
    if settings.web_concurrency is None:
        return settings
    processes = {
        name: (
            p.model_copy(update={"processes_per_dyno": settings.web_concurrency})
            if p.source == "web" and p.processes_per_dyno is None
            else p
        )
        for name, p in settings.processes.items()
    }
    return settings.model_copy(update={"processes": processes})


def _settings_error_text(exc: SettingsError) -> str:
    """pydantic-settings fails before validation when a JSON value does not parse: name it."""
    found = re.search(r'field "(\w+)"', str(exc))
    field = found.group(1) if found else ""
    cause = exc.__cause__
    detail = f" ({cause.msg} at character {cause.pos})" if isinstance(cause, json.JSONDecodeError) else ""
    if field == "processes":
        return f"AUTOSCALER_PROCESSES: not valid JSON{detail}; expected an object of process types"
    if field:
        return f"{env_name(field)}: not valid JSON{detail}"
    return f"configuration: {exc}"


def _build(env: Mapping[str, str]) -> Settings:
    """Validate ``env`` as the environment (names compared case-insensitively)."""
    lowered = {key.lower(): value for key, value in env.items()}

    class MappingEnvSource(EnvSettingsSource):
        def _load_env_vars(self) -> Mapping[str, str | None]:
            return lowered

    class FromMapping(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (MappingEnvSource(settings_cls),)

    return FromMapping()


def resolve_token(settings: Settings, netrc_path: Path | None = None) -> str | None:
    """The Platform API token: ``HEROKU_API_KEY``, else the ``api.heroku.com`` entry of
    ``~/.netrc`` (as written by ``heroku login``). None when neither has one."""
    if settings.heroku_api_key is not None:
        token = settings.heroku_api_key.get_secret_value().strip()
        if token:
            return token
    path = netrc_path or Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    if not path.exists():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators("api.heroku.com")
    except (netrc.NetrcParseError, OSError):
        return None
    if entry is None:
        return None
    password = entry[2]
    return password or None


def token_problem(token: str) -> str | None:
    """What is wrong with a Platform API token's form (never quoting it), or None."""
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        return "must be a non-empty token of printable ASCII characters"
    return None


def require_runtime(settings: Settings, token: str | None) -> None:
    """Checks that only the commands that talk to Heroku need (run, once, check)."""
    problems: list[str] = []
    if token is None:
        problems.append(
            "HEROKU_API_KEY: required: set it to a Platform API token "
            "(or log in with `heroku login` so ~/.netrc has one)"
        )
    elif token_problem(token):
        problems.append(f"HEROKU_API_KEY: {token_problem(token)}")
    if not settings.app_name:
        problems.append("AUTOSCALER_APP: required: the name of the app to scale (or HEROKU_APP_NAME)")
    if problems:
        raise ConfigError(problems)
