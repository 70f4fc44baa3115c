"""Smoke test of ``benchmarks.sources`` with small sizes against the real local services.

Slow (a few seconds, mostly waiting for RabbitMQ's management statistics): run it with
``pytest -m slow tests/test_bench_sources.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid

import amqp
import psycopg
import pytest
import redis

from autoscaler.signals.celery import AMQPAddress
from benchmarks import sources
from benchmarks.sources.rabbitmq import amqp_connection
from tests.conftest import REDIS_URL, service_unavailable

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

pytestmark = pytest.mark.slow


def _services_up() -> bool:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
        client.ping()
        client.close()
        with psycopg.connect(PG_URL, connect_timeout=2):
            pass
        connection = amqp_connection(AMQPAddress.parse(AMQP_URL))
        connection.collect()
    except (redis.RedisError, psycopg.Error, OSError, amqp.exceptions.AMQPError):
        return False
    return True


@pytest.fixture(scope="module")
def run() -> tuple[str, str, int]:
    """One small run of the benchmark: (its Markdown, its tag, its exit status)."""
    if not _services_up():
        service_unavailable("Redis, PostgreSQL and RabbitMQ", "start the local services, or run .ci/run")
    tag = f"bench_{uuid.uuid4().hex[:8]}"
    argv = ["--jobs", "40", "--queues", "2", "--reads", "3", "--tag", tag]
    argv += ["--redis-url", REDIS_URL, "--database-url", PG_URL, "--amqp-url", AMQP_URL]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = sources.main(argv)
    return out.getvalue(), tag, status


def test_every_source_reads_the_jobs(run: tuple[str, str, int]) -> None:
    """Every source is measured and reads the 40 waiting jobs (web: a request rate)."""
    output, _, status = run
    rows = [line for line in output.splitlines() if line.startswith("| ") and "---" not in line][1:]
    measured = [row for row in rows if "| depth 40" in row or "| rate " in row]
    assert (0, 11, rows) == (status, len(measured), measured)


def test_nothing_left_behind(run: tuple[str, str, int]) -> None:
    """After the run no Redis key, PostgreSQL schema or RabbitMQ queue carries its tag."""
    _, tag, _ = run
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"*{tag}*"))
    client.close()
    with psycopg.connect(PG_URL) as conn:
        schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{tag}%",)).fetchall()
    connection = amqp_connection(AMQPAddress.parse(AMQP_URL))
    queues = []
    try:
        for name in (f"{tag}-q0", f"{tag}-q1"):
            channel = connection.channel()
            try:
                channel.queue_declare(queue=name, passive=True)
                queues.append(name)
            except amqp.exceptions.NotFound:
                pass
    finally:
        connection.collect()
    assert ([], [], []) == (keys, schemas, queues)
