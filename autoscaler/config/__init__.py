"""Configuration: every environment variable the product reads, validated once at start-up.

All settings come from the environment (Heroku config vars). :func:`load_settings`
returns a validated :class:`Settings` or raises :class:`~autoscaler.errors.ConfigError`
listing the problems, one line each, named by the environment variable a user sets
(``AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: must be >= MIN_DYNOS (2)``). Only
``__main__`` turns that error into exit status 2.

Per-process settings come from ``AUTOSCALER_PROCESSES__<TYPE>__<FIELD>`` variables, or the
whole map as JSON in ``AUTOSCALER_PROCESSES``; both may be combined (the per-field variables
win). Values are parsed, never evaluated.

The modules: :mod:`.values` (how values are written), :mod:`.process` (one process type's
settings, a model per source, the registry of sources), :mod:`.settings` (the whole
configuration), :mod:`.names` (naming variables in errors), :mod:`.checks` (checks across
values), :mod:`.load` (:func:`load_settings`), :mod:`.token` (the Platform API token).
"""

from autoscaler.config.checks import global_problems, process_problems
from autoscaler.config.load import load_settings
from autoscaler.config.names import closest, env_name, known_globals, unknown_variables
from autoscaler.config.process import (
    ALL_FIELDS,
    PROCESS_TYPE_PATTERN,
    SOURCES,
    AnyProcess,
    CelerySettings,
    DramatiqSettings,
    HTTPJSONSettings,
    ProcessConfig,
    RedisListSettings,
    RouterSettings,
    RQSettings,
    SQLSettings,
    WebSettings,
    process_config,
)
from autoscaler.config.settings import DEFAULT_API_URL, Settings, process_var, url_needed
from autoscaler.config.token import require_runtime, resolve_token, token_problem
from autoscaler.config.values import Schedule
from autoscaler.policy import size_limit

__all__ = [
    "ALL_FIELDS",
    "DEFAULT_API_URL",
    "PROCESS_TYPE_PATTERN",
    "SOURCES",
    "AnyProcess",
    "CelerySettings",
    "DramatiqSettings",
    "HTTPJSONSettings",
    "ProcessConfig",
    "RQSettings",
    "RedisListSettings",
    "RouterSettings",
    "SQLSettings",
    "Schedule",
    "Settings",
    "WebSettings",
    "closest",
    "env_name",
    "global_problems",
    "known_globals",
    "load_settings",
    "process_config",
    "process_problems",
    "process_var",
    "require_runtime",
    "resolve_token",
    "size_limit",
    "token_problem",
    "unknown_variables",
    "url_needed",
]
