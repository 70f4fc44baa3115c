"""Shared state and the leader lease, against the real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis
import respx
import structlog

from autoscaler.daemon import Daemon
from autoscaler.errors import StateError
from autoscaler.heroku import HerokuClient
from autoscaler.policy import ProcessState
from autoscaler.signals import Reading
from autoscaler.state import Lease, MemoryState, RedisState, state_from_json, state_to_json

from .conftest import FakeClock, FormationFake
from .helpers import worker_settings

APP = "lease-app"
TOKEN = "HRKU-state-test-token-1234"


class StaticSource:
    """A source that reports a fixed backlog."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def read(self, now: float) -> Reading:
        return Reading(at=now, depth=self.depth, latency=1.0, busy=0)

    def close(self) -> None:
        return


def test_state_round_trips_through_json() -> None:
    """Every field of ProcessState survives JSON, tuples included."""
    state = ProcessState(
        history=((1.0, 2), (3.5, 4)),
        ups=((2.0, 1),),
        downs=((3.0, 2),),
        last_set=4,
        manual_floor=3,
        manual_until=99.0,
        failures=2,
        panic_until=50.0,
        previous=(1.0, 10, 2.5),
        arrival_rate=0.5,
        per_dyno_rate=1.5,
        correction=1.2,
    )
    assert state == state_from_json(state_to_json(state))


def test_state_from_a_newer_version_is_read() -> None:
    """Unknown fields are ignored and missing ones take their defaults."""
    assert ProcessState(last_set=3) == state_from_json('{"last_set": 3, "from_the_future": true}')


def test_garbage_state_is_a_state_error() -> None:
    """A stored value that is not a state object raises StateError."""
    with pytest.raises(StateError):
        state_from_json("[1, 2]")


def test_redis_state_persists_across_instances(redis_client: redis.Redis) -> None:
    """A new store on the same Redis (the daily dyno restart) reads what the old one wrote."""
    RedisState(redis_client, APP).put("worker", ProcessState(history=((10.0, 7),), last_set=7))
    assert ProcessState(history=((10.0, 7),), last_set=7) == RedisState(redis_client, APP).get("worker")


def test_redis_state_unreachable_is_a_state_error() -> None:
    """Without a cached copy, an unreachable Redis raises StateError with the password masked."""
    store = RedisState(redis.Redis.from_url("redis://:sekrit-pw@127.0.0.1:1/0", socket_timeout=0.5), APP)
    with pytest.raises(StateError) as info:
        store.get("worker")
    assert "sekrit-pw" not in str(info.value)


def test_only_one_daemon_holds_the_lease(redis_client: redis.Redis) -> None:
    """Two instances: the first takes the lease, the second stands by while it is held."""
    first, second = Lease(redis_client, APP, ttl=15, owner="a"), Lease(redis_client, APP, ttl=15, owner="b")
    assert (True, False, True, "a") == (first.acquire(), second.acquire(), first.acquire(), second.leader())


def test_release_hands_over_at_once(redis_client: redis.Redis) -> None:
    """A clean stop releases the lease; the stand-by takes it at its next try."""
    first, second = Lease(redis_client, APP, ttl=15, owner="a"), Lease(redis_client, APP, ttl=15, owner="b")
    first.acquire()
    first.release()
    assert second.acquire()


def test_expired_lease_is_taken_over(redis_client: redis.Redis) -> None:
    """When the leader dies without releasing, its lease expires after one TTL and the stand-by leads."""
    first, second = Lease(redis_client, APP, ttl=15, owner="a"), Lease(redis_client, APP, ttl=15, owner="b")
    first.acquire()
    assert 0 < redis_client.pttl(first.key) <= 15_000  # the lease lives one TTL unless renewed
    assert not second.acquire()
    redis_client.pexpire(first.key, 1)  # what 15 s without renewal does
    deadline = time.monotonic() + 5
    while redis_client.exists(first.key):  # Redis removes the key once its TTL has run out
        assert time.monotonic() < deadline, "the lease did not expire"
        time.sleep(0.001)
    assert (True, "b") == (second.acquire(), second.leader())


def test_release_does_not_remove_another_leaders_lease(redis_client: redis.Redis) -> None:
    """An old leader that lost the lease cannot delete the new leader's."""
    first, second = Lease(redis_client, APP, ttl=15, owner="a"), Lease(redis_client, APP, ttl=15, owner="b")
    first.acquire()
    redis_client.delete(first.key)
    second.acquire()
    first.release()
    assert "b" == second.leader()


MakeDaemon = Callable[..., Daemon]


@pytest.fixture
def make_daemon(make_client: Callable[..., HerokuClient], clock: FakeClock) -> MakeDaemon:
    """Build a daemon that keeps its state and lease in ``store`` and reads a fixed backlog of ``depth``."""

    def make(redis_url: str, store: redis.Redis, owner: str, depth: int) -> Daemon:
        settings = worker_settings(TOKEN, APP, redis_url, AUTOSCALER_PROCESSES__WORKER__BOOT_TIME="0")
        return Daemon(
            settings,
            make_client(TOKEN),
            {"worker": StaticSource(depth)},
            clock=clock,
            state=RedisState(store, APP),
            lease=Lease(store, APP, ttl=15, owner=owner),
        )

    return make


def test_two_daemons_exactly_one_acts(
    redis_url: str, clock: FakeClock, redis_client: redis.Redis, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """Two daemons tick side by side: only the leader reads and PATCHes; the other logs that it stands by,
    then takes over when the leader stops."""
    heroku = FormationFake(api, APP)
    leader = make_daemon(redis_url, redis_client, "a", depth=45)
    standby = make_daemon(redis_url, redis_client, "b", depth=45)
    with structlog.testing.capture_logs() as captured:
        results = [(leader.tick().skipped, standby.tick().skipped)]
        leader.close()  # clean stop: releases the lease
        clock.advance(15)
        results.append((True, standby.tick().skipped))
    events = [e["event"] for e in captured]
    assert [(False, True), (True, False)] == results
    assert (1, 1, 2) == (len(heroku.patches), events.count("standby"), events.count("leading"))  # a, then b


def test_restart_keeps_the_pending_downscale_delay(
    redis_url: str, clock: FakeClock, redis_client: redis.Redis, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A daemon restarted (new process, same Redis) remembers the recommendation history: it neither
    forgets the delay nor scales down at once."""
    FormationFake(api, APP)
    before = make_daemon(redis_url, redis_client, "old", depth=45)
    before.tick()  # 1 → 5
    before.close()
    clock.advance(200)
    after = make_daemon(redis_url, redis_client, "new", depth=0)
    held = after.tick()
    clock.advance(101)
    down = after.tick()
    assert ("held_downscale_delay", "scale_down") == (held.decisions[0].reason.value, down.decisions[0].reason.value)


def test_memory_state_says_so() -> None:
    """Without Redis the store describes itself as in-memory, single instance."""
    assert "in memory" in MemoryState().description


def test_state_store_down_means_standby(api: respx.MockRouter, make_daemon: MakeDaemon) -> None:
    """When the lease cannot be read the daemon does not act (and says so), rather than risk two leaders."""
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    route = api.get(f"/apps/{APP}/formation")
    daemon = make_daemon("redis://127.0.0.1:1/0", dead, "x", depth=45)
    with structlog.testing.capture_logs() as captured:
        result = daemon.tick()
    assert (True, 0, ["state_unavailable"]) == (
        result.skipped,
        route.call_count,
        [e["event"] for e in captured if e["event"] == "state_unavailable"],
    )
