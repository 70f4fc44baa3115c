"""The status page without a browser: the password, what the page holds, no secret in it, the chart's
SVG, ``GET /health``. The real browser renders it in tests/test_dashboard_browser.py."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from autoscaler.config import Settings, load_settings
from autoscaler.drain.store import DrainStore, connect_async
from autoscaler.errors import StateError
from autoscaler.history import History, MemoryHistory, ProcessStatus, Slot, Status, main_signal
from autoscaler.history.chart import chart, nice_ceiling
from autoscaler.history.model import Sample, decode, encode
from autoscaler.web.app import create_app
from autoscaler.web.dashboard import Dashboard
from autoscaler.web.render import render_page
from benchmarks.dashboard import DAY, PROCESS_ENV, record

PASSWORD = "dash-s3cret-0123456789abcdef"
SECRETS = {
    "HEROKU_API_KEY": "HRKU-dashboard-token-0123456789",
    "REDIS_URL": "redis://:redis-pw-0123456789@127.0.0.1:6379/10",
    "AUTOSCALER_NOTIFY_URL": "https://hooks.example.com/services/T000/B000/notify-secret-abcdef",
    "AUTOSCALER_DRAIN_PASSWORD": "drain-pw-0123456789abcdef",
    "AUTOSCALER_DASHBOARD_PASSWORD": PASSWORD,
    "AUTOSCALER_PROCESSES__HOOK__URL": "https://hook-user:hook-pw-0123456789@jobs.example.com/queue",
    "AUTOSCALER_PROCESSES__HOOK__TOKEN": "hook-token-0123456789",
}
NOW = 1_767_225_600.0 + 2 * DAY


def settings_with_secrets(**extra: str) -> Settings:
    return load_settings(
        {
            **SECRETS,
            "AUTOSCALER_APP": "my-app",
            "AUTOSCALER_INTERVAL": "15",
            **PROCESS_ENV,
            "AUTOSCALER_PROCESSES__HOOK__SOURCE": "http_json",
            "AUTOSCALER_PROCESSES__HOOK__MAX_DYNOS": "2",
            "AUTOSCALER_PROCESSES__HOOK__JOBS_PER_DYNO": "5",
            **extra,
        }
    )


def secret_values() -> list[str]:
    """Every secret of :data:`SECRETS`, the passwords inside its URLs included."""
    inside = ["redis-pw-0123456789", "notify-secret-abcdef", "hook-pw-0123456789"]
    whole = [value for key, value in SECRETS.items() if "URL" not in key]
    return inside + whole


@pytest.fixture(scope="module")
def recorded() -> MemoryHistory:
    """A day of three process types recorded by the daemon (in memory: the page reads any store alike)."""
    store = MemoryHistory(hours=30)
    settings = settings_with_secrets()
    demo = settings.model_copy(update={"processes": {k: v for k, v in settings.processes.items() if k != "hook"}})
    record(demo, store, start=NOW - DAY, seconds=DAY, interval=60)
    return store


class Broken:
    description = "broken"

    def write(self, record: Any) -> None:
        raise StateError("no")

    def read(self, since: float, until: float, processes: Sequence[str], *, events: int = 50) -> History:
        raise StateError("reading history from redis://:redis-pw-0123456789@127.0.0.1:6379/10: ConnectionError")

    def close(self) -> None:
        pass


class Client:
    """Requests to the web process's app in this process (httpx's ASGI transport; no lifespan, no socket)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                return await client.get(path, headers=headers or {})

        return asyncio.run(go())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def client_for(dashboard: Dashboard | None, password: str | None = None) -> Client:
    app = create_app(lambda: DrainStore(connect_async("redis://127.0.0.1:6379/10")), password, dashboard=dashboard)
    return Client(app)


@pytest.fixture
def page_client(recorded: MemoryHistory) -> Iterator[Client]:
    dashboard = Dashboard(settings_with_secrets(), PASSWORD, recorded, clock=lambda: NOW)
    with client_for(dashboard) as client:
        yield client


def basic(password: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- the password ---------------------------------------------------------------------------


def test_no_page_while_the_password_is_unset(recorded: MemoryHistory) -> None:
    with client_for(Dashboard(settings_with_secrets(), None, recorded)) as client:
        answer = client.get("/", headers=basic(PASSWORD))
        health = client.get("/health").json()
    assert (403, "off") == (answer.status_code, health["dashboard"])
    assert "AUTOSCALER_DASHBOARD_PASSWORD" in answer.text


def test_no_route_without_a_dashboard() -> None:
    with client_for(None) as client:
        assert 404 == client.get("/").status_code
        assert "off" == client.get("/health").json()["dashboard"]


@pytest.mark.parametrize(
    "headers",
    [{}, basic("wrong"), basic(PASSWORD + "x"), {"Authorization": "Bearer " + PASSWORD}, {"Authorization": "Basic !!"}],
)
def test_wrong_or_missing_credentials_get_401_with_a_challenge(page_client: Client, headers: dict[str, str]) -> None:
    answer = page_client.get("/", headers=headers)
    assert 401 == answer.status_code
    assert answer.headers["www-authenticate"].startswith("Basic realm=")
    assert "svg" not in answer.text


@pytest.mark.parametrize("user", ["", "admin", "any name"])
def test_any_user_name_with_the_password(page_client: Client, user: str) -> None:
    assert 200 == page_client.get("/", headers=basic(PASSWORD, user)).status_code


def test_plain_http_through_the_router_is_sent_to_https_before_any_password(page_client: Client) -> None:
    answer = page_client.get("/?hours=6", headers={"X-Forwarded-Proto": "http", "Host": "autoscaler.example.com"})
    assert (301, "https://autoscaler.example.com/?hours=6") == (answer.status_code, answer.headers["location"])
    assert 200 == page_client.get("/", headers={**basic(PASSWORD), "X-Forwarded-Proto": "https"}).status_code


def test_health_needs_no_password_and_holds_no_secret(page_client: Client) -> None:
    answer = page_client.get("/health")
    assert (200, "on", True) == (answer.status_code, answer.json()["dashboard"], answer.json()["ok"])
    assert not any(secret in answer.text for secret in secret_values())


# --- the page ---------------------------------------------------------------------------------


def test_the_page_holds_a_chart_per_process_the_decisions_settings_and_health(page_client: Client) -> None:
    answer = page_client.get("/", headers=basic(PASSWORD))
    html = answer.text
    assert 200 == answer.status_code
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "no-store" == answer.headers["cache-control"]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    charts = re.findall(r'<svg class="chart"[^>]* data-process="([^"]+)"', html)
    assert ["hook", "mailer", "web", "worker"] == sorted(charts)
    assert 3 == html.count('<path class="dynos"')  # hook has no record: "no record in this range"
    assert "no record in this range" in html
    assert html.count('<line class="target"') == 4
    rows = re.findall(r"<tr><td class=\"num\">", html)
    assert 10 <= len(rows) <= 30
    assert "monthly run-rate" in html
    assert "Latest decisions" in html
    assert "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_no_secret_reaches_the_page(page_client: Client) -> None:
    html = page_client.get("/", headers=basic(PASSWORD)).text
    found = [secret for secret in secret_values() if secret in html]
    assert [] == found
    assert "redis://:***@127.0.0.1:6379/10" in html
    assert "set (***)" in html  # the notify URL and the hook's token, masked


def test_hours_choose_the_range(page_client: Client) -> None:
    six = page_client.get("/?hours=6", headers=basic(PASSWORD))
    assert 200 == six.status_code
    assert '<a href="?hours=6" class=on>' in six.text
    for bad in ("0", "217", "abc", "-1", "1e3"):
        answer = page_client.get(f"/?hours={bad}", headers=basic(PASSWORD))
        assert 400 == answer.status_code
        assert "hours" in answer.text


def test_a_store_that_cannot_be_read_still_gives_a_page_with_the_problem() -> None:
    with client_for(Dashboard(settings_with_secrets(), PASSWORD, Broken(), clock=lambda: NOW)) as client:
        answer = client.get("/", headers=basic(PASSWORD))
    assert 503 == answer.status_code
    assert "the state store could not be read" in answer.text
    assert "redis-pw-0123456789" not in answer.text


def test_without_app_the_page_says_what_to_set() -> None:
    with client_for(Dashboard(settings_with_secrets(), PASSWORD, None, clock=lambda: NOW)) as client:
        answer = client.get("/", headers=basic(PASSWORD))
    assert (503, True) == (answer.status_code, "AUTOSCALER_APP is not set" in answer.text)


def status(at: float, **values: Any) -> Status:
    fields: dict[str, Any] = {"at": at, "instance": "worker.1:4:aaaa", "ok": True, "dry_run": False, "interval": 15}
    fields.update(values)
    return Status(**fields)


def test_health_says_what_fails() -> None:
    settings = settings_with_secrets()
    failing = status(
        NOW - 20,
        ok=False,
        api_ok=False,
        dry_run=True,
        errors=("formation: HTTP 503: unavailable", "worker: signal unknown: timeout"),
        processes={
            "worker": ProcessStatus(3, "Standard-1X", 3, "Standard-1X", "held_signal_unknown", "held", "timeout")
        },
    )
    html = render_page(settings, History(status=failing, leader="worker.2:4:bbbb"), now=NOW)
    assert "Platform API failing" in html
    assert "Signal of worker unknown: timeout" in html
    assert "dry run: nothing is sent" in html
    assert "worker.2:4:bbbb" in html
    assert "last recorded by <code>worker.1:4:aaaa</code>" in html
    stale = render_page(settings, History(status=status(NOW - 3600)), now=NOW)
    assert "No tick recorded for 60 min" in stale
    assert "no daemon holds the lease" in stale
    empty = render_page(settings, History(), now=NOW)
    assert "No tick recorded yet" in empty


def test_a_predicting_process_shows_its_forecast() -> None:
    said = "demand expected to rise by 8 within 90s (median of 5 previous days)"
    predicting = ProcessStatus(10, "Standard-1X", 10, "Standard-1X", "predicted", "0 + 8", forecast=said)
    html = render_page(
        settings_with_secrets(), History(status=status(NOW - 5, processes={"worker": predicting})), now=NOW
    )
    assert f'<div class="forecast">Forecast (PREDICT): {said}</div>' in html
    plain = ProcessStatus(2, "Standard-1X", 2, "Standard-1X", "within_target", "fits")
    html = render_page(settings_with_secrets(), History(status=status(NOW - 5, processes={"worker": plain})), now=NOW)
    assert "Forecast" not in html


# --- the chart --------------------------------------------------------------------------------


def slot(at: float, current: int, *, signal: float | None = 10.0, event: str = "") -> Slot:
    line = encode(Sample("worker", current, "Basic", current, "Basic", "within_target", signal=signal, event=event))
    found = decode("worker", int(at // 60), line)
    assert found is not None
    return found


def test_a_gap_breaks_the_lines_and_events_are_marked() -> None:
    start = 1_767_225_600.0
    slots = [slot(start + 60 * m, 2) for m in range(10)] + [
        slot(start + 60 * m, 5, event="~2>5" if m == 30 else "") for m in range(30, 40)
    ]
    slots.append(slot(start + 60 * 41, 3, event="!5>3"))
    svg = chart("worker", slots, main_signal(settings_with_secrets().processes["worker"]), start, start + 3600)
    dynos = re.search(r'<path class="dynos" d="([^"]+)"', svg)
    assert dynos is not None
    assert 3 == dynos.group(1).count("M")  # three runs of minutes
    assert 1 == svg.count('class="ev up dry"')
    assert 1 == svg.count('class="ev failed"')
    assert "dry run: would have scaled 2 → 5" in svg


def test_long_ranges_are_drawn_from_a_bounded_number_of_points() -> None:
    start = 1_767_225_600.0
    slots = [slot(start + 60 * m, 1 + m % 3, signal=float(m % 50)) for m in range(8 * 1440)]
    svg = chart("worker", slots, main_signal(settings_with_secrets().processes["worker"]), start, start + 8 * DAY)
    signal = re.search(r'<path class="signal" d="([^"]+)"', svg)
    assert signal is not None
    assert signal.group(1).count("L") < 500
    assert len(svg) < 40_000


def test_axis_tops_are_round() -> None:
    assert [1.0, 2.0, 2.5, 5.0, 10.0, 50.0, 0.25] == [nice_ceiling(v) for v in (0, 1.5, 2.2, 4.9, 7, 41, 0.21)]
