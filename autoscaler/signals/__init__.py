"""Signal sources: where observations enter the autoscaler.

A source reads one backend (an RQ queue in Redis, a Celery broker, a SQL query, ...)
and returns a :class:`Reading`. A source never reports a number it did not read: a
backend error raises :class:`~autoscaler.errors.SignalError`, which the daemon turns
into an unknown reading (:meth:`Reading.unknown`), never into 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from autoscaler.errors import SignalError

# A reading above these is treated as garbage rather than as a real backlog.
MAX_SANE_DEPTH = 10**9
MAX_SANE_SECONDS = 10 * 365 * 86400.0
WEB_FIELDS: tuple[str, ...] = ("rate", "queue_time_p50", "queue_time_p95", "queue_time_p99", "app_time")
"""The :class:`Reading` fields a web source fills (the worker ones, depth, latency and busy, stay None)."""
ROUTER_FIELDS: tuple[str, ...] = (
    "rate",
    "response_time_p50",
    "response_time_p95",
    "response_time_p99",
    "errors",
    "memory_mb",
    "load",
)
"""The :class:`Reading` fields the ``router`` source (Heroku's router lines from a log drain) fills."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What one source saw at one moment.

    Workers:
    ``depth``: jobs waiting (ready to run, not taken by a worker).
    ``latency``: seconds the oldest waiting job has waited.
    ``latency_is_lower_bound``: the backend has no enqueue time, so ``latency`` is only
    how long the oldest job has been *seen* waiting (e.g. Celery without a publish stamp).
    ``busy``: jobs running (or, where the backend cannot tell them apart, running and
    prefetched).

    Web (the ``web`` source, over its sliding window):
    ``rate``: requests per second; ``queue_time_p50/p95/p99``: request queue time in ms;
    ``app_time``: mean time in the app per request, in ms.

    Router (the ``router`` source: Heroku's router and runtime-metrics lines from a log drain):
    ``rate`` as above; ``response_time_p50/p95/p99``: the router's ``service`` time in ms
    (time in the dyno, waiting included; None when no request was timed); ``errors``: router
    error lines by code (``{"H12": 3}``); ``memory_mb`` and ``load``: the latest
    ``memory_total`` (MB) and ``load_avg_1m`` of each dyno (``{"web.1": 212.5}``), None without
    log-runtime-metrics.

    Each is ``None`` when the source has no such signal or it could not be read.
    ``error`` says why the reading is unknown, already free of secrets.
    """

    at: float
    depth: int | None = None
    latency: float | None = None
    busy: int | None = None
    error: str | None = None
    latency_is_lower_bound: bool = False
    rate: float | None = None
    queue_time_p50: float | None = None
    queue_time_p95: float | None = None
    queue_time_p99: float | None = None
    app_time: float | None = None
    response_time_p50: float | None = None
    response_time_p95: float | None = None
    response_time_p99: float | None = None
    errors: Mapping[str, int] | None = None
    memory_mb: Mapping[str, float] | None = None
    load: Mapping[str, float] | None = None

    @classmethod
    def unknown(cls, at: float, error: str) -> Reading:
        return cls(at=at, error=error)

    def web_fields(self) -> dict[str, float | None]:
        """The :data:`WEB_FIELDS` of a web reading, by name: what a report or log line of it shows."""
        return {name: getattr(self, name) for name in WEB_FIELDS}

    def router_fields(self) -> dict[str, float | Mapping[str, float] | None]:
        """The :data:`ROUTER_FIELDS` of a router reading, by name (mappings copied to plain dicts)."""
        fields: dict[str, float | Mapping[str, float] | None] = {}
        for name in ROUTER_FIELDS:
            value = getattr(self, name)
            fields[name] = dict(value) if isinstance(value, Mapping) else value
        return fields

    @property
    def ok(self) -> bool:
        return self.error is None


def check_count(name: str, value: object) -> int:
    """Validate a count read from a backend: a non-negative, sane integer."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalError(f"{name} is not a number: {value!r}")
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value) or value != int(value)):
        raise SignalError(f"{name} is not a whole number: {value!r}")
    count = int(value)
    if count < 0 or count > MAX_SANE_DEPTH:
        raise SignalError(f"{name} is out of range: {count}")
    return count


def reply_text(value: object) -> str:
    """A value of a Redis reply as text, whether the client decodes responses or not."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def field_count(key: str, field: str, raw: object) -> int:
    """The count in ``field`` of the Redis hash ``key``, as a reply holds it (text or bytes):
    an integer that passes :func:`check_count`."""
    try:
        value = int(reply_text(raw))
    except ValueError:
        raise SignalError(f"{key} field {field!r} is not an integer: {raw!r:.100}") from None
    return check_count(f"{key} field {field!r}", value)


def check_seconds(name: str, value: object) -> float:
    """Validate a duration read from a backend: finite, ≥ 0 (small negatives from clock skew
    are clamped to 0), and not absurdly large."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignalError(f"{name} is not a number: {value!r}")
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds) or seconds > MAX_SANE_SECONDS:
        raise SignalError(f"{name} is out of range: {value!r}")
    return max(0.0, seconds)


class Source(Protocol):
    """One configured signal source. ``read`` raises SignalError when it cannot read."""

    def read(self, now: float) -> Reading: ...

    def close(self) -> None: ...
