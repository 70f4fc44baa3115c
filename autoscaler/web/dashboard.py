"""The status page: ``GET /`` of the web process, behind HTTP basic auth.

One server-rendered HTML page, no script and nothing fetched from elsewhere (the charts are
inline SVG, the style is inline CSS), readable on a phone. For each process type: a chart of
the last 24 hours (``?hours=`` from 1 to 216) of dynos, desired dynos and scale events, and of
the main signal against its target (:mod:`autoscaler.history.chart`); then the latest
decisions with their reason and message, the monthly run-rate, the health of the daemon
(does it tick, does the Platform API answer, is each signal read, which daemon leads, dry
run) and the settings, secrets masked.

The password is ``AUTOSCALER_DASHBOARD_PASSWORD`` (any user name, compared in constant time);
while it is unset the page answers 403 and says so. A request that reached Heroku's router over
plain HTTP is sent to HTTPS first, before a password could cross the network in the clear.
Everything comes from the history the daemon records in the state store
(:mod:`autoscaler.history`), read in one round trip per view in a worker thread, so a view never
holds up the drain. Every text shown goes through the redactor first: no URL password, token or
webhook reaches the page. The HTML itself is :mod:`autoscaler.web.render`'s.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

import redis
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from structlog.typing import FilteringBoundLogger

from autoscaler.config import Settings
from autoscaler.errors import StateError
from autoscaler.history import History, HistoryStore, RedisHistory
from autoscaler.redact import Redactor
from autoscaler.web.app import supplied_password
from autoscaler.web.render import DEFAULT_HOURS, EVENTS_SHOWN, render_page

REALM = 'Basic realm="autoscaler status", charset="UTF-8"'
MAX_HOURS = 216
"""The longest range a chart shows (9 days: all the history keeps)."""
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _hours(request: Request) -> int | None:
    text = request.query_params.get("hours")
    if text is None:
        return DEFAULT_HOURS
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_HOURS:
        return int(text)
    return None


class Dashboard:
    """The ``GET /`` endpoint: checks the password, reads the history, renders the page.

    ``store`` is None when the history cannot be found (no ``AUTOSCALER_APP``); ``password``
    None turns the page off (403)."""

    def __init__(
        self,
        settings: Settings,
        password: str | None,
        store: HistoryStore | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.expected = None if password is None else password.encode("utf-8")
        self.store = store
        self.clock = clock
        self.redactor = Redactor(settings.secrets())

    @property
    def enabled(self) -> bool:
        return self.expected is not None

    def page(self, request: Request) -> Response:
        """The endpoint (synchronous: Starlette runs it in a worker thread, off the event loop)."""
        if request.headers.get("x-forwarded-proto", "").lower() == "http":  # Heroku's router: plain HTTP
            return RedirectResponse(str(request.url.replace(scheme="https")), 301, headers=HEADERS)
        if self.expected is None:
            return PlainTextResponse(
                "the status page is off: set AUTOSCALER_DASHBOARD_PASSWORD on the autoscaler app\n",
                403,
                headers=HEADERS,
            )
        given = supplied_password(request.headers.get("authorization"))
        if given is None or not hmac.compare_digest(given, self.expected):
            return PlainTextResponse(
                "credentials missing or wrong\n", 401, headers={**HEADERS, "WWW-Authenticate": REALM}
            )
        hours = _hours(request)
        if hours is None:
            return PlainTextResponse(f"hours: a whole number from 1 to {MAX_HOURS}\n", 400, headers=HEADERS)
        return self.render(hours)

    def render(self, hours: int) -> Response:
        now = self.clock()
        history, problem = History(), None
        if self.store is None:
            problem = "AUTOSCALER_APP is not set on this dyno: the history is kept under the app's name"
        else:
            try:
                history = self.store.read(now - hours * 3600, now, list(self.settings.processes), events=EVENTS_SHOWN)
            except StateError as exc:
                problem = f"the state store could not be read: {exc}"
        html = render_page(self.settings, history, now=now, hours=hours, redactor=self.redactor, problem=problem)
        return HTMLResponse(html, 503 if problem else 200, headers=HEADERS)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def dashboard_for(settings: Settings, client: redis.Redis, log: FilteringBoundLogger, *, short: int) -> Dashboard:
    """The web process's status page, reading the history through ``client`` (the state store's);
    a password shorter than ``short`` characters is warned about."""
    secret = settings.dashboard_password
    password = secret.get_secret_value() if secret is not None else None
    if password is None:
        log.info("dashboard_off", message="AUTOSCALER_DASHBOARD_PASSWORD is not set: GET / answers 403")
    elif len(password) < short:
        log.warning("dashboard_password_short", message=f"use at least {short} random characters")
    store = None
    if settings.app_name:
        store = RedisHistory(client, settings.app_name)
    elif password is not None:
        log.warning("dashboard_without_app", message="AUTOSCALER_APP is not set: the status page finds no history")
    return Dashboard(settings, password, store)
