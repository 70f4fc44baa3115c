"""DramatiqSource against the real Redis and the real dramatiq.

Messages are put into Redis by dramatiq's own RedisBroker (``send``, ``send_with_options``,
``broker.enqueue``) and taken by a real dramatiq ``Worker`` running in a thread, so these
tests check the key layout dramatiq 2.2.1 really writes. Each test uses a broker
namespace and queue names of its own on the ``redis_url`` database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.encoder import JSONEncoder, PickleEncoder

from autoscaler.config import DramatiqSettings, Settings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading
from autoscaler.signals.build import Connections
from autoscaler.signals.dramatiq import DELAY_WINDOW, DramatiqSource, build
from autoscaler.signals.redis_conn import connect

WAIT = 10.0  # seconds a test waits for a worker to reach a state


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """The source's own long-lived client, as the daemon builds it."""
    c = connect(redis_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def broker(redis_url: str, unique_name: str) -> Iterator[RedisBroker]:
    """The app's broker, in a namespace of this test's own."""
    b = RedisBroker(url=redis_url, namespace=unique_name)
    try:
        yield b
    finally:
        b.client.close()


@pytest.fixture
def queue(unique_name: str) -> str:
    return "q" + unique_name


def make_actor(broker: RedisBroker, queue: str, fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """A dramatiq actor on ``queue`` of ``broker`` (a no-op unless ``fn`` is given)."""

    def noop() -> None:
        """The default job; never run unless a worker is started."""

    target = fn or noop
    decorate = dramatiq.actor(broker=broker, queue_name=queue, actor_name=f"{queue}_{target.__name__}", **options)
    return decorate(target)


def source(client: redis.Redis, broker: RedisBroker, *queues: str) -> DramatiqSource:
    return DramatiqSource(client, list(queues), namespace=broker.namespace)


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def run_worker(broker: RedisBroker) -> Iterator[Callable[[str], dramatiq.Worker]]:
    """Start a real one-thread dramatiq Worker (prefetch 2) on a queue; stopped at the end."""
    workers: list[dramatiq.Worker] = []

    def start(queue: str) -> dramatiq.Worker:
        worker = dramatiq.Worker(broker, queues={queue, f"{queue}.DQ"}, worker_threads=1, worker_timeout=50)
        worker.start()
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop(timeout=5000)


# --- reading queues ------------------------------------------------------------------


def test_unused_queue_reads_zero(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """A queue nothing was ever sent to reads depth 0, latency 0.0 and busy 0, not an error."""
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == source(client, broker, queue).read(now)


def test_depth_counts_sent_messages(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """N messages sent with ``actor.send`` read as depth N."""
    actor = make_actor(broker, queue)
    for _ in range(7):
        actor.send()
    assert 7 == source(client, broker, queue).read(time.time()).depth


def test_latency_is_age_of_sent_message(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """Latency is now − message_timestamp: read 30 s after sending, it is ≈ 30 s."""
    actor = make_actor(broker, queue)
    before = time.time()
    actor.send()
    now = time.time() + 30
    latency = source(client, broker, queue).read(now).latency
    assert latency is not None
    assert 30 <= latency <= now - before + 0.002  # message_timestamp is whole milliseconds


def test_latency_reads_head_not_tail(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """The oldest message is at the head of the list (RPUSH/LPOP): with messages 100 s and
    10 s old, latency is 100 s, not the 10 s of the newest (judoscale's mistake)."""
    actor = make_actor(broker, queue)
    now = time.time()
    broker.enqueue(actor.message().copy(message_timestamp=int((now - 100) * 1000)))
    broker.enqueue(actor.message().copy(message_timestamp=int((now - 10) * 1000)))
    assert 100.0 == pytest.approx(source(client, broker, queue).read(now).latency, abs=0.01)


def test_future_delayed_messages_not_counted(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """A message sent with a delay that is not yet due is not waiting: depth 0, latency 0."""
    make_actor(broker, queue).send_with_options(delay=60_000)
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == source(client, broker, queue).read(now)


def test_due_delayed_message_left_in_delay_queue_counted(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """With no worker to move it, a delayed message past its eta counts as waiting, aged
    from its eta (so a process scaled to zero is woken up for it)."""
    sent = time.time()
    make_actor(broker, queue).send_with_options(delay=60_000)
    now = sent + 120
    reading = source(client, broker, queue).read(now)
    assert 1 == reading.depth
    assert 60.0 == pytest.approx(reading.latency, abs=0.5)


def test_due_delayed_messages_beyond_window_not_examined(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """Only the first DELAY_WINDOW messages of a delay queue are examined for due ones."""
    actor = make_actor(broker, queue)
    for _ in range(DELAY_WINDOW + 3):
        actor.send_with_options(delay=1_000)
    assert DELAY_WINDOW == source(client, broker, queue).read(time.time() + 60).depth


def test_busy_counts_running_and_prefetched(
    client: redis.Redis, broker: RedisBroker, queue: str, run_worker: Callable[[str], dramatiq.Worker]
) -> None:
    """A real one-thread worker runs one message and prefetches one more (prefetch 2):
    busy 2, the other 3 still waiting."""
    release = threading.Event()
    started = threading.Event()

    def block() -> None:
        started.set()
        release.wait(WAIT)

    actor = make_actor(broker, queue, block)
    for _ in range(5):
        actor.send()
    src = source(client, broker, queue)
    try:
        run_worker(queue)
        assert started.wait(WAIT)
        wait_for(lambda: src.read(time.time()).busy == 2, "busy == 2")
        assert 3 == src.read(time.time()).depth
    finally:
        release.set()


def test_acknowledged_messages_gone(
    client: redis.Redis, broker: RedisBroker, queue: str, run_worker: Callable[[str], dramatiq.Worker]
) -> None:
    """Once a worker has processed every message, the queue reads 0 waiting and 0 busy."""
    actor = make_actor(broker, queue)
    for _ in range(4):
        actor.send()
    run_worker(queue)
    broker.join(queue, timeout=int(WAIT * 1000))
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == source(client, broker, queue).read(now)


def test_delayed_messages_held_by_worker_not_busy(
    client: redis.Redis, broker: RedisBroker, queue: str, run_worker: Callable[[str], dramatiq.Worker]
) -> None:
    """A worker fetches delayed messages at once and holds them until due: they are
    neither waiting nor busy."""
    actor = make_actor(broker, queue)
    run_worker(queue)
    actor.send_with_options(delay=60_000)
    wait_for(lambda: broker.client.llen(f"{broker.namespace}:{queue}.DQ") == 0, "the worker to fetch the message")
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == source(client, broker, queue).read(now)


def test_dead_lettered_messages_not_counted(
    client: redis.Redis, broker: RedisBroker, queue: str, run_worker: Callable[[str], dramatiq.Worker]
) -> None:
    """A message that failed for good goes to the dead-letter queue (.XQ): not counted."""

    def fail() -> None:
        raise RuntimeError("boom")

    make_actor(broker, queue, fail, max_retries=0).send()
    run_worker(queue)
    wait_for(lambda: broker.client.zcard(f"{broker.namespace}:{queue}.XQ") == 1, "the message to be dead-lettered")
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == source(client, broker, queue).read(now)


def test_unacked_messages_of_stopped_consumer_count_as_busy(
    client: redis.Redis, broker: RedisBroker, queue: str
) -> None:
    """Messages a consumer fetched and never acknowledged stay in its ack set: busy, until
    dramatiq requeues them."""
    actor = make_actor(broker, queue)
    for _ in range(3):
        actor.send()
    consumer = broker.consume(queue, prefetch=2)
    assert next(consumer) is not None
    reading = source(client, broker, queue).read(time.time())
    assert (1, 2) == (reading.depth, reading.busy)


def test_several_queues_summed_latency_max(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """Depth and busy are summed over the queues; latency is the largest."""
    now = time.time()
    first = make_actor(broker, queue)
    second = make_actor(broker, queue + "b")
    broker.enqueue(first.message().copy(message_timestamp=int((now - 5) * 1000)))
    for _ in range(2):
        broker.enqueue(second.message().copy(message_timestamp=int((now - 50) * 1000)))
    reading = source(client, broker, queue, queue + "b").read(now)
    assert 3 == reading.depth
    assert 50.0 == pytest.approx(reading.latency, abs=0.01)


def test_queue_named_twice_counted_once(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """A queue listed twice is read once."""
    make_actor(broker, queue).send()
    assert 1 == source(client, broker, queue, queue).read(time.time()).depth


def test_other_namespace_not_seen(client: redis.Redis, redis_url: str, queue: str, unique_name: str) -> None:
    """Messages of a broker with another namespace are not read."""
    other = RedisBroker(url=redis_url, namespace=unique_name + "x")
    try:
        make_actor(other, queue).send()
        assert 0 == DramatiqSource(client, [queue], namespace=unique_name).read(time.time()).depth
        assert 1 == DramatiqSource(client, [queue], namespace=unique_name + "x").read(time.time()).depth
    finally:
        other.client.close()


def test_default_namespace_is_dramatiq(client: redis.Redis, redis_url: str, queue: str) -> None:
    """Without a namespace the source reads dramatiq's default ``dramatiq`` namespace."""
    default = RedisBroker(url=redis_url)
    try:
        make_actor(default, queue).send()
        assert 1 == DramatiqSource(client, [queue]).read(time.time()).depth
    finally:
        default.client.close()


def test_vanished_head_message_skipped(
    client: redis.Redis, redis_client: redis.Redis, broker: RedisBroker, queue: str
) -> None:
    """An id at the head whose message is gone from the hash is skipped: the next one counts."""
    actor = make_actor(broker, queue)
    now = time.time()
    first = broker.enqueue(actor.message().copy(message_timestamp=int((now - 90) * 1000)))
    broker.enqueue(actor.message().copy(message_timestamp=int((now - 20) * 1000)))
    redis_client.hdel(f"{broker.namespace}:{queue}.msgs", first.options["redis_message_id"])
    assert 20.0 == pytest.approx(source(client, broker, queue).read(now).latency, abs=0.01)


def test_pickled_messages_latency_unknown(client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """An app using dramatiq's PickleEncoder: depth and busy are read, latency is unknown."""
    dramatiq.set_encoder(PickleEncoder())
    try:
        make_actor(broker, queue).send()
    finally:
        dramatiq.set_encoder(JSONEncoder())
    reading = source(client, broker, queue).read(time.time())
    assert (1, None, 0) == (reading.depth, reading.latency, reading.busy)


@pytest.mark.parametrize("stamp", ['"yesterday"', "null", "1e400"])
def test_garbage_message_timestamp_raises(
    client: redis.Redis, redis_client: redis.Redis, broker: RedisBroker, queue: str, stamp: str
) -> None:
    """A head message whose message_timestamp is not a finite number raises SignalError."""
    ns = broker.namespace
    redis_client.hset(f"{ns}:{queue}.msgs", "m1", '{"queue_name":"q","message_timestamp":' + stamp + "}")
    redis_client.rpush(f"{ns}:{queue}", "m1")
    with pytest.raises(SignalError, match=r"message_timestamp|latency"):
        source(client, broker, queue).read(time.time())


def test_wrong_key_type_raises(client: redis.Redis, redis_client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """A queue key that is not a list (a misconfigured namespace) raises SignalError."""
    redis_client.set(f"{broker.namespace}:{queue}", "oops")
    with pytest.raises(SignalError, match="WRONGTYPE"):
        source(client, broker, queue).read(time.time())


def test_reads_do_not_write(client: redis.Redis, redis_client: redis.Redis, broker: RedisBroker, queue: str) -> None:
    """A read changes no key of the namespace (dramatiq's own dispatch script would write a
    heartbeat; the source does not use it)."""
    actor = make_actor(broker, queue)
    actor.send()
    actor.send_with_options(delay=1_000)
    consumer = broker.consume(queue, prefetch=1)
    assert next(consumer) is not None

    def snapshot() -> dict[bytes, object]:
        return {key: redis_client.dump(key) for key in redis_client.scan_iter(match=f"{broker.namespace}:*")}

    before = snapshot()
    source(client, broker, queue).read(time.time() + 60)
    assert before == snapshot()


def test_unreachable_redis_raises_without_password() -> None:
    """A connection failure raises SignalError naming the server, password masked."""
    c = connect("redis://:hunter2secret@127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(SignalError) as caught:
        DramatiqSource(c, ["default"]).read(time.time())
    assert "hunter2secret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


@pytest.mark.parametrize(
    ("queues", "namespace"),
    [([], "dramatiq"), (["default.DQ"], "dramatiq"), (["9lives"], "dramatiq"), (["default"], ""), ("default", "x")],
)
def test_invalid_configuration_raises(queues: list[str], namespace: str) -> None:
    """Empty or invalid queue names, a delay queue name or an empty namespace are refused."""
    with pytest.raises(ConfigError):
        DramatiqSource(redis.Redis(), queues, namespace=namespace)


def test_build_uses_prefix_as_namespace(redis_url: str, broker: RedisBroker, queue: str) -> None:
    """build() reads PREFIX as the namespace and QUEUES as the queue names."""
    make_actor(broker, queue).send()
    process = DramatiqSettings(source="dramatiq", max_dynos=3, url=redis_url, queues=[queue], prefix=broker.namespace)
    connections = Connections()
    built = build("worker", process, Settings(processes={"worker": process}), connections)
    try:
        assert 1 == built.read(time.time()).depth
    finally:
        built.close()
