"""The celery source against the real Redis and RabbitMQ, with tasks published by Celery.

Tasks are published by a real Celery app (``send_task``), taken by kombu or by a real
``celery worker`` subprocess, so these tests check the layout kombu 5.x really writes.
Redis tests use the database of the ``redis_url`` fixture (``TEST_REDIS_URL``), which is
flushed around each test; ``unacked`` is one hash per database, so no other test run may
share it. RabbitMQ tests use ``TEST_AMQP_URL`` (default the local guest account) and delete
their queues afterwards; the management API tests need ``TEST_RABBITMQ_MANAGEMENT_URL``
(default ``http://guest:guest@127.0.0.1:15672``) and skip when the plugin is not enabled.

This module is also the Celery app of the worker subprocess (``worker_app``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import amqp
import httpx
import pytest
import redis
from celery import Celery
from celery.signals import before_task_publish
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autoscaler.celery as hook
import autoscaler.signals.celery.redis as celery_on_redis
from autoscaler.config import CelerySettings, Settings
from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading, Source
from autoscaler.signals.build import Connections
from autoscaler.signals.celery import (
    DEFAULT_SEP,
    PUBLISHED_AT_HEADER,
    TAIL_WINDOW,
    TAIL_WINDOW_BYTES,
    AMQPAddress,
    CeleryAMQPSource,
    CeleryRedisSource,
    build,
    management_figures,
)
from autoscaler.signals.redis_conn import connect
from tests.conftest import REDIS_URL, ROOT, service_unavailable

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
MANAGEMENT_URL = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")
SLOW = "autoscaler_tests.slow"
NOOP = "autoscaler_tests.noop"

# --- the worker subprocess's app -----------------------------------------------------------

worker_app = Celery("autoscaler_tests", broker=os.environ.get("AUTOSCALER_TEST_BROKER", REDIS_URL))
worker_app.conf.task_acks_late = os.environ.get("AUTOSCALER_TEST_ACKS_LATE") == "1"
worker_app.conf.broker_connection_retry_on_startup = True


@worker_app.task(name=SLOW)  # type: ignore[untyped-decorator]
def slow(seconds: float) -> None:
    time.sleep(seconds)


@worker_app.task(name=NOOP)  # type: ignore[untyped-decorator]
def noop() -> None:
    """Never run: tests publish it and read the queue."""


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_stamp() -> Iterator[None]:
    """Each test starts with no ``before_task_publish`` receiver at all: not ours (importing
    autoscaler.celery installs it), not hirefire-resource's (importing it installs its own,
    maybe done by another test module). The session's receivers are put back afterwards."""
    with before_task_publish.lock:
        saved = list(before_task_publish.receivers)
        before_task_publish.receivers[:] = []
        before_task_publish.sender_receivers_cache.clear()
    yield
    with before_task_publish.lock:
        before_task_publish.receivers[:] = saved
        before_task_publish.sender_receivers_cache.clear()


@pytest.fixture
def stamped() -> Iterator[None]:
    """The app opted in: ``import autoscaler.celery``."""
    assert hook.install()
    yield
    hook.uninstall()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """The source's own long-lived client, as the daemon builds it."""
    c = connect(redis_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def name(unique_name: str) -> str:
    return unique_name


@pytest.fixture
def make_app(redis_url: str) -> Iterator[Callable[..., Any]]:
    """A Celery app publishing to the test Redis, with the given broker transport options."""
    apps: list[Any] = []

    def make(**transport_options: Any) -> Any:
        app = Celery("publisher", broker=redis_url, set_as_current=False)
        app.conf.broker_transport_options = transport_options
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


def publish(app: Any, queue: str, count: int = 1, **options: Any) -> None:
    for _ in range(count):
        app.send_task(NOOP, queue=queue, **options)


def age(reading: Reading) -> float:
    assert reading.latency is not None
    return reading.latency


# --- Redis: depth -------------------------------------------------------------------------------


def test_empty_queue_reads_zero(name: str, client: redis.Redis) -> None:
    """A queue nothing was published to reads depth 0, latency 0.0, busy 0 (exact)."""
    now = time.time()
    assert Reading(at=now, depth=0, latency=0.0, busy=0) == CeleryRedisSource(client, [name]).read(now)


def test_priority_tasks_land_in_kombu_step_lists(name: str, app: Any, redis_client: redis.Redis) -> None:
    """With kombu's defaults, priorities 0-2 go to the queue's key and 3-5, 6-8, 9 to
    ``Q\\x06\\x163``, ``Q\\x06\\x166``, ``Q\\x06\\x169``: the keys the source reads."""
    for priority in (0, 2, 3, 5, 6, 9):
        publish(app, name, priority=priority)
    expected = {name: 2, f"{name}\x06\x163": 2, f"{name}\x06\x166": 1, f"{name}\x06\x169": 1}
    assert expected == {key: redis_client.llen(key) for key in expected}
    assert [*expected, "unacked"] == CeleryRedisSource(redis_client, [name]).keys


def test_all_priority_lists_counted(name: str, app: Any, client: redis.Redis) -> None:
    """Depth sums every priority list of the queue."""
    for priority in range(10):
        publish(app, name, priority=priority)
    assert 10 == CeleryRedisSource(client, [name]).read(time.time()).depth


def test_custom_sep_and_steps(name: str, make_app: Callable[..., Any], client: redis.Redis) -> None:
    """Celery's documented setting (sep ":", steps 0-9) puts tasks in ``Q:1`` ... ``Q:9``;
    configured the same, the source counts them all."""
    app = make_app(sep=":", priority_steps=list(range(10)), queue_order_strategy="priority")
    for priority in range(10):
        publish(app, name, priority=priority)
    assert all(client.llen(f"{name}:{step}") == 1 for step in range(1, 10))
    source = CeleryRedisSource(client, [name], sep=":", priority_steps=range(10))
    assert 10 == source.read(time.time()).depth


def test_global_keyprefix(name: str, make_app: Callable[..., Any], client: redis.Redis) -> None:
    """With kombu's ``global_keyprefix``, the prefixed lists are read."""
    app = make_app(global_keyprefix="shop:")
    publish(app, name, 2)
    publish(app, name, priority=7)
    assert 1 == client.llen(f"shop:{name}\x06\x166")
    assert 3 == CeleryRedisSource(client, [name], prefix="shop:").read(time.time()).depth


def test_several_queues_summed(name: str, app: Any, client: redis.Redis) -> None:
    """Depth is summed over the configured queues; a queue named twice counts once."""
    publish(app, name, 2)
    publish(app, f"{name}-b", 3)
    publish(app, f"{name}-other", 5)
    assert 5 == CeleryRedisSource(client, [name, f"{name}-b", name]).read(time.time()).depth


def test_countdown_tasks_not_waiting(name: str, app: Any, client: redis.Redis) -> None:
    """Tasks with a countdown (a future ETA) are on the list but do not count as waiting."""
    publish(app, name, 3)
    publish(app, name, 2, countdown=600)
    publish(app, name, priority=9, eta=datetime.now(UTC) + timedelta(hours=1))
    assert 3 == CeleryRedisSource(client, [name]).read(time.time()).depth


def test_eta_task_waits_from_its_eta(name: str, app: Any, client: redis.Redis) -> None:
    """A task with an ETA counts once the ETA has passed, aged from the ETA."""
    eta = datetime.now(UTC) + timedelta(seconds=60)
    publish(app, name, eta=eta)
    source = CeleryRedisSource(client, [name])
    later = eta.timestamp() + 5
    assert (0, 1) == (source.read(time.time()).depth, source.read(later).depth)
    assert 5.0 == pytest.approx(age(source.read(later)), abs=1e-3)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    when=st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1)),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_eta_with_any_offset_classified_by_instant(
    when: datetime, offset_minutes: int, name: str, app: Any, client: redis.Redis
) -> None:
    """An ETA written with any UTC offset (Celery writes the app's time zone) is due exactly
    at its instant: not waiting 1 ms before, waiting 1 ms after."""
    eta = when.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    client.delete(name)
    publish(app, name, eta=eta)
    source = CeleryRedisSource(client, [name])
    instant = eta.timestamp()
    assert (0, 1) == (source.read(instant - 0.001).depth, source.read(instant + 0.001).depth)


def test_future_eta_beyond_tail_window_counted(name: str, app: Any, client: redis.Redis) -> None:
    """The documented bound: only the TAIL_WINDOW oldest tasks of a list are examined for
    an ETA, so future-ETA tasks further from the tail count as waiting, and with no ready
    task in the window the latency is a lower bound."""
    publish(app, name, TAIL_WINDOW + 3, countdown=600)
    reading = CeleryRedisSource(client, [name]).read(time.time())
    assert (3, True) == (reading.depth, reading.latency_is_lower_bound)


def test_tail_window_stops_at_byte_budget(name: str, app: Any, client: redis.Redis) -> None:
    """The documented bound for large tasks: no further chunk of 10 is examined once
    TAIL_WINDOW_BYTES have been, so of 15 future-ETA tasks of 100 kB only 10 are seen."""
    big = "x" * 100_000
    for _ in range(15):
        app.send_task(NOOP, args=[big], queue=name, countdown=600)
    assert 10 * 100_000 > TAIL_WINDOW_BYTES
    reading = CeleryRedisSource(client, [name]).read(time.time())
    assert (5, True) == (reading.depth, reading.latency_is_lower_bound)


# --- Redis: latency ------------------------------------------------------------------------------


@pytest.mark.usefixtures("stamped")
def test_stamped_latency(name: str, app: Any, client: redis.Redis) -> None:
    """With ``autoscaler.celery`` installed, latency is now − the oldest task's publish
    time: read 30 s later, ≈ 30 s, and exact (not a lower bound)."""
    before = time.time()
    publish(app, name, 3)
    after = time.time()
    reading = CeleryRedisSource(client, [name]).read(after + 30)
    assert before + 30 <= after + age(reading) <= after + 30 + (after - before)
    assert reading.latency_is_lower_bound is False


@pytest.mark.usefixtures("stamped")
def test_stamp_header_on_message(name: str, app: Any, redis_client: redis.Redis) -> None:
    """The hook writes ``autoscaler_published_at`` (epoch float) into the task headers,
    the name the source reads."""
    before = time.time()
    publish(app, name)
    message = json.loads(redis_client.lindex(name, -1) or b"{}")
    assert hook.PUBLISHED_AT_HEADER == PUBLISHED_AT_HEADER
    assert before <= message["headers"][PUBLISHED_AT_HEADER] <= time.time()


@pytest.mark.usefixtures("stamped")
def test_latency_is_oldest_over_queues_and_steps(name: str, app: Any, client: redis.Redis) -> None:
    """Latency is the largest over every queue and priority list."""
    first = time.time()
    publish(app, name, priority=9)
    time.sleep(0.2)
    publish(app, name)
    publish(app, f"{name}-b")
    now = time.time() + 10
    assert now - first == pytest.approx(age(CeleryRedisSource(client, [f"{name}-b", name]).read(now)), abs=0.05)


@pytest.mark.usefixtures("stamped")
def test_past_eta_replaces_stamp(name: str, app: Any, client: redis.Redis) -> None:
    """A stamped task with a countdown waits from its ETA, not from its publish time."""
    before = time.time()
    publish(app, name, countdown=20)
    after = time.time()  # the ETA is 20 s after a moment between these two, however slow the publish was
    seen = age(CeleryRedisSource(client, [name]).read(after + 25))
    assert 5.0 - 1e-3 <= seen <= 5.0 + (after - before) + 1e-3


@pytest.mark.usefixtures("stamped")
def test_requeued_task_at_head_found(name: str, app: Any, client: redis.Redis) -> None:
    """A task rejected with requeue goes back to the head of the list (the newest end);
    its age is still seen."""
    publish(app, name)
    time.sleep(0.2)
    publish(app, name, 3)
    connection = app.connection_for_write()
    try:
        channel = connection.default_channel
        message = channel.basic_get(name)
        assert message is not None
        oldest = message.headers[PUBLISHED_AT_HEADER]
        message.reject(requeue=True)
    finally:
        connection.close()
    now = time.time() + 10
    assert now - oldest == pytest.approx(age(CeleryRedisSource(client, [name]).read(now)), abs=1e-3)


def test_hirefire_run_at_header(name: str, app: Any, client: redis.Redis) -> None:
    """Apps using hirefire-resource's ``run_at`` header keep their latency."""
    from hirefire_resource.macro import celery as hirefire

    before_task_publish.connect(hirefire.run_at_header_signal)  # what importing it did, the first time
    before = time.time()
    publish(app, name)
    reading = CeleryRedisSource(client, [name]).read(before + 30)
    assert 30.0 == pytest.approx(age(reading), abs=0.5)
    assert reading.latency_is_lower_bound is False


def test_judoscale_published_at_property(name: str, app: Any, client: redis.Redis) -> None:
    """Apps using judoscale's stamp (``properties["published_at"] = time.time()`` in a
    ``before_task_publish`` receiver, as judoscale 1.14 does) keep their latency."""

    def judoscale_stamp(properties: dict[str, Any], **kwargs: Any) -> None:
        properties["published_at"] = time.time()

    before_task_publish.connect(judoscale_stamp, weak=False)
    before = time.time()
    publish(app, name)
    reading = CeleryRedisSource(client, [name]).read(before + 30)
    assert 30.0 == pytest.approx(age(reading), abs=0.5)


def test_no_stamp_lower_bound_across_reads(name: str, app: Any, client: redis.Redis) -> None:
    """Without any stamp, latency is how long the tail task has been seen there: 0 on the
    first read, 20 s on a read 20 s later, flagged as a lower bound."""
    publish(app, name, 2)
    source = CeleryRedisSource(client, [name])
    t0 = time.time()
    first, second = source.read(t0), source.read(t0 + 20)
    assert [(2, 0.0, True), (2, 20.0, True)] == [
        (r.depth, r.latency, r.latency_is_lower_bound) for r in (first, second)
    ]


def test_no_stamp_lower_bound_restarts_with_new_tail(name: str, app: Any, client: redis.Redis) -> None:
    """Once the tail task is taken (kombu's own get), the next one is new at the tail."""
    publish(app, name, 2)
    source = CeleryRedisSource(client, [name])
    t0 = time.time()
    source.read(t0)
    connection = app.connection_for_write()
    try:
        message = connection.default_channel.basic_get(name, no_ack=True)
        assert message is not None
    finally:
        connection.close()
    assert 0.0 == source.read(t0 + 20).latency


# --- Redis: busy ----------------------------------------------------------------------------------


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Starts a real ``celery worker`` (threads pool, concurrency 1, prefetch multiplier 4)
    on one queue of ``broker`` and waits until ``until()`` holds; killed afterwards.

    ``until`` describes a state the worker stays in once it is reached (its prefetch is
    full, or nothing is left to fetch), so the test reads that state; ``lambda: True``
    only starts the worker, and the test waits for what it expects itself."""
    processes: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "worker.log"

    def start(queue: str, *, broker: str, until: Callable[[], bool], acks_late: bool = False) -> None:
        env = {**os.environ, "AUTOSCALER_TEST_BROKER": broker, "AUTOSCALER_TEST_ACKS_LATE": "1" if acks_late else ""}
        command = [
            sys.executable, "-m", "celery", "-A", "tests.test_signal_celery:worker_app", "worker",
            "-Q", queue, "-n", f"{queue}@%h", "--pool", "threads", "--concurrency", "1",
            "--prefetch-multiplier", "4", "--without-heartbeat", "--without-gossip", "--without-mingle",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        with log_path.open("ab") as log:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        while not until():
            if time.monotonic() > deadline or processes[-1].poll() is not None:
                output = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"the celery worker did not reach the expected state:\n{output}")
            time.sleep(0.1)

    try:
        yield start
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)


def test_busy_counts_prefetched_tasks(
    name: str,
    app: Any,
    client: redis.Redis,
    redis_url: str,
    redis_client: redis.Redis,
    worker: Callable[..., None],
) -> None:
    """A worker with prefetch 4 and Celery's default early ack holds 4 prefetched tasks in
    ``unacked`` (busy 4) while the running one, acked, has left Redis: of 10 tasks, 5 wait."""
    for _ in range(10):
        app.send_task(SLOW, args=[60], queue=name)
    worker(name, broker=redis_url, until=lambda: redis_client.hlen("unacked") == 4 and redis_client.llen(name) == 5)
    reading = CeleryRedisSource(client, [name]).read(time.time())
    assert (5, 4) == (reading.depth, reading.busy)


def test_busy_counts_running_task_with_acks_late(
    name: str,
    app: Any,
    client: redis.Redis,
    redis_url: str,
    redis_client: redis.Redis,
    worker: Callable[..., None],
) -> None:
    """With ``task_acks_late`` the running task stays unacked: busy 4 = 1 running + 3
    prefetched, and 6 of 10 wait."""
    for _ in range(10):
        app.send_task(SLOW, args=[60], queue=name)
    worker(
        name,
        broker=redis_url,
        acks_late=True,
        until=lambda: redis_client.hlen("unacked") == 4 and redis_client.llen(name) == 6,
    )
    reading = CeleryRedisSource(client, [name]).read(time.time())
    assert (6, 4) == (reading.depth, reading.busy)


def test_busy_excludes_eta_held_tasks(
    name: str,
    app: Any,
    client: redis.Redis,
    redis_url: str,
    redis_client: redis.Redis,
    worker: Callable[..., None],
) -> None:
    """Countdown tasks a worker fetched and holds until their ETA are in ``unacked`` but
    are not busy."""
    app.send_task(SLOW, args=[60], queue=name, countdown=3600)
    app.send_task(SLOW, args=[60], queue=name, countdown=3600)
    worker(name, broker=redis_url, until=lambda: redis_client.hlen("unacked") == 2 and redis_client.llen(name) == 0)
    reading = CeleryRedisSource(client, [name]).read(time.time())
    assert (0, 0) == (reading.depth, reading.busy)


def test_busy_only_counts_configured_queues(name: str, app: Any, client: redis.Redis) -> None:
    """``unacked`` holds the tasks of every queue; only the configured queues' count."""
    publish(app, name, 2)
    publish(app, f"{name}-other", 3)
    connection = app.connection_for_write()
    try:
        channel = connection.default_channel
        taken = [channel.basic_get(queue) for queue in [name] * 2 + [f"{name}-other"] * 3]
        assert all(message is not None for message in taken)
        reading = CeleryRedisSource(client, [name]).read(time.time())
    finally:
        connection.close()
    assert (0, 2) == (reading.depth, reading.busy)


def test_busy_estimated_from_sample_above_limit(
    name: str, app: Any, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above UNACKED_LIMIT entries, busy is the share of a sample of that many, scaled to
    the hash's size: about 200 when 200 of 300 in-flight tasks are the queue's."""
    monkeypatch.setattr(celery_on_redis, "UNACKED_LIMIT", 50)
    publish(app, name, 200)
    publish(app, f"{name}-other", 100)
    connection = app.connection_for_write()
    try:
        channel = connection.default_channel
        for queue in [name] * 200 + [f"{name}-other"] * 100:
            assert channel.basic_get(queue) is not None
        busy = CeleryRedisSource(client, [name]).read(time.time()).busy
    finally:
        connection.close()
    assert busy is not None
    assert 140 <= busy <= 260


def test_busy_follows_exchange_bindings(name: str, app: Any, client: redis.Redis) -> None:
    """A task routed through a named exchange with its own routing key counts for the
    queue the exchange binds that key to."""
    from kombu.entity import Exchange, Queue

    exchange = Exchange(f"{name}-ex", type="direct")
    app.conf.task_queues = [Queue(name, exchange, routing_key="reports.daily")]
    app.send_task(NOOP, exchange=exchange, routing_key="reports.daily", declare=[app.conf.task_queues[0]])
    connection = app.connection_for_write()
    try:
        message = connection.default_channel.basic_get(name)
        assert message is not None
        assert ("reports.daily", f"{name}-ex") == (
            message.delivery_info["routing_key"],
            message.delivery_info["exchange"],
        )
        busy = CeleryRedisSource(client, [name]).read(time.time()).busy
    finally:
        connection.close()
    assert 1 == busy


# --- Redis: errors and configuration ------------------------------------------------------------


def test_reads_do_not_write(name: str, app: Any, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A read leaves every key it looks at as it was (tasks, unacked, bindings)."""
    publish(app, name, 3, priority=4)
    publish(app, name, countdown=600)
    connection = app.connection_for_write()
    try:
        assert connection.default_channel.basic_get(name) is not None
        keys = sorted(redis_client.scan_iter(count=1000))
        before = {key: redis_client.dump(key) for key in keys}
        CeleryRedisSource(client, [name]).read(time.time())
        after = {key: redis_client.dump(key) for key in keys}
    finally:
        connection.close()
    assert before == after


def test_malformed_message_raises(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """Something that is not a kombu message at the tail makes the reading unknown."""
    redis_client.lpush(name, "not json")
    with pytest.raises(SignalError, match="not JSON"):
        CeleryRedisSource(client, [name]).read(time.time())


def test_garbage_eta_raises(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """An ETA that is not an ISO 8601 time makes the reading unknown, not 0."""
    redis_client.lpush(name, '{"body": "", "headers": {"id": "x", "eta": "tomorrow"}, "properties": {}}')
    with pytest.raises(SignalError, match="unreadable eta"):
        CeleryRedisSource(client, [name]).read(time.time())


def test_wrong_key_type_raises(name: str, client: redis.Redis, redis_client: redis.Redis) -> None:
    """A queue key holding something else than a list is an error."""
    redis_client.set(name, "x")
    with pytest.raises(SignalError, match="WRONGTYPE"):
        CeleryRedisSource(client, [name]).read(time.time())


def test_unreachable_redis_raises_without_password() -> None:
    """An unreachable broker raises SignalError naming it, with its password masked."""
    source = CeleryRedisSource(connect("redis://:hunter2secret@127.0.0.1:1/0", timeout=1), ["celery"])
    with pytest.raises(SignalError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as raised:
        source.read(time.time())
    assert "hunter2secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"queues": []}, "queues: at least one"),
        ({"queues": "celery"}, "queues: expected a list"),
        ({"queues": ["ok", " "]}, "queues: invalid queue name"),
        ({"sep": ""}, "priority_sep: must not be empty"),
        ({"priority_steps": []}, "priority_steps: at least one"),
        ({"priority_steps": [0, 12]}, "priority_steps: 12 is not between 0 and 9"),
    ],
)
def test_invalid_redis_configuration_raises(options: dict[str, Any], problem: str) -> None:
    """Unusable settings are refused when the source is built, naming the setting."""
    queues = options.pop("queues", ["celery"])
    with pytest.raises(ConfigError, match=problem):
        CeleryRedisSource(redis.Redis(), queues, **options)


# --- the hook -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("stamped")
def test_hook_never_breaks_publishing(
    name: str, app: Any, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver swallows every error: odd arguments, headers that refuse writes, and a
    failure inside it while a real task is published, which still goes out (unstamped)."""

    class Refusing(dict[str, Any]):
        def __setitem__(self, key: str, value: Any) -> None:
            raise RuntimeError("read-only headers")

    headers, properties = Refusing(), Refusing()
    hook.stamp_published_at(headers=headers, properties=properties)
    hook.stamp_published_at(headers=None, properties="not a dict")
    assert ({}, {}) == (headers, properties)

    def broken_clock() -> float:
        raise RuntimeError("no clock")

    monkeypatch.setattr(hook, "time", SimpleNamespace(time=broken_clock))  # the hook's clock only
    publish(app, name)
    message = json.loads(redis_client.lindex(name, -1) or b"{}")
    assert (NOOP, False) == (message["headers"]["task"], PUBLISHED_AT_HEADER in message["headers"])


def test_hook_import_is_the_opt_in() -> None:
    """``import autoscaler.celery`` alone connects the receiver (a fresh interpreter)."""
    code = (
        "import autoscaler.celery, celery.signals as s; print([key for (key, _), _ in s.before_task_publish.receivers])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "['autoscaler.celery.stamp_published_at']" == result.stdout.strip()


def test_hook_importable_without_celery() -> None:
    """``import autoscaler.celery`` works where Celery is not installed; install() says no."""
    code = "import sys; sys.modules['celery'] = None; import autoscaler.celery as h; print(h.install())"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "False" == result.stdout.strip()


def test_hook_install_is_idempotent() -> None:
    """Installing twice connects one receiver."""
    hook.install()
    hook.install()
    receivers = [r for r in before_task_publish.receivers if r[0][0] == "autoscaler.celery.stamp_published_at"]
    assert 1 == len(receivers)


# --- RabbitMQ -----------------------------------------------------------------------------------


def broker_connection() -> Any:
    """A py-amqp connection of the test's own (to set up, look at and clean up queues)."""
    address = AMQPAddress.parse(AMQP_URL)
    return amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.user,
        password=address.password,
        virtual_host=address.vhost,
        connect_timeout=2,
    )


@pytest.fixture
def amqp_url() -> str:
    try:
        connection = broker_connection()
        connection.connect()
        connection.close()
    except (OSError, amqp.exceptions.AMQPError):
        service_unavailable(
            f"RabbitMQ at {AMQPAddress.parse(AMQP_URL).describe()}",
            "install and start rabbitmq-server (apt-get install rabbitmq-server)",
        )
    return AMQP_URL


@pytest.fixture
def amqp_app(amqp_url: str) -> Iterator[Any]:
    app = Celery("publisher", broker=amqp_url, set_as_current=False)
    # Publisher confirms: send_task returns once RabbitMQ has the message, so a read right
    # after publishing sees it.
    app.conf.broker_transport_options = {"confirm_publish": True}
    yield app
    app.close()


@pytest.fixture
def amqp_queues(amqp_url: str, unique_name: str) -> Iterator[list[str]]:
    """Queue names for the test (unique_name, unique_name-b, ...); deleted afterwards."""
    names = [unique_name, f"{unique_name}-b", f"{unique_name}-pri"]
    yield names
    connection = broker_connection()
    connection.connect()
    try:
        channel = connection.channel()
        for queue in names:
            channel.queue_delete(queue)
            channel.exchange_delete(queue)
    finally:
        connection.close()


def test_amqp_passive_declare_depth(amqp_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """Ready messages of each queue by passive declare, summed; busy and latency unknown."""
    publish(amqp_app, amqp_queues[0], 4)
    publish(amqp_app, amqp_queues[1], 2)
    source = CeleryAMQPSource(amqp_url, amqp_queues[:2])
    try:
        now = time.time()
        assert Reading(at=now, depth=6) == source.read(now)
    finally:
        source.close()


def test_amqp_priority_queue_counts_every_priority(amqp_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """An ``x-max-priority`` queue is one queue: its count covers every priority."""
    from kombu.entity import Queue

    queue = Queue(amqp_queues[2], queue_arguments={"x-max-priority": 9})
    for priority in range(10):
        amqp_app.send_task(NOOP, queue=queue, priority=priority)
    source = CeleryAMQPSource(amqp_url, [amqp_queues[2]])
    try:
        assert 10 == source.read(time.time()).depth
    finally:
        source.close()


def test_amqp_missing_queue_is_zero(amqp_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """A queue that does not exist yet has nothing waiting; the queues after it are still
    read (the broker closes the channel on the missing one), read after read."""
    publish(amqp_app, amqp_queues[1], 3)
    source = CeleryAMQPSource(amqp_url, [amqp_queues[0], amqp_queues[1]])
    try:
        assert [3, 3] == [source.read(time.time()).depth for _ in range(2)]
    finally:
        source.close()


class CuttingProxy:
    """A TCP proxy to RabbitMQ that can cut every connection through it at once, as a
    broker restart or an idle timeout does; counts the connections it accepted."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._open += [downstream, upstream]
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every connection through the proxy; new ones are still accepted."""
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


def test_amqp_reconnects_after_dropped_connection(amqp_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """When the kept connection has died between reads, the next read opens a new one."""
    address = AMQPAddress.parse(amqp_url)
    proxy = CuttingProxy(address.host, address.port)
    user, password, vhost = (quote(part, safe="") for part in (address.user, address.password, address.vhost))
    proxied = f"amqp://{user}:{password}@127.0.0.1:{proxy.port}/{vhost}"
    publish(amqp_app, amqp_queues[0], 2)
    source = CeleryAMQPSource(proxied, [amqp_queues[0]])
    try:
        assert [2, 2] == [source.read(time.time()).depth for _ in range(2)]
        assert 1 == proxy.accepted  # one kept connection across reads
        proxy.cut()
        assert 2 == source.read(time.time()).depth
        assert 2 == proxy.accepted
    finally:
        source.close()
        proxy.close()


def test_amqp_close_then_read_reconnects(amqp_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """close() may be called twice, and a read after it opens a new connection."""
    publish(amqp_app, amqp_queues[0])
    source = CeleryAMQPSource(amqp_url, [amqp_queues[0]])
    try:
        source.read(time.time())
        source.close()
        source.close()
        assert 1 == source.read(time.time()).depth
    finally:
        source.close()


def test_amqp_unreachable_raises_without_password() -> None:
    """An unreachable broker raises SignalError naming it, with the password masked."""
    source = CeleryAMQPSource("amqp://guest:hunter2secret@127.0.0.1:1/", ["celery"], timeout=1)
    with pytest.raises(SignalError, match=r"amqp://guest:\*\*\*@127\.0\.0\.1:1/%2F") as raised:
        source.read(time.time())
    assert "hunter2secret" not in str(raised.value)


def test_amqp_rejected_password_raises(amqp_url: str) -> None:
    """A wrong password raises SignalError (ACCESS_REFUSED), the password masked."""
    address = AMQPAddress.parse(amqp_url)
    source = CeleryAMQPSource(f"amqp://{address.user}:wrong-hunter2@{address.host}:{address.port}/", ["celery"])
    with pytest.raises(SignalError, match="ACCESS_REFUSED") as raised:
        source.read(time.time())
    assert "wrong-hunter2" not in str(raised.value)


def test_amqp_delayed_delivery_queues_refused() -> None:
    """Celery's celery_delayed_* queues hold not-yet-due tasks and cannot be configured."""
    with pytest.raises(ConfigError, match="celery_delayed_3"):
        CeleryAMQPSource(AMQP_URL, ["celery", "celery_delayed_3"])


@pytest.mark.usefixtures("stamped")
def test_hook_sets_amqp_timestamp(amqp_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """On RabbitMQ the hook also sets the AMQP ``timestamp`` property (what RabbitMQ reports
    as ``head_message_timestamp``). Read back by the test with basic_get."""
    before = int(time.time())
    publish(amqp_app, amqp_queues[0])
    connection = broker_connection()
    connection.connect()
    try:
        message = connection.channel().basic_get(amqp_queues[0], no_ack=True)
    finally:
        connection.close()
    assert before <= message.properties["timestamp"] <= time.time()


# --- RabbitMQ management API ---------------------------------------------------------------------


@pytest.fixture
def management_url(amqp_url: str) -> str:
    try:
        httpx.get(f"{MANAGEMENT_URL}/api/overview", timeout=2).raise_for_status()
    except httpx.HTTPError:
        service_unavailable(
            f"the RabbitMQ management API at {MANAGEMENT_URL.split('@')[-1]}",
            "enable it with `rabbitmq-plugins enable rabbitmq_management` (or set TEST_RABBITMQ_MANAGEMENT_URL)",
        )
    return MANAGEMENT_URL


def settle(source: CeleryAMQPSource, done: Callable[[Reading], bool]) -> Reading:
    """Reads until ``done(reading)``: RabbitMQ samples its statistics every few seconds, and
    a new queue has none (an unknown reading) until the first sample."""
    deadline = time.monotonic() + 20
    while True:
        try:
            reading = source.read(time.time())
            if done(reading):
                return reading
        except SignalError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            pytest.fail(f"the management API never showed the expected figures; last: {reading}")
        time.sleep(0.5)


@pytest.mark.usefixtures("stamped")
def test_management_api_depth_busy_latency(management_url: str, amqp_app: Any, amqp_queues: list[str]) -> None:
    """With MANAGEMENT_URL: depth = messages_ready, busy = messages_unacknowledged and
    latency from the head message's timestamp (set by the hook), in one call."""
    publish(amqp_app, amqp_queues[0], 3)
    published = int(time.time())
    source = CeleryAMQPSource(AMQP_URL, [amqp_queues[0], amqp_queues[1]], management_url=management_url)
    try:
        settle(source, lambda reading: reading.depth == 3)
        now = published + 30.0
        reading = source.read(now)
    finally:
        source.close()
    assert (3, 0) == (reading.depth, reading.busy)
    assert 30.0 == pytest.approx(age(reading), abs=1.01)


def test_management_api_busy_with_real_worker(
    management_url: str, amqp_app: Any, amqp_queues: list[str], worker: Callable[..., None]
) -> None:
    """A worker with prefetch 4 (default early ack) on RabbitMQ: the 4 prefetched tasks are
    unacknowledged (busy 4) and 5 of 10 are ready (the running one is acked)."""
    queue = amqp_queues[0]
    for _ in range(10):
        amqp_app.send_task(SLOW, args=[60], queue=queue)
    source = CeleryAMQPSource(AMQP_URL, [queue], management_url=management_url)
    try:
        worker(queue, broker=AMQP_URL, until=lambda: True)
        reading = settle(source, lambda reading: (reading.depth, reading.busy) == (5, 4))
    finally:
        source.close()
    assert (5, 4) == (reading.depth, reading.busy)


def test_management_api_wrong_password_raises(management_url: str) -> None:
    """A rejected management login raises SignalError with the status, password masked."""
    bad = management_url.replace("guest:guest@", "guest:wrong-hunter2@")
    source = CeleryAMQPSource(AMQP_URL, ["celery"], management_url=bad)
    try:
        with pytest.raises(SignalError, match="HTTP 401") as raised:
            source.read(time.time())
    finally:
        source.close()
    assert "wrong-hunter2" not in str(raised.value)


def test_management_api_unreachable_raises() -> None:
    """An unreachable management API raises SignalError, the password masked."""
    source = CeleryAMQPSource(AMQP_URL, ["celery"], management_url="http://u:hunter2secret@127.0.0.1:1", timeout=1)
    try:
        with pytest.raises(SignalError, match="ConnectError") as raised:
            source.read(time.time())
    finally:
        source.close()
    assert "hunter2secret" not in str(raised.value)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], (0, 0, 0.0)),
        ([{"name": "a", "messages_ready": 0, "messages_unacknowledged": 2}], (0, 2, 0.0)),
        (
            [
                {"name": "a", "messages_ready": 5, "messages_unacknowledged": 1, "head_message_timestamp": 900},
                {"name": "b", "messages_ready": 1, "messages_unacknowledged": 0, "head_message_timestamp": 990},
                {"name": "other", "messages_ready": 50, "messages_unacknowledged": 9},
            ],
            (6, 1, 100.0),
        ),
        ([{"name": "a", "messages_ready": 5, "messages_unacknowledged": 0}], (5, 0, None)),
        ({"items": [{"name": "b", "messages_ready": 2, "messages_unacknowledged": 0}]}, (2, 0, None)),
    ],
    ids=["no queues", "idle with unacked", "two queues, oldest head", "no head timestamp", "paginated answer"],
)
def test_management_figures(document: Any, expected: tuple[int, int, float | None]) -> None:
    """The figures taken from a ``GET /api/queues/{vhost}`` answer (RabbitMQ's field names)."""
    assert expected == management_figures(document, ["a", "b"], now=1000.0)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"error": "x"}, "no list of queues"),
        ([{"name": "a"}], "no message statistics"),
        ([{"name": "a", "messages_ready": -1, "messages_unacknowledged": 0}], "out of range"),
        ([{"name": "a", "messages_ready": "5", "messages_unacknowledged": 0}], "not a number"),
    ],
)
def test_management_figures_malformed(document: Any, problem: str) -> None:
    """An answer without usable figures is an error, never 0."""
    with pytest.raises(SignalError, match=problem):
        management_figures(document, ["a"], now=1000.0)


# --- build ------------------------------------------------------------------------------------------


def settings_for(**fields: Any) -> Settings:
    """Settings with one ``worker`` process of the celery source (validation of the
    environment is config.py's business, tested there)."""
    urls = {key: fields.pop(key) for key in ("redis_url", "cloudamqp_url") if key in fields}
    process = CelerySettings(source="celery", max_dynos=4, jobs_per_dyno=10, **fields)
    return Settings.model_construct(processes={"worker": process}, **urls)


def build_worker(settings: Settings) -> Source:
    """The source ``build`` makes of the ``worker`` process of ``settings``."""
    process = settings.processes["worker"]
    assert isinstance(process, CelerySettings)
    return build("worker", process, settings, Connections())


def test_build_redis_source(redis_url: str) -> None:
    """A redis:// URL builds the Redis source with kombu's defaults."""
    settings = settings_for(redis_url=redis_url)
    source = build_worker(settings)
    assert isinstance(source, CeleryRedisSource)
    assert ["celery", f"celery{DEFAULT_SEP}3", f"celery{DEFAULT_SEP}6", f"celery{DEFAULT_SEP}9", "unacked"] == (
        source.keys
    )


def test_build_redis_source_with_app_settings(redis_url: str) -> None:
    """PREFIX, PRIORITY_SEP and PRIORITY_STEPS shape the keys read."""
    settings = settings_for(redis_url=redis_url, queues=["mail"], prefix="p:", priority_sep=":", priority_steps=[0, 5])
    source = build_worker(settings)
    assert isinstance(source, CeleryRedisSource)
    assert ["p:mail", "p:mail:5", "p:unacked"] == source.keys


def test_build_prefers_cloudamqp_url(redis_url: str) -> None:
    """Without URL, CLOUDAMQP_URL (the broker when an app has both) wins over REDIS_URL."""
    settings = settings_for(redis_url=redis_url, cloudamqp_url="amqps://u:p@example.invalid/vhost")
    source = build_worker(settings)
    assert isinstance(source, CeleryAMQPSource)
    assert "CeleryAMQPSource(amqps://u:***@example.invalid:5671/vhost, queues=['celery'])" == repr(source)


def test_build_process_url_wins() -> None:
    """The process's own URL wins over CLOUDAMQP_URL."""
    settings = settings_for(url="redis://127.0.0.1:6379/0", cloudamqp_url="amqp://u:p@h/v")
    assert isinstance(build_worker(settings), CeleryRedisSource)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"url": "sqs://k:s@"}, r"AUTOSCALER_PROCESSES__WORKER__URL: the celery source reads .* got 'sqs://k:\*\*\*@'"),
        ({"url": "redis://h/0", "priority_steps": [11]}, "AUTOSCALER_PROCESSES__WORKER__PRIORITY_STEPS: 11 is not"),
        ({"url": "amqp://h/", "queues": ["celery_delayed_0"]}, "WORKER__QUEUES: celery_delayed_0"),
        ({"url": "amqp://h/", "management_url": "ftp://h"}, "AUTOSCALER_PROCESSES__WORKER__MANAGEMENT_URL: must be"),
        ({}, "AUTOSCALER_PROCESSES__WORKER__URL: required"),
    ],
)
def test_build_refuses_bad_configuration(fields: dict[str, Any], problem: str) -> None:
    """Bad settings are ConfigError naming the variable to fix."""
    settings = settings_for(**fields)
    with pytest.raises(ConfigError, match=problem):
        build_worker(settings)


def test_amqp_url_parts() -> None:
    """The AMQP URL is read as kombu reads it: vhost from the path (``//`` is ``/``),
    guest/guest and port 5672/5671 by default."""
    assert [
        AMQPAddress("h", 5672, "guest", "guest", "/", tls=False),
        AMQPAddress("h", 5671, "u", "p@ss", "v h", tls=True),
        AMQPAddress("h", 5673, "u", "p", "/", tls=False),
    ] == [
        AMQPAddress.parse("amqp://h"),
        AMQPAddress.parse("amqps://u:p%40ss@h/v%20h"),
        AMQPAddress.parse("amqp://u:p@h:5673//"),
    ]
