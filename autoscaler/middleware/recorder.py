"""The request counts of one app process, the daemon thread that flushes them to Redis, and
how a middleware instance gets its recorder (:class:`RecordingMiddleware`).

Each request adds to an in-process histogram (:class:`Recorder`, a lock and a few integer
additions; no I/O). A daemon thread, started when the middleware is built, flushes the
counts to Redis every :data:`~autoscaler.signals.webwire.FLUSH_INTERVAL` seconds (layout in
:mod:`autoscaler.signals.webwire`), and once more at interpreter exit. If Redis is down the
counts wait (at most :data:`RETAIN_SECONDS` of them) and one warning per minute is logged
to the ``autoscaler.middleware`` logger (stderr unless the app configured logging). A flush
whose reply is lost after Redis applied it is sent again: rare, and it only inflates one
slot.

Fork safety: nothing is shared with a forked child. After ``os.fork`` (gunicorn
``--preload``) the child drops the parent's unflushed counts, gets new locks and a new
Redis client, and starts its own flusher on its first request. The fork and exit hooks
that do this are installed when the first recorder is built, not when this module is
imported.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import socket
import threading
import time
import weakref
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypedDict, TypeVar

import redis

from autoscaler.errors import SignalError
from autoscaler.redact import MASK
from autoscaler.signals.redis_conn import connect, describe
from autoscaler.signals.webwire import (
    APP_US,
    DEFAULT_PREFIX,
    EDGES_MS,
    FLUSH_INTERVAL,
    HIST,
    QUEUED,
    REQUESTS,
    SLOT_SECONDS,
    WIDTH,
    add_slot,
    name_problems,
    process_type,
    slot_key,
    slot_start,
)

if TYPE_CHECKING:
    from typing import Unpack

logger = logging.getLogger("autoscaler.middleware")

RETAIN_SECONDS = 600
"""Counts that could not be flushed are kept this long, then dropped (a bounded buffer)."""
WARN_EVERY = 60.0
"""Seconds between two warnings about failing flushes."""
REDIS_TIMEOUT = 2.0
CLIENT_NAME = "autoscaler-middleware"
"""How the app's connections show in Redis's CLIENT LIST (the daemon's say ``autoscaler``)."""


def _default_process() -> str:
    """The process type of ``$DYNO`` (``web.1`` on Cedar, ``web-12a34b56d-e78f9`` on Fir), else ``web``."""
    return process_type(os.environ.get("DYNO", "")) or "web"


def _default_dyno() -> str:
    return os.environ.get("DYNO") or f"{socket.gethostname()}-{os.getpid()}"


def _env_redis_url() -> str | None:
    return os.environ.get("REDIS_TLS_URL") or os.environ.get("REDIS_URL") or None


def make_client(url: str, *, verify_tls: bool = False, timeout: float = REDIS_TIMEOUT) -> redis.Redis:
    """The flusher's Redis client, built by :func:`autoscaler.signals.redis_conn.connect`
    (``rediss://`` does not check certificates unless ``verify_tls``: Heroku Key-Value
    Store's are self-signed). Opens no socket; raises ValueError, password masked, for a
    URL redis-py cannot use."""
    try:
        client = connect(url, verify_tls=verify_tls, timeout=timeout)
    except SignalError as exc:
        raise ValueError(str(exc)) from None
    client.connection_pool.connection_kwargs["client_name"] = CLIENT_NAME
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
        problems = name_problems(process, prefix)
        if problems:
            raise ValueError(problems[0])
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
        _install_process_hooks()
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
        return f"Recorder({describe(self._client)}, process={self.process!r}, dyno={self.dyno!r})"

    # --- request path ---------------------------------------------------------------------

    def record(self, at: float, app_seconds: float, queue_ms: float | None) -> None:
        """Count one request that ended at ``at`` (epoch s), spent ``app_seconds`` in the app
        and waited ``queue_ms`` before it (None: no usable header). No I/O."""
        if not self._running:
            self.start()
        whole = int(at)
        slot = whole - whole % SLOT_SECONDS
        app_us = int(app_seconds * 1_000_000)
        bucket = -1 if queue_ms is None else HIST + bisect_right(EDGES_MS, queue_ms)
        with self._lock:
            counts = self._slots.get(slot)
            if counts is None:
                counts = self._slots[slot] = [0] * WIDTH
            counts[REQUESTS] += 1
            counts[APP_US] += app_us
            if bucket >= 0:
                counts[QUEUED] += 1
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
            waiting = sum(counts[REQUESTS] for counts in self._slots.values())
        return waiting + sum(counts[REQUESTS] for counts in list(self._unsent.values()))

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
        for slot, counts in sorted(self._unsent.items()):
            add_slot(pipe, slot_key(self.prefix, self.process, slot), counts, self.dyno)
        if idle:  # "alive, no request": tells an idle app from one without the middleware
            add_slot(pipe, slot_key(self.prefix, self.process, current), [0] * WIDTH, self.dyno)
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
            self.dropped += self._unsent.pop(slot)[REQUESTS]

    def _recovered(self) -> None:
        if self._failures:
            logger.warning(
                "autoscaler.middleware: flushing request counts to %s works again after %d failed attempts",
                describe(self._client),
                self._failures,
            )
            self._failures = 0
            self._warned_at = -math.inf

    def _failed(self, exc: redis.RedisError) -> None:
        self._failures += 1
        clock = time.monotonic()
        if clock - self._warned_at < WARN_EVERY:
            return
        self._warned_at = clock
        detail = str(exc)
        password = self._client.connection_pool.connection_kwargs.get("password")
        if isinstance(password, str) and password:
            detail = detail.replace(password, MASK)
        logger.warning(
            "autoscaler.middleware: cannot flush request counts to %s: %s: %s "
            "(requests are still served; counts are kept for %ds, then dropped; next warning in %ds at most)",
            describe(self._client),
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


# --- process-wide: the shared recorders, fork and exit ------------------------------------

_ALL: weakref.WeakSet[Recorder] = weakref.WeakSet()
_REGISTRY: dict[tuple[str, str, str, str, bool, float], Recorder] = {}
_REGISTRY_LOCK = threading.Lock()
_HOOKS_PENDING = [True]
"""Holds one item until the fork and exit hooks are installed (``list.pop`` is atomic, so
exactly one caller installs them)."""


def _install_process_hooks() -> None:
    """Reset every recorder in a forked child, flush them all at exit: once per process,
    when the first recorder is built (the daemon imports no recorder, so it gets no hook)."""
    try:
        _HOOKS_PENDING.pop()
    except IndexError:
        return
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reset_after_fork)
    atexit.register(_flush_at_exit)


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


class RecorderOptions(TypedDict, total=False):
    """The settings the middleware classes pass on to :func:`shared_recorder` (same names)."""

    process: str | None
    dyno: str | None
    prefix: str
    verify_tls: bool
    flush_interval: float


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


AppT = TypeVar("AppT")


class RecordingMiddleware(Generic[AppT]):
    """What the WSGI and the ASGI middleware share: the wrapped ``app`` and the recorder its
    requests go to (None: recording is off, requests pass through).

    ``redis_url`` defaults to ``REDIS_TLS_URL``, then ``REDIS_URL``; the keyword options are
    those of :func:`shared_recorder`: ``process`` defaults to the process type of ``$DYNO``
    (``web``), ``dyno`` to ``$DYNO`` (else hostname-pid), ``prefix`` must match the
    autoscaler's ``PREFIX`` for this process type, then ``verify_tls`` and
    ``flush_interval``. ``recorder`` replaces the shared one (tests, benchmarks).
    """

    def __init__(
        self,
        app: AppT,
        redis_url: str | None = None,
        *,
        recorder: Recorder | None = None,
        **options: Unpack[RecorderOptions],
    ) -> None:
        self.app = app
        self.recorder = recorder if recorder is not None else shared_recorder(redis_url, **options)
