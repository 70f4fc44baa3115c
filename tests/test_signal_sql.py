"""SQLSource against the real PostgreSQL, with procrastinate and pgqueuer writing the jobs.

Each test gets a schema of its own (created and dropped by the ``schema`` fixture), so
parallel runs on the shared ``test`` database do not see each other's jobs.
procrastinate's schema is applied with its own SchemaManager and jobs are deferred and
fetched with its own API; pgqueuer is installed and fed through its own Queries.
Django-Q2 is not installed: its table is created from the model's documented layout
(unverified) and filled the way its ORM broker does.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
import pytest
from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment, QueryQueueBuilder
from pgqueuer.domain.settings import DBSettings
from pgqueuer.domain.types import QueueEntrypoint, QueueManagerId
from pgqueuer.ports.repository import EntrypointExecutionParameter
from pgqueuer.queries import Queries

from autoscaler.config import Settings, SQLSettings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading
from autoscaler.signals.build import Connections
from autoscaler.signals.sql import SQLSource, build, connection_params
from tests.conftest import service_unavailable

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def pg_url() -> str:
    try:
        with psycopg.connect(PG_URL, connect_timeout=2):
            pass
    except psycopg.Error:
        service_unavailable(
            "PostgreSQL at 127.0.0.1:5432 (database test)",
            "install and start postgresql and create the test database, or run .ci/run",
        )
    return PG_URL


@pytest.fixture
def admin(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A separate autocommit connection for setting up and inspecting."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(admin: psycopg.Connection[Any], unique_name: str) -> Iterator[str]:
    """A schema of this test's own, dropped afterwards with everything in it."""
    admin.execute(f'CREATE SCHEMA "{unique_name}"')
    try:
        yield unique_name
    finally:
        admin.execute(f'DROP SCHEMA "{unique_name}" CASCADE')


@pytest.fixture
def schema_url(pg_url: str, schema: str) -> str:
    """The database URL with the test's schema first on the search_path."""
    return f"{pg_url}?options=-csearch_path%3D{schema}"


@pytest.fixture
def db(schema_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection working in the test's schema (an app's own tables go there)."""
    with psycopg.connect(schema_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def sources() -> Iterator[Callable[..., SQLSource]]:
    """Build SQLSources that are closed at the end of the test."""
    built: list[SQLSource] = []

    def make(url: str, **kwargs: Any) -> SQLSource:
        src = SQLSource(url, **kwargs)
        built.append(src)
        return src

    try:
        yield make
    finally:
        for src in built:
            src.close()


def query_source(sources: Callable[..., SQLSource], pg_url: str, query: str, **kwargs: Any) -> SQLSource:
    src: SQLSource = sources(pg_url, query=query, **kwargs)
    return src


# --- procrastinate ---------------------------------------------------------------------


def noop() -> None:
    """The task procrastinate jobs run; never run here."""


@pytest.fixture
def proc_app(pg_url: str, schema: str) -> procrastinate.App:
    """A procrastinate App whose tables live in the test's schema, applied with its own API."""
    connector = procrastinate.PsycopgConnector(conninfo=pg_url, kwargs={"options": f"-c search_path={schema}"})
    app = procrastinate.App(connector=connector)
    app.task(queue="alpha", name="alpha_job")(noop)
    app.task(queue="beta", name="beta_job")(noop)

    async def apply() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    asyncio.run(apply())
    return app


def in_app(app: procrastinate.App, work: Callable[[procrastinate.App], Any]) -> Any:
    """Run the coroutine ``work(app)`` with the app open, as a worker process would."""

    async def run() -> Any:
        async with app.open_async():
            return await work(app)

    return asyncio.run(run())


def defer(app: procrastinate.App, count: int = 1, task: str = "alpha_job", **configure: Any) -> None:
    async def work(app: procrastinate.App) -> None:
        for _ in range(count):
            await app.tasks[task].configure(**configure).defer_async()

    in_app(app, work)


def fetch(app: procrastinate.App, queues: list[str]) -> Any:
    """Take one job the way a procrastinate worker does (status todo → doing)."""

    async def work(app: procrastinate.App) -> Any:
        worker_id = await app.job_manager.register_worker()
        return await app.job_manager.fetch_job(queues, worker_id)

    return in_app(app, work)


def test_procrastinate_ready_jobs_are_depth(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """Deferred jobs are waiting: 3 deferred read depth 3, busy 0."""
    defer(proc_app, 3)
    reading = sources(pg_url, preset="procrastinate", schema=schema).read(time.time())
    assert (3, 0) == (reading.depth, reading.busy)


def test_procrastinate_future_scheduled_not_counted(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """A job scheduled an hour ahead is not waiting: depth 0, latency 0."""
    defer(proc_app, schedule_in={"hours": 1})
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == sources(pg_url, preset="procrastinate", schema=schema).read(
        now
    )


def test_procrastinate_fetched_job_is_busy(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """A job a worker fetched (status doing) is busy, no longer waiting."""
    defer(proc_app, 2)
    assert fetch(proc_app, ["alpha"]) is not None
    reading = sources(pg_url, preset="procrastinate", schema=schema).read(time.time())
    assert (1, 1) == (reading.depth, reading.busy)


def test_procrastinate_latency_from_defer(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """Latency is the age of the oldest ready job, from its ``deferred`` event."""
    defer(proc_app)
    time.sleep(1.0)
    defer(proc_app)
    latency = sources(pg_url, preset="procrastinate", schema=schema).read(time.time()).latency
    assert latency is not None
    assert 1.0 <= latency < 5.0


def test_procrastinate_due_scheduled_job_aged_from_schedule(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """A scheduled job that came due is waiting, aged from its scheduled time, not its defer."""
    defer(proc_app, schedule_in={"seconds": 1})
    time.sleep(1.5)
    reading = sources(pg_url, preset="procrastinate", schema=schema).read(time.time())
    assert 1 == reading.depth
    assert reading.latency is not None
    assert 0.2 <= reading.latency < 1.4


def test_procrastinate_job_scheduled_in_past_aged_from_defer(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """A job deferred with a schedule time an hour ago became ready when it was deferred."""
    defer(proc_app, schedule_at=datetime.now(UTC) - timedelta(hours=1))
    reading = sources(pg_url, preset="procrastinate", schema=schema).read(time.time())
    assert 1 == reading.depth
    assert reading.latency is not None
    assert reading.latency < 5.0


def test_procrastinate_retried_job_aged_from_retry(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """A job retried by its worker is aged from the retry, not from its first defer."""
    defer(proc_app)
    time.sleep(1.0)
    job = fetch(proc_app, ["alpha"])
    in_app(proc_app, lambda app: app.job_manager.retry_job(job))
    reading = sources(pg_url, preset="procrastinate", schema=schema).read(time.time())
    assert (1, 0) == (reading.depth, reading.busy)
    assert reading.latency is not None
    assert reading.latency < 0.9


def test_procrastinate_queues_filter(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """QUEUES limits the preset to those procrastinate queues; without it, all are read."""
    defer(proc_app, 2, "alpha_job")
    defer(proc_app, 3, "beta_job")
    assert 3 == sources(pg_url, preset="procrastinate", schema=schema, queues=["beta"]).read(time.time()).depth
    assert 5 == sources(pg_url, preset="procrastinate", schema=schema).read(time.time()).depth


def test_preset_tables_found_through_search_path(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, proc_app: procrastinate.App
) -> None:
    """Without PREFIX the preset's tables are found where the URL's search_path says."""
    defer(proc_app, 2)
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    assert 2 == sources(url, preset="procrastinate").read(time.time()).depth


# --- pgqueuer -----------------------------------------------------------------------------


def pgqueuer(pg_url: str, schema: str, work: Callable[[Queries], Any]) -> Any:
    """Run ``work`` with pgqueuer's Queries for the test's schema, installing it first."""

    async def run() -> Any:
        settings = DBSettings(db_schema=schema)
        conn = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        try:
            driver = Queries.from_psycopg_connection(conn).driver
            queries = Queries(driver, qbe=QueryBuilderEnvironment(settings), qbq=QueryQueueBuilder(settings))
            if not await queries.schema_is_installed():
                await queries.install()
            return await work(queries)
        finally:
            await conn.close()

    return asyncio.run(run())


def pick(queries: Queries, entrypoint: str) -> Any:
    """Take one job the way a pgqueuer QueueManager does (status queued → picked)."""
    return queries.dequeue(
        batch_size=1,
        entrypoints={QueueEntrypoint(entrypoint): EntrypointExecutionParameter(concurrency_limit=0)},
        queue_manager_id=QueueManagerId(uuid.uuid4()),
        global_concurrency_limit=None,
        heartbeat_timeout=timedelta(seconds=30),
    )


def test_pgqueuer_queued_jobs_are_depth(sources: Callable[..., SQLSource], pg_url: str, schema: str) -> None:
    """Enqueued jobs are waiting; a job delayed an hour is not."""

    async def work(q: Queries) -> None:
        await q.enqueue(["email"] * 3, [None] * 3, [0] * 3)
        await q.enqueue("email", None, execute_after=timedelta(hours=1))

    pgqueuer(pg_url, schema, work)
    now = time.time()
    reading = sources(pg_url, preset="pgqueuer", schema=schema).read(now)
    assert (3, 0) == (reading.depth, reading.busy)


def test_pgqueuer_picked_job_is_busy(sources: Callable[..., SQLSource], pg_url: str, schema: str) -> None:
    """A job a worker picked is busy, no longer waiting."""

    async def work(q: Queries) -> None:
        await q.enqueue(["email"] * 2, [None] * 2, [0] * 2)
        assert 1 == len(await pick(q, "email"))

    pgqueuer(pg_url, schema, work)
    reading = sources(pg_url, preset="pgqueuer", schema=schema).read(time.time())
    assert (1, 1) == (reading.depth, reading.busy)


def test_pgqueuer_latency_from_execute_after(sources: Callable[..., SQLSource], pg_url: str, schema: str) -> None:
    """Latency is now − execute_after of the oldest ready job (pgqueuer sets execute_after
    to now() + the delay it is given; a delay of −30 s makes a job ready for 30 s)."""

    async def work(q: Queries) -> None:
        await q.enqueue("email", None, execute_after=timedelta(seconds=-30))
        await q.enqueue("email", None)

    pgqueuer(pg_url, schema, work)
    latency = sources(pg_url, preset="pgqueuer", schema=schema).read(time.time()).latency
    assert latency is not None
    assert 30.0 <= latency < 35.0


def test_pgqueuer_entrypoint_filter(sources: Callable[..., SQLSource], pg_url: str, schema: str) -> None:
    """QUEUES are pgqueuer entrypoints."""

    async def work(q: Queries) -> None:
        await q.enqueue(["email", "email", "report"], [None] * 3, [0] * 3)

    pgqueuer(pg_url, schema, work)
    assert 1 == sources(pg_url, preset="pgqueuer", schema=schema, queues=["report"]).read(time.time()).depth


# --- Django-Q2 (layout unverified: django-q2 is not installed) ------------------------------


def test_django_q2_ready_and_claimed(
    sources: Callable[..., SQLSource], pg_url: str, schema: str, db: psycopg.Connection[Any]
) -> None:
    """Rows with lock <= now are waiting (aged from lock), rows a cluster claimed
    (lock in the future) are busy; QUEUES filters on the cluster key."""
    db.execute(
        "CREATE TABLE django_q_ormq (id serial PRIMARY KEY, key varchar(100) NOT NULL, payload text NOT NULL, "
        "lock timestamp with time zone NULL)"
    )
    rows = [("default", "-20 seconds"), ("default", "-5 seconds"), ("default", "+60 seconds"), ("other", "0 seconds")]
    for key, offset in rows:
        # What the ORM broker does: enqueue sets lock = now(), dequeue moves it past now().
        db.execute(
            "INSERT INTO django_q_ormq (key, payload, lock) VALUES (%s, 'x', now() + %s::interval)", [key, offset]
        )
    reading = sources(pg_url, preset="django_q2", schema=schema, queues=["default"]).read(time.time())
    assert (2, 1) == (reading.depth, reading.busy)
    assert 20.0 == pytest.approx(reading.latency, abs=2.0)


# --- custom queries ------------------------------------------------------------------------


def test_custom_query_one_row(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """A query returning depth, latency and busy in one row is read as such."""
    now = time.time()
    src = query_source(sources, pg_url, "SELECT 12 AS depth, 3.5 AS latency, 2 AS busy")
    assert Reading(at=now, depth=12, latency=3.5, busy=2) == src.read(now)


def test_custom_query_rows_summed_latency_max(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """Several rows (e.g. one per queue): depth and busy summed, latency the largest."""
    query = "SELECT * FROM (VALUES ('a', 2, 10.0, 1), ('b', 3, 30.0, 0)) AS t(queue, depth, latency, busy)"
    reading = query_source(sources, pg_url, query).read(time.time())
    assert (5, 30.0, 1) == (reading.depth, reading.latency, reading.busy)


def test_custom_query_against_table(
    sources: Callable[..., SQLSource], schema_url: str, db: psycopg.Connection[Any]
) -> None:
    """A grouped query over an app's own jobs table (with a literal % left alone): waiting
    jobs per queue, summed; the oldest waiting job's age."""
    db.execute("CREATE TABLE jobs (queue text, state text, created_at timestamptz)")
    db.execute(
        "INSERT INTO jobs VALUES ('a', 'ready', now() - interval '40 seconds'), "
        "('a', 'ready', now()), ('b', 'ready', now()), ('b', 'running', now())"
    )
    query = (
        "SELECT queue, count(*) FILTER (WHERE state = 'ready') AS depth, "
        "count(*) FILTER (WHERE state = 'running') AS busy, "
        "now() - min(created_at) FILTER (WHERE state = 'ready') AS latency "
        "FROM jobs WHERE queue LIKE '%' GROUP BY queue"
    )
    reading = query_source(sources, schema_url, query).read(time.time())
    assert (3, 1) == (reading.depth, reading.busy)
    assert 40.0 == pytest.approx(reading.latency, abs=2.0)


def test_custom_query_without_rows_reads_zero(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """No rows (nothing to group) means nothing waits: 0, and the columns not returned stay None."""
    now = time.time()
    assert Reading(at=now, depth=0, busy=0) == query_source(
        sources, pg_url, "SELECT 1 AS depth, 1 AS busy WHERE false"
    ).read(now)


def test_depth_only_query(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """A query returning only depth leaves latency and busy unknown (None)."""
    now = time.time()
    assert Reading(at=now, depth=4) == query_source(sources, pg_url, "SELECT 4 AS depth").read(now)


def test_interval_latency(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """A latency of type interval is read as seconds."""
    reading = query_source(sources, pg_url, "SELECT 1 AS depth, interval '90 seconds' AS latency").read(time.time())
    assert 90.0 == reading.latency


def test_null_latency_with_nothing_waiting_is_zero(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """min() over no waiting jobs is NULL: with depth 0 that is latency 0."""
    reading = query_source(sources, pg_url, "SELECT 0 AS depth, NULL::numeric AS latency").read(time.time())
    assert 0.0 == reading.latency


def test_null_latency_with_jobs_waiting_is_unknown(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """A NULL latency on a row with jobs waiting is unknown (None), not 0."""
    reading = query_source(sources, pg_url, "SELECT 3 AS depth, NULL::numeric AS latency").read(time.time())
    assert (3, None) == (reading.depth, reading.latency)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT -1 AS depth",
        "SELECT 'NaN'::float8 AS depth",
        "SELECT 'NaN'::numeric AS depth",
        "SELECT 'Infinity'::float8 AS depth",
        "SELECT 1.5 AS depth",
        "SELECT 'lots' AS depth",
        "SELECT true AS depth",
        "SELECT NULL::int AS depth",
        "SELECT 1e12::bigint AS depth",
        "SELECT 1 AS depth, 'NaN'::numeric AS latency",
        "SELECT 1 AS depth, 'soon' AS latency",
        "SELECT 1 AS depth, -2 AS busy",
        "SELECT 1 AS depth, NULL::int AS busy",
        "SELECT 1 AS jobs",
    ],
)
def test_garbage_values_raise(sources: Callable[..., SQLSource], pg_url: str, query: str) -> None:
    """Negative, NaN, infinite, fractional, absurd, textual, boolean or NULL counts, garbage
    latencies and a missing depth column make the reading unknown (SignalError)."""
    with pytest.raises(SignalError):
        query_source(sources, pg_url, query).read(time.time())


def test_statement_timeout(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """A query running past the timeout is cancelled by the server: SignalError, quickly."""
    src = query_source(sources, pg_url, "SELECT pg_sleep(10), 1 AS depth", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(SignalError, match="statement timeout"):
        src.read(time.time())
    assert time.monotonic() - started < 3.0


def test_statement_timeout_set_per_transaction(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """The statement timeout is in force inside the read's transaction."""
    query = "SELECT (current_setting('statement_timeout') = '1500ms')::int AS depth"
    assert 1 == query_source(sources, pg_url, query, timeout=1.5).read(time.time()).depth


def test_transaction_is_read_only(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """Reads run in a read-only transaction."""
    query = "SELECT (current_setting('transaction_read_only') = 'on')::int AS depth"
    assert 1 == query_source(sources, pg_url, query).read(time.time()).depth


def test_writing_query_refused(sources: Callable[..., SQLSource], schema_url: str, db: psycopg.Connection[Any]) -> None:
    """A query that tries to write fails (read-only transaction) and writes nothing."""
    db.execute("CREATE TABLE t (x int)")
    query = "WITH w AS (INSERT INTO t VALUES (1) RETURNING x) SELECT count(*) AS depth FROM w"
    with pytest.raises(SignalError, match="read-only"):
        query_source(sources, schema_url, query).read(time.time())
    assert (0,) == db.execute("SELECT count(*) FROM t").fetchone()


def test_several_statements_refused(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """Only one statement runs per read: a second one is refused, not executed."""
    with pytest.raises(SignalError):
        query_source(sources, pg_url, "SELECT 1 AS depth; SELECT 2 AS depth").read(time.time())


def test_application_name(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """The connection identifies itself as ``autoscaler`` in pg_stat_activity."""
    query = (
        "SELECT count(*) AS depth FROM pg_stat_activity "
        "WHERE pid = pg_backend_pid() AND application_name = 'autoscaler'"
    )
    assert 1 == query_source(sources, pg_url, query).read(time.time()).depth


def test_connection_reused(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """Reads reuse one connection (the same server process answers)."""
    src = query_source(sources, pg_url, "SELECT pg_backend_pid() AS depth")
    assert src.read(time.time()).depth == src.read(time.time()).depth


def test_reconnects_after_backend_terminated(
    sources: Callable[..., SQLSource], pg_url: str, admin: psycopg.Connection[Any]
) -> None:
    """After the server drops the connection (pg_terminate_backend), the next read opens a
    new one and succeeds."""
    src = query_source(sources, pg_url, "SELECT pg_backend_pid() AS depth")
    pid = src.read(time.time()).depth
    # With a timeout, pg_terminate_backend returns true only once the backend has exited.
    assert (True,) == admin.execute("SELECT pg_terminate_backend(%s, 10000)", [pid]).fetchone()
    new_pid = src.read(time.time()).depth
    assert new_pid is not None
    assert pid != new_pid


def test_connection_kept_after_query_error(
    sources: Callable[..., SQLSource], schema_url: str, db: psycopg.Connection[Any]
) -> None:
    """A query that fails (here: a statement timeout) leaves the connection in use: the next
    read succeeds on the same server process."""
    db.execute("CREATE TABLE slow (x int)")
    db.execute("INSERT INTO slow VALUES (1)")
    query = "SELECT pg_sleep(CASE WHEN EXISTS (SELECT 1 FROM slow) THEN 5 ELSE 0 END), pg_backend_pid() AS depth"
    src = query_source(sources, schema_url, query, timeout=0.3)
    with pytest.raises(SignalError, match="statement timeout"):
        src.read(time.time())
    db.execute("DELETE FROM slow")
    pid = src.read(time.time()).depth
    assert src.read(time.time()).depth == pid


def test_unreachable_database_raises_without_password(sources: Callable[..., SQLSource]) -> None:
    """A connection failure raises SignalError naming the server, password masked."""
    src = sources("postgres://app:hunter2secret@127.0.0.1:1/db", query="SELECT 1 AS depth", timeout=1.0)
    with pytest.raises(SignalError) as caught:
        src.read(time.time())
    assert "hunter2secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    assert "hunter2secret" not in repr(src)


def test_sslmode_in_url_wins(sources: Callable[..., SQLSource], pg_url: str) -> None:
    """``?sslmode=require`` in the URL is honoured even for a loopback host (this local
    server has no SSL, so the read fails rather than silently going unencrypted)."""
    with pytest.raises(SignalError, match="SSL"):
        sources(f"{pg_url}?sslmode=require", query="SELECT 1 AS depth").read(time.time())


def test_params_for_remote_host() -> None:
    """A Heroku-style postgres:// URL gets SSL required, the application name and a connect timeout."""
    params = connection_params("postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1", timeout=5.0)
    expected = {"sslmode": "require", "application_name": "autoscaler", "connect_timeout": 5, "dbname": "d1"}
    assert expected == {key: params[key] for key in expected}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1/test",
        "postgresql://postgres@localhost/test",
        "postgresql:///test",
        "postgresql://[::1]/test",
    ],
)
def test_params_for_local_host_no_ssl(url: str) -> None:
    """Loopback hosts and Unix sockets are not forced onto SSL."""
    assert "sslmode" not in connection_params(url)


def test_params_url_settings_win() -> None:
    """Settings given in the URL are kept over the defaults."""
    params = connection_params("postgres://u@db.example.com/d?sslmode=verify-full&application_name=mine")
    assert ("verify-full", "mine") == (params["sslmode"], params["application_name"])


def test_malformed_url_raises_redacted() -> None:
    """A URL libpq cannot parse raises SignalError without its password."""
    with pytest.raises(SignalError) as caught:
        connection_params("postgresql://u:hunter2secret@host/db?nosuchoption=1")
    assert "hunter2secret" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"query": "SELECT 1 AS depth", "preset": "pgqueuer"},
        {"query": "  "},
        {"query": "SELECT 1 AS depth", "queues": ["a"]},
        {"preset": "sidekiq"},
        {"preset": "pgqueuer", "queues": []},
        {"preset": "pgqueuer", "schema": ""},
        {"query": "SELECT 1 AS depth", "timeout": 0},
    ],
)
def test_invalid_configuration_raises(kwargs: dict[str, Any]) -> None:
    """Neither or both of QUERY and PRESET, an empty query, QUEUES with a query, an unknown
    preset, an empty queue list or schema, a zero timeout: refused."""
    with pytest.raises(ConfigError):
        SQLSource("postgresql://127.0.0.1/test", **kwargs)


def test_build_from_process(pg_url: str, schema: str, proc_app: procrastinate.App) -> None:
    """build() reads PRESET, PREFIX (the schema) and QUEUES from the process configuration."""
    defer(proc_app, 2)
    process = SQLSettings(
        source="sql", max_dynos=2, url=pg_url, preset="procrastinate", prefix=schema, queues=["alpha"]
    )
    built = build("worker", process, Settings(processes={"worker": process}), Connections())
    try:
        assert 2 == built.read(time.time()).depth
    finally:
        built.close()
