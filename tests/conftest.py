"""Shared fixtures: real services, a fake clock, the Platform API schema.

Tests of sources use the real Redis/PostgreSQL/RabbitMQ of the machine. When a
service cannot be reached the test skips, saying what to install; under CI
(``CI=true``) that skip becomes a failure, because CI must test everything.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings as hypothesis_settings

# CI explores the same examples on every run, so a red build is reproducible; locally, examples vary.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.register_profile("dev", deadline=None)

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SCHEMA_PATH = SHARED / "heroku" / "platform-api-schema.json"

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


hypothesis_settings.load_profile("ci" if _in_ci() else "dev")


def service_unavailable(what: str, how: str) -> None:
    """Skip locally, fail in CI."""
    message = f"{what} is not reachable: {how}"
    if _in_ci():
        pytest.fail(message + " (CI=true: a skipped service test is a failure)")
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL on an empty database (15), flushed before and after the test."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        service_unavailable(
            "Redis at 127.0.0.1:6379",
            "install and start redis-server (apt-get install redis-server), or run .ci/run",
        )
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def platform_schema() -> dict[str, Any]:
    """Heroku's official Platform API schema (shared/heroku/platform-api-schema.json)."""
    if not SCHEMA_PATH.exists():
        pytest.fail(f"the Platform API schema is missing at {SCHEMA_PATH}")
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return data


def noop() -> None:
    """The job tests enqueue with rq; never run."""


def enqueue(redis_url: str, count: int, queue: str = "default") -> None:
    """Put ``count`` jobs on an RQ queue with the real rq library, as an app would."""
    from rq import Queue

    connection = redis.Redis.from_url(redis_url)
    try:
        rq_queue = Queue(queue, connection=connection)
        for _ in range(count):
            rq_queue.enqueue(noop)
    finally:
        connection.close()


class FakeClock:
    """A wall clock and monotonic clock that move only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
