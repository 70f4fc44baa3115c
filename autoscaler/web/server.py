"""Runs the web process: the settings the daemon reads, uvicorn on ``$PORT``.

The configuration is read by the same :func:`~autoscaler.config.load_settings` as the daemon's
(an unknown ``AUTOSCALER_*`` variable is refused alike), but the web process talks to no
Platform API: it needs neither ``HEROKU_API_KEY`` nor ``AUTOSCALER_APP``, only the state store
(``AUTOSCALER_STATE_URL``, else ``REDIS_TLS_URL`` / ``REDIS_URL``) to write to. It serves one
asyncio event loop with uvicorn's pure-Python HTTP parser (h11), which is what
``requirements.txt`` installs on Heroku; SIGTERM stops it after the requests under way.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Mapping

import uvicorn

from autoscaler import logs
from autoscaler.config import load_settings
from autoscaler.drain.store import DrainStore, connect_async
from autoscaler.errors import ConfigError, SignalError
from autoscaler.redact import Redactor
from autoscaler.signals.redis_conn import connect
from autoscaler.web.app import BODY_LIMIT, create_app
from autoscaler.web.dashboard import dashboard_for

DEFAULT_PORT = 5000
"""The port when ``$PORT`` is unset (Heroku always sets it for a web dyno)."""
PUBLIC_HOST = "0.0.0.0"  # noqa: S104 - a Heroku web dyno must listen on every interface
STORE_TIMEOUT = 5.0
SHORT_PASSWORD = 16


def port_from(env: Mapping[str, str]) -> int:
    """``$PORT`` as a port number (default :data:`DEFAULT_PORT`); ConfigError when it is not one."""
    text = (env.get("PORT") or "").strip()
    if not text:
        return DEFAULT_PORT
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ConfigError([f"PORT: must be a TCP port number (1-65535), got {text!r}"])
    return int(text)


def serve(env: Mapping[str, str], *, host: str = PUBLIC_HOST) -> int:
    """Validate the configuration, then serve until SIGTERM. ConfigError (exit status 2 in
    ``__main__``) for any problem found before listening."""
    settings = load_settings(env)
    state_url = settings.effective_state_url
    if state_url is None:
        raise ConfigError(
            [
                "AUTOSCALER_STATE_URL: required by the web process, which stores the drained router figures "
                "in the state store: set it, or REDIS_URL / REDIS_TLS_URL"
            ]
        )
    port = port_from(env)
    redactor = Redactor(settings.secrets())
    logs.configure(settings.log_format, settings.log_level, redactor)
    try:
        connect_async(state_url, timeout=STORE_TIMEOUT)  # refuse a broken URL now, not on the first POST
    except SignalError as exc:
        raise ConfigError([f"AUTOSCALER_STATE_URL: {exc}"]) from None
    password = settings.drain_password.get_secret_value() if settings.drain_password else None
    log = logs.get_logger(component="web")
    if password is None:
        log.warning("drain_off", message="AUTOSCALER_DRAIN_PASSWORD is not set: every POST /drain is refused (403)")
    elif len(password) < SHORT_PASSWORD:
        log.warning("drain_password_short", message=f"use at least {SHORT_PASSWORD} random characters")
    dashboard = dashboard_for(settings, connect(state_url, timeout=STORE_TIMEOUT), log, short=SHORT_PASSWORD)
    app = create_app(lambda: DrainStore(connect_async(state_url, timeout=STORE_TIMEOUT)), password, dashboard=dashboard)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    log.info(
        "web_started",
        port=port,
        drain="off" if password is None else "on",
        dashboard="on" if dashboard.enabled else "off",
        body_limit=BODY_LIMIT,
    )
    _Server(config).run()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM or SIGINT stops it and ``serve`` returns (exit status
    0 after a clean stop, as for ``run``) instead of raising the signal again once it has stopped."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield
            return
        previous = {signum: signal.signal(signum, self.handle_exit) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
