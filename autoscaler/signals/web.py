"""Web request rate, queue time and app time, from what :mod:`autoscaler.middleware` flushed.

The middleware in every web process adds its counts to one Redis hash per process type
and :data:`~autoscaler.signals.webwire.SLOT_SECONDS`-second slot. The layout is in
:mod:`autoscaler.signals.webwire`, the one module this source shares with the middleware
(the daemon never imports the middleware itself). A read fetches the slots of the last
``window`` seconds with one pipeline of ``HGETALL`` (the slot keys are computed from
``now``: no ``KEYS``) and merges them:

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
from typing import TYPE_CHECKING

import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading, check_count, slots, webwire
from autoscaler.signals.redis_conn import describe, read_hashes

if TYPE_CHECKING:
    from autoscaler.config import Settings, WebSettings
    from autoscaler.signals.build import Connections

GRACE_SECONDS = webwire.FLUSH_INTERVAL + 1.0
"""A slot is read once it ended this long ago: one flush interval plus a second for the
flush itself and clock differences between dynos and the autoscaler."""
MAX_WINDOW = 600.0
"""The longest window: its oldest slot must still be in Redis (keys expire KEY_TTL after their last write)."""


@dataclass(frozen=True, slots=True)
class WebStats:
    """The merged counts behind one reading.

    ``requests``: requests that ended in the observed slots; ``queued``: of which had a
    usable ``X-Request-Start``; ``app_us``: their app time summed (µs); ``seconds``: time
    observed (slots written × slot width); ``slots``: slots read (observed or not);
    ``dynos``: requests per dyno (``$DYNO``, else hostname-pid) of every dyno that wrote
    in the window, 0 for one that was alive but idle;
    ``histogram``: queue-time counts per bucket of :data:`autoscaler.signals.webwire.EDGES_MS`.
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
    low = 0.0 if index == 0 else webwire.EDGES_MS[index - 1]
    high = webwire.EDGES_MS[index] if index < len(webwire.EDGES_MS) else math.inf
    return low, high


def histogram_quantile(counts: Sequence[int], quantile: float) -> float | None:
    """The ``quantile`` (0 < q ≤ 1) of a queue-time histogram in ms, interpolated linearly
    inside its bucket; the open last bucket gives its lower edge. None for an empty one."""
    return slots.histogram_quantile(counts, quantile, bucket_bounds)


class WebSource(slots.SlotSource):
    """Request rate, queue-time percentiles and mean app time of one web process type.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect`;
    ``process`` the Procfile name the middleware writes under (``$DYNO`` before the dot);
    ``window`` the seconds behind each reading (rounded up to whole slots, at most
    :data:`MAX_WINDOW`); ``prefix`` the middleware's key prefix.
    """

    def __init__(
        self, client: redis.Redis, process: str = "web", window: float = 60.0, *, prefix: str = webwire.DEFAULT_PREFIX
    ) -> None:
        problems = webwire.name_problems(process, prefix)
        if not 0 < window <= MAX_WINDOW:
            problems.append(f"window: must be > 0 and <= {MAX_WINDOW:g} seconds (older slots expire), got {window!r}")
        if problems:
            raise ConfigError(problems)
        window_slots = slots.SlotWindow.covering(window, webwire.SLOT_SECONDS, GRACE_SECONDS)
        super().__init__(client, process, prefix, window_slots)

    def stats(self, now: float) -> WebStats:
        """The merged counts of the window ending at ``now``; SignalError when Redis cannot
        be read, holds values that make no sense, or has no slot of the window at all."""
        keys = [webwire.slot_key(self._prefix, self._process, slot) for slot in self.slot_starts(now)]
        totals = [0] * webwire.WIDTH
        dynos: dict[str, int] = {}
        observed = 0
        for key, reply in read_hashes(self._client, keys, what=f"web request counts of {self._process!r}"):
            observed += 1
            counts, slot_dynos = webwire.parse_slot(key, reply)
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
            for dyno, count in slot_dynos.items():
                dynos[dyno] = dynos.get(dyno, 0) + count
        if not observed:
            raise SignalError(
                f"no request counts from autoscaler.middleware for process {self._process!r} in the last "
                f"{self.window:g}s at {describe(self._client)} (keys {self._prefix}:{self._process}:<slot>): "
                "is the middleware installed in the web app, writing to this Redis with the same prefix?"
            )
        requests, queued, histogram = totals[webwire.REQUESTS], totals[webwire.QUEUED], totals[webwire.HIST :]
        if sum(histogram) != queued or queued > requests:
            raise SignalError(
                f"inconsistent web request counts of {self._process!r}: {requests} requests, {queued} with a "
                f"queue time, {sum(histogram)} in the histogram"
            )
        return WebStats(
            requests=check_count("web requests", requests),
            queued=queued,
            app_us=totals[webwire.APP_US],
            seconds=float(observed * webwire.SLOT_SECONDS),
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


def build(name: str, process: WebSettings, settings: Settings, connections: Connections) -> WebSource:
    """The ``web`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    return WebSource(client, process=name, window=process.window, prefix=process.prefix or webwire.DEFAULT_PREFIX)
