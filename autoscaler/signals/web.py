"""Web request rate, queue time and app time, from what :mod:`autoscaler.middleware` flushed.

The middleware in every web process adds its counts to one Redis hash per process type
and :data:`~autoscaler.middleware.SLOT_SECONDS`-second slot (layout in
:mod:`autoscaler.middleware`). A read fetches the slots of the last ``window`` seconds
with one pipeline of ``HGETALL`` (the slot keys are computed from ``now``: no ``KEYS``)
and merges them:

* Only **complete** slots are read: a slot counts once it ended :data:`GRACE_SECONDS`
  before ``now`` (the middleware flushes every 2 s). The window is rounded up to whole
  slots and ends 3–8 s before ``now``.
* ``rate`` = requests / seconds *observed*, i.e. the slots in the window that some
  middleware process wrote (with requests or its idle mark). A slot nobody wrote means no
  middleware was running then (just deployed, Redis unreachable from the app): it is left
  out rather than counted as silence.
* ``queue_time_p50/p95/p99`` (ms) from the merged histogram, interpolated linearly within
  the bucket (buckets are 12 % wide, so that is the worst-case error; a quantile in the
  last bucket, ≥ 31.6 s, reads as 31.6 s). Only requests that carried ``X-Request-Start``
  count. No request at all in the window: 0.0 (nobody waited). Requests but none with the
  header (not behind Heroku's router): None.
* ``app_time`` = mean ms per request; None when there was no request (nothing to average).
* No slot of the window written at all: :class:`SignalError` (unknown, never 0). Every
  process with the middleware marks each slot it is alive in, even without traffic, so
  this means the middleware is not installed, not running, or writing to another Redis.

``now`` comes from the caller; the source never reads the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.middleware import (
    BUCKETS,
    DEFAULT_PREFIX,
    EDGES_MS,
    FIELD_APP_US,
    FIELD_BUCKET,
    FIELD_DYNO,
    FIELD_QUEUED,
    FIELD_REQUESTS,
    FLUSH_INTERVAL,
    SLOT_SECONDS,
    slot_key,
)
from autoscaler.signals import Reading, check_count
from autoscaler.signals.redis_conn import describe, signal_error

if TYPE_CHECKING:
    from autoscaler.config import ProcessConfig, Settings
    from autoscaler.signals.build import Connections

GRACE_SECONDS = FLUSH_INTERVAL + 1.0
"""A slot is read once it ended this long ago: one flush interval plus a second for the
flush itself and clock differences between dynos and the autoscaler."""
MAX_WINDOW = 600.0
"""The longest window: its oldest slot must still be in Redis (keys expire KEY_TTL after their last write)."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_PREFIX_CHARS = _NAME_CHARS | frozenset(".:{}")


@dataclass(frozen=True, slots=True)
class WebStats:
    """The merged counts behind one reading.

    ``requests``: requests that ended in the observed slots; ``queued``: of which had a
    usable ``X-Request-Start``; ``app_us``: their app time summed (µs); ``seconds``: time
    observed (slots written × slot width); ``slots``: slots read (observed or not);
    ``dynos``: requests per dyno (``$DYNO``, else hostname-pid) of every dyno that wrote
    in the window, 0 for one that was alive but idle;
    ``histogram``: queue-time counts per bucket of :data:`autoscaler.middleware.EDGES_MS`.
    """

    requests: int
    queued: int
    app_us: int
    seconds: float
    slots: int
    dynos: Mapping[str, int]
    histogram: tuple[int, ...]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def queue_time(self, quantile: float) -> float | None:
        """Queue time (ms) at ``quantile``: 0.0 with no request, None with requests that all
        lacked the header."""
        if self.requests == 0:
            return 0.0
        return histogram_quantile(self.histogram, quantile)

    @property
    def app_time(self) -> float | None:
        return self.app_us / 1000.0 / self.requests if self.requests else None


def bucket_bounds(index: int) -> tuple[float, float]:
    """[low, high) of a queue-time bucket in ms; the last bucket's high is +inf."""
    low = 0.0 if index == 0 else EDGES_MS[index - 1]
    high = EDGES_MS[index] if index < len(EDGES_MS) else math.inf
    return low, high


def histogram_quantile(counts: Sequence[int], quantile: float) -> float | None:
    """The ``quantile`` (0 < q ≤ 1) of a queue-time histogram in ms, interpolated linearly
    inside its bucket; the open last bucket gives its lower edge. None for an empty one."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
    total = sum(counts)
    if total == 0:
        return None
    rank = quantile * total
    below = 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            low, high = bucket_bounds(index)
            if math.isinf(high):
                return low
            return low + (high - low) * (rank - below) / count
        below += count
    raise AssertionError("unreachable: rank <= total")  # pragma: no cover


class WebSource:
    """Request rate, queue-time percentiles and mean app time of one web process type.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect`;
    ``process`` the Procfile name the middleware writes under (``$DYNO`` before the dot);
    ``window`` the seconds behind each reading (rounded up to whole slots, at most
    :data:`MAX_WINDOW`); ``prefix`` the middleware's key prefix.
    """

    def __init__(
        self, client: redis.Redis, process: str = "web", window: float = 60.0, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        problems: list[str] = []
        if not process or not set(process) <= _NAME_CHARS:
            problems.append(f"process: invalid process type name {process!r}")
        if not prefix or not set(prefix) <= _PREFIX_CHARS:
            problems.append(f"prefix: invalid key prefix {prefix!r} (letters, digits and _.:{{}}- only)")
        if not 0 < window <= MAX_WINDOW:
            problems.append(f"window: must be > 0 and <= {MAX_WINDOW:g} seconds (older slots expire), got {window!r}")
        if problems:
            raise ConfigError(problems)
        self._client = client
        self._process = process
        self._prefix = prefix
        self._slot_count = max(1, math.ceil(window / SLOT_SECONDS))
        self.window = float(self._slot_count * SLOT_SECONDS)

    def __repr__(self) -> str:
        return f"WebSource({describe(self._client)}, process={self._process!r}, window={self.window:g})"

    def slot_starts(self, now: float) -> list[int]:
        """Start times of the complete slots a read at ``now`` covers, newest first."""
        newest = math.floor((now - GRACE_SECONDS - SLOT_SECONDS) / SLOT_SECONDS) * SLOT_SECONDS
        return [newest - i * SLOT_SECONDS for i in range(self._slot_count)]

    def stats(self, now: float) -> WebStats:
        """The merged counts of the window ending at ``now``; SignalError when Redis cannot
        be read, holds values that make no sense, or has no slot of the window at all."""
        keys = [slot_key(self._prefix, self._process, slot) for slot in self.slot_starts(now)]
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                replies: list[Any] = pipe.execute()
        except redis.RedisError as exc:
            raise signal_error(f"cannot read web request counts of {self._process!r}", self._client, exc) from exc
        requests = queued = app_us = observed = 0
        dynos: dict[str, int] = {}
        histogram = [0] * BUCKETS
        for key, reply in zip(keys, replies, strict=True):
            if not isinstance(reply, dict):
                raise SignalError(f"unexpected reply for {key}: {reply!r:.200}")
            if not reply:
                continue
            observed += 1
            slot = _parse_slot(key, reply, dynos, histogram)
            requests += slot[0]
            queued += slot[1]
            app_us += slot[2]
        if not observed:
            raise SignalError(
                f"no request counts from autoscaler.middleware for process {self._process!r} in the last "
                f"{self.window:g}s at {describe(self._client)} (keys {self._prefix}:{self._process}:<slot>): "
                "is the middleware installed in the web app, writing to this Redis with the same prefix?"
            )
        if sum(histogram) != queued or queued > requests:
            raise SignalError(
                f"inconsistent web request counts of {self._process!r}: {requests} requests, {queued} with a "
                f"queue time, {sum(histogram)} in the histogram"
            )
        return WebStats(
            requests=check_count("web requests", requests),
            queued=queued,
            app_us=app_us,
            seconds=float(observed * SLOT_SECONDS),
            slots=len(keys),
            dynos=dynos,
            histogram=tuple(histogram),
        )

    def read(self, now: float) -> Reading:
        """The reading of the window ending at ``now`` (see the module docstring)."""
        stats = self.stats(now)
        return Reading(
            at=now,
            rate=stats.rate,
            queue_time_p50=stats.queue_time(0.50),
            queue_time_p95=stats.queue_time(0.95),
            queue_time_p99=stats.queue_time(0.99),
            app_time=stats.app_time,
        )

    def close(self) -> None:
        """Drop the client's connections (redis-py opens new ones if it is used again)."""
        self._client.close()


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _parse_slot(key: str, reply: dict[Any, Any], dynos: dict[str, int], histogram: list[int]) -> tuple[int, int, int]:
    """(requests, queued, app µs) of one slot hash; adds its dynos and histogram counts.
    Fields this version does not know are ignored (a newer middleware may add some)."""
    totals = {FIELD_REQUESTS: 0, FIELD_QUEUED: 0, FIELD_APP_US: 0}
    for raw_field, raw_value in reply.items():
        field = _text(raw_field)
        if field in totals:
            totals[field] = _count(key, field, raw_value)
        elif field.startswith(FIELD_DYNO):
            dyno = field[len(FIELD_DYNO) :]
            dynos[dyno] = dynos.get(dyno, 0) + _count(key, field, raw_value)
        elif field.startswith(FIELD_BUCKET):
            index = field[len(FIELD_BUCKET) :]
            if not index.isdigit() or int(index) >= BUCKETS:
                raise SignalError(
                    f"{key} has queue-time bucket {index!r}, this version knows 0..{BUCKETS - 1}: "
                    "are the middleware and the autoscaler the same version?"
                )
            histogram[int(index)] += _count(key, field, raw_value)
    return totals[FIELD_REQUESTS], totals[FIELD_QUEUED], totals[FIELD_APP_US]


def _count(key: str, field: str, raw: object) -> int:
    try:
        value = int(_text(raw))
    except ValueError:
        raise SignalError(f"{key} field {field!r} is not an integer: {raw!r:.100}") from None
    return check_count(f"{key} field {field!r}", value)


def build(name: str, process: ProcessConfig, settings: Settings, connections: Connections) -> WebSource:
    """The ``web`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    return WebSource(client, process=name, window=process.window, prefix=process.prefix or DEFAULT_PREFIX)
