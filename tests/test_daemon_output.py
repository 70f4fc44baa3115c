"""What a user reads from the daemon: decision lines in logfmt, the cost line, dry-run notices, tick results."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import redis
import respx
import structlog

from autoscaler import logs
from autoscaler.config import Settings
from autoscaler.daemon import Daemon
from autoscaler.heroku import HerokuClient
from autoscaler.notify import RecordingNotifier
from autoscaler.redact import Redactor
from autoscaler.signals.build import build_sources
from autoscaler.state import Lease

from .conftest import FakeClock, FormationFake, enqueue
from .helpers import worker_settings

APP = "my-app"
TOKEN = "HRKU-test-token-0123456789"
CLOSED = "redis://127.0.0.1:1/0"
"""Nothing listens on port 1: every read of this Redis fails at once."""


def settings_for(redis_url: str, **extra: str) -> Settings:
    return worker_settings(TOKEN, APP, redis_url, **extra)


def daemon_for(
    settings: Settings, make_client: Callable[..., HerokuClient], clock: FakeClock, **options: Any
) -> Daemon:
    return Daemon(settings, make_client(TOKEN), build_sources(settings), clock=clock, **options)


def test_dry_run_notifies_once_per_would_be_formation(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_client: Callable[..., HerokuClient]
) -> None:
    """A dry run tells the webhook of a would-be change when it first appears, not on every tick that repeats it."""
    FormationFake(api, APP)
    notifier = RecordingNotifier()
    daemon = daemon_for(settings_for(redis_url, AUTOSCALER_DRY_RUN="true"), make_client, clock, notifier=notifier)
    enqueue(redis_url, 45)
    for _ in range(5):
        daemon.tick()
        clock.advance(2)
    redis.Redis.from_url(redis_url).delete("rq:queue:default")
    enqueue(redis_url, 25)  # a smaller backlog: a new would-be formation
    for _ in range(3):
        daemon.tick()
        clock.advance(2)
    texts = [n.text for n in notifier.notices if n.event == "scaled"]
    assert [f"{APP}: would scale worker=5", f"{APP}: would scale worker=3"] == texts


def test_log_lines_read_well_in_logfmt(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_client: Callable[..., HerokuClient]
) -> None:
    """Lists are comma-separated values (no Python reprs), a decision line carries only a few l2met
    measurements, and the cost line appears when the run-rate changes, not on every tick."""
    FormationFake(api, APP)
    stream = io.StringIO()
    logs.configure("logfmt", "info", Redactor([TOKEN]), stream)
    try:
        daemon = daemon_for(settings_for(redis_url, AUTOSCALER_DRY_RUN="true"), make_client, clock)
        enqueue(redis_url, 45)
        for _ in range(4):
            daemon.tick()
            clock.advance(2)
    finally:
        structlog.reset_defaults()
    lines = stream.getvalue().splitlines()
    skipped = [line for line in lines if "event=scale_skipped" in line]
    decisions = [line for line in lines if "event=decision" in line]
    costs = [line for line in lines if "event=cost" in line]
    assert 4 == len(skipped)
    assert all('changes="worker=5"' in line for line in skipped), skipped[0]
    assert not any("[" in line or "'" in line for line in skipped + costs)
    assert 4 == len(decisions)
    measured = [field.split("=")[0] for field in decisions[0].split() if field.startswith("sample#")]
    assert ["sample#autoscaler.worker.dynos", "sample#autoscaler.worker.desired"] == measured[:2]
    assert len(measured) <= 5, measured
    assert 1 == len(costs), costs


def test_once_fails_when_the_signal_is_unknown(
    clock: FakeClock, api: respx.MockRouter, make_client: Callable[..., HerokuClient]
) -> None:
    """A tick that could not read its signal did not do its job: its result is not ok (``once`` exits 1)."""
    heroku = FormationFake(api, APP, quantity=2)
    result = daemon_for(settings_for(CLOSED), make_client, clock).tick()
    assert (False, 2, []) == (result.ok, heroku.quantity, heroku.patches)
    assert result.errors[0].startswith("worker: signal unknown: ")


def test_once_fails_when_the_lease_cannot_be_read(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_client: Callable[..., HerokuClient]
) -> None:
    """With a state store that cannot be reached nobody can tell who leads: the tick does not act and says so."""
    heroku = FormationFake(api, APP)
    enqueue(redis_url, 45)
    lease = Lease(redis.Redis.from_url(CLOSED, socket_connect_timeout=0.5), APP, ttl=15)
    result = daemon_for(settings_for(redis_url), make_client, clock, lease=lease).tick()
    assert (False, True, 1, []) == (result.ok, result.skipped, heroku.quantity, heroku.patches)
    assert ["state store: cannot tell who leads: not acting"] == result.errors
