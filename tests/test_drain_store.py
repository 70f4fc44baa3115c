"""Writing batches to the real Redis: one round trip, atomic, de-duplicated, expiring, commutative."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio
from redis.asyncio.connection import Connection as AsyncConnection

from autoscaler.drain import wire
from autoscaler.drain.lines import Batch
from autoscaler.drain.store import DrainStore, connect_async, script_arguments
from autoscaler.errors import SignalError
from tests.test_drain_frames import NOW, load_line, memory_line, router_line

T = TypeVar("T")
SLOT = wire.slot_start(NOW - 30)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def batch_of(*lines: str, now: float = NOW) -> Batch:
    batch = Batch(now)
    batch.add_frames([line.encode() for line in lines])
    return batch


def counting_store(url: str) -> tuple[DrainStore, list[bytes]]:
    """A store whose client notes each packet it sends (one per round trip)."""
    sent: list[bytes] = []

    class Counting(AsyncConnection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(command if isinstance(command, bytes) else b"".join(command))
            await super().send_packed_command(command, check_health)

    pool = redis.asyncio.ConnectionPool.from_url(url, connection_class=Counting)
    return DrainStore(redis.asyncio.Redis.from_pool(pool)), sent


def test_one_batch_is_one_round_trip(redis_url: str, redis_client: redis.Redis) -> None:
    """Once the script is loaded, a batch touching two slots is written with one packet."""
    lines = [router_line(SLOT + 1, 97), router_line(SLOT + wire.SLOT_SECONDS + 1, 120), memory_line(SLOT + 2)]

    async def scenario() -> list[bytes]:
        store, sent = counting_store(redis_url)
        try:
            await store.write(batch_of(*lines), wire.frame_key("d.1", "warm-up"))
            sent.clear()
            await store.write(batch_of(*lines), wire.frame_key("d.1", "F2"))
            return list(sent)
        finally:
            await store.close()

    sent = run(scenario())
    assert 1 == len(sent)
    assert sent[0].startswith(b"*")
    assert b"EVALSHA" in sent[0]
    assert b"2" == redis_client.hget(wire.slot_key(wire.DEFAULT_PREFIX, "web", SLOT), "n")


def test_a_retried_frame_id_counts_once(redis_url: str, redis_client: redis.Redis) -> None:
    lines = [router_line(SLOT + 1, 97), router_line(SLOT + 2, 30_000, code="H12")]
    frame = wire.frame_key("d.0123", "09C557EAFCFB6CF2740EE62F62971098")

    async def scenario() -> list[bool]:
        store = DrainStore(connect_async(redis_url))
        try:
            return [await store.write(batch_of(*lines), frame) for _ in range(3)]
        finally:
            await store.close()

    assert [True, False, False] == run(scenario())
    key = wire.slot_key(wire.DEFAULT_PREFIX, "web", SLOT)
    stored: dict[bytes, bytes] = redis_client.hgetall(key)  # type: ignore[assignment]
    assert {b"n": b"2", b"ms": b"30097", b"e:H12": b"1"} == {k: v for k, v in stored.items() if not k.startswith(b"h:")}
    assert 0 < redis_client.ttl(frame) <= wire.FRAME_TTL
    assert 0 < redis_client.ttl(key) <= wire.KEY_TTL


def test_the_same_frame_id_of_another_drain_is_another_batch(redis_url: str, redis_client: redis.Redis) -> None:
    async def scenario() -> list[bool]:
        store = DrainStore(connect_async(redis_url))
        try:
            return [
                await store.write(batch_of(router_line(SLOT + 1)), wire.frame_key(token, "F1"))
                for token in ("d.a", "d.b")
            ]
        finally:
            await store.close()

    assert [True, True] == run(scenario())
    assert b"2" == redis_client.hget(wire.slot_key(wire.DEFAULT_PREFIX, "web", SLOT), "n")


def test_without_a_frame_id_every_post_counts(redis_url: str, redis_client: redis.Redis) -> None:
    async def scenario() -> list[bool]:
        store = DrainStore(connect_async(redis_url))
        try:
            return [await store.write(batch_of(router_line(SLOT + 1)), None) for _ in range(2)]
        finally:
            await store.close()

    assert [True, True] == run(scenario())
    assert b"2" == redis_client.hget(wire.slot_key(wire.DEFAULT_PREFIX, "web", SLOT), "n")
    assert [] == redis_client.keys(f"{wire.FRAME_PREFIX}:*")


def test_concurrent_writers_add_up(redis_url: str, redis_client: redis.Redis) -> None:
    """Four clients (four web dynos) writing 25 batches each at once: every count arrives, none twice."""

    async def writer(number: int) -> None:
        store = DrainStore(connect_async(redis_url))
        try:
            for i in range(25):
                batch = batch_of(router_line(SLOT + 1, 100 + number), memory_line(SLOT + 1, f"web.{number}"))
                await store.write(batch, wire.frame_key("d.x", f"{number}-{i}"))
        finally:
            await store.close()

    async def scenario() -> None:
        await asyncio.gather(*(writer(n) for n in range(4)))

    run(scenario())
    figures = wire.parse_slot("k", redis_client.hgetall(wire.slot_key(wire.DEFAULT_PREFIX, "web", SLOT)))
    assert (100, sum(25 * (100 + n) for n in range(4)), 100) == (
        figures.requests,
        figures.service_ms,
        sum(figures.histogram),
    )
    assert {f"web.{n}": 21.0 for n in range(4)} == figures.memory_mb


def test_latest_values_are_replaced_counts_are_added(redis_url: str, redis_client: redis.Redis) -> None:
    async def scenario() -> None:
        store = DrainStore(connect_async(redis_url))
        try:
            await store.write(batch_of(load_line(SLOT + 1, "web.1", "0.50")), None)
            await store.write(batch_of(load_line(SLOT + 2, "web.1", "1.50")), None)
        finally:
            await store.close()

    run(scenario())
    assert b"1.5" == redis_client.hget(wire.slot_key(wire.DEFAULT_PREFIX, "web", SLOT), "l:web.1")


def test_a_batch_with_nothing_to_add_costs_no_round_trip(redis_url: str) -> None:
    async def scenario() -> tuple[bool, list[bytes]]:
        store, sent = counting_store(redis_url)
        try:
            return await store.write(Batch(NOW), wire.frame_key("d", "F")), sent
        finally:
            await store.close()

    assert (True, []) == run(scenario())


def test_script_arguments_are_keys_then_counted_pairs() -> None:
    keys, args = script_arguments(batch_of(router_line(SLOT + 1, 5), load_line(SLOT + 1)), "F:k")
    assert ["F:k", f"autoscaler:drain:web:{SLOT}"] == keys
    assert [wire.FRAME_TTL, wire.KEY_TTL, 3, 1, "n", 1, wire.BUCKET_FIELDS[5], 1, "ms", 5, "l:web.1", "0.01"] == args


def test_redis_errors_reach_the_caller_without_the_password() -> None:
    """An unreachable store raises redis' own error (the web process answers 503); a bad URL is a
    SignalError with the password masked."""

    async def scenario() -> None:
        store = DrainStore(connect_async("redis://:hunter2-secret@127.0.0.1:1/0", timeout=0.5))
        try:
            await store.write(batch_of(router_line(SLOT + 1)), None)
        finally:
            await store.close()

    with pytest.raises(redis.ConnectionError) as caught:
        run(scenario())
    assert "hunter2-secret" not in str(caught.value)
    with pytest.raises(SignalError) as bad:
        connect_async("redis://:hunter2-secret@127.0.0.1:6379/0?frobnicate=1")
    assert "hunter2-secret" not in str(bad.value)
