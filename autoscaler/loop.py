"""The daemon's life: start-up, one tick every interval, and a bounded shutdown.

Signal handlers only set flags (:class:`Stopper`). :func:`run_forever` runs ticks on an
APScheduler interval job (never two at once, missed ticks coalesced) until SIGTERM or
SIGINT, then waits for a running tick for at most :data:`SHUTDOWN_GRACE` seconds (less on
a second signal), and on every way out releases the lease and flushes the notifier.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from autoscaler.daemon import Daemon
from autoscaler.errors import StateError

SHUTDOWN_GRACE = 6.0
"""Seconds a stopping daemon waits for a running tick before abandoning it: with the lease released
and notices flushed it exits within 10 s, well before Heroku's SIGKILL at 30 s."""


class Stopper:
    """Signal handling: the handlers only set flags. First SIGTERM or SIGINT: stop after the
    running tick. Second: stop waiting for it. :meth:`restore` puts the previous handlers back."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.forced = threading.Event()
        self.signals = 0
        self._previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals > 1:
            self.forced.set()
        self.event.set()

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self.handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def _wait_for_tick(busy: threading.Lock, stopper: Stopper) -> bool:
    """Wait up to :data:`SHUTDOWN_GRACE` for a running tick, less if a second signal comes.
    True (and the lock held) when no tick runs any more."""
    deadline = time.monotonic() + SHUTDOWN_GRACE
    while not stopper.forced.is_set():
        if busy.acquire(timeout=min(0.1, max(0.0, deadline - time.monotonic()))):
            return True
        if time.monotonic() >= deadline:
            return False
    return busy.acquire(blocking=False)


def run_forever(daemon: Daemon, stopper: Stopper, *, first_tick_now: bool = True) -> bool:
    """Tick every ``AUTOSCALER_INTERVAL`` seconds until ``stopper`` fires, then stop within
    :data:`SHUTDOWN_GRACE` seconds (at once on a second signal). Each tick runs in APScheduler's
    worker thread; ``max_instances=1`` means never two at once and ``coalesce`` merges missed runs.

    On every way out the lease is released and the notifier flushed and closed. Returns True
    after a clean stop, False when a tick was still running and was abandoned: its thread still
    holds the interpreter, so the caller ends the process."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    busy = threading.Lock()
    log = daemon.log

    def job() -> None:
        if stopper.event.is_set():
            return
        with busy:
            try:
                daemon.tick()
            except Exception:  # a bug in one tick must not stop the next one
                log.exception("tick_crashed", message="the next tick runs as scheduled")

    interval = daemon.settings.interval
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=interval, timezone=UTC),
        id="tick",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(interval)),
        next_run_time=datetime.now(UTC) if first_tick_now else None,
    )
    if daemon.lease is not None:
        lease = daemon.lease

        def renew() -> None:  # the leader keeps its lease alive between ticks
            if lease.held and not stopper.event.is_set():
                with contextlib.suppress(StateError):
                    lease.acquire()

        scheduler.add_job(
            renew, IntervalTrigger(seconds=max(1.0, interval / 3), timezone=UTC), id="lease", max_instances=1
        )
    try:
        scheduler.start()
        log.info(
            "started",
            interval_s=interval,
            dry_run=daemon.settings.dry_run,
            processes=list(daemon.sources),
            state=daemon.state.description,
        )
        stopper.event.wait()
    finally:
        log.info("stopping", message="finishing the running tick, if any")
        if scheduler.running:
            scheduler.shutdown(wait=False)
        finished = _wait_for_tick(busy, stopper)
        daemon.close(quick=not finished)
        if finished:
            busy.release()
            log.info("stopped")
        else:
            log.warning("stopped", message="abandoned a tick still running; lease released, notices flushed")
    return finished
