"""The harness every backend module uses: the shared state of one run (:class:`Bench`), the
timing of a source's reads, and the Markdown table of the results.

A backend module fills its service through ``bench`` (queue names, job counts, enqueue times,
the Redis client, the clean-up stack), builds its sources with :meth:`Bench.build` and times
them with :meth:`Bench.measure`, each source giving one :class:`Result` row.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from autoscaler.config import Settings, process_config
from autoscaler.signals import Reading, Source
from autoscaler.signals.build import Connections

OLDEST_AGE = 600.0
"""Seconds the oldest job of every queue has waited when the queues are filled."""
RUNNING = 20
"""Running jobs, where the backend has them, on top of the waiting ones."""


@dataclass
class Result:
    """One row of the table."""

    source: str
    setup: str
    times: list[float] = field(default_factory=list)
    trips: str = "—"
    statements: str = "—"
    reading: Reading | None = None
    fill_seconds: float | None = None
    error: str | None = None


class Tally:
    """A running total, for hooks that count requests."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, *_: object) -> None:
        self.total += 1


class CountingConnections(Connections):
    """:class:`Connections` whose Redis clients count every packet they send: one per round
    trip (a pipeline, an EVALSHA, a health-check PING)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def redis(self, url: str, verify_tls: bool = False) -> redis.Redis:
        client = super().redis(url, verify_tls)
        pool = client.connection_pool
        base: type[Any] = pool.connection_class
        if not getattr(base, "counts_packets", False):
            owner = self

            def send_packed_command(conn: Any, command: Any, check_health: bool = True) -> None:
                owner.sent += 1
                base.send_packed_command(conn, command, check_health)

            # Set before the client's first command: every connection of the pool counts.
            pool.connection_class = type(
                "Counting" + base.__name__,
                (base,),
                {"send_packed_command": send_packed_command, "counts_packets": True},
            )
        return client


class Bench:
    """What every backend shares in one run: the queues and their job counts, the Redis client
    that fills, the sources' :class:`Connections`, and ``cleanup``, the stack that undoes
    everything written (also on an error or an interrupt)."""

    def __init__(self, args: argparse.Namespace, cleanup: contextlib.ExitStack) -> None:
        self.args = args
        self.tag: str = args.tag
        self.cleanup = cleanup
        self.reads: int = args.reads
        self.queues = [f"{self.tag}-q{i}" for i in range(args.queues)]
        self.counts = [args.jobs // args.queues + (1 if i < args.jobs % args.queues else 0) for i in range(args.queues)]
        self.connections = CountingConnections()
        self.redis = redis.Redis.from_url(args.redis_url, socket_timeout=30)
        cleanup.callback(self.redis.close)
        cleanup.callback(self._clean_redis)
        self.settings = Settings()
        self.started = time.time()

    def begin_fill(self) -> float:
        """Jobs filled from now on are aged from this moment; returns perf_counter()."""
        self.started = time.time()
        return time.perf_counter()

    def stamps(self, count: int) -> list[float]:
        """Enqueue times of the ``count`` jobs of one queue, oldest first: the first has waited
        :data:`OLDEST_AGE` seconds, the last was enqueued when the fill began."""
        return [self.started - OLDEST_AGE * (count - 1 - j) / max(1, count - 1) for j in range(count)]

    def waiting(self) -> Iterator[tuple[str, list[float]]]:
        """Each queue's name and the enqueue times of its waiting jobs (:meth:`stamps`)."""
        for name, count in zip(self.queues, self.counts, strict=True):
            yield name, self.stamps(count)

    def waiting_jobs(self) -> Iterator[tuple[str, float]]:
        """Queue and enqueue time of every waiting job, queue by queue, oldest first."""
        for name, stamps in self.waiting():
            for stamp in stamps:
                yield name, stamp

    def running(self) -> list[str]:
        """The queue of each of the :data:`RUNNING` running jobs, spread over the queues."""
        return [self.queues[k % len(self.queues)] for k in range(RUNNING)]

    def build(self, builder: Callable[..., Source], name: str, **fields: Any) -> Source:
        """A source made by its module's real ``build`` from a ``ProcessConfig``, as the daemon does."""
        process = process_config(max_dynos=10, jobs_per_dyno=100, **fields)
        source = builder(name, process, self.settings, self.connections)
        # Closed before what was set up for it (schemas, servers) is removed: the stack is LIFO.
        self.cleanup.callback(close_quietly, source)
        return source

    def measure(
        self, name: str, setup: str, source: Source, fill: float, count: Callable[[], int] | None = None
    ) -> Result:
        """One warm-up read of ``source``, then ``reads`` timed ones; the round trips per read
        from ``count`` (a running total), if given."""
        source.read(time.time())
        before = count() if count is not None else 0
        times: list[float] = []
        reading = None
        for _ in range(self.reads):
            now = time.time()
            started = time.perf_counter()
            reading = source.read(now)
            times.append(time.perf_counter() - started)
        trips = "—" if count is None else per_read(count() - before, self.reads)
        return Result(name, setup, times, trips, "—", reading, fill)

    def measure_redis(self, name: str, setup: str, source: Source, fill: float) -> Result:
        """:meth:`measure`, counting the packets the shared Redis clients send."""
        return self.measure(name, setup, source, fill, lambda: self.connections.sent)

    def _clean_redis(self) -> None:
        """Unlink every key of this run: they all carry the tag."""
        client = redis.Redis.from_url(self.args.redis_url, socket_timeout=30)
        try:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"*{self.tag}*", count=5000):
                batch.append(key)
                if len(batch) >= 5000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)
        finally:
            client.close()


def close_quietly(source: Source) -> None:
    with contextlib.suppress(Exception):
        source.close()


def per_read(total: int, reads: int) -> str:
    value = total / reads
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def percentile(times: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run_case(name: str, case: Callable[[], list[Result]]) -> list[Result]:
    """The rows of one backend, or one row saying why it could not be measured."""
    print(f"... {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        results = case()
    except Exception as exc:
        return [Result(name, "", error=f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/"))]
    print(f"    done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return results


def reading_text(reading: Reading | None) -> str:
    if reading is None:
        return ""
    if reading.rate is not None:
        return (
            f"rate {reading.rate:,.0f}/s, queue time p50/p95/p99 {reading.queue_time_p50 or 0:.1f}/"
            f"{reading.queue_time_p95 or 0:.1f}/{reading.queue_time_p99 or 0:.1f} ms, "
            f"app {reading.app_time or 0:.1f} ms"
        )
    parts: list[str] = []
    if reading.depth is not None:
        parts.append(f"depth {reading.depth:,}")
    if reading.latency is not None:
        parts.append(f"latency {'≥ ' if reading.latency_is_lower_bound else ''}{reading.latency:.0f} s")
    if reading.busy is not None:
        parts.append(f"busy {reading.busy}")
    return ", ".join(parts)


def table(results: list[Result]) -> list[str]:
    lines = [
        "| source | setup | median ms | p95 ms | round trips / read | SQL statements / read | what a read returned "
        "| fill s |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        fill = "" if r.fill_seconds is None else f"{r.fill_seconds:.1f}"
        if r.error is not None:
            lines.append(f"| {r.source} | {r.setup} | | | | | not measured: {r.error[:200]} | {fill} |")
            continue
        median = statistics.median(r.times) * 1000
        p95 = percentile(r.times, 0.95) * 1000
        lines.append(
            f"| {r.source} | {r.setup} | {median:.2f} | {p95:.2f} | {r.trips} | {r.statements} | "
            f"{reading_text(r.reading)} | {fill} |"
        )
    return lines
