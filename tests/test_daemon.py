"""The daemon end to end: a fake clock drives ticks against respx and the real Redis."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
import respx
import structlog

from autoscaler import logs
from autoscaler.config import Settings
from autoscaler.daemon import Daemon
from autoscaler.decision_log import monthly_cost
from autoscaler.heroku import HerokuClient
from autoscaler.notify import RecordingNotifier
from autoscaler.redact import Redactor
from autoscaler.signals.build import build_sources

from .conftest import FakeClock, FormationFake, PlatformFake, enqueue
from .helpers import worker_settings

APP = "my-app"
TOKEN = "HRKU-test-token-0123456789"

MakeDaemon = Callable[..., Daemon]


def settings_for(redis_url: str, **extra: str) -> Settings:
    return worker_settings(TOKEN, APP, redis_url, **({"AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY": "300"} | extra))


@pytest.fixture
def make_daemon(make_client: Callable[..., HerokuClient], clock: FakeClock) -> MakeDaemon:
    """Build a daemon on the fake clock, its Platform API client on the respx stand-in."""

    def make(settings: Settings, **options: Any) -> Daemon:
        return Daemon(settings, make_client(TOKEN), build_sources(settings), clock=clock, **options)

    return make


def app_formation(api: respx.MockRouter, quantity: int = 1) -> FormationFake:
    return FormationFake(api, APP, quantity=quantity)


def drain(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("rq:queue:default")


def test_scale_up_hold_then_scale_down(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A backlog scales up at once; after it drains the dynos stay for DOWNSCALE_DELAY, then go."""
    heroku = app_formation(api)
    daemon = make_daemon(settings_for(redis_url))

    enqueue(redis_url, 45)
    up = daemon.tick()
    assert (True, 5, [{"updates": [{"type": "worker", "quantity": 5}]}]) == (up.ok, heroku.quantity, heroku.patches)

    drain(redis_url)
    timeline = []
    for _ in range(20):  # 20 ticks of 15 s: the last one 300 s after the backlog was seen
        clock.advance(15)
        result = daemon.tick()
        timeline.append((result.decisions[0].reason.value, heroku.quantity))
    # New dynos boot for BOOT_TIME (60 s), then the downscale delay holds until 300 s after the backlog.
    assert [("held_booting", 5)] * 3 + [("held_downscale_delay", 5)] * 16 + [("scale_down", 1)] == timeline
    assert 2 == len(heroku.patches)


def test_no_patch_when_nothing_changes(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """Steady state sends no PATCH."""
    heroku = app_formation(api, quantity=2)
    daemon = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 15)
    for _ in range(5):
        daemon.tick()
        clock.advance(15)
    assert [] == heroku.patches


def test_dry_run_sends_nothing(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """In dry-run mode the decision is made and logged with dry_run=true, and no PATCH is sent."""
    heroku = app_formation(api)
    daemon = make_daemon(settings_for(redis_url, AUTOSCALER_DRY_RUN="true"))
    enqueue(redis_url, 45)
    with structlog.testing.capture_logs() as captured:
        result = daemon.tick()
    decision = next(e for e in captured if e["event"] == "decision")
    skipped = next(e for e in captured if e["event"] == "scale_skipped")
    assert (5, True, ["worker=5"], [], 1) == (
        decision["desired"],
        decision["dry_run"],
        skipped["changes"],
        heroku.patches,
        heroku.quantity,
    )
    assert not result.patched


def test_decision_line_has_every_field(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """One canonical line per process: app, process, quantities, sizes, signals, reason, message, dry_run, samples."""
    app_formation(api)
    daemon = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 3)
    with structlog.testing.capture_logs() as captured:
        daemon.tick()
    decisions = [e for e in captured if e["event"] == "decision"]
    assert 1 == len(decisions)
    expected_keys = {
        "process",
        "current",
        "desired",
        "size",
        "desired_size",
        "depth",
        "latency",
        "busy",
        "reason",
        "message",
        "dry_run",
        "sample#autoscaler.worker.desired",
        "sample#autoscaler.worker.depth",
    }
    assert expected_keys <= set(decisions[0])
    assert (3, 0) == (decisions[0]["depth"], decisions[0]["busy"])


def test_signal_failure_holds_and_logs_once_per_streak(
    clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """An unreachable Redis makes the reading unknown: the formation is held, the warning logged once."""
    heroku = app_formation(api, quantity=3)
    daemon = make_daemon(settings_for("redis://:pw@127.0.0.1:1/0"))
    with structlog.testing.capture_logs() as captured:
        results = [daemon.tick() for _ in range(3)]
    reasons = [r.decisions[0].reason.value for r in results]
    warnings = [e for e in captured if e["event"] == "signal_unknown"]
    assert (["held_signal_unknown"] * 3, 1, [], 3) == (reasons, len(warnings), heroku.patches, heroku.quantity)


def test_api_failure_holds_the_formation(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A failing formation read ends the tick without any PATCH; the tick reports failure."""
    PlatformFake(api, APP)
    api.get(f"/apps/{APP}/formation").mock(return_value=httpx.Response(503, json={"id": "unavailable"}))
    patch = api.patch(f"/apps/{APP}/formation")
    daemon = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 45)
    result = daemon.tick()
    assert (False, 0) == (result.ok, patch.call_count)


def test_failed_patch_is_logged_and_retried_next_tick(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A PATCH refused with 422 is logged as scale_failed; the next tick decides again from the real formation."""
    heroku = app_formation(api)
    daemon = make_daemon(settings_for(redis_url))
    api.patch(f"/apps/{APP}/formation").mock(
        side_effect=[httpx.Response(422, json={"id": "invalid_params", "message": "no"})]
    )
    enqueue(redis_url, 45)
    with structlog.testing.capture_logs() as captured:
        first = daemon.tick()
    assert (False, 1, ["scale_failed"]) == (
        first.ok,
        heroku.quantity,
        [e["event"] for e in captured if e["event"] == "scale_failed"],
    )


def test_missing_process_type_is_an_error(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A configured process type absent from the formation is reported, and nothing is patched."""
    PlatformFake(api, APP)
    api.get(f"/apps/{APP}/formation").mock(return_value=httpx.Response(200, json=[]))
    daemon = make_daemon(settings_for(redis_url))
    result = daemon.tick()
    assert (False, []) == (result.ok, result.updates)


def test_monthly_cost() -> None:
    """The run-rate is quantity × monthly price per size; an unknown size makes it unknown."""
    assert 25 * 3 + 50 == monthly_cost({"worker": (3, "Standard-1X"), "web": (1, "standard-2x")})
    assert monthly_cost({"worker": (1, "Mystery-9X")}) is None


def test_secrets_never_reach_the_output(clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon) -> None:
    """A tick failing in every way provokable (API errors echoing the token, unreachable Redis with
    a password, a refused PATCH) writes neither the token nor the Redis password anywhere."""
    password = "redis-secret-pw-42"
    # MIN_DYNOS 2 above the running 1: the engine raises it even on unknown data, so a PATCH is tried.
    settings = settings_for(f"redis://:{password}@127.0.0.1:1/0", AUTOSCALER_PROCESSES__WORKER__MIN_DYNOS="2")
    out = io.StringIO()
    logs.configure("logfmt", "debug", Redactor([TOKEN, *settings.secrets()]), out)
    try:
        ok = httpx.Response(200, json=[{"type": "worker", "quantity": 1, "size": "Standard-1X"}])
        answers: list[httpx.Response | Exception] = [
            httpx.Response(401, json={"id": "unauthorized", "message": f"bad token {TOKEN}"}),
            *[httpx.ConnectError(f"failed to connect with Bearer {TOKEN}")] * 4,  # every retry fails
            *[httpx.Response(500, text=f"<html>{TOKEN}</html>")] * 4,
        ]
        PlatformFake(api, APP)
        api.get(f"/apps/{APP}/formation").mock(side_effect=answers + [ok] * 20)
        api.patch(f"/apps/{APP}/formation").mock(
            return_value=httpx.Response(422, json={"id": "invalid_params", "message": f"{TOKEN} {password}"})
        )
        daemon = make_daemon(settings)
        for _ in range(6):
            daemon.tick()
            clock.advance(100)  # past the back-off that follows the rejected token
    finally:
        structlog.reset_defaults()
    text = out.getvalue()
    assert "event=signal_unknown" in text  # the failing paths did run
    assert "token_rejected" in text
    assert "formation_read_failed" in text
    assert "scale_failed" in text
    assert (False, False) == (TOKEN in text, password in text)


def test_manual_change_is_logged_and_kept_as_the_floor(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """After someone runs `heroku ps:scale worker=8`, the daemon logs it at its next formation read (at
    most a minute later) and keeps 8 as the floor for MANUAL_HOLD instead of undoing it at once."""
    heroku = app_formation(api)
    settings = settings_for(
        redis_url, AUTOSCALER_PROCESSES__WORKER__DOWNSCALE_DELAY="0", AUTOSCALER_PROCESSES__WORKER__BOOT_TIME="0"
    )
    daemon = make_daemon(settings)
    enqueue(redis_url, 25)
    daemon.tick()  # 1 → 3, applied: the daemon now knows it set 3
    heroku.quantity = 8  # by hand
    clock.advance(60)  # the formation is read again at least once a minute
    with structlog.testing.capture_logs() as captured:
        held = daemon.tick()
    clock.advance(601)
    resumed = daemon.tick()
    assert ["manual_change"] == [e["event"] for e in captured if e["event"] == "manual_change"]
    assert (8, "held_manual") == (held.decisions[0].desired, held.decisions[0].reason.value)
    assert (3, "scale_down") == (resumed.decisions[0].desired, resumed.decisions[0].reason.value)


def test_budget_and_prices_come_from_the_settings(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """AUTOSCALER_MAX_MONTHLY_COST with AUTOSCALER_PRICES caps the formation: at $40 a dyno, $200 buys 5."""
    app_formation(api)
    settings = settings_for(redis_url, AUTOSCALER_MAX_MONTHLY_COST="200", AUTOSCALER_PRICES='{"Standard-1X": 40}')
    daemon = make_daemon(settings)
    enqueue(redis_url, 95)
    clock.advance(1)
    daemon.tick()  # step limit: 1 → 5
    clock.advance(15)
    result = daemon.tick()  # wants 10, budget allows 5
    assert (5, "clamped_to_budget") == (result.decisions[0].desired, result.decisions[0].reason.value)


def test_scale_events_and_clamps_are_notified(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """The daemon tells the notifier of a scale (batched) and of hitting MAX_DYNOS (once)."""
    app_formation(api)
    settings = settings_for(redis_url, AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS="3")
    recorder = RecordingNotifier()
    daemon = make_daemon(settings, notifier=recorder)
    enqueue(redis_url, 95)
    for _ in range(3):
        daemon.tick()
        clock.advance(15)
    assert ["clamped_to_max", "scaled"] == [n.event for n in recorder.notices]
    assert "my-app: scaled worker=3" == recorder.notices[1].text
