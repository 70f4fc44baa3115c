"""What both Celery backends (Redis and RabbitMQ) fill with: template tasks published by
Celery itself, and copies of them stamped as published at a given time."""

from __future__ import annotations

import uuid
from typing import Any

import autoscaler.celery


def send_templates(broker: str, queues: list[str], transport_options: dict[str, Any] | None = None) -> None:
    """Publish one real task per queue with Celery: it declares what the broker needs (kombu's
    binding, RabbitMQ's queue and exchange) and leaves the message the copies are made of."""
    from celery import Celery

    # Our publish hook: the stamp header, and the AMQP timestamp RabbitMQ reports as
    # head_message_timestamp.
    autoscaler.celery.install()
    app = Celery("bench", broker=broker, set_as_current=False)
    if transport_options is not None:
        app.conf.broker_transport_options = transport_options
    try:
        for name in queues:
            app.send_task("bench.noop", queue=name)
    finally:
        app.close()


def stamped(headers: dict[str, Any], properties: dict[str, Any], stamp: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The headers and properties of a template task, copied for a new task id published at
    ``stamp`` (our header, as :mod:`autoscaler.celery` writes it, and the AMQP timestamp)."""
    task_id = str(uuid.uuid4())
    return (
        headers | {"id": task_id, "root_id": task_id, autoscaler.celery.PUBLISHED_AT_HEADER: stamp},
        properties | {"correlation_id": task_id, "timestamp": int(stamp)},
    )
