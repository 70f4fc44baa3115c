"""RQSource and the Redis connection helper, against the real Redis and the real rq.

Jobs are put into Redis by rq itself (``Queue.enqueue``, ``enqueue_in``, ``depends_on``,
``Execution.create``, ...), so these tests check the key layout rq 3.0 really writes,
not our idea of it. Tests use database 15 through the ``redis_url`` fixture, each with
queue names of its own (other test runs may share that database). The two tests that
look at the whole server (reads do not write anything anywhere; CLIENT KILL TYPE normal)
and the TLS tests run against a throw-away redis-server of their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.defaults import RQ_KEY_PREFIX
from rq.executions import Execution
from rq.job import Job, JobStatus

from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading
from autoscaler.signals.redis_conn import connect, describe
from autoscaler.signals.rq import HEAD_WINDOW, TAIL_WINDOW, RQSource
from tests.conftest import ROOT, service_unavailable

P = RQ_KEY_PREFIX  # the prefix this process's rq writes ("rq" unless RQ_KEY_PREFIX is set)


def noop() -> None:
    """The job every test enqueues; never run."""


@pytest.fixture
def name(unique_name: str) -> str:
    """A queue name no other test (or test run sharing database 15) uses."""
    return unique_name


def queue(conn: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=conn)


def enqueued_at(job: Job) -> float:
    assert job.enqueued_at is not None
    return job.enqueued_at.timestamp()


def start(conn: redis.Redis, job: Job, ttl: int) -> None:
    """Record ``job`` as started, with rq's own call a worker makes before running it."""
    with conn.pipeline() as pipe:
        Execution.create(job, ttl=ttl, pipeline=pipe)
        pipe.execute()


def snapshot(conn: redis.Redis) -> tuple[int, dict[bytes, tuple[object, object, bool]]]:
    """DBSIZE and every key's type, serialized value and whether it has a TTL."""
    keys: dict[bytes, tuple[object, object, bool]] = {}
    for key in conn.scan_iter(count=1000):
        keys[key] = (conn.type(key), conn.dump(key), conn.pttl(key) > 0)
    return conn.dbsize(), keys


# --- reading queues ------------------------------------------------------------------


def test_empty_queue_reads_zero(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A queue whose jobs are all gone reads depth 0, latency 0.0 and busy 0."""
    q = queue(redis_client, name)
    q.enqueue(noop)
    q.empty()
    now = time.time()
    assert RQSource(client, [name]).read(now) == Reading(at=now, depth=0, latency=0.0, busy=0)


def test_nonexistent_queue_reads_zero(name: str, client: redis.Redis) -> None:
    """A queue name nothing was ever enqueued to reads 0 everywhere, not an error."""
    now = time.time()
    assert RQSource(client, ["never-used"]).read(now) == Reading(at=now, depth=0, latency=0.0, busy=0)


def test_depth_counts_enqueued_jobs(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """N enqueued jobs read as depth N."""
    q = queue(redis_client, name)
    for _ in range(7):
        q.enqueue(noop)
    assert RQSource(client, [name]).read(time.time()).depth == 7


def test_latency_is_age_of_oldest_job(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Latency is now − enqueue time of the oldest job: read 30 s later, it is ≈ 30 s."""
    q = queue(redis_client, name)
    before = time.time()
    q.enqueue(noop)
    q.enqueue(noop)
    now = time.time() + 30
    latency = RQSource(client, [name]).read(now).latency
    assert latency is not None
    assert 30 <= latency <= now - before


def test_future_scheduled_jobs_not_counted(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Jobs scheduled for later neither count as waiting nor age the queue."""
    q = queue(redis_client, name)
    q.enqueue_in(timedelta(minutes=10), noop)
    q.enqueue_at(datetime.now(UTC) + timedelta(hours=1), noop)
    reading = RQSource(client, [name]).read(time.time())
    assert (reading.depth, reading.latency) == (0, 0.0)


def test_due_scheduled_jobs_counted_and_aged(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A scheduled job whose time has come (not yet moved by rq's scheduler) waits, aged
    from its due time."""
    q = queue(redis_client, name)
    job = q.enqueue_in(timedelta(seconds=10), noop)
    due = q.scheduled_job_registry.get_scheduled_time(job).timestamp()
    now = time.time() + 100
    reading = RQSource(client, [name]).read(now)
    assert reading.depth == 1
    assert reading.latency == pytest.approx(now - due)


def test_deferred_jobs_not_counted(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A job waiting on an unfinished dependency (depends_on) is not counted."""
    q = queue(redis_client, name)
    parent = q.enqueue(noop)
    child = q.enqueue(noop, depends_on=parent)
    assert child.get_status() == JobStatus.DEFERRED
    assert RQSource(client, [name]).read(time.time()).depth == 1


def test_ready_dependents_counted(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A dependent that rq moved to the ready registry (rq 3.0) but has not pushed yet is
    waiting: it counts."""
    q = queue(redis_client, name)
    parent = q.enqueue(noop)
    child = q.enqueue(noop, depends_on=parent)
    with redis_client.pipeline() as pipe:  # the step rq takes once the parent has finished
        q.ready_job_registry.register_jobs([child], pipeline=pipe)
        pipe.execute()
    assert redis_client.zcard(f"{P}:ready:{name}") == 1
    assert RQSource(client, [name]).read(time.time()).depth == 2


def test_at_front_jobs_do_not_hide_older_job(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Jobs enqueued with at_front=True sit before an older job; latency is still the
    older job's age."""
    q = queue(redis_client, name)
    oldest = q.enqueue(noop)
    q.enqueue(noop, at_front=True)
    q.enqueue(noop, at_front=True)
    q.enqueue(noop)
    now = time.time() + 60
    assert RQSource(client, [name]).read(now).latency == pytest.approx(now - enqueued_at(oldest), abs=1e-3)


def test_all_at_front_oldest_found_at_tail(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """When every job was enqueued at_front, the oldest is at the tail, past the head
    window, and is still found."""
    q = queue(redis_client, name)
    jobs = [q.enqueue(noop, at_front=True) for _ in range(HEAD_WINDOW + 5)]
    now = time.time() + 60
    assert RQSource(client, [name]).read(now).latency == pytest.approx(now - enqueued_at(jobs[0]), abs=1e-3)


def test_latency_is_lower_bound_past_head_window(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """The documented bound: with HEAD_WINDOW at_front jobs in front of the oldest job and
    TAIL_WINDOW jobs behind it, the oldest job is not examined; latency is the age of the
    oldest job that was (here the first one behind it), a lower bound."""
    q = queue(redis_client, name)
    hidden = q.enqueue(noop)
    behind = [q.enqueue(noop) for _ in range(TAIL_WINDOW)]
    for _ in range(HEAD_WINDOW):
        q.enqueue(noop, at_front=True)
    now = time.time() + 60
    latency = RQSource(client, [name]).read(now).latency
    assert latency is not None
    assert latency == pytest.approx(now - enqueued_at(behind[0]), abs=1e-4)
    assert latency < now - enqueued_at(hidden)


def test_several_queues_summed_latency_max(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Depth and busy are summed over the queues; latency is the largest queue's."""
    high, low = queue(redis_client, f"{name}-high"), queue(redis_client, f"{name}-low")
    oldest = high.enqueue(noop)
    low.enqueue(noop)
    low.enqueue(noop)
    high.enqueue(noop)
    start(redis_client, low.enqueue(noop), ttl=600)
    start(redis_client, high.enqueue(noop), ttl=600)
    now = time.time() + 45
    reading = RQSource(client, [high.name, low.name]).read(now)
    assert (reading.depth, reading.busy) == (6, 2)
    assert reading.latency == pytest.approx(now - enqueued_at(oldest), abs=1e-3)


def test_queue_named_twice_counted_once(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Naming a queue twice in the configuration does not double its jobs."""
    queue(redis_client, name).enqueue(noop)
    assert RQSource(client, [name, name]).read(time.time()).depth == 1


def test_busy_counts_started_jobs(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A job a worker has taken and started (in rq's started registry, P:wip:Q) is busy,
    no longer waiting."""
    q = queue(redis_client, name)
    q.enqueue(noop)
    q.enqueue(noop)
    taken = Queue.dequeue_any([q], None, connection=redis_client)
    assert taken is not None
    start(redis_client, taken[0], ttl=600)
    assert redis_client.zcard(f"{P}:wip:{name}") == 1
    reading = RQSource(client, [name]).read(time.time())
    assert (reading.depth, reading.busy) == (1, 1)


def test_busy_counts_started_job_without_expiry(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A started entry with ttl −1 (score +inf) never expires and is busy."""
    start(redis_client, queue(redis_client, name).enqueue(noop), ttl=-1)
    assert RQSource(client, [name]).read(time.time() + 10**6).busy == 1


def test_expired_started_entries_not_counted(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Started entries whose expiry has passed (their worker died) are not busy."""
    q = queue(redis_client, name)
    start(redis_client, q.enqueue(noop), ttl=10)
    start(redis_client, q.enqueue(noop), ttl=600)
    q.empty()
    assert RQSource(client, [name]).read(time.time() + 60).busy == 1


def test_intermediate_list_not_counted(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A job a worker has moved to the intermediate list (taken, not started) is no longer
    waiting, and the next job's age becomes the latency."""
    q = queue(redis_client, name)
    q.enqueue(noop)
    second = q.enqueue(noop)
    assert Queue.lmove(redis_client, q.key, None) is not None
    assert redis_client.llen(q.intermediate_queue_key) == 1
    now = time.time() + 20
    reading = RQSource(client, [name]).read(now)
    assert (reading.depth, reading.busy) == (1, 0)
    assert reading.latency == pytest.approx(now - enqueued_at(second), abs=1e-3)


def test_job_with_missing_hash_skipped(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """An id whose job hash is gone is skipped: the next job gives the latency."""
    q = queue(redis_client, name)
    first = q.enqueue(noop)
    second = q.enqueue(noop)
    redis_client.delete(first.key)
    now = time.time() + 20
    reading = RQSource(client, [name]).read(now)
    assert reading.depth == 2
    assert reading.latency == pytest.approx(now - enqueued_at(second), abs=1e-3)


def test_job_without_enqueued_at_skipped(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A job hash without enqueued_at is skipped: the next job gives the latency."""
    q = queue(redis_client, name)
    first = q.enqueue(noop)
    second = q.enqueue(noop)
    redis_client.hdel(first.key, "enqueued_at")
    now = time.time() + 20
    assert RQSource(client, [name]).read(now).latency == pytest.approx(now - enqueued_at(second), abs=1e-3)


def test_latency_unknown_when_no_timestamp_readable(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Jobs wait but none has a readable enqueued_at: latency is None (unknown), not 0."""
    q = queue(redis_client, name)
    job = q.enqueue(noop)
    redis_client.delete(job.key)
    reading = RQSource(client, [name]).read(time.time())
    assert (reading.depth, reading.latency, reading.busy) == (1, None, 0)


def test_one_unknown_queue_makes_latency_unknown(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """If one queue's latency is unknown, the maximum over queues is unknown too."""
    queue(redis_client, f"{name}-a").enqueue(noop)
    redis_client.delete(queue(redis_client, f"{name}-b").enqueue(noop).key)
    reading = RQSource(client, [f"{name}-a", f"{name}-b"]).read(time.time())
    assert (reading.depth, reading.latency) == (2, None)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [("2025-03-14T09:30:07.207712Z", 45.0 - 0.207712), ("2025-03-14T09:30:07Z", 45.0)],
    ids=["with-fraction", "old-without-fraction"],
)
def test_enqueued_at_formats(
    name: str, client: redis.Redis, redis_client: redis.Redis, stamp: str, expected: float
) -> None:
    """enqueued_at is read as UTC, with or without the fractional seconds."""
    job = queue(redis_client, name).enqueue(noop)
    redis_client.hset(job.key, "enqueued_at", stamp)
    now = datetime(2025, 3, 14, 9, 30, 52, tzinfo=UTC).timestamp()
    assert RQSource(client, [name]).read(now).latency == pytest.approx(expected, abs=1e-6)


def test_garbage_enqueued_at_raises(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """An enqueued_at that is not a timestamp is garbage: SignalError naming the job."""
    job = queue(redis_client, name).enqueue(noop)
    redis_client.hset(job.key, "enqueued_at", "yesterday")
    with pytest.raises(SignalError, match=job.id):
        RQSource(client, [name]).read(time.time())


def test_wrong_key_type_raises(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A queue key holding something other than a list is a SignalError caused by the
    redis error."""
    redis_client.set(f"{P}:queue:{name}", "not a list")
    with pytest.raises(SignalError) as caught:
        RQSource(client, [name]).read(time.time())
    assert isinstance(caught.value.__cause__, redis.ResponseError)


@pytest.mark.parametrize("prefix", ["myapp", "{myapp}"])
def test_custom_prefix(name: str, client: redis.Redis, redis_client: redis.Redis, redis_url: str, prefix: str) -> None:
    """Jobs enqueued by an app running rq with RQ_KEY_PREFIX are read with that prefix
    (hash-tag braces included), and are invisible under the default one."""
    script = (
        "import sys, redis\n"
        "from rq import Queue\n"
        "from rq.defaults import RQ_KEY_PREFIX\n"
        "assert RQ_KEY_PREFIX == sys.argv[2], RQ_KEY_PREFIX\n"
        "q = Queue(sys.argv[3], connection=redis.Redis.from_url(sys.argv[1]))\n"
        "for _ in range(3):\n"
        "    q.enqueue('builtins.print')\n"
    )
    env = {**os.environ, "RQ_KEY_PREFIX": prefix}
    subprocess.run([sys.executable, "-c", script, redis_url, prefix, name], env=env, cwd=ROOT, check=True, timeout=60)
    assert redis_client.llen(f"{prefix}:queue:{name}") == 3
    assert RQSource(client, [name], prefix=prefix).read(time.time()).depth == 3
    assert RQSource(client, [name], prefix="rq-other").read(time.time()).depth == 0


def test_reads_do_not_write(private_redis_url: str) -> None:
    """Reading never changes Redis: same DBSIZE, keys, types and values before and after,
    also with expired started entries and ids of vanished jobs that rq's own API would
    clean up. (On a private server: nothing else writes there.)"""
    conn = redis.Redis.from_url(private_redis_url)
    client = connect(private_redis_url)
    try:
        q = queue(conn, "default")
        gone = q.enqueue(noop)
        q.enqueue(noop)
        q.enqueue(noop, at_front=True)
        q.enqueue_in(timedelta(seconds=5), noop)
        q.enqueue_in(timedelta(hours=1), noop)
        q.enqueue(noop, depends_on=q.enqueue(noop))
        start(conn, q.enqueue(noop), ttl=5)
        Queue.lmove(conn, q.key, None)
        conn.delete(gone.key)
        before = snapshot(conn)
        assert before[0] > 10
        source = RQSource(client, ["default", "other"])
        for offset in (0, 60, 7200):
            source.read(time.time() + offset)
        assert snapshot(conn) == before
    finally:
        client.close()
        conn.close()


def test_decoded_client_works(name: str, redis_url: str, redis_client: redis.Redis) -> None:
    """A client built with decode_responses=True (str replies) reads the same."""
    job = queue(redis_client, name).enqueue(noop)
    decoded = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        now = time.time() + 5
        reading = RQSource(decoded, [name]).read(now)
    finally:
        decoded.close()
    assert reading.depth == 1
    assert reading.latency == pytest.approx(now - enqueued_at(job), abs=1e-3)


# --- failures and connections --------------------------------------------------------


def test_unreachable_redis_raises_without_password() -> None:
    """Redis not reachable: SignalError from the connection error, naming the server
    without its password."""
    source = RQSource(connect("redis://:hunter2-secret@127.0.0.1:1/0", timeout=1.0))
    with pytest.raises(SignalError) as caught:
        source.read(time.time())
    message = str(caught.value)
    assert "hunter2-secret" not in message
    assert "redis://:***@127.0.0.1:1/0" in message
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_rejected_password_raises_without_password(redis_url: str) -> None:
    """Redis refusing the password: SignalError whose text does not contain it."""
    url = redis_url.replace("redis://", "redis://nobody:wrong-secret-pw@")
    with pytest.raises(SignalError) as caught:
        RQSource(connect(url)).read(time.time())
    assert "wrong-secret-pw" not in str(caught.value)
    assert isinstance(caught.value.__cause__, redis.RedisError)


def test_reconnects_after_client_kill(private_redis_url: str) -> None:
    """After the server drops every client connection (CLIENT KILL TYPE normal from another
    connection, as on a restart), the next read works on the same client, over a new
    connection. (On a private server, so other test runs keep their connections.)"""
    admin = redis.Redis.from_url(private_redis_url)
    client = connect(private_redis_url)
    try:
        queue(admin, "default").enqueue(noop)
        source = RQSource(client)
        assert source.read(time.time()).depth == 1
        victim = client.client_id()
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
        assert victim not in [int(c["id"]) for c in admin.client_list()]
        assert source.read(time.time()).depth == 1
        assert client.client_id() != victim
    finally:
        client.close()
        admin.close()


def test_connect_settings(redis_url: str) -> None:
    """connect() names the client 'autoscaler' and applies the timeouts and health check."""
    c = connect(redis_url, timeout=2.5)
    try:
        assert c.client_getname() in ("autoscaler", b"autoscaler")
        kwargs = c.connection_pool.connection_kwargs
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2.5, 2.5)
        assert kwargs["health_check_interval"] == 30
        assert "ssl_cert_reqs" not in kwargs
    finally:
        c.close()


def test_connect_rediss_does_not_verify_by_default() -> None:
    """rediss:// skips certificate checks (Heroku KVS is self-signed) unless verify_tls."""
    lax = connect("rediss://:pw-secret@kvs.example.invalid:6380/0")
    strict = connect("rediss://:pw-secret@kvs.example.invalid:6380/0", verify_tls=True)
    assert lax.connection_pool.connection_kwargs["ssl_cert_reqs"] is None
    assert strict.connection_pool.connection_kwargs["ssl_cert_reqs"] == "required"
    assert describe(lax) == "rediss://:***@kvs.example.invalid:6380/0"


@pytest.mark.parametrize(
    "url",
    [
        "http://:hunter2-secret@host/0",
        "redis://:hunter2-secret@host:notaport/0",
        "redis://:hunter2-secret@host/0?socket_timeout=abc",
        "redis://:hunter2-secret@host/0?bogus=1",
    ],
)
def test_malformed_url_raises_redacted(url: str) -> None:
    """A URL redis-py cannot use is a SignalError at connect(), password masked."""
    with pytest.raises(SignalError, match="invalid Redis URL") as caught:
        connect(url)
    assert "hunter2-secret" not in str(caught.value)
    assert "***" in str(caught.value)


@contextmanager
def spawn_redis(tmp_path: Path, *, tls: bool) -> Iterator[str]:
    """Run a throw-away redis-server (no persistence) and yield its URL; with ``tls``, it
    speaks only TLS with a self-signed certificate, like Heroku KVS."""
    server = shutil.which("redis-server")
    openssl = shutil.which("openssl")
    if not server or (tls and not openssl):
        service_unavailable("redis-server and openssl", "apt-get install redis-server openssl")
    assert server
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [server, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    if tls:
        assert openssl
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        make_cert = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        make_cert += ["-subj", "/CN=kvs-test", "-keyout", str(key), "-out", str(cert)]
        subprocess.run(
            make_cert,
            check=True,
            capture_output=True,
            timeout=60,
        )
        args += ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
        args += ["--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert)]
    else:
        args += ["--port", str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    service_unavailable("a private redis-server", f"it did not start: {err[-300:]}")
                time.sleep(0.05)
        yield f"{'rediss' if tls else 'redis'}://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
def private_redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test alone."""
    with spawn_redis(tmp_path, tls=False) as url:
        yield url


@pytest.fixture
def tls_redis_url(tmp_path: Path) -> Iterator[str]:
    """A TLS-only redis-server with a self-signed certificate, of this test alone."""
    with spawn_redis(tmp_path, tls=True) as url:
        yield url


def test_tls_self_signed_works_by_default(tls_redis_url: str) -> None:
    """Against a self-signed TLS server, connect() works by default and an RQ read succeeds."""
    c = connect(tls_redis_url)
    try:
        assert c.ping()
        assert RQSource(c).read(time.time()).depth == 0
    finally:
        c.close()


def test_tls_verify_rejects_self_signed(tls_redis_url: str) -> None:
    """With verify_tls=True the self-signed certificate is refused: SignalError on read."""
    c = connect(tls_redis_url, verify_tls=True, timeout=2.0)
    try:
        with pytest.raises(SignalError, match=r"rediss://127\.0\.0\.1"):
            RQSource(c).read(time.time())
    finally:
        c.close()


# --- configuration and lifecycle -----------------------------------------------------


@pytest.mark.parametrize(
    ("queues", "prefix"),
    [([], "rq"), ("default", "rq"), ([""], "rq"), (["default"], "my prefix"), (["default"], "")],
    ids=["no-queues", "bare-string", "empty-name", "space-in-prefix", "empty-prefix"],
)
def test_invalid_configuration_raises(queues: list[str], prefix: str) -> None:
    """Unusable queue lists and prefixes are ConfigErrors at construction."""
    with pytest.raises(ConfigError):
        RQSource(redis.Redis(), queues, prefix=prefix)


def test_close_is_idempotent(redis_url: str, redis_client: redis.Redis) -> None:
    """close() drops the client's connections and may be called twice; the server sees the
    connection go, and a later read opens a new one."""
    client = connect(redis_url)
    source = RQSource(client)
    source.read(time.time())
    connection_id = client.client_id()  # the connection the read used, back in the pool
    assert [connection_id] == [int(c["id"]) for c in redis_client.client_list(client_id=[connection_id])]
    source.close()
    source.close()
    deadline = time.monotonic() + 10
    while redis_client.client_list(client_id=[connection_id]):
        assert time.monotonic() < deadline, "the server still lists the closed connection"
        time.sleep(0.01)
    try:
        assert 0 == source.read(time.time()).depth
        assert connection_id != client.client_id()
    finally:
        source.close()
