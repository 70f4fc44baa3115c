"""Faults: the Platform API failing in every documented way, and signal backends stopping, restarting
and stalling mid-run. None may crash the daemon, none may cause a wrong scale, and the formation is
held while in doubt."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
import respx
import structlog

from autoscaler import logs
from autoscaler.clock import SystemClock
from autoscaler.config import Settings, load_settings
from autoscaler.daemon import Daemon
from autoscaler.heroku import HerokuClient
from autoscaler.loop import Stopper, run_forever
from autoscaler.signals import Reading
from autoscaler.signals.build import build_sources

from .conftest import FakeClock, FormationFake, enqueue, service_unavailable
from .faultproxy import FaultProxy

APP = "fault-app"
TOKEN = "HRKU-fault-test-token-77"
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


MakeDaemon = Callable[..., Daemon]


def app_formation(api: respx.MockRouter, quantity: int = 2) -> FormationFake:
    return FormationFake(api, APP, quantity=quantity)


def settings_for(url: str, **extra: str) -> Settings:
    return load_settings(
        {
            "HEROKU_API_KEY": TOKEN,
            "AUTOSCALER_APP": APP,
            "REDIS_URL": url,
            "AUTOSCALER_PROCESSES__WORKER__SOURCE": "rq",
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
            **extra,
        }
    )


@pytest.fixture
def make_daemon(make_client: Callable[..., HerokuClient], clock: FakeClock) -> MakeDaemon:
    """Build a daemon on the fake clock; its sources time out after ``timeout`` seconds."""

    def make(settings: Settings, timeout: float = 1.0) -> Daemon:
        client = make_client(TOKEN, retry_budget=5)
        return Daemon(settings, client, build_sources(settings, timeout=timeout), clock=clock)

    return make


def error(status: int, error_id: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"id": error_id, "message": error_id}, headers=headers)


API_FAULTS = {
    "500 on every try": [error(500, "internal")] * 4,
    "503 then 502": [error(503, "unavailable"), error(502, "bad_gateway")] * 2,
    "429 with Retry-After": [error(429, "rate_limit", **{"Retry-After": "1"})] * 4,
    "429 without Retry-After": [error(429, "rate_limit")] * 4,
    "timeouts": [httpx.ReadTimeout("timed out")] * 4,
    "connection resets": [httpx.ReadError("Connection reset by peer")] * 4,
    "malformed JSON": [httpx.Response(200, text='[{"type": "worker", "quantity": ')],
    "401 token revoked": [error(401, "unauthorized")],
    "403 forbidden": [error(403, "forbidden")],
    "404 app missing": [error(404, "not_found")],
}


@pytest.mark.parametrize("faults", list(API_FAULTS.values()), ids=list(API_FAULTS))
def test_formation_read_faults_hold_the_formation(
    faults: list[httpx.Response | Exception],
    redis_url: str,
    clock: FakeClock,
    api: respx.MockRouter,
    make_daemon: MakeDaemon,
) -> None:
    """A failing formation read ends the tick without a PATCH; the next tick after the fault works."""
    formation = app_formation(api)
    formation.get_faults = list(faults)
    # Each fault list is what one tick's retries meet when the tick may retry for 12 s (a 15 s interval).
    daemon = make_daemon(settings_for(redis_url, AUTOSCALER_INTERVAL="15"))
    enqueue(redis_url, 45)
    failed = daemon.tick()
    clock.advance(3600)  # past any back-off
    recovered = daemon.tick()
    assert (False, True) == (failed.ok, recovered.ok)
    assert [{"updates": [{"type": "worker", "quantity": 5}]}] == formation.patches


PATCH_FAULTS = {
    "500 on every try": [error(500, "internal")] * 4,
    "422 above a limit": [error(422, "cannot_run_above_limit")],
    "timeouts": [httpx.ReadTimeout("timed out")] * 4,
    "401 token revoked": [error(401, "unauthorized")],
    "404 process type missing": [error(404, "not_found")],
}


@pytest.mark.parametrize("faults", list(PATCH_FAULTS.values()), ids=list(PATCH_FAULTS))
def test_patch_faults_leave_the_formation_and_retry_next_tick(
    faults: list[httpx.Response | Exception],
    redis_url: str,
    clock: FakeClock,
    api: respx.MockRouter,
    make_daemon: MakeDaemon,
) -> None:
    """A failing PATCH changes nothing; every PATCH sent carries the decided quantity; a later tick applies it."""
    formation = app_formation(api)
    formation.patch_faults = list(faults)
    daemon = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 45)
    failed = daemon.tick()
    held = formation.quantity
    clock.advance(3600)
    daemon.tick()
    assert (False, 2, 5) == (failed.ok, held, formation.quantity)
    assert all(body == {"updates": [{"type": "worker", "quantity": 5}]} for body in formation.patches)


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy("127.0.0.1", 6379)
    proxy.start()
    yield proxy
    proxy.stop()


def test_redis_restart_mid_run(
    redis_url: str, redis_proxy: FaultProxy, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """Redis going away makes the reading unknown (formation held); when it is back the readings recover
    without restarting the daemon."""
    formation = app_formation(api, quantity=5)
    daemon = make_daemon(settings_for(redis_proxy.redis_url(redis_url)))
    enqueue(redis_url, 45)
    reasons = [daemon.tick().decisions[0].reason.value]
    redis_proxy.stop()
    clock.advance(15)
    reasons.append(daemon.tick().decisions[0].reason.value)
    redis_proxy.start()
    clock.advance(15)
    reasons.append(daemon.tick().decisions[0].reason.value)
    assert ["within_target", "held_signal_unknown", "within_target"] == reasons
    assert (5, []) == (formation.quantity, formation.patches)


def test_redis_too_slow(
    redis_url: str, redis_proxy: FaultProxy, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A Redis that accepts but never answers times out: the reading is unknown, the tick ends, nothing scales."""
    formation = app_formation(api, quantity=5)
    redis_proxy.stop()
    redis_proxy.stall = True
    redis_proxy.start()
    daemon = make_daemon(settings_for(redis_proxy.redis_url(redis_url)), timeout=0.3)
    result = daemon.tick()
    assert ("held_signal_unknown", []) == (result.decisions[0].reason.value, formation.patches)


@pytest.fixture
def pg_proxy() -> Iterator[FaultProxy]:
    try:
        with psycopg.connect(PG_URL, connect_timeout=2):
            pass
    except psycopg.Error:
        service_unavailable(
            "PostgreSQL at 127.0.0.1:5432", "install postgresql and create database test, or run .ci/run"
        )
    proxy = FaultProxy("127.0.0.1", 5432)
    proxy.start()
    yield proxy
    proxy.stop()


def test_postgres_restart_mid_run(
    pg_proxy: FaultProxy, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """PostgreSQL going away and coming back: unknown, held, then recovered on the same daemon."""
    formation = app_formation(api, quantity=5)
    settings = load_settings(
        {
            "HEROKU_API_KEY": TOKEN,
            "AUTOSCALER_APP": APP,
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg_proxy.port}/test",
            "AUTOSCALER_PROCESSES__WORKER__SOURCE": "sql",
            "AUTOSCALER_PROCESSES__WORKER__QUERY": "SELECT 45 AS depth",
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
        }
    )
    daemon = make_daemon(settings)
    reasons = [daemon.tick().decisions[0].reason.value]
    pg_proxy.stop()
    clock.advance(15)
    reasons.append(daemon.tick().decisions[0].reason.value)
    pg_proxy.start()
    clock.advance(15)
    reasons.append(daemon.tick().decisions[0].reason.value)
    daemon.close()
    assert ["within_target", "held_signal_unknown", "within_target"] == reasons
    assert (5, []) == (formation.quantity, formation.patches)


class Exploding:
    """A source with a bug: raises a non-signal error on its first read, then works. ``on_read`` is
    called with the number of each read that succeeds."""

    def __init__(self, on_read: Callable[[int], None]) -> None:
        self.reads = 0
        self.on_read = on_read

    def read(self, now: float) -> Reading:
        self.reads += 1
        if self.reads == 1:
            raise ZeroDivisionError("a bug in a source")
        self.on_read(self.reads)
        return Reading(at=now, depth=0, latency=0.0, busy=0)

    def close(self) -> None:
        return


def test_an_exception_inside_a_tick_is_logged_and_the_next_tick_runs(
    redis_url: str, api: respx.MockRouter, make_client: Callable[..., HerokuClient]
) -> None:
    """A programming error in a tick is logged with its traceback as tick_crashed; the scheduler runs the
    next tick as usual."""
    app_formation(api, quantity=1)
    settings = settings_for(redis_url, AUTOSCALER_INTERVAL="1")
    stopper = Stopper()
    # The second tick asks to stop; run_forever lets that tick finish before it returns.
    source = Exploding(on_read=lambda reads: stopper.event.set())
    out = io.StringIO()
    logs.configure("json", "debug", stream=out)
    try:
        daemon = Daemon(settings, make_client(TOKEN), {"worker": source}, clock=SystemClock())
        deadline = threading.Timer(30, stopper.event.set)  # only if the second tick never comes
        deadline.start()
        try:
            run_forever(daemon, stopper)
        finally:
            deadline.cancel()
    finally:
        structlog.reset_defaults()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    crashed = [e for e in events if e["event"] == "tick_crashed"]
    decisions = [e for e in events if e["event"] == "decision"]
    assert (2, 1, 1) == (source.reads, len(crashed), len(decisions))
    assert "error" == crashed[0]["level"]
    assert "Traceback (most recent call last)" in crashed[0]["exception"]
    assert "ZeroDivisionError: a bug in a source" in crashed[0]["exception"]
    assert events.index(crashed[0]) < events.index(decisions[0])


@pytest.fixture
def amqp_proxy() -> Iterator[FaultProxy]:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        service_unavailable("RabbitMQ at 127.0.0.1:5672", "install rabbitmq-server, or run .ci/run")
    proxy = FaultProxy("127.0.0.1", 5672)
    proxy.start()
    yield proxy
    proxy.stop()


def test_rabbitmq_restart_mid_run(
    amqp_proxy: FaultProxy, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """RabbitMQ going away and coming back (celery source, passive declare): unknown and held, then
    recovered on the same daemon."""
    formation = app_formation(api, quantity=5)
    settings = load_settings(
        {
            "HEROKU_API_KEY": TOKEN,
            "AUTOSCALER_APP": APP,
            "CLOUDAMQP_URL": f"amqp://guest:guest@127.0.0.1:{amqp_proxy.port}//",
            "AUTOSCALER_PROCESSES__WORKER__SOURCE": "celery",
            "AUTOSCALER_PROCESSES__WORKER__QUEUES": "fault-test-queue",
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS": "10",
            "AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO": "10",
            "AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY": "3600",
        }
    )
    daemon = make_daemon(settings)
    try:
        reasons = [daemon.tick().decisions[0].reason.value]
        amqp_proxy.stop()
        clock.advance(15)
        reasons.append(daemon.tick().decisions[0].reason.value)
        amqp_proxy.start()
        clock.advance(15)
        reasons.append(daemon.tick().decisions[0].reason.value)
    finally:
        daemon.close()
    assert ["held_downscale_delay", "held_signal_unknown", "held_downscale_delay"] == reasons
    assert (5, []) == (formation.quantity, formation.patches)
