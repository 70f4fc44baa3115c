"""Celery on RabbitMQ (``--amqp-url``), read by passive ``queue.declare`` and by the
management API (``--management-url``, guest/guest).

Celery publishes one real task per queue (declaring queue, exchange and binding); its
message is fetched back and republished with new ids and stamps by ``basic_publish``
without waiting, until the broker holds them all. The queues and exchanges are deleted at
the end. Both rows share that one fill.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import amqp
import httpx

from autoscaler.errors import SignalError
from autoscaler.signals import Source
from autoscaler.signals.celery import AMQPAddress
from autoscaler.signals.celery import build as build_celery
from benchmarks.sources.celery_tasks import send_templates, stamped
from benchmarks.sources.harness import Bench, Result, Tally

NAME = "celery (RabbitMQ)"


def amqp_connection(address: AMQPAddress) -> amqp.Connection:
    connection = amqp.Connection(
        host=f"{address.host}:{address.port}",
        userid=address.user,
        password=address.password,
        virtual_host=address.vhost,
        connect_timeout=5,
    )
    connection.connect()
    return connection


def rabbitmq_version(url: str) -> str:
    connection = amqp_connection(AMQPAddress.parse(url))
    try:
        version = connection.server_properties.get("version", "?")
        return f"RabbitMQ {version.decode() if isinstance(version, bytes) else version}"
    finally:
        connection.collect()


def amqp_frames(source: Source) -> int:
    """Frames py-amqp has written on the source's connection (one per passive declare)."""
    connection = getattr(source, "_connection", None)
    return int(connection.bytes_sent) if connection is not None else 0


def wait_ready(channel: Any, queues: list[str], total: int, timeout: float = 60.0) -> None:
    """Wait until RabbitMQ holds every published message (publishing does not wait)."""
    deadline = time.monotonic() + timeout
    while True:
        ready = sum(channel.queue_declare(queue=name, passive=True).message_count for name in queues)
        if ready >= total or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def wait_for_depth(source: Source, expected: int, timeout: float = 30.0) -> None:
    """Wait until the management API's statistics (a few seconds behind the queues; none at
    all for a queue just declared) show every message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(SignalError):
            if source.read(time.time()).depth == expected:
                return
        time.sleep(1)


def delete_queues(address: AMQPAddress, queues: list[str]) -> None:
    """Delete the queues and their exchanges (both idempotent on RabbitMQ 3.x)."""
    connection = amqp_connection(address)
    try:
        for name in queues:
            channel = connection.channel()
            channel.queue_delete(name)
            channel.exchange_delete(name)
            channel.close()
    finally:
        connection.collect()


def fill(bench: Bench, address: AMQPAddress) -> float:
    """Fill every queue; returns the seconds it took, waiting for the broker included."""
    started = bench.begin_fill()
    send_templates(bench.args.amqp_url, bench.queues)
    connection = amqp_connection(address)
    try:
        channel = connection.channel()
        for name, stamps in bench.waiting():
            template = channel.basic_get(queue=name, no_ack=True)
            if template is None:
                raise RuntimeError(f"Celery's template message is not in RabbitMQ queue {name}")
            for stamp in stamps:
                headers, properties = stamped(
                    dict(template.properties["application_headers"]), template.properties, stamp
                )
                message = amqp.Message(template.body, **(properties | {"application_headers": headers}))
                channel.basic_publish(message, exchange="", routing_key=name)
        wait_ready(channel, bench.queues, sum(bench.counts))
    finally:
        connection.collect()
    return time.perf_counter() - started


def celery_amqp(bench: Bench) -> list[Result]:
    address = AMQPAddress.parse(bench.args.amqp_url)
    bench.cleanup.callback(delete_queues, address, bench.queues)
    seconds = fill(bench, address)
    passive = bench.build(build_celery, "worker", source="celery", url=bench.args.amqp_url, queues=bench.queues)
    rows = [bench.measure(NAME, "passive queue.declare per queue", passive, seconds, lambda: amqp_frames(passive))]
    try:
        rows.append(management_row(bench, seconds))
    except Exception as exc:
        rows.append(Result(NAME, "management API", error=f"{type(exc).__name__}: {exc}"))
    return rows


def management_row(bench: Bench, fill: float) -> Result:
    setup = "management API, one GET /api/queues/{vhost}"
    base = bench.args.management_url
    try:
        httpx.get(f"{base}/api/overview", auth=("guest", "guest"), timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        return Result(NAME, setup, error=f"not reachable at {base}: {exc}")
    source = bench.build(
        build_celery, "worker", source="celery", url=bench.args.amqp_url, queues=bench.queues, management_url=base
    )
    wait_for_depth(source, sum(bench.counts))
    requests = Tally()

    def count() -> int:
        client: httpx.Client | None = getattr(source, "_http", None)
        if client is not None and not client.event_hooks["request"]:
            client.event_hooks = {"request": [requests.add], "response": []}
        return requests.total

    count()
    return bench.measure(NAME, setup, source, fill, count)
