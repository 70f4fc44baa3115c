"""Response time, request rate, router errors and dyno load from the scaled app's log drain.

The autoscaler app's web process (``python -m autoscaler web``) receives the app's Logplex
drain and adds every router and runtime-metrics line to one Redis hash per process type and
:data:`~autoscaler.drain.wire.SLOT_SECONDS`-second slot of the line's own timestamp (layout in
:mod:`autoscaler.drain.wire`). A read fetches the slots of the last ``WINDOW`` seconds with one
pipeline of ``HGETALL`` (keys computed from ``now``: no ``KEYS``) and merges them:

* Only **complete** slots are read: a slot counts once it ended :data:`GRACE_SECONDS` before
  ``now``, time for Logplex to deliver its lines. The window is rounded up to whole slots.
* ``rate`` = router lines / window seconds (a slot with no line is a slot without requests:
  the drain writes nothing for silence).
* ``response_time_p50/p95/p99`` (ms): quantiles of the router's ``service`` times, from the
  merged histogram (within 4 % of the exact quantile of the lines); an H12 counts as 30 s.
  None when no request was timed in the window.
* ``errors``: router error lines by code (``{"H12": 2}``), ``{}`` when none.
* ``memory_mb`` / ``load``: each dyno's newest ``memory_total`` and ``load_avg_1m`` in the window
  (log-runtime-metrics); None when no dyno sent one. A dyno that stopped drops out with its slots.
* No line at all in the window (router or runtime metrics): :class:`SignalError` (unknown,
  never 0): the drain is not added, the web process is not running, or it writes elsewhere.
  With log-runtime-metrics on, an idle app still sends its dynos' samples, so its reading is
  a rate of 0 rather than unknown.

``now`` comes from the caller; the source never reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from autoscaler.drain import wire
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading, check_count
from autoscaler.signals.redis_conn import describe, read_hashes
from autoscaler.signals.slots import SlotSource, SlotWindow

if TYPE_CHECKING:
    from autoscaler.config import RouterSettings, Settings
    from autoscaler.signals.build import Connections

GRACE_SECONDS = 5.0
"""A slot is read once it ended this long ago: Logplex delivers most lines within a second or
two; the rest is margin for clock differences between Heroku and the autoscaler."""
MAX_WINDOW = 600.0
"""The longest window: lines older than :data:`~autoscaler.drain.wire.MAX_LINE_AGE` are not stored."""
ROUTED_PROCESS = "web"
"""Heroku's router sends requests to the ``web`` process type only."""


@dataclass(frozen=True, slots=True)
class RouterStats:
    """The merged figures behind one reading: ``requests`` (router lines), ``service_ms`` (their
    timed service, summed), ``histogram`` (per bucket of :data:`~autoscaler.drain.wire.EDGES_MS`),
    ``errors`` by code, the newest ``memory_mb`` and ``load`` per dyno, ``seconds`` (the window),
    ``slots`` read and ``observed`` (slots with a line)."""

    requests: int
    service_ms: int
    histogram: tuple[int, ...]
    errors: Mapping[str, int]
    memory_mb: Mapping[str, float]
    load: Mapping[str, float]
    seconds: float
    slots: int
    observed: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def response_time(self, quantile: float) -> float | None:
        return wire.histogram_quantile(self.histogram, quantile)

    @property
    def mean_service_ms(self) -> float | None:
        timed = sum(self.histogram)
        return self.service_ms / timed if timed else None


class RouterSource(SlotSource):
    """Router figures of one process type (``web``) from the drain's slots in Redis.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect` to the
    state store the web process writes to; ``window`` the seconds behind each reading (rounded
    up to whole slots, at most :data:`MAX_WINDOW`).
    """

    def __init__(
        self,
        client: redis.Redis,
        process: str = ROUTED_PROCESS,
        window: float = 60.0,
        *,
        prefix: str = wire.DEFAULT_PREFIX,
    ) -> None:
        problems: list[str] = []
        if not wire.is_process_name(process):
            problems.append(f"process: invalid process type name {process!r}")
        if not 0 < window <= MAX_WINDOW:
            problems.append(
                f"window: must be > 0 and <= {MAX_WINDOW:g} seconds (older lines are not kept), got {window!r}"
            )
        if problems:
            raise ConfigError(problems)
        super().__init__(client, process, prefix, SlotWindow.covering(window, wire.SLOT_SECONDS, GRACE_SECONDS))

    def stats(self, now: float) -> RouterStats:
        """The merged figures of the window ending at ``now``; SignalError when Redis cannot be
        read, holds values that make no sense, or has no line of the window at all."""
        keys = [wire.slot_key(self._prefix, self._process, slot) for slot in self.slot_starts(now)]
        requests = service_ms = observed = 0
        histogram = [0] * wire.BUCKETS
        errors: dict[str, int] = {}
        memory: dict[str, float] = {}
        load: dict[str, float] = {}
        hashes = read_hashes(self._client, keys, what=f"the drained router figures of {self._process!r}")
        for key, reply in hashes:  # newest first: the first value of a dyno is its latest
            observed += 1
            figures = wire.parse_slot(key, reply)
            requests += figures.requests
            service_ms += figures.service_ms
            histogram = [a + b for a, b in zip(histogram, figures.histogram, strict=True)]
            for code, count in figures.errors.items():
                errors[code] = errors.get(code, 0) + count
            for dyno, value in figures.memory_mb.items():
                memory.setdefault(dyno, value)
            for dyno, value in figures.load.items():
                load.setdefault(dyno, value)
        if not observed:
            raise SignalError(
                f"no router or runtime-metrics line of process {self._process!r} in the last {self.window:g}s at "
                f"{describe(self._client)} (keys {self._prefix}:{self._process}:<slot>): is the log drain added to "
                "the app, and the autoscaler's web process running with the same state store? (docs/drain.md)"
            )
        if sum(histogram) > requests:
            raise SignalError(
                f"inconsistent router figures of {self._process!r}: {requests} requests, {sum(histogram)} timed"
            )
        return RouterStats(
            requests=check_count("router requests", requests),
            service_ms=service_ms,
            histogram=tuple(histogram),
            errors=errors,
            memory_mb=memory,
            load=load,
            seconds=self.window,
            slots=len(keys),
            observed=observed,
        )

    def read(self, now: float) -> Reading:
        """The reading of the window ending at ``now`` (see the module docstring)."""
        stats = self.stats(now)
        return Reading(
            at=now,
            rate=stats.rate,
            response_time_p50=stats.response_time(0.50),
            response_time_p95=stats.response_time(0.95),
            response_time_p99=stats.response_time(0.99),
            errors=dict(stats.errors),
            memory_mb=dict(stats.memory_mb) or None,
            load=dict(stats.load) or None,
        )


def build(name: str, process: RouterSettings, settings: Settings, connections: Connections) -> RouterSource:
    """The ``router`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    if name != ROUTED_PROCESS:
        raise ConfigError(
            [
                f"AUTOSCALER_PROCESSES__{name.upper()}__SOURCE: router: Heroku's router sends requests only to "
                f"the {ROUTED_PROCESS!r} process type, so {name!r} has no router lines; use it for {ROUTED_PROCESS!r}"
            ]
        )
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    return RouterSource(client, process=name, window=process.window)
