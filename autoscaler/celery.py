"""Stamp each Celery task with the time it was published, so the autoscaler sees job latency.

Celery's messages carry no publish time, so a waiting task cannot say how long it has
waited. One line in the module that creates your Celery app (the module every web and
worker process imports) fixes that::

    import autoscaler.celery  # noqa: F401  (stamps publish times for the autoscaler)

From then on every task published by that process carries

* the header ``autoscaler_published_at``: ``time.time()`` at publish, epoch seconds as a
  float (read by the ``celery`` source on Redis), and
* the AMQP ``timestamp`` property, whole epoch seconds, unless something already set
  one (RabbitMQ reports it as the queue's ``head_message_timestamp`` in the management
  API, which the ``celery`` source on RabbitMQ reads).

The stamp is written on every publish, retries included, so it is the time *this* message
was published. A task with a countdown or ETA is counted from its ETA instead.

The receiver is connected to Celery's ``before_task_publish`` signal, which is
process-wide: every Celery app in the process is stamped. It never breaks publishing:
any exception inside it is swallowed. Importing this module without Celery installed
does nothing (the autoscaler daemon itself does not need Celery).
:func:`install` and :func:`uninstall` do the same explicitly; both are idempotent.
"""

from __future__ import annotations

import time
from typing import Any

PUBLISHED_AT_HEADER = "autoscaler_published_at"
"""The task header holding the publish time (epoch seconds, float)."""

_DISPATCH_UID = "autoscaler.celery.stamp_published_at"


def stamp_published_at(sender: object = None, headers: Any = None, properties: Any = None, **kwargs: Any) -> None:
    """The ``before_task_publish`` receiver: stamps ``headers`` and ``properties`` in place."""
    try:
        now = time.time()
        if isinstance(headers, dict):
            headers[PUBLISHED_AT_HEADER] = now
        if isinstance(properties, dict) and properties.get("timestamp") is None:
            properties["timestamp"] = int(now)
    except Exception:  # noqa: S110  (publishing must never fail because of the stamp)
        pass


def install() -> bool:
    """Connect the receiver; returns False (and does nothing) when Celery is not installed."""
    try:
        from celery.signals import before_task_publish
    except ImportError:
        return False
    before_task_publish.connect(stamp_published_at, weak=False, dispatch_uid=_DISPATCH_UID)
    return True


def uninstall() -> None:
    """Disconnect the receiver (for tests, or to turn stamping off again)."""
    try:
        from celery.signals import before_task_publish
    except ImportError:
        return
    before_task_publish.disconnect(stamp_published_at, dispatch_uid=_DISPATCH_UID)


install()
