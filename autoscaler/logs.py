"""Logging: structlog set up once, every line run through the secret redactor.

Three renderers (``AUTOSCALER_LOG_FORMAT``): ``logfmt`` (the default: what Heroku's log
tooling and l2met read), ``json`` and ``console``. Each processor is a small function.
The redaction processor is always last before rendering, so no secret registered with
the :class:`~autoscaler.redact.Redactor` (the token, URL passwords, the webhook URL)
can reach a line, whatever a caller put into an event.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from autoscaler.redact import Redactor

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _redact_value(value: object, redactor: Redactor) -> object:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, Mapping):
        return {key: _redact_value(item, redactor) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item, redactor) for item in value]
    if isinstance(value, BaseException):
        return redactor(f"{type(value).__name__}: {value}")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redactor(str(value))


def redaction_processor(redactor: Redactor) -> Processor:
    """A processor that replaces every secret in every value (and in exception text) with ``***``."""

    def redact(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        return {key: _redact_value(value, redactor) for key, value in event.items()}

    return redact


def _logfmt_text(value: object) -> str:
    """A value as plain text: lists comma-separated, mappings as JSON, never a Python repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return text if text not in {"", "-0"} else "0"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_logfmt_text(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


def _logfmt_value(value: object) -> str:
    """A logfmt value: quoted (with escapes) when it holds a space, a quote or ``=``."""
    text = _logfmt_text(value)
    if text == "" or any(ch in text for ch in ' ="\\\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    return text


def render_logfmt(logger: WrappedLogger, method: str, event: EventDict) -> str:
    """``key=value`` pairs, ``at=`` (level) and ``event=`` first, as Heroku's logs read best."""
    items: MutableMapping[str, Any] = dict(event)
    head = [f"at={items.pop('level', method)}", f"event={_logfmt_value(items.pop('event', ''))}"]
    return " ".join(head + [f"{key}={_logfmt_value(value)}" for key, value in items.items()])


def _renderer(fmt: str) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=False)
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return render_logfmt


def configure(
    fmt: str = "logfmt",
    level: str = "info",
    redactor: Redactor | None = None,
    stream: TextIO | None = None,
) -> Redactor:
    """Configure structlog for the process. Returns the redactor in use, so that the
    caller can register secrets found later (e.g. the token read from ~/.netrc)."""
    redactor = redactor or Redactor()
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.format_exc_info,
        redaction_processor(redactor),
        _renderer(fmt),
    ]
    if fmt == "json":
        processors.insert(2, structlog.processors.TimeStamper(fmt="iso", utc=True))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
    return redactor


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger("autoscaler").bind(**context)
    return logger


def measurements(process: str, values: Mapping[str, float | int | None]) -> dict[str, float | int]:
    """l2met ``sample#`` fields for Heroku's log-based metrics:
    ``sample#autoscaler.worker.desired=3``. Unknown values are left out, not logged as 0."""
    return {f"sample#autoscaler.{process}.{name}": value for name, value in values.items() if value is not None}
