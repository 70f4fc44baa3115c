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
  middleware is called. Heroku's router writes integer milliseconds since the epoch; a
  ``t=`` prefix and seconds, microseconds or nanoseconds are accepted too, the unit chosen
  by magnitude (2000-01-01 expressed in each unit is the cutoff). A missing or garbage
  header, or one more than :data:`MAX_QUEUE_MS` away from now, gives no queue-time sample;
  the request still counts for the rate. It includes everything between the router and
  the app: router→dyno network, the server's accept backlog, waiting for a free worker,
  slow request-body uploads.
* *app time* = from that moment to the end of the response. WSGI: until the server closes
  the response iterable (so streaming the body counts: a sync worker is busy until then);
  an instance of the server's ``wsgi.file_wrapper`` is not wrapped (that would disable
  sendfile) and ends when the app returns it. ASGI: until the last ``http.response.body``
  message has been handed to the server, or the app returns or raises if that comes first.
  Django's ``DjangoMiddleware``: until the view's response object is returned (streamed
  bodies not included; wrap the WSGI/ASGI application instead for those).

Each sample goes into an in-process histogram (:class:`Recorder`, a lock and a few integer
additions). A daemon thread, started when the middleware is built, flushes the counts to
Redis every :data:`FLUSH_INTERVAL` seconds, and once more at interpreter exit. If Redis is
down the counts wait (at most :data:`RETAIN_SECONDS` of them) and one warning per minute
is logged to the ``autoscaler.middleware`` logger (stderr unless the app configured
logging). A flush whose reply is lost after Redis applied it is sent again: rare, and it
only inflates one slot.

**Redis layout** (``P`` = prefix, default ``autoscaler:web``; ``PROC`` = process type,
from ``$DYNO`` ``web.1`` → ``web``; ``S`` = slot start, epoch seconds, a multiple of
:data:`SLOT_SECONDS`; a request belongs to the slot in which it ended)::

    P:PROC:S   HASH, expires KEY_TTL seconds after the last write
      n        requests that ended in the slot
      qn       of which carried a usable X-Request-Start
      app_us   their app time, summed, in microseconds
      q:I      queue-time histogram: requests in bucket I (see EDGES_MS); only non-zero ones
      d:DYNO   requests per dyno ($DYNO, else hostname-pid); 0 = alive but idle

All dynos' processes HINCRBY the same fields, so the hash already holds the merged
counts and the reader needs one HGETALL per slot, no ``KEYS``. Every process that has the
middleware also writes ``n`` += 0 and ``d:DYNO`` += 0 once per slot while idle, so "no
requests" (rate 0) can be told from "no middleware running" (no key at all). One flush
is one MULTI/EXEC, so a reader never sees half of it.

Fork safety: nothing is shared with a forked child. After ``os.fork`` (gunicorn
``--preload``) the child drops the parent's unflushed counts, gets new locks and a new
Redis client, and starts its own flusher on its first request.

This module imports only the standard library and ``redis``: it runs inside the web app.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import math
import os
import re
import socket
import threading
import time
import weakref
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "DEFAULT_PREFIX",
    "EDGES_MS",
    "FLUSH_INTERVAL",
    "KEY_TTL",
    "SLOT_SECONDS",
    "AutoscalerASGIMiddleware",
    "AutoscalerWSGIMiddleware",
    "DjangoMiddleware",
    "Recorder",
    "parse_request_start",
    "queue_time_ms",
    "shared_recorder",
    "slot_key",
]

logger = logging.getLogger("autoscaler.middleware")

# --- the format shared with autoscaler.signals.web -------------------------------------

SLOT_SECONDS = 5
"""Width of one time slot in Redis. The reader uses complete slots only, so this is most
of the signal's lag (plus the flush interval)."""
FLUSH_INTERVAL = 2.0
"""Seconds between two flushes of one app process."""
KEY_TTL = 900
"""Seconds a slot key lives after its last write; bounds the reader's window."""
DEFAULT_PREFIX = "autoscaler:web"

BUCKETS_PER_DECADE = 20
EDGES_MS: tuple[float, ...] = tuple(10 ** (k / BUCKETS_PER_DECADE) for k in range(0, 91))
"""Queue-time bucket edges in ms, log-spaced (ratio 1.122) from 1 ms to 31.6 s. Bucket 0 is
[0, 1 ms), bucket I is [EDGES_MS[I-1], EDGES_MS[I]), the last one (91) is ≥ 31.6 s."""
BUCKETS = len(EDGES_MS) + 1

FIELD_REQUESTS = "n"
FIELD_QUEUED = "qn"
FIELD_APP_US = "app_us"
FIELD_BUCKET = "q:"
FIELD_DYNO = "d:"

# --- request-path constants --------------------------------------------------------------

MAX_QUEUE_MS = 3_600_000.0
"""A header more than an hour away from now is garbage (wrong unit, broken proxy): no sample."""
RETAIN_SECONDS = 600
"""Counts that could not be flushed are kept this long, then dropped (a bounded buffer)."""
WARN_EVERY = 60.0
"""Seconds between two warnings about failing flushes."""
REDIS_TIMEOUT = 2.0

# 2000-01-01T00:00:00Z in seconds, milliseconds, microseconds and nanoseconds.
_EPOCH_2000_S = 946_684_800.0
_EPOCH_2000_MS = _EPOCH_2000_S * 1e3
_EPOCH_2000_US = _EPOCH_2000_S * 1e6
_EPOCH_2000_NS = _EPOCH_2000_S * 1e9

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:{}-]{1,200}")

# Offsets into one slot's counts (a plain list of ints: the cheapest thing to add to).
_N, _QN, _APP_US, _HIST = 0, 1, 2, 3
_WIDTH = _HIST + BUCKETS


def parse_request_start(value: str | bytes | None) -> float | None:
    """``X-Request-Start`` as epoch milliseconds, or None when it is missing or garbage.

    Accepts ``1700000000123`` (ms, Heroku), ``t=1700000000.123`` (s, nginx),
    ``t=1700000000123456`` (µs, Apache) and ``1700000000123456789`` (ns): the unit is the
    one in which the value lies after 2000-01-01. Never raises.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = value.strip()
    if text[:2] in ("t=", "T="):
        text = text[2:]
    token = text.split(None, 1)[0] if text else ""
    try:
        number = float(token)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number >= _EPOCH_2000_NS:
        return number / 1e6
    if number >= _EPOCH_2000_US:
        return number / 1e3
    if number >= _EPOCH_2000_MS:
        return number
    if number >= _EPOCH_2000_S:
        return number * 1e3
    return None


def queue_time_ms(header: str | bytes | None, now: float) -> float | None:
    """Milliseconds between ``X-Request-Start`` and ``now`` (epoch seconds), clamped at 0
    (router and dyno clocks may disagree a little). None for a missing or garbage header."""
    start = parse_request_start(header)
    if start is None:
        return None
    waited = now * 1000.0 - start
    if waited > MAX_QUEUE_MS or waited < -MAX_QUEUE_MS:
        return None
    return waited if waited > 0.0 else 0.0


def slot_key(prefix: str, process: str, slot: int) -> str:
    """The Redis key of one process type's counts for the slot starting at ``slot``."""
    return f"{prefix}:{process}:{slot}"


def slot_start(at: float) -> int:
    """Start (epoch seconds) of the slot containing ``at``."""
    whole = int(at)
    return whole - whole % SLOT_SECONDS


# --- the recorder ------------------------------------------------------------------------


def _default_process() -> str:
    dyno = os.environ.get("DYNO", "")
    name = dyno.split(".", 1)[0]
    return name if _NAME_RE.fullmatch(name) else "web"


def _default_dyno() -> str:
    return os.environ.get("DYNO") or f"{socket.gethostname()}-{os.getpid()}"


def _env_redis_url() -> str | None:
    return os.environ.get("REDIS_TLS_URL") or os.environ.get("REDIS_URL") or None


def _masked(url: str) -> str:
    """``url`` without its password, for log lines."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable Redis URL>"
    user = parts.username or ""
    auth = f"{user}:***@" if parts.password else (f"{user}@" if user else "")
    return f"{parts.scheme}://{auth}{host}{port}{parts.path}"


def make_client(url: str, *, verify_tls: bool = False, timeout: float = REDIS_TIMEOUT) -> redis.Redis:
    """The flusher's Redis client. ``rediss://`` does not check certificates unless
    ``verify_tls`` (Heroku Key-Value Store's are self-signed). Opens no socket; raises
    ValueError for a URL redis-py cannot use."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "client_name": "autoscaler-middleware",
        # One retry gets past a connection the server closed while we were idle.
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
    }
    if url.lower().startswith("rediss://"):
        options["ssl_cert_reqs"] = "required" if verify_tls else None
    try:
        client = redis.Redis.from_url(url, **options)
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)  # unknown URL options fail here, not later
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid Redis URL {_masked(url)}: {exc}") from None
    return client


class Recorder:
    """The request statistics of one app process, flushed to Redis by a daemon thread.

    ``record`` is the only thing the request path calls: it adds to in-memory counts under a
    lock and never does I/O. ``flush`` (the flusher thread, every ``flush_interval``
    seconds) moves the counts to Redis in one MULTI/EXEC. Use :func:`shared_recorder` to
    get the process-wide instance the middleware classes share.

    ``client`` replaces the client built from ``redis_url`` (tests, benchmarks); ``clock``
    is the wall clock the flusher uses to expire old counts and pick the idle slot.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        client: redis.Redis | None = None,
        process: str | None = None,
        dyno: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        verify_tls: bool = False,
        flush_interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        process = _default_process() if process is None else process
        if not _NAME_RE.fullmatch(process):
            raise ValueError(f"process: invalid process type name {process!r}")
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"prefix: invalid key prefix {prefix!r} (letters, digits and _.:{{}}- only)")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval: must be > 0, got {flush_interval!r}")
        if client is None and redis_url is None:
            raise ValueError("a Redis URL or client is needed")
        self.process = process
        self.prefix = prefix
        self.flush_interval = float(flush_interval)
        self._dyno_given = dyno
        self.dyno = dyno or _default_dyno()
        self._url = redis_url
        self._verify_tls = verify_tls
        self._given_client = client
        self._client = client if client is not None else make_client(str(redis_url), verify_tls=verify_tls)
        self._clock = clock
        self._fresh_state()
        _ALL.add(self)

    def _fresh_state(self) -> None:
        """Everything that must not survive a fork: locks, counts, the thread."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._slots: dict[int, list[int]] = {}
        self._unsent: dict[int, list[int]] = {}
        self._running = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle_slot: int | None = None
        self._failures = 0
        self._warned_at = -math.inf
        self.dropped = 0
        """Requests whose counts were dropped because Redis stayed unreachable."""

    def _after_fork(self) -> None:
        self._fresh_state()
        if self._dyno_given is None:
            self.dyno = _default_dyno()
        if self._given_client is None:
            self._client = make_client(str(self._url), verify_tls=self._verify_tls)

    def __repr__(self) -> str:
        where = _masked(self._url) if self._url else "client"
        return f"Recorder({where}, process={self.process!r}, dyno={self.dyno!r})"

    # --- request path ---------------------------------------------------------------------

    def record(self, at: float, app_seconds: float, queue_ms: float | None) -> None:
        """Count one request that ended at ``at`` (epoch s), spent ``app_seconds`` in the app
        and waited ``queue_ms`` before it (None: no usable header). No I/O."""
        if not self._running:
            self.start()
        whole = int(at)
        slot = whole - whole % SLOT_SECONDS
        app_us = int(app_seconds * 1_000_000)
        bucket = -1 if queue_ms is None else _HIST + bisect_right(EDGES_MS, queue_ms)
        with self._lock:
            counts = self._slots.get(slot)
            if counts is None:
                counts = self._slots[slot] = [0] * _WIDTH
            counts[_N] += 1
            counts[_APP_US] += app_us
            if bucket >= 0:
                counts[_QN] += 1
                counts[bucket] += 1

    # --- flusher --------------------------------------------------------------------------

    def start(self) -> None:
        """Start this process's flusher thread (idempotent; again in a forked child)."""
        with self._start_lock:
            if self._running:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, name="autoscaler-middleware-flush", daemon=True)
            self._thread.start()
            self._running = True

    def _loop(self) -> None:
        stop = self._stop
        while not stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # a bug here must not kill the thread and leave counts growing
                logger.exception("autoscaler.middleware: unexpected error while flushing request counts")

    def pending_requests(self) -> int:
        """Requests counted in memory and not yet written to Redis."""
        with self._lock:
            waiting = sum(counts[_N] for counts in self._slots.values())
        return waiting + sum(counts[_N] for counts in list(self._unsent.values()))

    def flush(self, timeout: float = 10.0) -> bool:
        """Write the counts gathered so far to Redis. True when written (or nothing to do);
        False when Redis failed (the counts are kept for the next flush) or another flush
        held the lock for ``timeout`` seconds."""
        if not self._flush_lock.acquire(timeout=timeout):
            return False
        try:
            return self._flush_locked()
        finally:
            self._flush_lock.release()

    def _flush_locked(self) -> bool:
        now = self._clock()
        self._gather(now)
        current = slot_start(now)
        idle = current not in self._unsent and self._idle_slot != current
        if not self._unsent and not idle:
            return True
        pipe = self._client.pipeline(transaction=True)
        dyno_field = FIELD_DYNO + self.dyno
        for slot, counts in sorted(self._unsent.items()):
            key = slot_key(self.prefix, self.process, slot)
            pipe.hincrby(key, FIELD_REQUESTS, counts[_N])
            pipe.hincrby(key, dyno_field, counts[_N])
            if counts[_QN]:
                pipe.hincrby(key, FIELD_QUEUED, counts[_QN])
            if counts[_APP_US]:
                pipe.hincrby(key, FIELD_APP_US, counts[_APP_US])
            for index in range(BUCKETS):
                if counts[_HIST + index]:
                    pipe.hincrby(key, f"{FIELD_BUCKET}{index}", counts[_HIST + index])
            pipe.expire(key, KEY_TTL)
        if idle:  # "alive, no request": tells an idle app from one without the middleware
            key = slot_key(self.prefix, self.process, current)
            pipe.hincrby(key, FIELD_REQUESTS, 0)
            pipe.hincrby(key, dyno_field, 0)
            pipe.expire(key, KEY_TTL)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self._failed(exc)
            return False
        finally:
            pipe.reset()
        self._recovered()
        self._unsent.clear()
        self._idle_slot = current
        return True

    def _gather(self, now: float) -> None:
        """Move the request path's counts into the unsent ones; drop what is too old to matter."""
        with self._lock:
            taken, self._slots = self._slots, {}
        for slot, counts in taken.items():
            kept = self._unsent.get(slot)
            if kept is None:
                self._unsent[slot] = counts
            else:
                for i, value in enumerate(counts):
                    kept[i] += value
        oldest = now - RETAIN_SECONDS
        for slot in [s for s in self._unsent if s < oldest]:
            self.dropped += self._unsent.pop(slot)[_N]

    def _recovered(self) -> None:
        if self._failures:
            logger.warning(
                "autoscaler.middleware: flushing request counts to %s works again after %d failed attempts",
                self._where(),
                self._failures,
            )
            self._failures = 0
            self._warned_at = -math.inf

    def _where(self) -> str:
        if self._url:
            return _masked(self._url)
        kwargs = self._client.connection_pool.connection_kwargs
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def _failed(self, exc: redis.RedisError) -> None:
        self._failures += 1
        clock = time.monotonic()
        if clock - self._warned_at < WARN_EVERY:
            return
        self._warned_at = clock
        detail = str(exc)
        password = self._client.connection_pool.connection_kwargs.get("password")
        if isinstance(password, str) and password:
            detail = detail.replace(password, "***")
        logger.warning(
            "autoscaler.middleware: cannot flush request counts to %s: %s: %s "
            "(requests are still served; counts are kept for %ds, then dropped; next warning in %ds at most)",
            self._where(),
            type(exc).__name__,
            detail,
            RETAIN_SECONDS,
            int(WARN_EVERY),
        )

    def close(self, timeout: float = 5.0, *, flush: bool = True) -> None:
        """Stop the flusher, flush what is left (unless ``flush`` is false), and forget this
        recorder. Waits at most ``timeout`` seconds for the thread and for the flush lock."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._running = False
        if flush:
            self.flush(timeout=timeout)
        _ALL.discard(self)
        with _REGISTRY_LOCK:
            for key, recorder in list(_REGISTRY.items()):
                if recorder is self:
                    del _REGISTRY[key]
        if self._given_client is None:
            self._client.close()


_ALL: weakref.WeakSet[Recorder] = weakref.WeakSet()
_REGISTRY: dict[tuple[str, str, str, str, bool, float], Recorder] = {}
_REGISTRY_LOCK = threading.Lock()


def _reset_after_fork() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for recorder in list(_ALL):
        recorder._after_fork()


def _flush_at_exit() -> None:
    for recorder in list(_ALL):
        recorder._stop.set()
        if recorder.pending_requests():
            recorder.flush(timeout=REDIS_TIMEOUT)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
atexit.register(_flush_at_exit)


def shared_recorder(
    redis_url: str | None = None,
    *,
    process: str | None = None,
    dyno: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    verify_tls: bool = False,
    flush_interval: float = FLUSH_INTERVAL,
) -> Recorder | None:
    """The process-wide recorder for these settings, created on first use, so that two
    middleware instances (or an app built twice) share one flusher.

    ``redis_url`` defaults to ``REDIS_TLS_URL``, then ``REDIS_URL``. With neither, or with an
    unusable URL from the environment, an error is logged and None is returned: the
    middleware then passes requests through untouched. An unusable ``redis_url`` argument
    raises ValueError.
    """
    explicit = redis_url is not None
    url = redis_url if explicit else _env_redis_url()
    if url is None:
        logger.error(
            "autoscaler.middleware: no Redis URL (pass redis_url= or set REDIS_URL); request queue time is not recorded"
        )
        return None
    key = (url, process or _default_process(), dyno or "", prefix, verify_tls, float(flush_interval))
    with _REGISTRY_LOCK:
        found = _REGISTRY.get(key)
        if found is not None:
            return found
        try:
            recorder = Recorder(
                url, process=process, dyno=dyno, prefix=prefix, verify_tls=verify_tls, flush_interval=flush_interval
            )
        except ValueError as exc:
            if explicit:
                raise
            logger.error("autoscaler.middleware: %s; request queue time is not recorded", exc)
            return None
        _REGISTRY[key] = recorder
    recorder.start()
    return recorder


# --- WSGI --------------------------------------------------------------------------------

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


class AutoscalerWSGIMiddleware:
    """Wraps a WSGI application and records each request's queue time and app time.

    ``redis_url`` defaults to ``REDIS_TLS_URL``, then ``REDIS_URL``; ``process`` to the
    process type of ``$DYNO`` (``web``); ``dyno`` to ``$DYNO`` (else hostname-pid);
    ``prefix`` must match the autoscaler's ``PREFIX`` for this process type. ``recorder``
    replaces the shared one (tests, benchmarks).
    """

    def __init__(
        self,
        app: WSGIApplication,
        redis_url: str | None = None,
        *,
        process: str | None = None,
        dyno: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        verify_tls: bool = False,
        flush_interval: float = FLUSH_INTERVAL,
        recorder: Recorder | None = None,
    ) -> None:
        self.app = app
        self.recorder = (
            recorder
            if recorder is not None
            else shared_recorder(
                redis_url,
                process=process,
                dyno=dyno,
                prefix=prefix,
                verify_tls=verify_tls,
                flush_interval=flush_interval,
            )
        )

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


# --- ASGI --------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = b"x-request-start"


class AutoscalerASGIMiddleware:
    """Wraps an ASGI application (FastAPI, Starlette, Django's ASGI handler, ...) and records
    each HTTP request's queue time and app time. Other scopes (websocket, lifespan) pass
    through. Arguments as :class:`AutoscalerWSGIMiddleware`."""

    def __init__(
        self,
        app: ASGIApp,
        redis_url: str | None = None,
        *,
        process: str | None = None,
        dyno: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        verify_tls: bool = False,
        flush_interval: float = FLUSH_INTERVAL,
        recorder: Recorder | None = None,
    ) -> None:
        self.app = app
        self.recorder = (
            recorder
            if recorder is not None
            else shared_recorder(
                redis_url,
                process=process,
                dyno=dyno,
                prefix=prefix,
                verify_tls=verify_tls,
                flush_interval=flush_interval,
            )
        )

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


# --- Django ------------------------------------------------------------------------------


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
        wall = _time()
        started = _perf()
        recorder = self.recorder
        if recorder is None:
            return self.get_response(request)
        header = request.META.get("HTTP_X_REQUEST_START")
        queue_ms = None if header is None else queue_time_ms(header, wall)
        try:
            return self.get_response(request)
        finally:
            elapsed = _perf() - started
            recorder.record(wall + elapsed, elapsed, queue_ms)

    async def _acall(self, request: Any) -> Any:
        wall = _time()
        started = _perf()
        recorder = self.recorder
        if recorder is None:
            return await self.get_response(request)
        header = request.META.get("HTTP_X_REQUEST_START")
        queue_ms = None if header is None else queue_time_ms(header, wall)
        try:
            return await self.get_response(request)
        finally:
            elapsed = _perf() - started
            recorder.record(wall + elapsed, elapsed, queue_ms)
