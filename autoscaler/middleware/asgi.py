"""The ASGI middleware: FastAPI, Starlette, Django's ``asgi.py``, any ASGI application.

App time runs until the last ``http.response.body`` message has been handed to the
server, or the app returns or raises if that comes first. Other scopes (websocket,
lifespan) pass through uncounted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from autoscaler.middleware.recorder import RecordingMiddleware
from autoscaler.middleware.request_start import queue_time_ms

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = b"x-request-start"
_time = time.time
_perf = time.perf_counter


class AutoscalerASGIMiddleware(RecordingMiddleware[ASGIApp]):
    """Wraps an ASGI application (FastAPI, Starlette, Django's ASGI handler, ...) and records
    each HTTP request's queue time and app time. Other scopes (websocket, lifespan) pass
    through. Arguments as :class:`~autoscaler.middleware.wsgi.AutoscalerWSGIMiddleware`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wall = _time()
        started = _perf()
        recorder = self.recorder
        if recorder is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        queue_ms = None
        for name, value in scope.get("headers", ()):
            if name == _HEADER:
                queue_ms = queue_time_ms(value, wall)
                break
        recorded = False

        async def send_and_record(message: Message) -> None:
            nonlocal recorded
            await send(message)
            if not recorded and message["type"] == "http.response.body" and not message.get("more_body", False):
                recorded = True
                elapsed = _perf() - started
                recorder.record(wall + elapsed, elapsed, queue_ms)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            if not recorded:
                elapsed = _perf() - started
                recorder.record(wall + elapsed, elapsed, queue_ms)
