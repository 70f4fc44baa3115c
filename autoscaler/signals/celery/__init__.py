"""Celery queues read from the broker: Redis (kombu's ``redis`` transport) or RabbitMQ.

The daemon does not need Celery: it reads the broker's own data, as kombu 5.x and
Celery 5.x lay it out (checked against kombu 5.7.0 and celery 5.7.0).

* :mod:`autoscaler.signals.celery.redis` (``redis://``, ``rediss://``): depth, latency
  and busy from kombu's lists and ``unacked`` hash, in one round trip.
* :mod:`autoscaler.signals.celery.amqp` (``amqp://``, ``amqps://``; ``CLOUDAMQP_URL``):
  depth by passive ``queue.declare``, or depth, busy and latency from the management API.

Every failure (connection, timeout, authentication, a malformed value) raises
:class:`~autoscaler.errors.SignalError` with passwords masked; never 0. The sources never
look at the clock: ``now`` comes from the caller.

:func:`build` picks the broker from the URL's scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from autoscaler.errors import ConfigError
from autoscaler.redact import redact_url
from autoscaler.signals.celery.amqp import (
    AMQP_SCHEMES,
    DELAYED_QUEUE_PREFIX,
    MANAGEMENT_COLUMNS,
    MANAGEMENT_MAX_BYTES,
    AMQPAddress,
    CeleryAMQPSource,
    management_figures,
)
from autoscaler.signals.celery.redis import (
    BINDING_KEY_PREFIX,
    DEFAULT_PRIORITY_STEPS,
    DEFAULT_SEP,
    PUBLISHED_AT_HEADER,
    TAIL_WINDOW,
    TAIL_WINDOW_BYTES,
    UNACKED_KEY,
    UNACKED_LIMIT,
    CeleryRedisSource,
)

if TYPE_CHECKING:
    from autoscaler.config import CelerySettings, Settings
    from autoscaler.signals.build import Connections

__all__ = [
    "AMQP_SCHEMES",
    "BINDING_KEY_PREFIX",
    "DEFAULT_PRIORITY_STEPS",
    "DEFAULT_SEP",
    "DELAYED_QUEUE_PREFIX",
    "MANAGEMENT_COLUMNS",
    "MANAGEMENT_MAX_BYTES",
    "PUBLISHED_AT_HEADER",
    "REDIS_SCHEMES",
    "TAIL_WINDOW",
    "TAIL_WINDOW_BYTES",
    "UNACKED_KEY",
    "UNACKED_LIMIT",
    "AMQPAddress",
    "CeleryAMQPSource",
    "CeleryRedisSource",
    "build",
    "management_figures",
]

REDIS_SCHEMES = {"redis", "rediss"}


def build(
    name: str, process: CelerySettings, settings: Settings, connections: Connections
) -> CeleryRedisSource | CeleryAMQPSource:
    """The ``celery`` source of one process type (see :mod:`autoscaler.signals.build`).

    The broker URL is the process's ``URL``, else ``CLOUDAMQP_URL``, else
    ``REDIS_TLS_URL``/``REDIS_URL``; its scheme picks Redis or RabbitMQ.
    """
    var = f"AUTOSCALER_PROCESSES__{name.upper()}"
    url = settings.require_source_url(name, process)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    try:
        if scheme in REDIS_SCHEMES:
            client = connections.redis(url, process.verify_tls)
            return CeleryRedisSource(
                client,
                process.queue_names(),
                prefix=process.prefix or "",
                sep=process.priority_sep if process.priority_sep is not None else DEFAULT_SEP,
                priority_steps=process.priority_steps or DEFAULT_PRIORITY_STEPS,
            )
        if scheme in AMQP_SCHEMES:
            return CeleryAMQPSource(
                url, process.queue_names(), management_url=process.management_url, timeout=connections.timeout
            )
    except ConfigError as exc:
        raise ConfigError([_named(var, problem) for problem in exc.problems]) from None
    raise ConfigError(
        [f"{var}__URL: the celery source reads redis(s):// or amqp(s):// brokers, got {redact_url(url)!r}"]
    )


def _named(var: str, problem: str) -> str:
    """``"queues: ..."`` → ``"AUTOSCALER_PROCESSES__WORKER__QUEUES: ..."``."""
    field, _, detail = problem.partition(": ")
    return f"{var}__{field.upper()}: {detail}"
