"""Notifications: scale events and trouble, posted to ``AUTOSCALER_NOTIFY_URL`` in the background.

A Slack incoming webhook (``https://hooks.slack.com/...``) gets ``{"text": ...}``; any other
URL gets the same ``text`` plus ``event``, ``app`` and ``details``, for a generic webhook.
Messages go through a bounded queue to one sender thread with short timeouts, so a slow or
failing webhook never delays a tick: when the queue is full the oldest message is dropped.
The webhook URL is a secret: it never appears in a log line (the redactor knows it).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from autoscaler import __version__
from autoscaler.logs import get_logger

QUEUE_SIZE = 100
TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Notice:
    event: str
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    def send(self, notice: Notice) -> None: ...

    def close(self, timeout: float = ...) -> None: ...


class NullNotifier:
    """No webhook configured: notices are dropped."""

    def send(self, notice: Notice) -> None:
        return

    def close(self, timeout: float = 0.0) -> None:
        return


class RecordingNotifier:
    """Keeps notices in a list (for tests and for ``once``/``check`` when no webhook is set)."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def send(self, notice: Notice) -> None:
        self.notices.append(notice)

    def close(self, timeout: float = 0.0) -> None:
        return


def payload(url: str, app: str, notice: Notice) -> dict[str, Any]:
    """What is posted: Slack's format for Slack, a richer object for anything else."""
    if (urlsplit(url).hostname or "").endswith("slack.com"):
        return {"text": notice.text}
    return {"text": notice.text, "event": notice.event, "app": app, "details": dict(notice.details)}


class WebhookNotifier:
    """Posts notices from a background thread; :meth:`send` never blocks and never raises."""

    def __init__(
        self,
        url: str,
        app: str,
        *,
        transport: httpx.BaseTransport | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._url = url
        self._app = app
        self._queue: queue.Queue[Notice | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._client = httpx.Client(
            timeout=TIMEOUT,
            transport=transport,
            headers={"User-Agent": f"autoscaler/{__version__}", "Content-Type": "application/json"},
        )
        self._log = get_logger(app=app)
        self._on_error = on_error
        self._idle = threading.Condition()
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="autoscaler-notify", daemon=True)
        self._thread.start()

    def send(self, notice: Notice) -> None:
        while True:
            try:
                self._queue.put_nowait(notice)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # drop the oldest: the newest says more about now
                    self._queue.task_done()
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            notice = self._queue.get()
            if notice is None:
                return
            try:
                self._post(notice)
            finally:
                self._queue.task_done()
                with self._idle:
                    self._idle.notify_all()

    def _post(self, notice: Notice) -> None:
        try:
            response = self._client.post(self._url, json=payload(self._url, self._app, notice))
            response.raise_for_status()
            self.sent += 1
        except httpx.HTTPError as exc:
            self.failed += 1
            # The exception text may hold the URL: say only what kind of failure it was.
            reason = (
                f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__
            )
            self._log.warning("notify_failed", notice=notice.event, error=reason)
            if self._on_error is not None:
                self._on_error(reason)

    def flush(self, timeout: float = TIMEOUT) -> bool:
        """Wait until every queued notice was sent or failed; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def close(self, timeout: float = TIMEOUT) -> None:
        """Send what is queued (bounded by ``timeout``), then stop the thread."""
        self.flush(timeout)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout=timeout)
        self._client.close()


class Alerts:
    """Turns what the daemon sees into notices, once per streak rather than every tick.

    ``failing(key, ...)`` starts or continues a failure streak (the Platform API, a signal);
    a notice goes out when it has lasted ``after`` seconds, and ``recovered(key)`` then sends a
    recovery notice. Clamps and fallbacks are sent when they start, not while they last.
    """

    def __init__(self, notifier: Notifier, app: str, after: float) -> None:
        self.notifier = notifier
        self.app = app
        self.after = after
        self._since: dict[str, float] = {}
        self._told: set[str] = set()
        self._ongoing: set[str] = set()

    def scaled(self, changes: list[str], dry_run: bool) -> None:
        """One notice per tick for all the changes it made."""
        if changes:
            verb = "would scale" if dry_run else "scaled"
            self.notifier.send(Notice("scaled", f"{self.app}: {verb} {', '.join(changes)}", {"changes": changes}))

    def condition(self, key: str, active: bool, text: str, details: Mapping[str, Any] | None = None) -> None:
        """A state such as "at max" or "fallback": told when it starts, again only after it ended."""
        if active and key not in self._ongoing:
            self._ongoing.add(key)
            self.notifier.send(Notice(key.split(":")[0], f"{self.app}: {text}", dict(details or {})))
        elif not active:
            self._ongoing.discard(key)

    def failing(self, key: str, error: str, now: float, *, at_once: bool = False) -> None:
        since = self._since.setdefault(key, now)
        if key not in self._told and (at_once or now - since >= self.after):
            self._told.add(key)
            self.notifier.send(
                Notice(
                    "failing",
                    f"{self.app}: {key} failing for {now - since:.0f}s: {error}",
                    {"what": key, "error": error, "for_s": round(now - since)},
                )
            )

    def recovered(self, key: str, now: float) -> None:
        since = self._since.pop(key, None)
        if key in self._told:
            self._told.discard(key)
            lasted = now - since if since is not None else 0.0
            self.notifier.send(Notice("recovered", f"{self.app}: {key} recovered after {lasted:.0f}s", {"what": key}))
