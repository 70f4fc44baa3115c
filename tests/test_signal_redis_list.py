"""RedisListSource against the real Redis, with plain lists written by redis-py."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from autoscaler.config import RedisListSettings, Settings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading
from autoscaler.signals.build import Connections
from autoscaler.signals.redis_conn import connect
from autoscaler.signals.redis_list import RedisListSource, build


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """The source's own long-lived client, as the daemon builds it."""
    c = connect(redis_url)
    try:
        yield c
    finally:
        c.close()


def test_depth_is_list_length(client: redis.Redis, redis_client: redis.Redis, unique_name: str) -> None:
    """One list of 5 items reads depth 5; latency and busy are not known."""
    redis_client.rpush(unique_name, *range(5))
    now = time.time()
    assert Reading(at=now, depth=5) == RedisListSource(client, [unique_name]).read(now)


def test_lengths_summed(client: redis.Redis, redis_client: redis.Redis, unique_name: str) -> None:
    """Several lists: their lengths are summed."""
    redis_client.rpush(f"{unique_name}:a", *range(3))
    redis_client.lpush(f"{unique_name}:b", *range(4))
    assert 7 == RedisListSource(client, [f"{unique_name}:a", f"{unique_name}:b"]).read(time.time()).depth


def test_missing_key_reads_zero(client: redis.Redis, unique_name: str) -> None:
    """A key that does not exist is an empty list (Redis deletes empty lists): 0, not an error."""
    assert 0 == RedisListSource(client, [unique_name]).read(time.time()).depth


def test_key_named_twice_counted_once(client: redis.Redis, redis_client: redis.Redis, unique_name: str) -> None:
    """A key listed twice is counted once."""
    redis_client.rpush(unique_name, "x")
    assert 1 == RedisListSource(client, [unique_name, unique_name]).read(time.time()).depth


def test_key_of_other_type_raises(client: redis.Redis, redis_client: redis.Redis, unique_name: str) -> None:
    """A key that is not a list (a typo, a hash) raises SignalError rather than reading 0."""
    redis_client.rpush(f"{unique_name}:ok", "x")
    redis_client.hset(f"{unique_name}:hash", "a", "b")
    with pytest.raises(SignalError, match="WRONGTYPE"):
        RedisListSource(client, [f"{unique_name}:ok", f"{unique_name}:hash"]).read(time.time())


def test_unreachable_redis_raises_without_password() -> None:
    """A connection failure raises SignalError naming the server, password masked."""
    c = connect("redis://:hunter2secret@127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(SignalError) as caught:
        RedisListSource(c, ["jobs"]).read(time.time())
    assert "hunter2secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


@pytest.mark.parametrize("keys", [[], [""], [" "], "jobs"])
def test_invalid_keys_raise(keys: list[str]) -> None:
    """No key, an empty key or a bare string instead of a list is refused."""
    with pytest.raises(ConfigError):
        RedisListSource(redis.Redis(), keys)


def test_build_requires_queues(redis_url: str) -> None:
    """build() refuses a redis_list process without QUEUES, naming the variable."""
    process = RedisListSettings(source="redis_list", max_dynos=2, url=redis_url)
    with pytest.raises(ConfigError, match="AUTOSCALER_PROCESSES__WORKER__QUEUES"):
        build("worker", process, Settings(processes={"worker": process}), Connections())


def test_build_reads_named_keys(redis_url: str, redis_client: redis.Redis, unique_name: str) -> None:
    """build() reads the lists named by QUEUES on the process URL."""
    redis_client.rpush(unique_name, "a", "b")
    process = RedisListSettings(source="redis_list", max_dynos=2, url=redis_url, queues=[unique_name])
    built = build("worker", process, Settings(processes={"worker": process}), Connections())
    try:
        assert 2 == built.read(time.time()).depth
    finally:
        built.close()
