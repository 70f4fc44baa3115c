"""The daemon and the platform it scales on, on the fake clock against the respx stand-in and the real
Redis: Fir and Cedar limits, the preboot pause of a deploy, the budget with one-off dynos, the prices
the API gives, and what the daemon asks of the Platform API (the formation kept between reads and read
again before any change, the account's rate limit watched)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import httpx
import pytest
import redis
import respx
import structlog

from autoscaler.api_health import PREBOOT_NOTIFY_AFTER
from autoscaler.appview import FORMATION_MAX_AGE, RATE_CHECK_EVERY, SLOW_MAX_AGE
from autoscaler.config import Settings
from autoscaler.daemon import Daemon
from autoscaler.errors import ConfigError
from autoscaler.heroku import HerokuClient
from autoscaler.notify import RecordingNotifier
from autoscaler.signals.build import build_sources

from .conftest import FakeClock, FormationFake, enqueue
from .helpers import worker_settings

APP = "platform-app"
TOKEN = "HRKU-platform-test-token-2718"

MakeDaemon = Callable[..., tuple[Daemon, HerokuClient]]


def settings_for(redis_url: str, **extra: str) -> Settings:
    return worker_settings(TOKEN, APP, redis_url, **extra)


@pytest.fixture
def make_daemon(make_client: Callable[..., HerokuClient], clock: FakeClock) -> MakeDaemon:
    """A daemon on the fake clock and its Platform API client (whose ``calls`` counts requests)."""

    def make(settings: Settings, **options: Any) -> tuple[Daemon, HerokuClient]:
        client = make_client(TOKEN)
        return Daemon(settings, client, build_sources(settings), clock=clock, **options), client

    return make


def events(captured: Sequence[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in captured if e["event"] == name]


def drain(redis_url: str) -> None:
    redis.Redis.from_url(redis_url).delete("rq:queue:default")


# --- generations and their limits --------------------------------------------------------------


def test_a_fir_app_scales_past_100(redis_url: str, api: respx.MockRouter, make_daemon: MakeDaemon) -> None:
    """On Fir the app may run 255 dynos: a backlog takes the worker from 100 to 180, with no complaint."""
    heroku = FormationFake(api, APP, quantity=100, size="dyno-2c-4gb", generation="fir")
    settings = settings_for(
        redis_url, AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS="200", AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO="1"
    )
    daemon, _ = make_daemon(settings)
    enqueue(redis_url, 180)
    with structlog.testing.capture_logs() as captured:
        result = daemon.tick()
    assert (True, 180, "scale_up") == (result.patched, heroku.quantity, result.decisions[0].reason.value)
    assert ([], "fir", 255) == (
        events(captured, "max_dynos_above_limit"),
        daemon.view.generation,
        daemon.view.app_limit,
    )


def test_a_cedar_app_never_goes_past_100(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """On Cedar, MAX_DYNOS 150 is allowed at start, logged as an error at the first formation read (once),
    and the app's 100 dynos hold: 95 workers beside 5 web dynos not managed here."""
    heroku = FormationFake(api, APP, quantity=60, others={"web": (5, "Standard-1X")})
    settings = settings_for(
        redis_url, AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS="150", AUTOSCALER_PROCESSES__WORKER__JOBS_PER_DYNO="1"
    )
    daemon, _ = make_daemon(settings)
    enqueue(redis_url, 150)
    with structlog.testing.capture_logs() as captured:
        results = []
        for _ in range(5):
            results.append(daemon.tick())
            clock.advance(61)
    errors = events(captured, "max_dynos_above_limit")
    assert (95, "clamped_to_app_limit") == (heroku.quantity, results[0].decisions[0].reason.value)
    assert all(sum(u["quantity"] for u in body["updates"]) + 5 <= 100 for body in heroku.patches)
    assert [(150, 100, "cedar")] == [(e["max_dynos"], e["limit"], e["generation"]) for e in errors]


def test_the_generation_comes_from_the_formations_sizes_when_the_app_cannot_be_read(
    redis_url: str, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """When GET /apps/{app} fails, a formation running Fir sizes is taken for Fir; a warning says so once."""
    heroku = FormationFake(api, APP, quantity=120, size="dyno-1c-0.5gb", generation="fir")
    api.get(f"/apps/{APP}").respond(503, json={"id": "unavailable", "message": "try later"})
    settings = settings_for(redis_url, AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS="200")
    daemon, _ = make_daemon(settings)
    enqueue(redis_url, 1800)
    with structlog.testing.capture_logs() as captured:
        daemon.tick()
    assert (1, 180) == (len(events(captured, "platform_read_failed")), heroku.quantity)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        pytest.param({"MAX_DYNOS": "150"}, None, id="150 without SIZE: known at the first formation read"),
        pytest.param({"MAX_DYNOS": "200", "SIZE": "dyno-2c-4gb"}, None, id="200 Fir dynos"),
        pytest.param(
            {"MAX_DYNOS": "256"},
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: 256 is more than Heroku runs in one app "
            "(100 on Cedar, 255 on Fir)",
            id="256: no generation runs it",
        ),
        pytest.param(
            {"MAX_DYNOS": "150", "SIZE": "standard-1x"},
            "AUTOSCALER_PROCESSES__WORKER__MAX_DYNOS: 150 is more than Heroku runs in one Cedar app (100), "
            "and SIZE Standard-1X is a Cedar size",
            id="150 of a Cedar SIZE",
        ),
    ],
)
def test_max_dynos_above_100_is_checked_against_what_can_be_known(
    redis_url: str, extra: dict[str, str], problem: str | None
) -> None:
    """MAX_DYNOS above 100 loads unless no generation, or the Cedar generation of an explicit SIZE, allows it."""
    env = {f"AUTOSCALER_PROCESSES__WORKER__{key}": value for key, value in extra.items()}
    try:
        settings_for(redis_url, **env)
        found: list[str] = []
    except ConfigError as exc:
        found = exc.problems
    assert ([problem] if problem else []) == found


# --- the preboot pause -------------------------------------------------------------------------


def test_a_preboot_deploy_is_one_warning_then_the_change_goes_through(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """While Heroku refuses formation changes (release phase and preboot) the daemon warns once, tries
    again every tick without an error, and scales on the first tick Heroku accepts."""
    heroku = FormationFake(api, APP)
    heroku.preboot_locked = True
    notifier = RecordingNotifier()
    daemon, _ = make_daemon(settings_for(redis_url), notifier=notifier)
    enqueue(redis_url, 45)
    with structlog.testing.capture_logs() as captured:
        waiting = []
        for _ in range(30):  # a minute of ticks
            waiting.append(daemon.tick())
            clock.advance(2)
        heroku.preboot_locked = False
        done = daemon.tick()
    assert 1 == len(events(captured, "preboot_wait"))
    assert [] == [e for e in captured if e["log_level"] == "error"]
    assert (True, 31, True, 5) == (all(r.ok for r in waiting), len(heroku.patches), done.patched, heroku.quantity)
    assert [60] == [e["waited_s"] for e in events(captured, "preboot_over")]
    assert ["scaled"] == [n.event for n in notifier.notices]


def test_a_preboot_wait_is_notified_only_when_unusually_long(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A deploy refusing changes for more than PREBOOT_NOTIFY_AFTER (15 min) is notified once."""
    heroku = FormationFake(api, APP)
    heroku.preboot_locked = True
    notifier = RecordingNotifier()
    daemon, _ = make_daemon(settings_for(redis_url), notifier=notifier)
    enqueue(redis_url, 45)
    told_at: list[int] = []
    for minute in range(20):
        daemon.tick()
        told_at += [minute] * sum(n.event == "preboot_wait" for n in notifier.notices[len(told_at) :])
        clock.advance(60)
    assert [int(PREBOOT_NOTIFY_AFTER // 60)] == told_at


# --- the budget --------------------------------------------------------------------------------


def test_the_budget_counts_one_off_dynos_and_the_other_types(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """$300 a month, less $50 of web (not managed) and $75 of one-off dynos running now (a crashed one
    bills nothing), leaves $175: 7 Standard-1X workers. The split is logged."""
    heroku = FormationFake(api, APP, others={"web": (1, "Standard-2X")})
    heroku.platform.run_one_off("run.4821", "Standard-2X")
    heroku.platform.run_one_off("scheduler.1001", "Standard-1X")
    heroku.platform.run_one_off("run.4822", "Performance-L", state="crashed")
    settings = settings_for(
        redis_url,
        AUTOSCALER_MAX_MONTHLY_COST="300",
        AUTOSCALER_PROCESSES__WORKER__SCALE_UP_DYNOS="20",
    )
    daemon, _ = make_daemon(settings)
    enqueue(redis_url, 95)
    with structlog.testing.capture_logs() as captured:
        result = daemon.tick()
    (split,) = events(captured, "budget")
    assert (7, "clamped_to_budget") == (heroku.quantity, result.decisions[0].reason.value)
    assert (300, 75, 2, 50, 175) == (
        split["max_monthly_usd"],
        split["one_off_usd"],
        split["one_off_dynos"],
        split["other_types_usd"],
        split["managed_usd"],
    )


def test_one_off_dynos_are_read_at_most_once_a_minute_and_only_with_a_budget(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """GET /apps/{app}/dynos: once a minute with a budget (a job finishing is seen then), never without."""
    heroku = FormationFake(api, APP)
    heroku.platform.run_one_off("scheduler.1", "Performance-M")
    daemon, _ = make_daemon(settings_for(redis_url, AUTOSCALER_MAX_MONTHLY_COST="1000"))
    with structlog.testing.capture_logs() as captured:
        for _ in range(90):  # three minutes
            daemon.tick()
            clock.advance(2)
            heroku.platform.one_offs.clear()  # the job ends after the first read
    reads = heroku.platform.requests.count(f"/apps/{APP}/dynos")
    assert (3, [250, 0]) == (reads, [e["one_off_usd"] for e in events(captured, "budget")])

    other = FormationFake(api, APP)
    daemon, _ = make_daemon(settings_for(redis_url))
    for _ in range(60):
        daemon.tick()
        clock.advance(2)
    assert 0 == other.platform.requests.count(f"/apps/{APP}/dynos")


def test_prices_come_from_the_api_under_autoscaler_prices(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """available-dyno-sizes' price ($40) replaces the catalogue's $25; AUTOSCALER_PRICES replaces both."""
    quantities = []
    for prices in ({}, {"AUTOSCALER_PRICES": '{"standard-1x": 20}'}):
        heroku = FormationFake(api, APP)
        heroku.platform.prices = {"standard-1x": 40.0}
        settings = settings_for(
            redis_url,
            AUTOSCALER_MAX_MONTHLY_COST="200",
            AUTOSCALER_PROCESSES__WORKER__SCALE_UP_DYNOS="20",
            **prices,
        )
        daemon, _ = make_daemon(settings)
        enqueue(redis_url, 95)
        daemon.tick()
        quantities.append(heroku.quantity)
        drain(redis_url)
    assert [5, 10] == quantities


# --- what the daemon asks of the Platform API --------------------------------------------------


@pytest.mark.parametrize("budget", [None, "500"], ids=["no budget", "with a budget"])
def test_an_idle_hour_costs_at_most_160_api_calls(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon, budget: str | None
) -> None:
    """A quiet app for an hour at the default 2 s interval (1,800 ticks): the formation read once a minute,
    the rate limit every 5 minutes, the one-off dynos once a minute with a budget; no PATCH."""
    heroku = FormationFake(api, APP, quantity=2)
    settings = settings_for(redis_url, **({"AUTOSCALER_MAX_MONTHLY_COST": budget} if budget else {}))
    daemon, client = make_daemon(settings)
    enqueue(redis_url, 15)  # 2 dynos' worth: nothing to change
    for _ in range(int(3600 / settings.interval)):
        daemon.tick()
        clock.advance(settings.interval)
    assert (2.0, 1800, [], 60) == (settings.interval, daemon.ticks, heroku.patches, heroku.gets)
    assert client.calls <= 160
    assert client.calls == heroku.gets + len(heroku.platform.requests)


def test_the_first_tick_after_a_backlog_decides_on_a_fresh_formation_read(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """Quiet ticks use the formation kept from the last read; the tick that sees a backlog reads the
    formation again and PATCHes in that same tick."""
    heroku = FormationFake(api, APP, quantity=2)
    daemon, _ = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 15)
    for _ in range(5):
        daemon.tick()
        clock.advance(2)
    quiet = heroku.gets
    enqueue(redis_url, 30)  # 45 waiting: 5 dynos' worth
    result = daemon.tick()
    assert (1, 2, True, 5) == (quiet, heroku.gets, result.patched, heroku.quantity)


def test_the_fresh_read_before_a_patch_keeps_a_change_made_by_hand(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """The daemon set 3; the kept formation says 3 when a bigger backlog wants 5, but the fresh read says
    8 (set by hand a moment ago): the daemon decides on the 8, keeps it as a manual change, sends nothing."""
    heroku = FormationFake(api, APP)
    daemon, _ = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 25)
    daemon.tick()  # 1 → 3
    heroku.quantity = 8  # heroku ps:scale worker=8
    clock.advance(2)
    enqueue(redis_url, 20)  # 45 waiting: 5 dynos' worth
    with structlog.testing.capture_logs() as captured:
        result = daemon.tick()
    decision = result.decisions[0]
    manual = events(captured, "manual_change")
    assert (8, 8, 1, 1) == (decision.current, decision.desired, len(heroku.patches), len(manual))


def test_a_dry_run_decides_on_the_kept_formation(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """In dry run nothing is PATCHed, so a wanted change needs no fresh read: once a minute is enough."""
    heroku = FormationFake(api, APP)
    daemon, _ = make_daemon(settings_for(redis_url, AUTOSCALER_DRY_RUN="true"))
    enqueue(redis_url, 45)
    for _ in range(30):
        daemon.tick()
        clock.advance(2)
    assert (1, []) == (heroku.gets, heroku.patches)


def test_a_refused_patch_is_tried_again_less_and_less_often(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """A change Heroku keeps refusing (a 422 other than the preboot pause) is tried at the next tick, then
    after 4, 8, 16, 32 s and then every minute: not twice every tick."""
    heroku = FormationFake(api, APP)
    heroku.patch_faults = [httpx.Response(422, json={"id": "invalid_params", "message": "no"})] * 100
    daemon, _ = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 45)
    tried_at = []
    for second in range(0, 300, 2):
        before = len(heroku.patches)
        daemon.tick()
        if len(heroku.patches) > before:
            tried_at.append(second)
        clock.advance(2)
    assert [0, 2, 6, 14, 30, 62, 122, 182, 242] == tried_at


def test_a_low_rate_limit_slows_the_daemon_down(
    redis_url: str, clock: FakeClock, api: respx.MockRouter, make_daemon: MakeDaemon
) -> None:
    """Below 1,500 tokens left in the account (shared with other tools) the formation is read every 5
    minutes and the rate limit every minute (free); at 2,000 the usual pace is back."""
    heroku = FormationFake(api, APP, quantity=2)
    heroku.platform.remaining = 1000
    daemon, _ = make_daemon(settings_for(redis_url))
    enqueue(redis_url, 15)
    with structlog.testing.capture_logs() as captured:
        for _ in range(300):  # ten minutes
            daemon.tick()
            clock.advance(2)
        slow_reads = heroku.gets
        heroku.platform.remaining = 4000
        for _ in range(300):
            daemon.tick()
            clock.advance(2)
    rate_checks = heroku.platform.requests.count("/account/rate-limits")
    assert (1, 1) == (len(events(captured, "rate_limit_low")), len(events(captured, "rate_limit_recovered")))
    assert (600 / SLOW_MAX_AGE, 600 / SLOW_MAX_AGE + 600 / FORMATION_MAX_AGE) == (slow_reads, heroku.gets)
    assert rate_checks <= 600 / 60 + 600 / RATE_CHECK_EVERY + 1
