"""The Django middleware: ``"autoscaler.middleware.DjangoMiddleware"`` first in ``MIDDLEWARE``.

Works under WSGI and ASGI (Django calls it as async middleware there). App time ends when
the view's response object is returned, so streamed bodies are not included: wrap the
WSGI/ASGI application instead for those. Django and asgiref are imported only when Django
builds the middleware.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from autoscaler.middleware.recorder import Recorder, shared_recorder
from autoscaler.middleware.request_start import queue_time_ms
from autoscaler.signals.webwire import DEFAULT_PREFIX

_time = time.time
_perf = time.perf_counter


class _Timed:
    """One request, from when it is built to the end of the ``with`` block."""

    __slots__ = ("_queue_ms", "_recorder", "_started", "_wall")

    def __init__(self, recorder: Recorder, request: Any) -> None:
        self._wall = wall = _time()
        self._started = _perf()
        self._recorder = recorder
        header = request.META.get("HTTP_X_REQUEST_START")
        self._queue_ms = None if header is None else queue_time_ms(header, wall)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        elapsed = _perf() - self._started
        self._recorder.record(self._wall + elapsed, elapsed, self._queue_ms)


class DjangoMiddleware:
    """Django middleware: put ``"autoscaler.middleware.DjangoMiddleware"`` first in
    ``MIDDLEWARE``. Works under WSGI and ASGI. Settings (all optional):
    ``AUTOSCALER_REDIS_URL`` (default ``REDIS_TLS_URL``/``REDIS_URL``) and
    ``AUTOSCALER_WEB_PREFIX``. App time ends when the view's response is returned."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        settings: Any = importlib.import_module("django.conf").settings

        self.get_response = get_response
        self.recorder = shared_recorder(
            getattr(settings, "AUTOSCALER_REDIS_URL", None),
            prefix=getattr(settings, "AUTOSCALER_WEB_PREFIX", DEFAULT_PREFIX),
        )
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        if self.recorder is None:
            return self.get_response(request)
        with _Timed(self.recorder, request):
            return self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        if self.recorder is None:
            return await self.get_response(request)
        with _Timed(self.recorder, request):
            return await self.get_response(request)
