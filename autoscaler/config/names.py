"""Naming what is wrong: the variable a user set for every setting, the closest known name
for a typo, and what a validation error means in words."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic_settings import SettingsError

from autoscaler.config.process import ALL_FIELDS, SOURCES, ProcessConfig
from autoscaler.config.settings import Settings, process_var

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
        guess = closest(str(loc[-1]), ALL_FIELDS) if loc else None
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


def _known_fields() -> str:
    return ", ".join(name.upper() for name in ALL_FIELDS)


def describe_error(error: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, str]:
    """The variable behind one validation error, and what is wrong with it in words. Errors of a
    process type's settings carry its source in their location, which no variable names: it is
    dropped, and a setting of another source is called that."""
    loc = tuple(error.get("loc") or ())
    kind = error.get("type", "")
    source = str(loc[2]) if len(loc) >= 3 and loc[0] == "processes" and loc[2] in SOURCES else None
    if source is not None:
        loc = (*loc[:2], *loc[3:])
    if kind in {"union_tag_not_found", "union_tag_invalid"} and len(loc) >= 2:
        known = ", ".join(SOURCES)
        tag = (error.get("ctx") or {}).get("tag")
        text = f"required: one of {known}" if kind == "union_tag_not_found" else f"must be one of {known}, got {tag!r}"
        return process_var(str(loc[1]), "source"), text
    if kind == "missing":
        return env_name(*loc), _describe(error)
    var = _error_var(loc, env)
    if kind == "extra_forbidden" and source is not None and str(loc[-1]) in ALL_FIELDS:
        fields = [name for name in SOURCES[source].model_fields if name != "source"]
        own = [name.upper() for name in fields if name not in ProcessConfig.model_fields]
        guess = closest(str(loc[-1]), [name.lower() for name in own])  # another source's setting: its twin here
        hint = f"did you mean {guess}?" if guess else f"its own settings are {', '.join(own) or 'none'}"
        return var, f"not a setting of the {source} source; {hint}"
    return var, _describe(error)


def known_globals() -> list[str]:
    """Every global ``AUTOSCALER_*`` variable the product reads."""
    return [f"AUTOSCALER_{name.upper()}" for name, field in Settings.model_fields.items() if not field.validation_alias]


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A problem line for every ``AUTOSCALER_*`` variable the product does not know: a typo
    such as ``AUTOSCALER_DRYRUN`` must not silently leave a safety switch off."""
    globals_ = known_globals()
    fields = list(ALL_FIELDS)
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


def settings_error_text(exc: SettingsError) -> str:
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
