"""The WSGI middleware: Flask, Django's ``wsgi.py``, any WSGI application.

App time runs until the server closes the response iterable (so streaming the body
counts: a sync worker is busy until then); an instance of the server's
``wsgi.file_wrapper`` is not wrapped (that would disable sendfile) and ends when the app
returns it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from autoscaler.middleware.recorder import Recorder, RecordingMiddleware
from autoscaler.middleware.request_start import queue_time_ms

_time = time.time
_perf = time.perf_counter


class _Recorded:
    """The app's response iterable; records the request when the server closes it."""

    __slots__ = ("_done", "_queue_ms", "_recorder", "_result", "_started", "_wall")

    def __init__(
        self, result: Iterable[bytes], recorder: Recorder, wall: float, started: float, queue_ms: float | None
    ) -> None:
        self._result = result
        self._recorder = recorder
        self._wall = wall
        self._started = started
        self._queue_ms = queue_ms
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                elapsed = _perf() - self._started
                self._recorder.record(self._wall + elapsed, elapsed, self._queue_ms)


class AutoscalerWSGIMiddleware(RecordingMiddleware[WSGIApplication]):
    """Wraps a WSGI application and records each request's queue time and app time.

    ``AutoscalerWSGIMiddleware(app, redis_url=None, *, process, dyno, prefix, verify_tls,
    flush_interval, recorder)``, all optional but ``app``: see
    :class:`~autoscaler.middleware.recorder.RecordingMiddleware`.
    """

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        wall = _time()
        started = _perf()
        recorder = self.recorder
        if recorder is None:
            return self.app(environ, start_response)
        header = environ.get("HTTP_X_REQUEST_START")
        queue_ms = None if header is None else queue_time_ms(header, wall)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            elapsed = _perf() - started
            recorder.record(wall + elapsed, elapsed, queue_ms)
            raise
        file_wrapper = environ.get("wsgi.file_wrapper")
        if file_wrapper is not None and isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
            elapsed = _perf() - started
            recorder.record(wall + elapsed, elapsed, queue_ms)
            return result
        return _Recorded(result, recorder, wall, started, queue_ms)
