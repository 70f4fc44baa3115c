"""The whole configuration: :class:`Settings`, every variable the product reads, and the
values derived from them (the app, the state store, each source's URL, the secrets)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from autoscaler.config.process import AnyProcess, ProcessConfig, RQSettings
from autoscaler.config.values import Bool
from autoscaler.errors import ConfigError
from autoscaler.urls import check_api_url

DEFAULT_API_URL = "https://api.heroku.com"


def process_var(name: str, field: str | None = None) -> str:
    """The variable of a process type's setting: ``AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS``."""
    var = f"AUTOSCALER_PROCESSES__{name.upper()}"
    return f"{var}__{field.upper()}" if field else var


def url_needed(process: ProcessConfig) -> str:
    """What to set when a process's source has no URL (its own, or an add-on variable)."""
    return f"set it, or {' / '.join(process.URL_VARS)}" if process.URL_VARS else "the URL to GET"


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
    interval: float = Field(2.0, ge=1)
    """Seconds between ticks: signals are read and a decision made every tick; the formation is
    read from the Platform API only before a change and once a minute (see :mod:`autoscaler.appview`)."""
    dry_run: Bool = False
    log_format: Literal["logfmt", "json", "console"] = "logfmt"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_monthly_cost: float | None = Field(None, gt=0)
    notify_url: SecretStr | None = None
    drain_password: SecretStr | None = None
    """The password of the log drain's URL (``https://drain:PASSWORD@.../drain``); unset: the drain is off."""
    dashboard_password: SecretStr | None = None
    """The password of the status page (``GET /`` of the web process, any user name); unset: no page."""
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
    processes: dict[str, AnyProcess] = Field(default_factory=dict)

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
        return next((var for var in process.URL_VARS if self.addon_url(var)), None)

    def source_url(self, process: ProcessConfig) -> str | None:
        """The connection URL of a process's source: its own ``URL`` or the add-on variable."""
        if process.url:
            return process.url
        return next(filter(None, map(self.addon_url, process.URL_VARS)), None)

    def require_source_url(self, name: str, process: ProcessConfig) -> str:
        """:meth:`source_url`, or ConfigError naming the variable to set."""
        url = self.source_url(process)
        if url is None:
            raise ConfigError([f"{process_var(name, 'url')}: required: {url_needed(process)}"])
        return url

    def rq_prefix(self, process: RQSettings) -> str:
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
        if self.dashboard_password:
            found.append(self.dashboard_password.get_secret_value())
        urls = [self.state_url, self.redis_tls_url, self.redis_url, self.database_url, self.cloudamqp_url]
        urls += [p.url for p in self.processes.values()]
        for url in urls:
            if url:
                password = urlsplit(url).password if "://" in url else None
                if password:
                    found.append(password)
        return found
