"""Loading the configuration: from the environment (or a mapping), validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsError

from autoscaler.config.checks import global_problems, process_problems
from autoscaler.config.names import describe_error, settings_error_text, unknown_variables
from autoscaler.config.settings import Settings
from autoscaler.errors import ConfigError


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
            var, text = describe_error(err, env)
            if var not in named:
                problems.append(f"{var}: {text}")
        raise ConfigError(problems) from None
    except SettingsError as exc:
        raise ConfigError([*problems, settings_error_text(exc)]) from None
    settings = _with_defaults(settings)
    if not settings.processes:
        problems.append(
            "AUTOSCALER_PROCESSES: no process type configured: set e.g. "
            "AUTOSCALER_PROCESSES__WORKER__SOURCE=rq and AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS"
        )
    problems += global_problems(settings)
    problems += process_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _with_defaults(settings: Settings) -> Settings:
    """Fill defaults that depend on other variables: a web process's PROCESSES_PER_DYNO comes
    from WEB_CONCURRENCY (as gunicorn reads it on Heroku) when not set."""
    if settings.web_concurrency is None:
        return settings
    processes = {
        name: (
            p.model_copy(update={"processes_per_dyno": settings.web_concurrency})
            if p.source in {"web", "router"} and p.processes_per_dyno is None
            else p
        )
        for name, p in settings.processes.items()
    }
    return settings.model_copy(update={"processes": processes})


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
