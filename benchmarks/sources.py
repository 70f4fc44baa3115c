"""Time per reading of every signal source, against the real local Redis, PostgreSQL and
RabbitMQ, with ``--queues`` queues holding ``--jobs`` waiting jobs in total.

    .venv/bin/python -m benchmarks.sources [--jobs 100000] [--queues 10] [--reads 30]

Each backend is filled fast, with raw writes in the library's own layout: one job per
queue is first published by the library itself (rq ``enqueue``, Celery ``send_task``),
read back and used as the template of the copies, which go in by pipelines (Redis),
``basic_publish`` without waiting (RabbitMQ) or ``COPY`` (PostgreSQL, into tables made by
procrastinate's and pgqueuer's own schema installers). The oldest job of each queue has
waited :data:`OLDEST_AGE` seconds, and where a backend knows running jobs there are
:data:`RUNNING` of them (rq started jobs, Celery ``unacked`` entries, Dramatiq acks of
:data:`WORKERS` workers, procrastinate ``doing`` and pgqueuer ``picked`` rows).

Every source is built with its module's real ``build(...)`` from a ``ProcessConfig`` and one
shared :class:`~autoscaler.signals.build.Connections`, as the daemon does. One read warms it
up (connects, loads the Lua script), then ``--reads`` reads are timed one by one with
``time.perf_counter``; the table gives the median and the 95th percentile (nearest rank).
Round trips per read are counted, not guessed: Redis by a connection class that counts the
packets it sends (a pipeline or an EVALSHA is one), RabbitMQ by py-amqp's count of frames
written, HTTP by a request hook (management API) or the local server's own count
(``http_json``), PostgreSQL with a libpq protocol trace of one more read (a round trip is a
run of messages sent followed by the replies; statements are Parse/Query messages).

Everything written carries a random tag (``bench_<hex>``): Redis keys in db 8 (scanned by
the tag and unlinked at the end, plus this run's members of rq's ``rq:queues`` set), the
PostgreSQL schemas ``bench_<hex>_*`` (dropped) and the RabbitMQ queues and exchanges
(deleted), also when a step fails or the run is interrupted (Ctrl-C, SIGTERM).
Prints Markdown; exits 1 when a source could not be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import random
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import amqp
import httpx
import psycopg
import redis
from psycopg import pq, sql

import autoscaler.celery
from autoscaler.config import ProcessConfig, Settings
from autoscaler.errors import SignalError
from autoscaler.middleware import (
    EDGES_MS,
    FIELD_APP_US,
    FIELD_BUCKET,
    FIELD_DYNO,
    FIELD_QUEUED,
    FIELD_REQUESTS,
    KEY_TTL,
    SLOT_SECONDS,
    slot_key,
    slot_start,
)
from autoscaler.signals import Reading, Source
from autoscaler.signals.build import Connections
from autoscaler.signals.celery import AMQPAddress
from autoscaler.signals.celery import build as build_celery
from autoscaler.signals.dramatiq import build as build_dramatiq
from autoscaler.signals.http_json import build as build_http_json
from autoscaler.signals.redis_list import build as build_redis_list
from autoscaler.signals.rq import build as build_rq
from autoscaler.signals.sql import build as build_sql
from autoscaler.signals.web import build as build_web

OLDEST_AGE = 600.0
"""Seconds the oldest job of every queue has waited when the queues are filled."""
RUNNING = 20
"""Running jobs, where the backend has them, on top of the waiting ones."""
WORKERS = 20
"""Dramatiq worker processes (heartbeats), each holding one running message."""
DYNOS = 20
"""Web dynos whose middleware wrote the request-count slots."""
WEB_WINDOW = 600.0
"""Seconds of slots behind one web reading (the longest window, 120 slots)."""
WEB_RATE = 20.0
"""Requests per second per web dyno."""
PIPELINE_CHUNK = 5000
"""Commands sent per pipeline round trip while filling Redis."""
PUSH_CHUNK = 1000
"""Values per RPUSH/LPUSH while filling Redis."""

TAG_RE = re.compile(r"bench_[a-z0-9]{1,20}")

CUSTOM_QUERY = """
SELECT queue,
       count(*) FILTER (WHERE status = 'waiting') AS depth,
       count(*) FILTER (WHERE status = 'running') AS busy,
       EXTRACT(EPOCH FROM now() - min(enqueued_at) FILTER (WHERE status = 'waiting')) AS latency
FROM {table}
WHERE status IN ('waiting', 'running')
GROUP BY queue
"""
"""The ``sql`` source with a query of the user's own, over an app table of this shape."""


def noop() -> None:
    """The job rq enqueues for the template; never run."""


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


# --- measuring ------------------------------------------------------------------------------


def timed_reads(source: Source, reads: int, count: Callable[[], int] | None = None) -> tuple[list[float], Reading, str]:
    """One warm-up read, then ``reads`` timed ones. Returns the times (s), the last reading,
    and the round trips per read from ``count`` (a running total), if given."""
    source.read(time.time())
    before = count() if count is not None else 0
    times: list[float] = []
    reading = None
    for _ in range(reads):
        now = time.time()
        started = time.perf_counter()
        reading = source.read(now)
        times.append(time.perf_counter() - started)
    assert reading is not None
    trips = "—" if count is None else per_read(count() - before, reads)
    return times, reading, trips


def per_read(total: int, reads: int) -> str:
    value = total / reads
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


def percentile(times: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def sql_protocol(conn: psycopg.Connection[Any], read: Callable[[], object]) -> tuple[int, int]:
    """(round trips, statements) of one call of ``read`` on ``conn``, from a libpq trace."""
    # The FILE libpq writes through stays open (libpq never closes it): the descriptor is
    # left open too, so that nothing is ever flushed into a reused descriptor number.
    fd, path = tempfile.mkstemp(prefix="bench-pqtrace-")
    try:
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            read()
        finally:
            conn.pgconn.untrace()  # flushes the trace
        with open(path) as trace:
            lines = [line.split("\t") for line in trace if "\t" in line]
    finally:
        os.unlink(path)
    trips = statements = 0
    previous = ""
    for line in lines:
        direction, message = line[0], line[2] if len(line) > 2 else ""
        if direction == "B" and previous == "F":
            trips += 1
        if direction == "F" and message in {"Parse", "Query"}:
            statements += 1
        previous = direction
    return trips, statements


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


# --- the benchmark ------------------------------------------------------------------------


class Bench:
    """Fills each backend, builds its sources, times them. Cleans up through ``cleanup``."""

    def __init__(self, args: argparse.Namespace, tag: str, cleanup: contextlib.ExitStack) -> None:
        self.args = args
        self.tag = tag
        self.cleanup = cleanup
        self.reads: int = args.reads
        self.queues = [f"{tag}-q{i}" for i in range(args.queues)]
        self.counts = [args.jobs // args.queues + (1 if i < args.jobs % args.queues else 0) for i in range(args.queues)]
        self.connections = CountingConnections()
        self.redis = redis.Redis.from_url(args.redis_url, socket_timeout=30)
        cleanup.callback(self.redis.close)
        cleanup.callback(self._clean_redis)
        self.settings = Settings()
        self.rng = random.Random(7)
        self.started = time.time()

    # -- helpers

    def stamp(self, index: int, count: int) -> float:
        """Enqueue time of job ``index`` of ``count`` in a queue: the first waited OLDEST_AGE."""
        return self.started - OLDEST_AGE * (count - 1 - index) / max(1, count - 1)

    def begin_fill(self) -> float:
        """Jobs filled from now on are aged from this moment; returns perf_counter()."""
        self.started = time.time()
        return time.perf_counter()

    def build(self, builder: Callable[..., Source], name: str, **fields: Any) -> Source:
        process = ProcessConfig(max_dynos=10, jobs_per_dyno=100, **fields)
        source = builder(name, process, self.settings, self.connections)
        # Closed before what was set up for it (schemas, servers) is removed: the stack is LIFO.
        self.cleanup.callback(close_quietly, source)
        return source

    def redis_row(self, name: str, setup: str, source: Source, fill: float) -> Result:
        times, reading, trips = timed_reads(source, self.reads, lambda: self.connections.sent)
        return Result(name, setup, times, trips, "—", reading, fill)

    def _clean_redis(self) -> None:
        """Unlink every key of this run (they all carry the tag) and its rq:queues members."""
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
            client.srem("rq:queues", *(f"rq:queue:{name}" for name in self.queues))
        finally:
            client.close()

    @staticmethod
    def flush_if_full(pipe: redis.client.Pipeline) -> None:
        if len(pipe) >= PIPELINE_CHUNK:
            pipe.execute()

    # -- rq

    def case_rq(self) -> list[Result]:
        from rq import Queue

        started = self.begin_fill()
        template: dict[Any, Any] = {}
        for name in self.queues[:1]:  # one real job, by rq itself: the layout of the copies
            job = Queue(name, connection=self.redis).enqueue("benchmarks.sources.noop", job_id=f"{self.tag}-template")
            raw = self.redis.hgetall(f"rq:job:{job.id}")
            template = {_text(key): value for key, value in raw.items()}
            self.redis.delete(f"rq:job:{job.id}", f"rq:queue:{name}")
        pipe = self.redis.pipeline(transaction=False)
        for q, (name, count) in enumerate(zip(self.queues, self.counts, strict=True)):
            pipe.sadd("rq:queues", f"rq:queue:{name}")
            ids = [f"{self.tag}-{q}-{j}" for j in range(count)]
            for j, job_id in enumerate(ids):
                at = rq_time(self.stamp(j, count))
                mapping = template | {
                    "origin": name,
                    "created_at": at,
                    "enqueued_at": at,
                    "description": "benchmarks.sources.noop()",
                }
                pipe.hset(f"rq:job:{job_id}", mapping=mapping)
                self.flush_if_full(pipe)
            for i in range(0, len(ids), PUSH_CHUNK):
                pipe.rpush(f"rq:queue:{name}", *ids[i : i + PUSH_CHUNK])
        now = time.time()
        for k in range(RUNNING):
            name = self.queues[k % len(self.queues)]
            job_id = f"{self.tag}-running-{k}"
            started_at = rq_time(now - 5)
            pipe.hset(
                f"rq:job:{job_id}",
                mapping=template | {"origin": name, "status": "started", "started_at": started_at},
            )
            pipe.zadd(f"rq:wip:{name}", {f"{job_id}:{uuid.uuid4().hex}": now + 3600})
        pipe.execute()
        fill = time.perf_counter() - started
        source = self.build(build_rq, "worker", source="rq", url=self.args.redis_url, queues=self.queues)
        return [self.redis_row("rq", "RQ 3.0 layout, prefix rq", source, fill)]

    # -- celery on Redis

    def case_celery_redis(self) -> list[Result]:
        from celery import Celery

        started = self.begin_fill()
        prefix = f"{self.tag}:celery:"
        autoscaler.celery.install()  # the stamp (our publish-time header) on the templates
        app = Celery("bench", broker=self.args.redis_url, set_as_current=False)
        app.conf.broker_transport_options = {"global_keyprefix": prefix}
        try:
            for name in self.queues:  # one real task per queue: kombu writes its binding too
                app.send_task("bench.noop", queue=name)
        finally:
            app.close()
        templates = {}
        for name in self.queues:
            raw = self.redis.lrange(f"{prefix}{name}", 0, -1)
            templates[name] = json.loads(raw[0])
            self.redis.delete(f"{prefix}{name}")
        pipe = self.redis.pipeline(transaction=False)
        for name, count in zip(self.queues, self.counts, strict=True):
            messages = [json.dumps(celery_copy(templates[name], self.stamp(j, count))) for j in range(count)]
            for i in range(0, count, PUSH_CHUNK):  # oldest first: kombu LPUSHes, the oldest ends at the tail
                pipe.lpush(f"{prefix}{name}", *messages[i : i + PUSH_CHUNK])
                self.flush_if_full(pipe)
        now = time.time()
        for k in range(RUNNING):  # prefetched or running (acks_late): in unacked, as kombu keeps them
            message = celery_copy(templates[self.queues[k % len(self.queues)]], now - 5)
            info = message["properties"]["delivery_info"]
            tag = message["properties"]["delivery_tag"]
            pipe.hset(f"{prefix}unacked", tag, json.dumps([message, info["exchange"], info["routing_key"]]))
            pipe.zadd(f"{prefix}unacked_index", {tag: now})
        pipe.execute()
        fill = time.perf_counter() - started
        source = self.build(
            build_celery, "worker", source="celery", url=self.args.redis_url, queues=self.queues, prefix=prefix
        )
        setup = "kombu layout, 4 priority steps per queue, publish stamp"
        return [self.redis_row("celery (Redis)", setup, source, fill)]

    # -- dramatiq

    def case_dramatiq(self) -> list[Result]:
        started = self.begin_fill()
        ns = f"{self.tag}:dramatiq"
        pipe = self.redis.pipeline(transaction=False)
        for name, count in zip(self.queues, self.counts, strict=True):
            ids: list[str] = []
            for j in range(count):
                redis_id = str(uuid.uuid4())
                stamp_ms = int(self.stamp(j, count) * 1000)
                pipe.hset(f"{ns}:{name}.msgs", redis_id, dramatiq_message(name, redis_id, stamp_ms))
                ids.append(redis_id)
                self.flush_if_full(pipe)
            for i in range(0, count, PUSH_CHUNK):
                pipe.rpush(f"{ns}:{name}", *ids[i : i + PUSH_CHUNK])
        now_ms = int(time.time() * 1000)
        for k in range(WORKERS):
            worker = str(uuid.uuid4())
            pipe.zadd(f"{ns}:__heartbeats__", {worker: now_ms})
            if k < RUNNING:
                name = self.queues[k % len(self.queues)]
                redis_id = str(uuid.uuid4())
                pipe.hset(f"{ns}:{name}.msgs", redis_id, dramatiq_message(name, redis_id, now_ms - 5000))
                pipe.sadd(f"{ns}:__acks__.{worker}.{name}", redis_id)
        pipe.execute()
        fill = time.perf_counter() - started
        source = self.build(
            build_dramatiq, "worker", source="dramatiq", url=self.args.redis_url, queues=self.queues, prefix=ns
        )
        return [self.redis_row("dramatiq", f"dramatiq 2.2 layout, {WORKERS} worker heartbeats", source, fill)]

    # -- redis_list

    def case_redis_list(self) -> list[Result]:
        started = self.begin_fill()
        keys = [f"{self.tag}:list:{i}" for i in range(len(self.queues))]
        pipe = self.redis.pipeline(transaction=False)
        for key, count in zip(keys, self.counts, strict=True):
            for i in range(0, count, PUSH_CHUNK):
                pipe.rpush(key, *(f"job-{j}" for j in range(i, min(count, i + PUSH_CHUNK))))
                self.flush_if_full(pipe)
        pipe.execute()
        fill = time.perf_counter() - started
        source = self.build(build_redis_list, "worker", source="redis_list", url=self.args.redis_url, queues=keys)
        return [self.redis_row("redis_list", "LLEN of each list, one pipeline", source, fill)]

    # -- web

    def case_web(self) -> list[Result]:
        started = self.begin_fill()
        prefix = f"{self.tag}:web"
        now = time.time()
        # The window read ends 3–8 s before now; slots up to 5 minutes ahead keep it whole for
        # reads made later in the run.
        first = slot_start(now - WEB_WINDOW - 100)
        last = slot_start(now + 300)
        pipe = self.redis.pipeline(transaction=False)
        for slot in range(first, last + 1, SLOT_SECONDS):
            pipe.hset(slot_key(prefix, "web", slot), mapping=self.web_slot())
            pipe.expire(slot_key(prefix, "web", slot), KEY_TTL)
            self.flush_if_full(pipe)
        pipe.execute()
        fill = time.perf_counter() - started
        source = self.build(build_web, "web", source="web", url=self.args.redis_url, window=WEB_WINDOW, prefix=prefix)
        slots = WEB_WINDOW / SLOT_SECONDS
        setup = f"{WEB_WINDOW / 60:.0f} min of {SLOT_SECONDS} s slots ({slots:.0f} hashes), {DYNOS} dynos"
        return [self.redis_row("web", setup, source, fill)]

    def web_slot(self) -> dict[Any, int]:
        """One slot hash as the middleware of DYNOS dynos leaves it (merged counts)."""
        rng = self.rng
        per_dyno = [max(0, round(rng.gauss(WEB_RATE * SLOT_SECONDS, 10))) for _ in range(DYNOS)]
        requests = sum(per_dyno)
        histogram: dict[int, int] = {}
        for _ in range(requests):
            index = bisect_right(EDGES_MS, rng.lognormvariate(math.log(8.0), 1.0))
            histogram[index] = histogram.get(index, 0) + 1
        slot: dict[Any, int] = {
            FIELD_REQUESTS: requests,
            FIELD_QUEUED: requests,
            FIELD_APP_US: requests * rng.randint(40_000, 90_000),
        }
        slot |= {f"{FIELD_BUCKET}{index}": count for index, count in histogram.items()}
        slot |= {f"{FIELD_DYNO}web.{d + 1}": count for d, count in enumerate(per_dyno)}
        return slot

    # -- celery on RabbitMQ

    def case_celery_amqp(self) -> list[Result]:
        from celery import Celery

        started = self.begin_fill()
        address = AMQPAddress.parse(self.args.amqp_url)
        self.cleanup.callback(self._delete_amqp, address)
        autoscaler.celery.install()  # sets the AMQP timestamp RabbitMQ reports as head_message_timestamp
        app = Celery("bench", broker=self.args.amqp_url, set_as_current=False)
        try:
            for name in self.queues:  # one real task per queue: Celery declares queue, exchange, binding
                app.send_task("bench.noop", queue=name)
        finally:
            app.close()
        connection = amqp_connection(address)
        try:
            channel = connection.channel()
            for name, count in zip(self.queues, self.counts, strict=True):
                template = channel.basic_get(queue=name, no_ack=True)
                if template is None:
                    raise RuntimeError(f"Celery's template message is not in RabbitMQ queue {name}")
                for j in range(count):
                    stamp = self.stamp(j, count)
                    task_id = str(uuid.uuid4())
                    headers = dict(template.properties["application_headers"])
                    headers.update(id=task_id, root_id=task_id, **{autoscaler.celery.PUBLISHED_AT_HEADER: stamp})
                    properties = template.properties | {
                        "application_headers": headers,
                        "correlation_id": task_id,
                        "timestamp": int(stamp),
                    }
                    channel.basic_publish(amqp.Message(template.body, **properties), exchange="", routing_key=name)
            wait_ready(channel, self.queues, self.counts)
        finally:
            connection.collect()
        fill = time.perf_counter() - started

        passive = self.build(build_celery, "worker", source="celery", url=self.args.amqp_url, queues=self.queues)
        times, reading, trips = timed_reads(passive, self.reads, lambda: amqp_frames(passive))
        rows = [Result("celery (RabbitMQ)", "passive queue.declare per queue", times, trips, "—", reading, fill)]
        try:
            rows.append(self.management_row(fill))
        except Exception as exc:
            rows.append(Result("celery (RabbitMQ)", "management API", error=f"{type(exc).__name__}: {exc}"))
        return rows

    def management_row(self, fill: float) -> Result:
        setup = "management API, one GET /api/queues/{vhost}"
        base = self.args.management_url
        try:
            httpx.get(f"{base}/api/overview", auth=("guest", "guest"), timeout=2).raise_for_status()
        except httpx.HTTPError as exc:
            return Result("celery (RabbitMQ)", setup, error=f"not reachable at {base}: {exc}")
        source = self.build(
            build_celery, "worker", source="celery", url=self.args.amqp_url, queues=self.queues, management_url=base
        )
        wait_for_depth(source, sum(self.counts))
        requests = [0]

        def count() -> int:
            client: httpx.Client | None = getattr(source, "_http", None)
            if client is not None and not client.event_hooks["request"]:
                client.event_hooks = {"request": [lambda request: add_one(requests)], "response": []}
            return requests[0]

        count()
        times, reading, trips = timed_reads(source, self.reads, count)
        return Result("celery (RabbitMQ)", setup, times, trips, "—", reading, fill)

    def _delete_amqp(self, address: AMQPAddress) -> None:
        connection = amqp_connection(address)
        try:
            for name in self.queues:  # both are idempotent on RabbitMQ 3.x
                channel = connection.channel()
                channel.queue_delete(name)
                channel.exchange_delete(name)
                channel.close()
        finally:
            connection.collect()

    # -- sql

    def schema(self, suffix: str) -> str:
        """A new schema ``<tag>_<suffix>`` (the tag starts with bench_), dropped at the end."""
        name = f"{self.tag}_{suffix}"
        with psycopg.connect(self.args.database_url, autocommit=True) as admin:
            self.cleanup.callback(drop_schema, self.args.database_url, name)
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name

    def sql_row(self, setup: str, source: Source, fill: float) -> Result:
        times, reading, _ = timed_reads(source, self.reads)
        conn: psycopg.Connection[Any] = getattr(source, "_conn")  # noqa: B009  (the source's own connection)
        trips, statements = sql_protocol(conn, lambda: source.read(time.time()))
        return Result("sql", setup, times, str(trips), str(statements), reading, fill)

    def case_procrastinate(self) -> list[Result]:
        import procrastinate

        # procrastinate warns that the App is made in __main__ (this module): true and harmless.
        logging.getLogger("procrastinate").setLevel(logging.ERROR)
        started = self.begin_fill()
        schema = self.schema("procrastinate")
        connector = procrastinate.PsycopgConnector(
            conninfo=self.args.database_url, kwargs={"options": f"-c search_path={schema}"}
        )
        app = procrastinate.App(connector=connector)

        async def apply() -> None:
            async with app.open_async():
                await app.schema_manager.apply_schema_async()

        asyncio.run(apply())
        # procrastinate_defer_jobs inserts these columns; its insert triggers (a NOTIFY and the
        # 'deferred' event) run for every copied row as well. Triggers resolve their tables
        # through the search_path: it must be the schema.
        with in_schema(self.args.database_url, schema) as conn:
            columns = "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status"
            with conn.cursor().copy(f"COPY procrastinate_jobs ({columns}) FROM STDIN") as copy:
                for name, count in zip(self.queues, self.counts, strict=True):
                    for _ in range(count):
                        copy.write_row((name, "bench_job", 0, None, None, "{}", None, "todo"))
                for k in range(RUNNING):
                    copy.write_row((self.queues[k % len(self.queues)], "bench_job", 0, None, None, "{}", None, "doing"))
            # The 'deferred' events, spread over OLDEST_AGE like the other backends' jobs.
            conn.execute(
                "UPDATE procrastinate_events"
                " SET at = now() - make_interval(secs => %s * (mx - job_id) / greatest(1, mx - mn))"
                " FROM (SELECT min(id) AS mn, max(id) AS mx FROM procrastinate_jobs) AS r",
                (OLDEST_AGE,),
            )
            conn.execute("VACUUM ANALYZE procrastinate_jobs")
            conn.execute("VACUUM ANALYZE procrastinate_events")
        fill = time.perf_counter() - started
        source = self.build(
            build_sql, "worker", source="sql", url=self.args.database_url, preset="procrastinate", prefix=schema
        )
        return [self.sql_row("preset procrastinate (3.x schema)", source, fill)]

    def case_pgqueuer(self) -> list[Result]:
        from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
        from pgqueuer.domain.settings import DBSettings
        from pgqueuer.queries import Queries

        started = self.begin_fill()
        schema = self.schema("pgqueuer")
        settings = DBSettings(db_schema=schema)

        async def install() -> None:
            conn = await psycopg.AsyncConnection.connect(self.args.database_url, autocommit=True)
            try:
                driver = Queries.from_psycopg_connection(conn).driver
                await Queries(driver, qbe=QueryBuilderEnvironment(settings), qbq=QueryQueueBuilder(settings)).install()
            finally:
                await conn.close()

        asyncio.run(install())
        table, log = settings.queue_table, settings.queue_table_log
        with in_schema(self.args.database_url, schema) as conn:
            columns = "priority, entrypoint, payload, execute_after, status, queue_manager_id"
            with conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), sql.SQL(columns))
            ) as copy:
                for name, count in zip(self.queues, self.counts, strict=True):
                    for j in range(count):
                        at = datetime.fromtimestamp(self.stamp(j, count), UTC)
                        copy.write_row((0, name, None, at, "queued", None))
                for k in range(RUNNING):
                    at = datetime.fromtimestamp(time.time() - 5, UTC)
                    copy.write_row((0, self.queues[k % len(self.queues)], None, at, "picked", uuid.uuid4()))
            # pgqueuer's enqueue also logs each job.
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (job_id, status, entrypoint, priority)"
                    " SELECT id, 'queued', entrypoint, priority FROM {}"
                ).format(sql.Identifier(log), sql.Identifier(table))
            )
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        fill = time.perf_counter() - started
        source = self.build(
            build_sql, "worker", source="sql", url=self.args.database_url, preset="pgqueuer", prefix=schema
        )
        return [self.sql_row("preset pgqueuer (1.x schema)", source, fill)]

    def case_custom_sql(self) -> list[Result]:
        started = self.begin_fill()
        schema = self.schema("app")
        with in_schema(self.args.database_url, schema) as conn:
            conn.execute(
                "CREATE TABLE app_jobs (id bigserial PRIMARY KEY, queue text NOT NULL, status text NOT NULL,"
                " enqueued_at timestamptz NOT NULL, payload jsonb NOT NULL DEFAULT '{}')"
            )
            conn.execute("CREATE INDEX ON app_jobs (status, queue)")
            with conn.cursor().copy("COPY app_jobs (queue, status, enqueued_at) FROM STDIN") as copy:
                for name, count in zip(self.queues, self.counts, strict=True):
                    for j in range(count):
                        copy.write_row((name, "waiting", datetime.fromtimestamp(self.stamp(j, count), UTC)))
                for k in range(RUNNING):
                    copy.write_row((self.queues[k % len(self.queues)], "running", datetime.now(UTC)))
            conn.execute("VACUUM ANALYZE app_jobs")
        fill = time.perf_counter() - started
        query = CUSTOM_QUERY.format(table=f'"{schema}".app_jobs')
        source = self.build(build_sql, "worker", source="sql", url=self.args.database_url, query=query)
        return [self.sql_row("custom query: count/min(enqueued_at) GROUP BY queue", source, fill)]

    # -- http_json

    def case_http_json(self) -> list[Result]:
        served = [0]
        document = json.dumps(
            [
                {"name": "web", "value": 12},
                {"name": "worker", "value": sum(self.counts)},
                {"name": "mailer", "value": 0},
            ]
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real app server
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def do_GET(self) -> None:
                add_one(served)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.cleanup.callback(server.server_close)
        self.cleanup.callback(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}/hirefire/bench-token/info"
        source = self.build(build_http_json, "worker", source="http_json", url=url)
        times, reading, trips = timed_reads(source, self.reads, lambda: served[0])
        setup = "local HireFire-format endpoint (constant cost)"
        return [Result("http_json", setup, times, trips, "—", reading, 0.0)]


def close_quietly(source: Source) -> None:
    with contextlib.suppress(Exception):
        source.close()


def add_one(counter: list[int]) -> None:
    counter[0] += 1


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def rq_time(at: float) -> str:
    """A time as rq writes ``enqueued_at``: UTC, microseconds, a literal Z."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def celery_copy(template: dict[str, Any], stamp: float) -> dict[str, Any]:
    """A copy of a task message as kombu stores it, with a new task id, delivery tag and
    publish stamp (ours, as :mod:`autoscaler.celery` writes it)."""
    task_id = str(uuid.uuid4())
    headers = template["headers"] | {"id": task_id, "root_id": task_id, autoscaler.celery.PUBLISHED_AT_HEADER: stamp}
    properties = template["properties"] | {
        "correlation_id": task_id,
        "timestamp": int(stamp),
        "delivery_tag": str(uuid.uuid4()),
    }
    return template | {"headers": headers, "properties": properties}


def dramatiq_message(queue: str, redis_id: str, timestamp_ms: int) -> bytes:
    """A message as dramatiq's RedisBroker.enqueue stores it: its own JSON encoding, with the
    per-enqueue ``redis_message_id`` option."""
    import dramatiq

    encoded: bytes = dramatiq.Message(
        queue_name=queue,
        actor_name="noop",
        args=(),
        kwargs={},
        options={"redis_message_id": redis_id},
        message_timestamp=timestamp_ms,
    ).encode()
    return encoded


def amqp_connection(address: AMQPAddress) -> amqp.Connection:
    connection = amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.user,
        password=address.password,
        virtual_host=address.vhost,
        connect_timeout=5,
    )
    connection.connect()
    return connection


def amqp_frames(source: Source) -> int:
    """Frames py-amqp has written on the source's connection (one per passive declare)."""
    connection = getattr(source, "_connection", None)
    return int(connection.bytes_sent) if connection is not None else 0


def wait_for_depth(source: Source, expected: int, timeout: float = 30.0) -> None:
    """Wait until the management API's statistics (a few seconds behind the queues; none at
    all for a queue just declared) show every message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(SignalError):
            if source.read(time.time()).depth == expected:
                return
        time.sleep(1)


def wait_ready(channel: Any, queues: list[str], counts: list[int], timeout: float = 60.0) -> None:
    """Wait until RabbitMQ holds every published message (publishing does not wait)."""
    deadline = time.monotonic() + timeout
    while True:
        ready = sum(channel.queue_declare(queue=name, passive=True).message_count for name in queues)
        if ready >= sum(counts) or time.monotonic() > deadline:
            return
        time.sleep(0.2)


@contextlib.contextmanager
def in_schema(url: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection whose search_path is ``schema`` alone."""
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
        yield conn


def drop_schema(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


# --- output -------------------------------------------------------------------------------


def server_versions(args: argparse.Namespace) -> str:
    found: list[str] = []
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(args.redis_url, socket_timeout=2)
        found.append(f"Redis {client.info('server').get('redis_version')}")
        client.close()
    with contextlib.suppress(psycopg.Error), psycopg.connect(args.database_url, connect_timeout=2) as conn:
        version = conn.info.server_version
        found.append(f"PostgreSQL {version // 10000}.{version % 10000}")
    with contextlib.suppress(Exception):
        connection = amqp_connection(AMQPAddress.parse(args.amqp_url))
        version = connection.server_properties.get("version", "?")
        found.append(f"RabbitMQ {version.decode() if isinstance(version, bytes) else version}")
        connection.collect()
    return ", ".join(found)


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


def run_case(name: str, case: Callable[[], list[Result]]) -> list[Result]:
    print(f"... {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        results = case()
    except Exception as exc:
        return [Result(name, "", error=f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/"))]
    print(f"    done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=100_000, help="waiting jobs in total (default 100000)")
    parser.add_argument("--queues", type=int, default=10, help="queues they are spread over (default 10)")
    parser.add_argument("--reads", type=int, default=30, help="timed reads per source (default 30)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8", help="default db 8 of the local Redis")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL (default TEST_DATABASE_URL or the local test database)",
    )
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//", help="RabbitMQ")
    parser.add_argument(
        "--management-url", default="http://127.0.0.1:15672", help="RabbitMQ management API (guest/guest)"
    )
    parser.add_argument("--tag", default=None, help="name part of everything written (default bench_<random>)")
    args = parser.parse_args(argv)
    if args.jobs < args.queues or args.queues < 1 or args.reads < 1:
        parser.error("need --queues >= 1, --jobs >= --queues and --reads >= 1")
    if args.tag is None:
        args.tag = f"bench_{uuid.uuid4().hex[:8]}"
    elif not TAG_RE.fullmatch(args.tag):
        parser.error("--tag: bench_ followed by up to 20 lower-case letters or digits")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    previous = (
        signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    )
    started = time.perf_counter()
    results: list[Result] = []
    try:
        with contextlib.ExitStack() as cleanup:
            bench = Bench(args, args.tag, cleanup)
            cases: list[tuple[str, Callable[[], list[Result]]]] = [
                ("rq", bench.case_rq),
                ("celery (Redis)", bench.case_celery_redis),
                ("dramatiq", bench.case_dramatiq),
                ("redis_list", bench.case_redis_list),
                ("web", bench.case_web),
                ("celery (RabbitMQ)", bench.case_celery_amqp),
                ("sql procrastinate", bench.case_procrastinate),
                ("sql pgqueuer", bench.case_pgqueuer),
                ("sql custom query", bench.case_custom_sql),
                ("http_json", bench.case_http_json),
            ]
            for name, case in cases:
                results += run_case(name, case)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    elapsed = time.perf_counter() - started

    print("## Signal sources: time per reading\n")
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}); {server_versions(args)}, all on this machine (loopback).\n"
    )
    print(
        f"{args.jobs:,} waiting jobs over {args.queues} queues (the oldest {OLDEST_AGE:.0f} s old), plus "
        f"{RUNNING} running where the backend has them. One warm-up read, then {args.reads} reads timed one by one "
        f"(wall clock, `time.perf_counter`); p95 is the nearest rank. Redis sources share one client, as in the "
        f"daemon; fills are raw writes in each library's layout. Total run {elapsed:.0f} s (fills included).\n"
    )
    for line in table(results):
        print(line)
    print(
        "\nRound trips / read: Redis, packets the client sent (a pipeline or an EVALSHA is one); RabbitMQ passive, "
        "AMQP frames sent (each queue.declare waits for its reply); HTTP, requests; PostgreSQL, from a libpq trace of "
        "one more read: runs of client messages followed by the server's replies. SQL statements: Parse/Query "
        "messages in that trace. Fill: the raw writes (RabbitMQ: publishing, then waiting until the broker holds "
        "every message; its two rows share one fill; SQL: COPY, triggers, VACUUM ANALYZE)."
    )
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
