"""Queue time from the router's ``X-Request-Start`` header.

Heroku's router writes integer milliseconds since the epoch; a ``t=`` prefix and seconds,
microseconds or nanoseconds are accepted too, the unit chosen by magnitude (2000-01-01
expressed in each unit is the cutoff). Standard library only: it runs on every request.
"""

from __future__ import annotations

import math

MAX_QUEUE_MS = 3_600_000.0
"""A header more than an hour away from now is garbage (wrong unit, broken proxy): no sample."""

# 2000-01-01T00:00:00Z in seconds, milliseconds, microseconds and nanoseconds.
_EPOCH_2000_S = 946_684_800.0
_EPOCH_2000_MS = _EPOCH_2000_S * 1e3
_EPOCH_2000_US = _EPOCH_2000_S * 1e6
_EPOCH_2000_NS = _EPOCH_2000_S * 1e9


def parse_request_start(value: str | bytes | None) -> float | None:
    """``X-Request-Start`` as epoch milliseconds, or None when it is missing or garbage.

    Accepts ``1700000000123`` (ms, Heroku), ``t=1700000000.123`` (s, nginx),
    ``t=1700000000123456`` (µs, Apache) and ``1700000000123456789`` (ns): the unit is the
    one in which the value lies after 2000-01-01. Never raises.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = value.strip()
    if text[:2] in ("t=", "T="):
        text = text[2:]
    token = text.split(None, 1)[0] if text else ""
    try:
        number = float(token)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number >= _EPOCH_2000_NS:
        return number / 1e6
    if number >= _EPOCH_2000_US:
        return number / 1e3
    if number >= _EPOCH_2000_MS:
        return number
    if number >= _EPOCH_2000_S:
        return number * 1e3
    return None


def queue_time_ms(header: str | bytes | None, now: float) -> float | None:
    """Milliseconds between ``X-Request-Start`` and ``now`` (epoch seconds), clamped at 0
    (router and dyno clocks may disagree a little). None for a missing or garbage header."""
    start = parse_request_start(header)
    if start is None:
        return None
    waited = now * 1000.0 - start
    if waited > MAX_QUEUE_MS or waited < -MAX_QUEUE_MS:
        return None
    return waited if waited > 0.0 else 0.0
