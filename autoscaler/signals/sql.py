"""Queues kept in PostgreSQL: a query of the user's, or a preset for procrastinate, pgqueuer
or Django-Q2, run in a read-only transaction with a statement timeout.

What the query returns
----------------------
One or more rows with a column ``depth`` (jobs waiting) and, optionally, ``latency``
(seconds the oldest waiting job has waited: a number or an ``interval``) and ``busy``
(jobs running). Other columns are ignored, so a query may ``GROUP BY`` queue and return
the queue name too. Over several rows ``depth`` and ``busy`` are summed and ``latency`` is
the largest. No rows at all means nothing waits: depth 0, latency 0, busy 0 (for the
columns the query has). A ``NULL`` depth or busy, a negative, fractional, NaN, infinite
or non-numeric value makes the reading unknown; a ``NULL`` latency is 0 on a row whose
depth is 0 and unknown otherwise. Compute ages with the database clock (``now()``).

The presets (tables read where the connection's ``search_path`` finds them, or in the
schema ``PREFIX`` names; ``QUEUES`` filters on the library's queue column):

``procrastinate`` (3.x, ``procrastinate/sql/schema.sql``)
    depth: ``procrastinate_jobs`` rows ``status = 'todo'`` with ``scheduled_at`` NULL or
    past (the rule of ``procrastinate_fetch_job_v2``); busy: ``status = 'doing'``;
    latency: from the moment each ready job became ready, the later of ``scheduled_at``
    and its last ``deferred``/``deferred_for_retry``/``retried`` event in
    ``procrastinate_events`` (the jobs table has no enqueue time). Queue column
    ``queue_name``. ``todo`` jobs blocked behind a ``lock`` held by a running job are
    counted as waiting.
``pgqueuer`` (1.x, ``pgqueuer/domain/schema/queue.py``, ``adapters/persistence/qb.py``)
    depth: ``pgqueuer`` rows ``status = 'queued'`` with ``execute_after <= now()``;
    busy: ``status = 'picked'`` (a picked job whose heartbeat went stale is re-picked by
    the next worker, and counts as busy until then); latency: from ``execute_after``
    (enqueue and retry both set it to when the job may run). Queue column
    ``entrypoint``. A ``PGQUEUER_PREFIX`` table prefix needs a ``QUERY`` of your own.
``django_q2`` (Django-Q2's ORM broker, table ``django_q_ormq``; unverified: django-q2
    is not installed here, the layout was read from ``django_q/brokers/orm.py``)
    depth: rows with ``lock <= now()`` (enqueue sets ``lock = now()``); busy: rows with
    ``lock > now()`` (a cluster took them: running or prefetched); latency from ``lock``.
    Queue column ``key`` (the cluster name).

The connection
--------------
One connection per source, opened on the first read, kept across reads, and replaced
after it breaks (a connection that turns out to be dead when a read starts is replaced
and the read retried once, so a server restart or a terminated backend costs no tick).
``postgres://`` URLs are rewritten to ``postgresql://``; unless the URL says otherwise
the connection uses ``application_name=autoscaler``, a connect timeout, TCP keepalives,
and ``sslmode=require`` for any host that is not loopback or a Unix socket (Heroku
Postgres needs SSL; ``?sslmode=...`` in the URL wins). Each read is a read-only
transaction: ``BEGIN READ ONLY``, then ``SET LOCAL statement_timeout`` and the query in one
libpq pipeline, then ``ROLLBACK`` (4 statements; measured by ``benchmarks.sources``: 4 round
trips on loopback, as psycopg waits for the ``BEGIN`` and syncs the pipeline). Nothing is
ever written, and session state is not relied on, so it works through a
transaction-pooling PgBouncer (Heroku connection pooling). Prepared statements are off
for the same reason.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from autoscaler.errors import ConfigError, SignalError
from autoscaler.redact import MASK, Redactor, redact_url
from autoscaler.signals import Reading, check_count, check_seconds
from autoscaler.urls import is_loopback

if TYPE_CHECKING:
    from autoscaler.config import Settings, SQLSettings
    from autoscaler.signals.build import Connections

Preset = Literal["procrastinate", "pgqueuer", "django_q2"]
PRESETS: tuple[str, ...] = ("procrastinate", "pgqueuer", "django_q2")

APPLICATION_NAME = "autoscaler"
DEFAULT_TIMEOUT = 5.0
"""Seconds a read may take: the statement timeout, and the basis of the connect timeout."""

PROCRASTINATE_PLAIN_WINDOW = 20
"""procrastinate: how many of the lowest-id ready jobs that were deferred once, unscheduled,
are examined for the latency (their ready time is their ``deferred`` event, which follows
the id order). Every ready job that was scheduled or retried is examined."""

# {jobs} and {events} are schema-qualified identifiers; %(queues)s is NULL or text[].
_PROCRASTINATE = """
WITH candidates AS (
    (SELECT id, scheduled_at FROM {jobs}
     WHERE status = 'todo' AND scheduled_at IS NULL AND attempts = 0 AND {queue_filter}
     ORDER BY id LIMIT {plain})
    UNION ALL
    SELECT id, scheduled_at FROM {jobs}
    WHERE status = 'todo' AND (scheduled_at <= now() OR (scheduled_at IS NULL AND attempts > 0)) AND {queue_filter}
)
SELECT
    count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())) AS depth,
    count(*) FILTER (WHERE status = 'doing') AS busy,
    (SELECT EXTRACT(EPOCH FROM now() - min(GREATEST(
        c.scheduled_at,
        (SELECT max(e.at) FROM {events} AS e
         WHERE e.job_id = c.id AND e.type IN ('deferred', 'deferred_for_retry', 'retried'))
    ))) FROM candidates AS c) AS latency
FROM {jobs}
WHERE status IN ('todo', 'doing') AND {queue_filter}
"""

_PGQUEUER = """
SELECT
    count(*) FILTER (WHERE status = 'queued' AND execute_after <= now()) AS depth,
    count(*) FILTER (WHERE status = 'picked') AS busy,
    EXTRACT(EPOCH FROM now() - min(execute_after) FILTER (WHERE status = 'queued' AND execute_after <= now()))
        AS latency
FROM {jobs}
WHERE status IN ('queued', 'picked')
  AND (%(queues)s::text[] IS NULL OR entrypoint = ANY(%(queues)s::text[]))
"""

# Unverified against an installed django-q2 (not installed here): the table and columns
# of its OrmQ model and the lock rule of django_q/brokers/orm.py (queue_size: lock <= now,
# lock_size: lock > now), as read from that file.
_DJANGO_Q2 = """
SELECT
    count(*) FILTER (WHERE lock <= now()) AS depth,
    count(*) FILTER (WHERE lock > now()) AS busy,
    EXTRACT(EPOCH FROM now() - min(lock) FILTER (WHERE lock <= now())) AS latency
FROM {jobs}
WHERE %(queues)s::text[] IS NULL OR key = ANY(%(queues)s::text[])
"""


def preset_query(preset: str, schema: str | None = None) -> sql.Composed:
    """The query of a preset, its tables qualified with ``schema`` when given."""

    def table(name: str) -> sql.Identifier:
        return sql.Identifier(schema, name) if schema else sql.Identifier(name)

    if preset == "procrastinate":
        return sql.SQL(_PROCRASTINATE).format(
            jobs=table("procrastinate_jobs"),
            events=table("procrastinate_events"),
            plain=sql.Literal(PROCRASTINATE_PLAIN_WINDOW),
            queue_filter=sql.SQL("(%(queues)s::text[] IS NULL OR queue_name = ANY(%(queues)s::text[]))"),
        )
    if preset == "pgqueuer":
        return sql.SQL(_PGQUEUER).format(jobs=table("pgqueuer"))
    if preset == "django_q2":
        return sql.SQL(_DJANGO_Q2).format(jobs=table("django_q_ormq"))
    raise ConfigError([f"preset: unknown preset {preset!r} (known: {', '.join(PRESETS)})"])


def _is_local_host(host: str) -> bool:
    """Loopback names and addresses, and Unix socket directories (no SSL needed)."""
    if not host or host.startswith("/") or host.startswith("@"):
        return True
    return is_loopback(host.strip("[]"))


def normalize_url(url: str) -> str:
    """``postgres://`` (Heroku's ``DATABASE_URL``) → ``postgresql://``."""
    if url.lower().startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def connection_params(url: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """libpq connection parameters for ``url``: the URL's own, plus defaults it does not set.

    Raises SignalError (password masked) when the URL cannot be parsed.
    """
    url = normalize_url(url)
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.Error as exc:
        hide = Redactor(_url_password(url))
        raise SignalError(f"invalid database URL {hide(redact_url(url))}: {hide(str(exc))}") from exc
    hosts = [h.strip() for h in str(params.get("host") or "").split(",")] or [""]
    defaults: dict[str, Any] = {
        "application_name": APPLICATION_NAME,
        "connect_timeout": max(2, math.ceil(timeout)),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": int(max(timeout, 1.0) * 2000),
    }
    if not all(_is_local_host(h) for h in hosts):
        defaults["sslmode"] = "require"
    for key, value in defaults.items():
        params.setdefault(key, value)
    return params


def _url_password(url: str) -> list[str]:
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        return []
    return [str(password)] if password else []


def describe_params(params: dict[str, Any]) -> str:
    """A URL-like name for the database, without the password."""
    user = params.get("user") or ""
    auth = f"{user}:{MASK}@" if params.get("password") else (f"{user}@" if user else "")
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    return f"postgresql://{auth}{host}:{port}/{params.get('dbname') or user}"


class SQLSource:
    """Depth, latency and busy count from one PostgreSQL query per read.

    Give exactly one of ``query`` (returning the columns described in this module's
    docstring) or ``preset``. ``queues`` filters a preset's queues (all when None);
    ``schema`` is where a preset's tables live (the ``search_path`` when None).
    ``timeout`` is the statement timeout in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        query: str | None = None,
        preset: str | None = None,
        queues: Sequence[str] | None = None,
        schema: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        problems: list[str] = []
        if (query is None) == (preset is None):
            problems.append(
                "query: set either QUERY (a query of your own) or PRESET (one of " + ", ".join(PRESETS) + ")"
            )
        if query is not None and not query.strip():
            problems.append("query: is empty")
        if query is not None and queues:
            problems.append("queues: not used with QUERY (filter in the query itself)")
        if preset is not None and preset not in PRESETS:
            problems.append(f"preset: unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        if isinstance(queues, str):
            problems.append(f"queues: expected a list of queue names, got the string {queues!r}")
        elif queues is not None and (not queues or any(not q or q.isspace() for q in queues)):
            problems.append(f"queues: invalid queue names {list(queues)!r}")
        if schema is not None and (not schema or schema != schema.strip()):
            problems.append(f"prefix: invalid schema name {schema!r}")
        if not timeout > 0:
            problems.append(f"timeout: must be > 0, got {timeout!r}")
        if problems:
            raise ConfigError(problems)

        self._params = connection_params(url, timeout)
        self._name = describe_params(self._params)
        password = self._params.get("password")
        self._hide = Redactor([str(password)] if password else [])
        self._timeout_ms = max(1, round(timeout * 1000))
        self._query: sql.Composed | str
        self._args: dict[str, Any] | None
        if preset is not None:
            self._query = preset_query(preset, schema)
            self._args = {"queues": list(dict.fromkeys(queues)) if queues else None}
            self._what = f"{preset} queues" + (f" {', '.join(queues)}" if queues else "")
        else:
            assert query is not None
            # No parameters: a user query's % signs (LIKE 'x%') are left alone.
            self._query = query
            self._args = None
            self._what = "the SQL query"
        self._conn: psycopg.Connection[Any] | None = None

    def __repr__(self) -> str:
        return f"SQLSource({self._name}, {self._what})"

    def read(self, now: float) -> Reading:
        """Run the query and turn its rows into a reading at ``now``.

        Raises SignalError when the database cannot be reached or read, the query fails
        or times out, or its values make no sense.
        """
        fresh = self._conn is None or self._conn.closed
        try:
            columns, rows = self._run()
        except psycopg.OperationalError as exc:
            if fresh or not self._drop_if_broken():
                raise self._error(exc) from exc
            try:  # a connection that died while idle (restart, terminated backend)
                columns, rows = self._run()
            except psycopg.Error as again:
                self._drop_if_broken()
                raise self._error(again) from again
        except psycopg.Error as exc:
            self._drop_if_broken()
            raise self._error(exc) from exc
        return _reading(now, columns, rows)

    def close(self) -> None:
        """Close the connection (a later read opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.Connection.connect(autocommit=False, prepare_threshold=None, **self._params)
            conn.read_only = True
            self._conn = conn
        return self._conn

    def _run(self) -> tuple[list[str], list[tuple[Any, ...]]]:
        conn = self._connection()
        try:
            if psycopg.Pipeline.is_supported():
                with conn.pipeline():
                    cur = self._execute(conn)
                    rows = cur.fetchall()
            else:  # pragma: no cover - libpq < 14
                cur = self._execute(conn)
                rows = cur.fetchall()
            columns = [col.name.lower() for col in cur.description or []]
        finally:
            if not conn.broken and not conn.closed:
                conn.rollback()
        return columns, rows

    def _execute(self, conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
        conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(self._timeout_ms)))
        if self._args is None:
            # A plain string the user wrote, run as is (no parameters, no placeholders).
            return conn.cursor().execute(self._query, prepare=False)
        return conn.cursor().execute(self._query, self._args, prepare=False)

    def _drop_if_broken(self) -> bool:
        """Forget the connection when it is unusable; True when it was dropped."""
        conn = self._conn
        if conn is None:
            return True
        if conn.broken or conn.closed:
            self._conn = None
            conn.close()
            return True
        try:
            conn.rollback()
        except psycopg.Error:
            self._conn = None
            conn.close()
            return True
        return False

    def _error(self, exc: psycopg.Error) -> SignalError:
        detail = self._hide(str(exc).strip()) or "no detail"
        return SignalError(f"cannot read {self._what} at {self._name}: {type(exc).__name__}: {detail}")


def _reading(now: float, columns: list[str], rows: list[tuple[Any, ...]]) -> Reading:
    """Sum depth and busy over ``rows``, take the largest latency."""
    if "depth" not in columns:
        raise SignalError(f"the SQL query returned no depth column (columns: {', '.join(columns) or 'none'})")
    i_depth = columns.index("depth")
    i_latency = columns.index("latency") if "latency" in columns else None
    i_busy = columns.index("busy") if "busy" in columns else None

    depth = 0
    busy: int | None = 0 if i_busy is not None else None
    latency: float | None = 0.0 if i_latency is not None else None
    latency_known = True
    for row in rows:
        row_depth = check_count("sql depth", _number("depth", row[i_depth]))
        depth += row_depth
        if i_busy is not None and busy is not None:
            busy += check_count("sql busy", _number("busy", row[i_busy]))
        if i_latency is not None and latency is not None:
            raw = row[i_latency]
            if raw is None:
                latency_known = latency_known and row_depth == 0
            else:
                latency = max(latency, check_seconds("sql latency", _number("latency", raw)))
    if not latency_known:
        latency = None
    return Reading(
        at=now,
        depth=check_count("sql depth", depth),
        latency=latency,
        busy=None if busy is None else check_count("sql busy", busy),
    )


def _number(column: str, value: object) -> int | float:
    """A column value as int or float; SignalError for NULL, text and other types."""
    if value is None:
        raise SignalError(f"the SQL query returned NULL for {column} (use COALESCE(..., 0))")
    if isinstance(value, bool):
        raise SignalError(f"the SQL query returned a boolean for {column}: {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise SignalError(f"the SQL query returned {value} for {column}")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise SignalError(f"the SQL query returned a {type(value).__name__} for {column}: {value!r:.100}")


def build(name: str, process: SQLSettings, settings: Settings, connections: Connections) -> SQLSource:
    """The ``sql`` source of one process type (see :mod:`autoscaler.signals.build`).

    The connection is the source's own (no pool is shared), opened on the first read."""
    return SQLSource(
        settings.require_source_url(name, process),
        query=process.query,
        preset=process.preset,
        queues=process.queues,
        schema=process.prefix,
        timeout=connections.timeout,
    )
