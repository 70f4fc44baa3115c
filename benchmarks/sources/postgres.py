"""The ``sql`` source on PostgreSQL (``--database-url``): the procrastinate and pgqueuer
presets, in tables made by each library's own schema installer, and a query of the user's
own over an app table.

Each backend gets a schema ``<tag>_<name>``, dropped at the end; the jobs go in by ``COPY``
(the tables' insert triggers run for every row), then ``VACUUM ANALYZE``. Round trips and
statements per read come from a libpq protocol trace of one more read.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import pq, sql

from autoscaler.signals import Source
from autoscaler.signals.sql import build as build_sql
from benchmarks.sources.harness import OLDEST_AGE, Bench, Result

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


def postgres_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=2) as conn:
        version = conn.info.server_version
    return f"PostgreSQL {version // 10000}.{version % 10000}"


def sql_protocol(conn: psycopg.Connection[Any], read: Callable[[], object]) -> tuple[int, int]:
    """(round trips, statements) of one call of ``read`` on ``conn``, from a libpq trace: a
    round trip is a run of messages sent followed by the replies; statements are Parse/Query
    messages."""
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


@contextlib.contextmanager
def in_schema(url: str, schema: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection whose search_path is ``schema`` alone."""
    with psycopg.connect(url, autocommit=True, options=f"-c search_path={schema}") as conn:
        yield conn


def drop_schema(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def new_schema(bench: Bench, suffix: str) -> str:
    """A new schema ``<tag>_<suffix>`` (the tag starts with bench_), dropped at the end."""
    name = f"{bench.tag}_{suffix}"
    with psycopg.connect(bench.args.database_url, autocommit=True) as admin:
        bench.cleanup.callback(drop_schema, bench.args.database_url, name)
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    return name


def copy_rows(conn: psycopg.Connection[Any], statement: sql.Composed | str, rows: Iterable[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def sql_row(bench: Bench, setup: str, source: Source, fill: float) -> Result:
    """The timed reads of ``source``, with its round trips and statements from a trace."""
    row = bench.measure("sql", setup, source, fill)
    conn: psycopg.Connection[Any] = getattr(source, "_conn")  # noqa: B009  (the source's own connection)
    trips, statements = sql_protocol(conn, lambda: source.read(time.time()))
    row.trips, row.statements = str(trips), str(statements)
    return row


def build_preset(bench: Bench, preset: str, schema: str) -> Source:
    return bench.build(build_sql, "worker", source="sql", url=bench.args.database_url, preset=preset, prefix=schema)


# --- procrastinate ------------------------------------------------------------------------


def procrastinate(bench: Bench) -> list[Result]:
    import procrastinate

    started = bench.begin_fill()
    schema = new_schema(bench, "procrastinate")
    connector = procrastinate.PsycopgConnector(
        conninfo=bench.args.database_url, kwargs={"options": f"-c search_path={schema}"}
    )
    app = procrastinate.App(connector=connector)

    async def apply() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    asyncio.run(apply())
    # procrastinate_defer_jobs inserts these columns; its insert triggers (a NOTIFY and the
    # 'deferred' event) run for every copied row as well. Triggers resolve their tables
    # through the search_path: it must be the schema.
    with in_schema(bench.args.database_url, schema) as conn:
        columns = "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status"
        jobs = itertools.chain(
            ((name, "todo") for name, _ in bench.waiting_jobs()), ((name, "doing") for name in bench.running())
        )
        rows = ((name, "bench_job", 0, None, None, "{}", None, status) for name, status in jobs)
        copy_rows(conn, f"COPY procrastinate_jobs ({columns}) FROM STDIN", rows)
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
    return [sql_row(bench, "preset procrastinate (3.x schema)", build_preset(bench, "procrastinate", schema), fill)]


# --- pgqueuer -----------------------------------------------------------------------------


def pgqueuer(bench: Bench) -> list[Result]:
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
    from pgqueuer.domain.settings import DBSettings
    from pgqueuer.queries import Queries

    started = bench.begin_fill()
    schema = new_schema(bench, "pgqueuer")
    settings = DBSettings(db_schema=schema)

    async def install() -> None:
        conn = await psycopg.AsyncConnection.connect(bench.args.database_url, autocommit=True)
        try:
            driver = Queries.from_psycopg_connection(conn).driver
            await Queries(driver, qbe=QueryBuilderEnvironment(settings), qbq=QueryQueueBuilder(settings)).install()
        finally:
            await conn.close()

    asyncio.run(install())
    table, log = sql.Identifier(settings.queue_table), sql.Identifier(settings.queue_table_log)
    with in_schema(bench.args.database_url, schema) as conn:
        columns = sql.SQL("priority, entrypoint, payload, execute_after, status, queue_manager_id")
        running_since = utc(time.time() - 5)
        rows = itertools.chain(
            ((0, name, None, utc(stamp), "queued", None) for name, stamp in bench.waiting_jobs()),
            ((0, name, None, running_since, "picked", uuid.uuid4()) for name in bench.running()),
        )
        copy_rows(conn, sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns), rows)
        # pgqueuer's enqueue also logs each job.
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (job_id, status, entrypoint, priority)"
                " SELECT id, 'queued', entrypoint, priority FROM {}"
            ).format(log, table)
        )
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
    fill = time.perf_counter() - started
    return [sql_row(bench, "preset pgqueuer (1.x schema)", build_preset(bench, "pgqueuer", schema), fill)]


# --- a query of the user's own ------------------------------------------------------------


def custom_sql(bench: Bench) -> list[Result]:
    started = bench.begin_fill()
    schema = new_schema(bench, "app")
    with in_schema(bench.args.database_url, schema) as conn:
        conn.execute(
            "CREATE TABLE app_jobs (id bigserial PRIMARY KEY, queue text NOT NULL, status text NOT NULL,"
            " enqueued_at timestamptz NOT NULL, payload jsonb NOT NULL DEFAULT '{}')"
        )
        conn.execute("CREATE INDEX ON app_jobs (status, queue)")
        now = datetime.now(UTC)
        rows = itertools.chain(
            ((name, "waiting", utc(stamp)) for name, stamp in bench.waiting_jobs()),
            ((name, "running", now) for name in bench.running()),
        )
        copy_rows(conn, "COPY app_jobs (queue, status, enqueued_at) FROM STDIN", rows)
        conn.execute("VACUUM ANALYZE app_jobs")
    fill = time.perf_counter() - started
    query = CUSTOM_QUERY.format(table=f'"{schema}".app_jobs')
    source = bench.build(build_sql, "worker", source="sql", url=bench.args.database_url, query=query)
    return [sql_row(bench, "custom query: count/min(enqueued_at) GROUP BY queue", source, fill)]
