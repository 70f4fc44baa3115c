"""Notifications: payloads, the background sender, and notices once per streak."""

from __future__ import annotations

import json
import threading
import time

import httpx
import structlog

from autoscaler.notify import Alerts, Notice, RecordingNotifier, WebhookNotifier, payload

HOOK = "https://hooks.slack.com/services/T000/B000/very-secret-hook"
GENERIC = "https://alerts.example.com/hook/abc123secret"


def test_slack_gets_text_only() -> None:
    """Slack incoming webhooks get {"text": ...}."""
    assert {"text": "x"} == payload(HOOK, "app", Notice("scaled", "x", {"changes": ["worker=2"]}))


def test_generic_webhook_gets_event_and_details() -> None:
    """Any other URL also gets the event name, the app and the details."""
    expected = {"text": "x", "event": "scaled", "app": "app", "details": {"changes": ["worker=2"]}}
    assert expected == payload(GENERIC, "app", Notice("scaled", "x", {"changes": ["worker=2"]}))


def test_webhook_posts_in_the_background() -> None:
    """send() returns at once; the sender thread posts the JSON."""
    received: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(json.loads(request.content))
        return httpx.Response(200)

    notifier = WebhookNotifier(HOOK, "app", transport=httpx.MockTransport(handler))
    notifier.send(Notice("scaled", "app: scaled worker=3"))
    assert notifier.flush(5)
    notifier.close()
    assert [{"text": "app: scaled worker=3"}] == received


def test_a_hanging_webhook_never_blocks_send() -> None:
    """With the webhook stuck, send() still returns at once and the queue drops its oldest notices."""
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        release.wait(5)
        return httpx.Response(200)

    notifier = WebhookNotifier(GENERIC, "app", transport=httpx.MockTransport(handler))
    start = time.monotonic()
    for number in range(500):
        notifier.send(Notice("scaled", f"n{number}"))
    elapsed = time.monotonic() - start
    release.set()
    notifier.close()
    assert elapsed < 0.5


def test_a_failing_webhook_is_logged_without_its_url() -> None:
    """A 500 from the webhook is logged as notify_failed; the URL (a secret) is not in the event."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    with structlog.testing.capture_logs() as captured:
        notifier = WebhookNotifier(GENERIC, "app", transport=httpx.MockTransport(handler))
        notifier.send(Notice("scaled", "x"))
        notifier.flush(5)
        notifier.close()
    failures = [e for e in captured if e["event"] == "notify_failed"]
    assert ([{"event": "notify_failed", "notice": "scaled", "error": "HTTP 500", "app": "app"}], 1) == (
        [{k: e[k] for k in ("event", "notice", "error", "app")} for e in failures],
        notifier.failed,
    )
    assert "abc123secret" not in repr(captured)


def test_failure_is_told_after_the_delay_and_once() -> None:
    """A failing Platform API is told when it has failed for NOTIFY_AFTER seconds, once, then its recovery."""
    recorder = RecordingNotifier()
    alerts = Alerts(recorder, "app", after=300)
    for t in (0, 100, 299):
        alerts.failing("Platform API", "HTTP 503", float(t))
    told_early = len(recorder.notices)
    for t in (300, 400):
        alerts.failing("Platform API", "HTTP 503", float(t))
    alerts.recovered("Platform API", 450.0)
    assert (0, ["failing", "recovered"]) == (told_early, [n.event for n in recorder.notices])
    assert "failing for 300s" in recorder.notices[0].text


def test_short_failures_are_not_told() -> None:
    """A failure that recovers before NOTIFY_AFTER sends nothing, not even a recovery."""
    recorder = RecordingNotifier()
    alerts = Alerts(recorder, "app", after=300)
    alerts.failing("signal of worker", "timeout", 0.0)
    alerts.recovered("signal of worker", 60.0)
    assert [] == recorder.notices


def test_token_rejection_is_told_at_once() -> None:
    """at_once skips the delay (a revoked token will not fix itself)."""
    recorder = RecordingNotifier()
    Alerts(recorder, "app", after=300).failing("Platform API token", "HTTP 401", 0.0, at_once=True)
    assert ["failing"] == [n.event for n in recorder.notices]


def test_conditions_are_told_when_they_start() -> None:
    """ "At max" is told when it starts, not every tick, and again after it ended and came back."""
    recorder = RecordingNotifier()
    alerts = Alerts(recorder, "app", after=300)
    for active in (True, True, False, True):
        alerts.condition("clamped_to_max:worker", active, "worker at max")
    assert ["clamped_to_max", "clamped_to_max"] == [n.event for n in recorder.notices]


def test_scale_events_are_batched_per_tick() -> None:
    """All the changes of one tick make one notice."""
    recorder = RecordingNotifier()
    Alerts(recorder, "app", after=300).scaled(["web=3", "worker=5"], dry_run=False)
    assert ["app: scaled web=3, worker=5"] == [n.text for n in recorder.notices]
