"""Request queue time for the ``web`` source, measured inside the app and flushed to Redis.

Install it in the web app (the autoscaler reads what it writes, see
:mod:`autoscaler.signals.web`). One line per framework::

    # Flask
    app.wsgi_app = AutoscalerWSGIMiddleware(app.wsgi_app)
    # FastAPI / Starlette
    app.add_middleware(AutoscalerASGIMiddleware)
    # Django: first entry of settings.MIDDLEWARE
    "autoscaler.middleware.DjangoMiddleware",
    # any WSGI / ASGI application (Django's wsgi.py / asgi.py too)
    application = AutoscalerWSGIMiddleware(application)
    application = AutoscalerASGIMiddleware(application)

**Per request** (the request path never talks to Redis):

* *queue time* = ``max(0, now − X-Request-Start)`` in ms, taken first thing when the
  middleware is called (parsing in :mod:`~autoscaler.middleware.request_start`). A missing
  or garbage header, or one more than an hour away from now, gives no queue-time sample;
  the request still counts for the rate. It includes everything between the router and
  the app: router→dyno network, the server's accept backlog, waiting for a free worker,
  slow request-body uploads.
* *app time* = from that moment to the end of the response: for WSGI when the server
  closes the response iterable (:mod:`~autoscaler.middleware.wsgi`), for ASGI when the
  last body chunk has been sent (:mod:`~autoscaler.middleware.asgi`), for Django's
  ``DjangoMiddleware`` when the view's response object is returned
  (:mod:`~autoscaler.middleware.django`).

Each sample goes into an in-process histogram that a daemon thread flushes to Redis every
2 s (:mod:`~autoscaler.middleware.recorder`: outages, fork safety); the Redis layout is in
:mod:`autoscaler.signals.webwire`.

The package imports the standard library, ``redis`` and a few small modules of this
project (errors, redaction, the Redis connection and the wire format), nothing else: it
runs inside the web app. Importing it installs no hook; building the first recorder does.
"""

from __future__ import annotations

from autoscaler.middleware.asgi import ASGIApp, AutoscalerASGIMiddleware, Message, Receive, Scope, Send
from autoscaler.middleware.django import DjangoMiddleware
from autoscaler.middleware.recorder import (
    REDIS_TIMEOUT,
    RETAIN_SECONDS,
    WARN_EVERY,
    Recorder,
    RecorderOptions,
    make_client,
    shared_recorder,
)
from autoscaler.middleware.request_start import MAX_QUEUE_MS, parse_request_start, queue_time_ms
from autoscaler.middleware.wsgi import AutoscalerWSGIMiddleware
from autoscaler.signals.webwire import (
    BUCKETS,
    BUCKETS_PER_DECADE,
    DEFAULT_PREFIX,
    EDGES_MS,
    FIELD_APP_US,
    FIELD_BUCKET,
    FIELD_DYNO,
    FIELD_QUEUED,
    FIELD_REQUESTS,
    FLUSH_INTERVAL,
    KEY_TTL,
    SLOT_SECONDS,
    slot_key,
    slot_start,
)

__all__ = [
    "BUCKETS",
    "BUCKETS_PER_DECADE",
    "DEFAULT_PREFIX",
    "EDGES_MS",
    "FIELD_APP_US",
    "FIELD_BUCKET",
    "FIELD_DYNO",
    "FIELD_QUEUED",
    "FIELD_REQUESTS",
    "FLUSH_INTERVAL",
    "KEY_TTL",
    "MAX_QUEUE_MS",
    "REDIS_TIMEOUT",
    "RETAIN_SECONDS",
    "SLOT_SECONDS",
    "WARN_EVERY",
    "ASGIApp",
    "AutoscalerASGIMiddleware",
    "AutoscalerWSGIMiddleware",
    "DjangoMiddleware",
    "Message",
    "Receive",
    "Recorder",
    "RecorderOptions",
    "Scope",
    "Send",
    "make_client",
    "parse_request_start",
    "queue_time_ms",
    "shared_recorder",
    "slot_key",
    "slot_start",
]
