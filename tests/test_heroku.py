"""Tests of the Platform API client (autoscaler.heroku), against respx fakes.

Nothing here reaches the network: respx answers every request, and the FakeClock
fixture stands in for sleep and monotonic. Every request body the client sends is
checked against Heroku's official schema when the ``api`` fixture tears down.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from autoscaler import __version__
from autoscaler.errors import (
    BadRequest,
    Forbidden,
    HerokuAPIError,
    HerokuError,
    HerokuResponseError,
    HerokuTransportError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnprocessableEntity,
)
from autoscaler.heroku import (
    ACCEPT,
    PREBOOT_LOCK_MESSAGE,
    USER_AGENT,
    ApiDynoSize,
    Dyno,
    Formation,
    FormationUpdate,
    HerokuClient,
    PrebootLocked,
)
from autoscaler.urls import check_api_url
from tests.conftest import HEROKU_API, HEROKU_TOKEN, batch_update_validator, platform_api

BASE = HEROKU_API
TOKEN = HEROKU_TOKEN
APP = "example"
FORMATION_PATH = f"/apps/{APP}/formation"

WORKER = {
    "app": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": APP},
    "command": "python -m worker",
    "created_at": "2012-01-01T12:00:00Z",
    "dyno_size": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": "Standard-1X"},
    "id": "01234567-89ab-cdef-0123-456789abcdef",
    "quantity": 2,
    "size": "standard-1X",
    "type": "worker",
    "updated_at": "2012-01-01T12:00:00Z",
}


@pytest.fixture
def api(platform_schema: dict[str, Any]) -> Iterator[respx.MockRouter]:
    """The Platform API stand-in, stricter here: every route a test declares must be called."""
    with platform_api(platform_schema, assert_all_called=True) as router:
        yield router


@pytest.fixture
def client(make_client: Any) -> HerokuClient:
    result: HerokuClient = make_client()
    return result


def error_body(error_id: str, message: str) -> dict[str, str]:
    return {"id": error_id, "message": message}


# -- request headers -------------------------------------------------------------------


CALLS = {
    "account": ("GET", "/account", {}, lambda c: c.account()),
    "app": ("GET", f"/apps/{APP}", {}, lambda c: c.app(APP)),
    "formation": ("GET", FORMATION_PATH, [WORKER], lambda c: c.formation(APP)),
    "update_formation": (
        "PATCH",
        FORMATION_PATH,
        [WORKER],
        lambda c: c.update_formation(APP, [FormationUpdate("worker", quantity=2)]),
    ),
    "dyno_sizes": ("GET", "/dyno-sizes", [], lambda c: c.dyno_sizes()),
    "available_dyno_sizes": ("GET", f"/apps/{APP}/available-dyno-sizes", [], lambda c: c.available_dyno_sizes(APP)),
    "dynos": ("GET", f"/apps/{APP}/dynos", [], lambda c: c.dynos(APP)),
    "rate_limits": ("GET", "/account/rate-limits", {"remaining": 4500}, lambda c: c.rate_limits()),
}


@pytest.mark.parametrize("endpoint", sorted(CALLS))
def test_every_endpoint_sends_auth_accept_and_user_agent(api, client, endpoint):
    """Each endpoint sends the bearer token, the v3 Accept header and our User-Agent."""
    method, path, answer, call = CALLS[endpoint]
    route = api.route(method=method, path=path).respond(200, json=answer)
    call(client)
    headers = route.calls.last.request.headers
    expected = (f"Bearer {TOKEN}", ACCEPT, USER_AGENT)
    assert expected == (headers["Authorization"], headers["Accept"], headers["User-Agent"])


def test_user_agent_names_version_and_project_url():
    """The User-Agent is autoscaler/<version> with the project URL."""
    assert f"autoscaler/{__version__} (self-hosted Heroku autoscaler)" == USER_AGENT


def test_accept_header_asks_for_version_3():
    """The Accept header is Heroku's required v3 media type."""
    assert "application/vnd.heroku+json; version=3" == ACCEPT


def test_patch_body_is_sent_as_json(api, client):
    """A request with a body says Content-Type: application/json."""
    route = api.patch(FORMATION_PATH).respond(200, json=[WORKER])
    client.update_formation(APP, [FormationUpdate("worker", quantity=2)])
    assert "application/json" == route.calls.last.request.headers["Content-Type"]


def test_get_sends_no_content_type(api, client):
    """A request without a body sends no Content-Type."""
    route = api.get("/account").respond(200, json={})
    client.account()
    assert "Content-Type" not in route.calls.last.request.headers


def test_each_request_gets_a_fresh_uuid4_request_id(api, client):
    """Every request carries its own Request-Id, a version-4 UUID."""
    route = api.get("/account").respond(200, json={})
    client.account()
    client.account()
    ids = [uuid.UUID(call.request.headers["Request-Id"]) for call in route.calls]
    assert [4, 4] == [value.version for value in ids]
    assert ids[0] != ids[1]


def test_every_request_has_the_configured_timeout(api, make_client):
    """The timeout is applied to every request (connect, read, write and pool)."""
    route = api.get("/account").respond(200, json={})
    make_client(timeout=3.5).account()
    assert httpx.Timeout(3.5).as_dict() == route.calls.last.request.extensions["timeout"]


def test_app_name_is_url_quoted(api, client):
    """The app name is quoted as one path segment."""
    route = api.get(url__regex=r".*").respond(200, json={})
    client.app("a b/c?d")
    assert b"/apps/a%20b%2Fc%3Fd" == route.calls.last.request.url.raw_path


def test_passed_in_http_client_is_used(api, make_client):
    """An httpx.Client given to the constructor carries the requests."""
    route = api.get("/account").respond(200, json={"email": "me@example.com"})
    with httpx.Client() as http:
        assert {"email": "me@example.com"} == make_client(http=http).account()
    assert 1 == route.call_count


# -- parsing ---------------------------------------------------------------------------


def test_account_returns_the_json_object(api, client):
    """account() returns the decoded account object."""
    api.get("/account").respond(200, json={"email": "me@example.com", "verified": True})
    assert {"email": "me@example.com", "verified": True} == client.account()


def test_app_returns_the_json_object(api, client):
    """app() returns the decoded app object."""
    api.get(f"/apps/{APP}").respond(200, json={"name": APP, "generation": {"name": "cedar"}})
    assert {"name": APP, "generation": {"name": "cedar"}} == client.app(APP)


def test_formation_prefers_dyno_size_name(api, client):
    """formation() reads dyno_size.name rather than the legacy size."""
    api.get(FORMATION_PATH).respond(200, json=[WORKER])
    expected = [Formation("worker", 2, "Standard-1X", "2012-01-01T12:00:00Z")]
    assert expected == client.formation(APP)


def test_formation_falls_back_to_legacy_size(api, client):
    """formation() uses the legacy size field when dyno_size is absent."""
    legacy = {"type": "web", "quantity": 1, "size": "Basic"}
    api.get(FORMATION_PATH).respond(200, json=[legacy])
    assert [Formation("web", 1, "Basic", None)] == client.formation(APP)


def test_update_formation_sends_updates_body(api, client):
    """update_formation() sends {"updates": [...]} with dyno_size, never size."""
    route = api.patch(FORMATION_PATH).respond(200, json=[WORKER])
    client.update_formation(
        APP, [FormationUpdate("web", quantity=3), FormationUpdate("worker", quantity=2, size="Standard-2X")]
    )
    expected = {
        "updates": [
            {"type": "web", "quantity": 3},
            {"type": "worker", "quantity": 2, "dyno_size": {"name": "Standard-2X"}},
        ]
    }
    assert expected == json.loads(route.calls.last.request.content)


def test_update_formation_size_only(api, client):
    """A size-only update sends no quantity."""
    route = api.patch(FORMATION_PATH).respond(200, json=[WORKER])
    client.update_formation(APP, [FormationUpdate("worker", size="Performance-M")])
    expected = {"updates": [{"type": "worker", "dyno_size": {"name": "Performance-M"}}]}
    assert expected == json.loads(route.calls.last.request.content)


def test_update_formation_returns_parsed_formations(api, client):
    """update_formation() returns the formations the API answered with."""
    api.patch(FORMATION_PATH).respond(200, json=[WORKER])
    expected = [Formation("worker", 2, "Standard-1X", "2012-01-01T12:00:00Z")]
    assert expected == client.update_formation(APP, [FormationUpdate("worker", quantity=2)])


def test_update_formation_refuses_empty_updates(client):
    """An empty update list is a programming error and sends nothing."""
    with pytest.raises(ValueError, match="at least one update"):
        client.update_formation(APP, [])
    assert 0 == client.calls


def test_dyno_sizes_parses_memory_and_monthly_cost(api, client):
    """dyno_sizes() turns cost cents per month into dollars; null or non-month cost is None."""
    api.get("/dyno-sizes").respond(
        200,
        json=[
            {"name": "Standard-1X", "memory": 0.5, "cost": {"cents": 2500, "unit": "month"}},
            {"name": "Private-M", "memory": 2.5, "cost": None},
            {"name": "Odd", "cost": {"cents": 4, "unit": "hour"}},
        ],
    )
    expected = [
        ApiDynoSize("Standard-1X", 0.5, 25.0),
        ApiDynoSize("Private-M", 2.5, None),
        ApiDynoSize("Odd", None, None),
    ]
    assert expected == client.dyno_sizes()


def test_dyno_sizes_carry_generation_compute_and_space(api, client):
    """A size's generation (the object's name), vCPUs and Private-Space-only flag are read when given;
    a value of an unexpected type is left out rather than failing the list."""
    api.get(f"/apps/{APP}/available-dyno-sizes").respond(
        200,
        json=[
            {
                "name": "dyno-2c-4gb",
                "memory": 4,
                "compute": 2,
                "private_space_only": True,
                "generation": {"id": "01234567-89ab-cdef-0123-456789abcdef", "name": "Fir"},
                "cost": {"cents": 15000, "unit": "month"},
            },
            {"name": "Standard-1X", "memory": 0.5, "compute": "one", "generation": 7, "cost": None},
        ],
    )
    expected = [
        ApiDynoSize("dyno-2c-4gb", 4.0, 150.0, "fir", 2, True),
        ApiDynoSize("Standard-1X", 0.5, None, None, None, None),
    ]
    assert expected == client.available_dyno_sizes(APP)


def test_dynos_lists_formation_and_one_off_dynos(api, client):
    """dynos() reads name, type, size and state of every running dyno."""
    api.get(f"/apps/{APP}/dynos").respond(
        200,
        json=[
            {"name": "worker.1", "type": "worker", "size": "Standard-1X", "state": "up", "command": "python w.py"},
            {"name": "run.4821", "type": "run", "size": "Performance-M", "state": "starting"},
        ],
    )
    expected = [Dyno("worker.1", "worker", "Standard-1X", "up"), Dyno("run.4821", "run", "Performance-M", "starting")]
    assert expected == client.dynos(APP)


def test_dyno_without_a_state_raises_response_error(api, client):
    """A dyno the daemon cannot read is an unexpected answer."""
    api.get(f"/apps/{APP}/dynos").respond(200, json=[{"name": "web.1", "type": "web", "size": "Basic"}])
    with pytest.raises(HerokuResponseError, match="item 0"):
        client.dynos(APP)


def test_rate_limits_returns_and_records_the_tokens_left(api, client):
    """rate_limits() answers the tokens left and keeps them as rate_limit_remaining."""
    api.get("/account/rate-limits").respond(200, json={"remaining": 1234})
    assert (1234, 1234) == (client.rate_limits(), client.rate_limit_remaining)


def test_rate_limits_without_a_number_raises_response_error(api, client):
    """An answer without a whole number of tokens is unexpected."""
    api.get("/account/rate-limits").respond(200, json={"remaining": "plenty"})
    with pytest.raises(HerokuResponseError, match="remaining"):
        client.rate_limits()


# -- error mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_id", "expected_class"),
    [
        (400, "bad_request", BadRequest),
        (401, "unauthorized", Unauthorized),
        (402, "delinquent", Forbidden),
        (403, "forbidden", Forbidden),
        (404, "not_found", NotFound),
        (406, "not_acceptable", HerokuAPIError),
        (422, "invalid_params", UnprocessableEntity),
        (429, "rate_limit", RateLimited),
        (500, "internal_server_error", ServerError),
        (503, "unavailable", ServerError),
    ],
)
def test_error_status_maps_to_exception(api, make_client, status, error_id, expected_class):
    """Each error status raises its class with status, id, message and Request-Id."""
    api.get("/account").respond(status, json=error_body(error_id, "went wrong"), headers={"Request-Id": "req-42"})
    with pytest.raises(HerokuAPIError) as info:
        make_client(max_attempts=1).account()
    exc = info.value
    assert (expected_class, status, error_id, "went wrong", "req-42") == (
        type(exc),
        exc.status,
        exc.error_id,
        exc.message,
        exc.request_id,
    )


def test_preboot_refusal_is_its_own_error(api, client):
    """The 422 refusing a formation change during a preboot deploy is PrebootLocked (an
    UnprocessableEntity), not retried; another 422 stays a plain UnprocessableEntity."""
    route = api.patch(FORMATION_PATH).respond(422, json=error_body("invalid_params", PREBOOT_LOCK_MESSAGE))
    with pytest.raises(PrebootLocked) as info:
        client.update_formation(APP, [FormationUpdate("worker", quantity=2)])
    assert (True, 1) == (isinstance(info.value, UnprocessableEntity), route.call_count)
    route.respond(422, json=error_body("invalid_params", "Cannot run more than 10 Performance-M dynos."))
    with pytest.raises(UnprocessableEntity) as other:
        client.update_formation(APP, [FormationUpdate("worker", quantity=20)])
    assert not isinstance(other.value, PrebootLocked)


def test_non_json_error_body_becomes_the_message(api, make_client):
    """A non-JSON error body (e.g. an HTML proxy page) is kept, whitespace-collapsed, as the message."""
    api.get("/account").respond(502, text="<h1>Bad\n  gateway</h1>")
    with pytest.raises(ServerError) as info:
        make_client(max_attempts=1).account()
    assert (None, "<h1>Bad gateway</h1>") == (info.value.error_id, info.value.message)


def test_empty_error_body_uses_reason_phrase(api, client):
    """An empty error body falls back to the HTTP reason phrase."""
    api.get("/account").respond(404)
    with pytest.raises(NotFound) as info:
        client.account()
    assert "Not Found" == info.value.message


def test_retry_after_header_is_carried(api, make_client):
    """Retry-After (seconds) is exposed as retry_after on the error."""
    api.get("/account").respond(429, json=error_body("rate_limit", "slow down"), headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as info:
        make_client(max_attempts=1).account()
    assert 7.0 == info.value.retry_after


def test_http_date_retry_after_is_ignored(api, make_client):
    """A Retry-After in HTTP-date form is not understood and leaves retry_after None."""
    api.get("/account").respond(
        429, json=error_body("rate_limit", "slow"), headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    with pytest.raises(RateLimited) as info:
        make_client(max_attempts=1).account()
    assert info.value.retry_after is None


def test_malformed_json_raises_response_error(api, client):
    """A 2xx answer that is not JSON raises HerokuResponseError."""
    api.get(FORMATION_PATH).respond(200, text="{not json")
    with pytest.raises(HerokuResponseError, match="not JSON"):
        client.formation(APP)


def test_formation_not_a_list_raises_response_error(api, client):
    """A formation answer that is not an array raises HerokuResponseError."""
    api.get(FORMATION_PATH).respond(200, json={"type": "worker"})
    with pytest.raises(HerokuResponseError, match="expected a JSON array"):
        client.formation(APP)


def test_formation_item_without_quantity_raises_response_error(api, client):
    """A formation item missing its quantity raises HerokuResponseError."""
    api.get(FORMATION_PATH).respond(200, json=[{"type": "worker", "size": "Basic"}])
    with pytest.raises(HerokuResponseError, match="item 0"):
        client.formation(APP)


def test_dyno_size_with_string_memory_raises_response_error(api, client):
    """A dyno size whose memory is not a number raises HerokuResponseError."""
    api.get("/dyno-sizes").respond(200, json=[{"name": "Basic", "memory": "512MB"}])
    with pytest.raises(HerokuResponseError):
        client.dyno_sizes()


def test_account_not_an_object_raises_response_error(api, client):
    """An account answer that is not an object raises HerokuResponseError."""
    api.get("/account").respond(200, json=["me"])
    with pytest.raises(HerokuResponseError, match="expected a JSON object"):
        client.account()


def test_timeout_raises_transport_error_from_httpx(api, make_client):
    """A timeout raises HerokuTransportError whose cause is the httpx exception."""
    api.get("/account").mock(side_effect=httpx.ConnectTimeout)
    with pytest.raises(HerokuTransportError, match="timed out") as info:
        make_client(max_attempts=1).account()
    assert isinstance(info.value.__cause__, httpx.ConnectTimeout)


def test_connection_error_raises_transport_error(api, make_client):
    """A refused connection raises HerokuTransportError, not an httpx exception."""
    api.get("/account").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(HerokuTransportError, match="connection refused"):
        make_client(max_attempts=1).account()


def test_protocol_error_raises_transport_error(api, make_client):
    """A broken HTTP exchange raises HerokuTransportError."""
    api.get("/account").mock(side_effect=httpx.RemoteProtocolError("peer closed"))
    with pytest.raises(HerokuTransportError):
        make_client(max_attempts=1).account()


# -- retries ---------------------------------------------------------------------------


def test_429_without_retry_after_is_retried_with_backoff(api, client, clock):
    """A 429 without Retry-After is retried after the first backoff step (0.5 s ceiling)."""
    api.get("/account").side_effect = [
        httpx.Response(429, json=error_body("rate_limit", "slow")),
        httpx.Response(200, json={"ok": True}),
    ]
    assert ({"ok": True}, [0.5]) == (client.account(), clock.sleeps)


def test_429_retry_after_is_honoured(api, client, clock):
    """A 429's Retry-After replaces the computed backoff."""
    api.get("/account").side_effect = [
        httpx.Response(429, json=error_body("rate_limit", "slow"), headers={"Retry-After": "3"}),
        httpx.Response(200, json={"ok": True}),
    ]
    assert ({"ok": True}, [3.0]) == (client.account(), clock.sleeps)


def test_retry_after_beyond_budget_gives_up_at_once(api, make_client, clock):
    """A Retry-After longer than the budget raises at once, without sleeping."""
    route = api.get("/account").respond(429, json=error_body("rate_limit", "slow"), headers={"Retry-After": "60"})
    with pytest.raises(RateLimited):
        make_client(retry_budget=10.0).account()
    assert (1, []) == (route.call_count, clock.sleeps)


def test_503_is_retried(api, client, clock):
    """A 503 is retried and the later success returned."""
    api.get(FORMATION_PATH).side_effect = [httpx.Response(503), httpx.Response(200, json=[WORKER])]
    assert (1, [0.5]) == (len(client.formation(APP)), clock.sleeps)


def test_timeouts_are_retried(api, client):
    """Timeouts are retried until an answer comes."""
    route = api.get("/account")
    route.side_effect = [httpx.ConnectTimeout, httpx.ReadTimeout, httpx.Response(200, json={})]
    client.account()
    assert 3 == route.call_count


def test_connection_errors_are_retried(api, client):
    """Connection errors are retried until an answer comes."""
    route = api.get("/account")
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json={})]
    client.account()
    assert 2 == route.call_count


def test_patch_is_retried_with_the_same_body(api, client):
    """A failed PATCH is resent with the identical body (absolute quantities)."""
    route = api.patch(FORMATION_PATH)
    route.side_effect = [httpx.Response(503), httpx.Response(200, json=[WORKER])]
    client.update_formation(APP, [FormationUpdate("worker", quantity=2)])
    assert route.calls[0].request.content == route.calls[1].request.content


def test_retries_stop_at_max_attempts(api, make_client, clock):
    """A persistent 503 is tried max_attempts times, then the last error is raised."""
    route = api.get("/account").respond(503)
    client = make_client(max_attempts=4, retry_budget=100.0)
    with pytest.raises(ServerError):
        client.account()
    assert (4, [0.5, 1.0, 2.0], 4) == (route.call_count, clock.sleeps, client.calls)


def test_backoff_is_capped_at_8_seconds(api, make_client, clock):
    """The backoff ceiling doubles from 0.5 s and stops at 8 s."""
    api.get("/account").respond(503)
    with pytest.raises(ServerError):
        make_client(max_attempts=7, retry_budget=100.0).account()
    assert [0.5, 1.0, 2.0, 4.0, 8.0, 8.0] == clock.sleeps


def test_backoff_uses_full_jitter_from_rng(api, make_client, rng):
    """Each delay is drawn uniformly from [0, ceiling] with the injected rng."""
    api.get("/account").respond(503)
    with pytest.raises(ServerError):
        make_client(max_attempts=4, retry_budget=100.0).account()
    assert [(0.0, 0.5), (0.0, 1.0), (0.0, 2.0), (0.0, 4.0)] == rng.ranges


def test_retry_budget_bounds_total_sleep(api, make_client, clock):
    """No sleep is started that would end past retry_budget; the last error is raised."""
    route = api.get("/account").respond(503)
    with pytest.raises(ServerError):
        make_client(max_attempts=10, retry_budget=2.0).account()
    assert (3, [0.5, 1.0]) == (route.call_count, clock.sleeps)


def test_slow_attempts_count_against_the_budget(api, make_client, clock):
    """Time spent in attempts, not only sleeps, uses up retry_budget."""

    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.advance(4.0)
        return httpx.Response(503)

    route = api.get("/account").mock(side_effect=slow_503)
    with pytest.raises(ServerError):
        make_client(max_attempts=10, retry_budget=10.0).account()
    assert (3, [0.5, 1.0]) == (route.call_count, clock.sleeps)


def test_deadline_stops_retries(api, make_client, clock):
    """No retry is started after the deadline, even with budget left."""
    route = api.get("/account").respond(503)
    start = clock.monotonic()
    with pytest.raises(ServerError):
        make_client(max_attempts=10, retry_budget=100.0).account(deadline=start + 1.0)
    assert (2, [0.5]) == (route.call_count, clock.sleeps)
    assert clock.monotonic() <= start + 1.0


def test_deadline_applies_to_update_formation(api, make_client, clock):
    """update_formation() honours its deadline too."""
    route = api.patch(FORMATION_PATH).respond(503)
    with pytest.raises(ServerError):
        make_client(retry_budget=100.0).update_formation(
            APP, [FormationUpdate("worker", quantity=1)], deadline=clock.monotonic() + 0.2
        )
    assert (1, []) == (route.call_count, clock.sleeps)


def test_passed_deadline_still_makes_one_attempt(api, make_client, clock):
    """A deadline already passed still allows the first attempt, never a retry."""
    route = api.get("/account").respond(503)
    with pytest.raises(ServerError):
        make_client().account(deadline=clock.monotonic() - 5.0)
    assert 1 == route.call_count


@pytest.mark.parametrize(
    ("status", "error_id"),
    [(400, "bad_request"), (401, "unauthorized"), (404, "not_found"), (422, "invalid_params")],
)
def test_client_errors_are_not_retried(api, client, clock, status, error_id):
    """4xx answers other than 429 are raised after one attempt."""
    route = api.get("/account").respond(status, json=error_body(error_id, "no"))
    with pytest.raises(HerokuAPIError):
        client.account()
    assert (1, []) == (route.call_count, clock.sleeps)


def test_response_errors_are_not_retried(api, client):
    """A 2xx with an unusable body is not retried."""
    route = api.get("/account").respond(200, text="oops")
    with pytest.raises(HerokuResponseError):
        client.account()
    assert 1 == route.call_count


def test_calls_counts_every_attempt(api, client):
    """calls counts HTTP requests, retries included."""
    api.get("/account").side_effect = [httpx.Response(503), httpx.Response(200, json={})]
    client.account()
    assert 2 == client.calls


# -- rate limit ------------------------------------------------------------------------


def test_rate_limit_remaining_unknown_before_any_call(client):
    """rate_limit_remaining is None until a response was seen."""
    assert client.rate_limit_remaining is None


def test_rate_limit_remaining_tracks_success(api, client):
    """RateLimit-Remaining of a 2xx answer is recorded."""
    api.get("/account").respond(200, json={}, headers={"RateLimit-Remaining": "4321"})
    client.account()
    assert 4321 == client.rate_limit_remaining


def test_rate_limit_remaining_tracks_errors(api, make_client):
    """RateLimit-Remaining of an error answer is recorded too."""
    api.get("/account").respond(429, json=error_body("rate_limit", "slow"), headers={"RateLimit-Remaining": "0"})
    client = make_client(max_attempts=1)
    with pytest.raises(RateLimited):
        client.account()
    assert 0 == client.rate_limit_remaining


def test_rate_limit_remaining_kept_when_header_missing(api, client):
    """A response without the header keeps the last value seen."""
    api.get("/account").side_effect = [
        httpx.Response(200, json={}, headers={"RateLimit-Remaining": "100"}),
        httpx.Response(200, json={}),
    ]
    client.account()
    client.account()
    assert 100 == client.rate_limit_remaining


def test_pause_hint_zero_while_unknown(client):
    """pause_hint() is 0 before the remaining budget is known."""
    assert 0.0 == client.pause_hint()


def test_pause_hint_zero_at_or_above_threshold(api, make_client):
    """pause_hint() is 0 while remaining >= low_rate_limit."""
    api.get("/account").respond(200, json={}, headers={"RateLimit-Remaining": "300"})
    client = make_client(low_rate_limit=300)
    client.account()
    assert 0.0 == client.pause_hint()


@pytest.mark.parametrize(("remaining", "expected"), [(299, 0.8), (200, 80.0), (0, 240.0)])
def test_pause_hint_is_refill_time_to_threshold(api, make_client, remaining, expected):
    """Below the threshold, pause_hint() = (low_rate_limit - remaining) / 1.25 s."""
    api.get("/account").respond(200, json={}, headers={"RateLimit-Remaining": str(remaining)})
    client = make_client(low_rate_limit=300)
    client.account()
    assert expected == pytest.approx(client.pause_hint())


def test_pause_hint_grows_as_remaining_falls(api, client):
    """The fewer tokens remain, the longer the hint."""
    api.get("/account").side_effect = [
        httpx.Response(200, json={}, headers={"RateLimit-Remaining": str(n)}) for n in (250, 150, 50)
    ]
    hints = []
    for _ in range(3):
        client.account()
        hints.append(client.pause_hint())
    assert sorted(hints) == hints
    assert len(set(hints)) == 3


# -- base URL --------------------------------------------------------------------------


def test_https_url_is_accepted():
    """An https:// URL has no problem."""
    assert check_api_url("https://api.heroku.com") is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:5000", "http://127.8.9.10", "http://[::1]:8080", "http://localhost:5000/"]
)
def test_http_url_is_accepted_for_loopback(url):
    """http:// is allowed for loopback hosts (local fakes)."""
    assert check_api_url(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://api.heroku.com",
        "http://10.0.0.1",
        "http://128.0.0.1",
        "http://localhost.example.com",
        "ftp://api.heroku.com",
        "api.heroku.com",
        "https://",
        "https://api.heroku.com:notaport",
    ],
)
def test_other_urls_are_refused(url):
    """http:// to a non-loopback host, other schemes and host-less URLs are refused."""
    assert (check_api_url(url) or "").startswith("must use https://")


def test_client_refuses_http_url_with_redacted_message():
    """The client refuses an http:// URL off loopback with a text that hides a password in it."""
    with pytest.raises(ValueError, match="http://") as info:
        HerokuClient(TOKEN, base_url="http://user:hunter2@example.com")
    expected = (
        "base_url must use https:// (http:// is accepted only for loopback hosts), got 'http://user:***@example.com'"
    )
    assert expected == str(info.value)


def test_client_talks_to_loopback_http_url(make_client):
    """A loopback http:// base URL is used as given."""
    with respx.mock(base_url="http://127.0.0.1:5000", assert_all_called=True) as router:
        router.get("/account").respond(200, json={"id": "x"})
        assert {"id": "x"} == make_client(base_url="http://127.0.0.1:5000/").account()


# -- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "side_effect",
    [
        httpx.Response(401, json=error_body("unauthorized", "Invalid credentials provided.")),
        httpx.Response(500, text="internal error"),
        httpx.Response(200, text="not json"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["401", "500", "bad-json", "timeout", "connect"],
)
def test_token_never_in_raised_errors(api, make_client, side_effect):
    """Neither str() nor repr() of any raised error contains the token."""
    api.get("/account").mock(side_effect=[side_effect])
    with pytest.raises(HerokuError) as info:
        make_client(max_attempts=1).account()
    assert TOKEN not in str(info.value) + repr(info.value)


def test_token_echoed_by_server_is_masked(api, make_client):
    """A server message that echoes the token is masked before it is raised."""
    api.get("/account").respond(401, json=error_body("unauthorized", f"bad token {TOKEN}"))
    with pytest.raises(Unauthorized) as info:
        make_client(max_attempts=1).account()
    assert "bad token ***" == info.value.message


@pytest.mark.parametrize("token", ["", "tok en-with-space", "tök"])
def test_unusable_token_is_refused_without_echo(token):
    """An empty, spaced or non-ASCII token is refused with a text that does not quote it."""
    with pytest.raises(ValueError, match="token") as info:
        HerokuClient(token)
    assert "token must be a non-empty string of printable ASCII characters" == str(info.value)


# -- schema ----------------------------------------------------------------------------


def test_fir_size_update_satisfies_heroku_schema(api, client, platform_schema):
    """A resize to a Fir size is sent as dyno_size by name, and the body validates."""
    route = api.patch(FORMATION_PATH).respond(200, json=[WORKER])
    client.update_formation(APP, [FormationUpdate("worker", 180, "dyno-2c-4gb")])
    body = json.loads(route.calls.last.request.content)
    assert {"updates": [{"type": "worker", "quantity": 180, "dyno_size": {"name": "dyno-2c-4gb"}}]} == body
    assert [] == list(batch_update_validator(platform_schema).iter_errors(body))


def test_sent_bodies_satisfy_heroku_schema(api, client, platform_schema):
    """The bodies update_formation() sends validate against Heroku's Batch Update schema."""
    route = api.patch(FORMATION_PATH).respond(200, json=[WORKER])
    client.update_formation(APP, [FormationUpdate("worker", 3, "Standard-2X"), FormationUpdate("web", 0)])
    body = json.loads(route.calls.last.request.content)
    assert [] == list(batch_update_validator(platform_schema).iter_errors(body))


def test_deprecated_size_key_fails_schema(platform_schema):
    """The schema check can fail: a body with the deprecated size key is rejected."""
    body = {"updates": [{"type": "worker", "quantity": 1, "size": "standard-1X"}]}
    assert not batch_update_validator(platform_schema).is_valid(body)


# -- lifecycle -------------------------------------------------------------------------


def test_context_manager_closes_its_own_http_client(api):
    """Leaving the with-block closes the httpx client the HerokuClient created: a call after it sends
    nothing and fails."""
    route = api.get("/account").respond(200, json={"email": "me@example.com"})
    with HerokuClient(TOKEN) as client:
        client.account()
    with pytest.raises(RuntimeError, match="closed"):
        client.account()
    assert 1 == route.call_count


def test_close_leaves_a_passed_in_http_client_open():
    """close() does not close an httpx client the caller passed in."""
    with httpx.Client() as http:
        HerokuClient(TOKEN, http=http).close()
        assert not http.is_closed
