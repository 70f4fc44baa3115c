"""A small synchronous client for the Heroku Platform API (v3), on httpx.

Only the calls the autoscaler needs: the account and the app (token and app checks, the
app's generation), the formation list and its batch update, the dyno-size catalogue and the
sizes one app may use (with their prices), the app's running dynos (one-off dynos count in
the budget), and the account's rate limit (``GET /account/rate-limits``, which costs no token).

Failures are mapped to :mod:`autoscaler.errors` at one place each: :func:`_api_error`
for error statuses (a 422 refusing a formation change during a deploy's release phase and
preboot becomes :class:`PrebootLocked`), :meth:`HerokuClient._send` for httpx failures, and the ``_parse_*``
helpers for 2xx answers that make no sense. No httpx exception escapes, and every
message runs through a :class:`~autoscaler.redact.Redactor` that knows the token.

Retries: 429, 5xx and transport failures are retried with exponential backoff (0.5 s,
×2, capped at 8 s) and full jitter; a ``Retry-After`` header replaces the computed
delay. A call gives up when ``max_attempts`` is reached or when the next sleep would
end past its deadline or its ``retry_budget``; the last error is then raised.

Lists are read from their first page only: formation, dyno-size and dyno lists are far
below Heroku's default page size of 200 for the apps this scales (a Fir app at its limit of
255 dynos is the exception for ``dynos``; the one-off dynos it misses are then counted at 0),
so ``Next-Range`` is not followed.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from autoscaler import __version__
from autoscaler.errors import (
    BadRequest,
    Forbidden,
    HerokuAPIError,
    HerokuResponseError,
    HerokuTransportError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnprocessableEntity,
)
from autoscaler.heroku_resources import (
    ApiDynoSize,
    Dyno,
    Formation,
    FormationUpdate,
    parse_dyno,
    parse_dyno_size,
    parse_formation,
    parse_list,
    parse_object,
    update_body,
)
from autoscaler.redact import Redactor
from autoscaler.urls import check_api_url

__all__ = [
    "ACCEPT",
    "BUCKET_CAPACITY",
    "DEFAULT_BASE_URL",
    "PREBOOT_LOCK_MESSAGE",
    "USER_AGENT",
    "ApiDynoSize",
    "Dyno",
    "Formation",
    "FormationUpdate",
    "HerokuClient",
    "PrebootLocked",
]

DEFAULT_BASE_URL = "https://api.heroku.com"
USER_AGENT = f"autoscaler/{__version__} (self-hosted Heroku autoscaler)"
"""Names the product and its version to Heroku, and no repository: each fork deploys its own."""
ACCEPT = "application/vnd.heroku+json; version=3"

BACKOFF_BASE = 0.5
BACKOFF_FACTOR = 2.0
BACKOFF_CAP = 8.0

BUCKET_CAPACITY = 4500
"""Tokens in an account's rate-limit bucket when full."""
REFILL_PER_SECOND = BUCKET_CAPACITY / 3600
"""The bucket refills 4500 tokens an hour: 1.25 tokens per second."""

_STATUS_ERRORS: dict[int, type[HerokuAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: Forbidden,
    403: Forbidden,
    404: NotFound,
    422: UnprocessableEntity,
    429: RateLimited,
}
_RETRYABLE = (HerokuTransportError, RateLimited, ServerError)
PREBOOT_LOCK_MESSAGE = "Cannot change formation for a preboot app until release phase and preboot complete."
"""What Heroku answers (HTTP 422) to a formation change while a deploy of a preboot app is under way."""
_MAX_TEXT = 200  # characters of a non-JSON error body kept as the message
_T = TypeVar("_T")


class PrebootLocked(UnprocessableEntity):
    """The 422 Heroku answers to a formation change on a preboot app during a deploy's release
    phase and preboot cutover: an expected pause of a few minutes, not a failure."""


class HerokuClient:
    """The Platform API calls of the autoscaler. Not thread-safe; one per thread.

    Every method takes ``deadline``: a ``monotonic()`` time after which no retry is
    started. Without it, a call (attempts and sleeps) is bounded by ``retry_budget``.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx.Client | None = None,
        timeout: float = 8.0,
        retry_budget: float = 10.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        low_rate_limit: int = 300,
    ) -> None:
        problem = check_api_url(base_url)
        if problem:  # the configuration refuses these first, naming the variable
            raise ValueError(f"base_url {problem}")
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("token must be a non-empty string of printable ASCII characters")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._token = token
        self._redact = Redactor([token])
        self._base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout)
        self._owns_http = http is None
        # TLS verification stays on: httpx verifies by default and we never turn it off.
        self._http = http if http is not None else httpx.Client(timeout=self._timeout)
        self._retry_budget = retry_budget
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng if rng is not None else random.Random()
        self._low_rate_limit = low_rate_limit
        self._remaining: int | None = None
        self.calls = 0
        """HTTP requests sent (every attempt counts)."""

    # -- endpoints -------------------------------------------------------------------

    def account(self, *, deadline: float | None = None) -> dict[str, Any]:
        """``GET /account``: a cheap check that the token works."""
        return parse_object(self._call("GET", "/account", deadline=deadline), "GET /account")

    def app(self, app: str, *, deadline: float | None = None) -> dict[str, Any]:
        """``GET /apps/{app}``."""
        path = f"/apps/{_quote(app)}"
        return parse_object(self._call("GET", path, deadline=deadline), f"GET {path}")

    def formation(self, app: str, *, deadline: float | None = None) -> list[Formation]:
        """``GET /apps/{app}/formation``: every process type of the app."""
        path = f"/apps/{_quote(app)}/formation"
        return parse_list(self._call("GET", path, deadline=deadline), f"GET {path}", parse_formation)

    def update_formation(
        self, app: str, updates: Sequence[FormationUpdate], *, deadline: float | None = None
    ) -> list[Formation]:
        """``PATCH /apps/{app}/formation``: set quantity and/or size of process types.

        Returns the updated formations. Raises ``ValueError`` when ``updates`` is empty.
        """
        if not updates:
            raise ValueError("update_formation needs at least one update")
        path = f"/apps/{_quote(app)}/formation"
        body = {"updates": [update_body(update) for update in updates]}
        # Retrying this PATCH is safe: it sets absolute quantities and sizes, so sending
        # it twice leaves the same formation as sending it once.
        data = self._call("PATCH", path, body=body, deadline=deadline)
        return parse_list(data, f"PATCH {path}", parse_formation)

    def dyno_sizes(self, *, deadline: float | None = None) -> list[ApiDynoSize]:
        """``GET /dyno-sizes``: the size catalogue with memory and monthly price."""
        data = self._call("GET", "/dyno-sizes", deadline=deadline)
        return parse_list(data, "GET /dyno-sizes", parse_dyno_size)

    def available_dyno_sizes(self, app: str, *, deadline: float | None = None) -> list[ApiDynoSize]:
        """``GET /apps/{app}/available-dyno-sizes``: the sizes this app may use, with their prices."""
        path = f"/apps/{_quote(app)}/available-dyno-sizes"
        return parse_list(self._call("GET", path, deadline=deadline), f"GET {path}", parse_dyno_size)

    def dynos(self, app: str, *, deadline: float | None = None) -> list[Dyno]:
        """``GET /apps/{app}/dynos``: every dyno running now, formation and one-off ones."""
        path = f"/apps/{_quote(app)}/dynos"
        return parse_list(self._call("GET", path, deadline=deadline), f"GET {path}", parse_dyno)

    def rate_limits(self, *, deadline: float | None = None) -> int:
        """``GET /account/rate-limits``: the tokens left in the account's bucket. Heroku does not
        count this request against the limit. The value is also kept as :attr:`rate_limit_remaining`."""
        data = parse_object(self._call("GET", "/account/rate-limits", deadline=deadline), "GET /account/rate-limits")
        remaining = data.get("remaining")
        if not isinstance(remaining, int) or isinstance(remaining, bool):
            raise HerokuResponseError("GET /account/rate-limits: no whole number of tokens remaining")
        self._remaining = max(0, remaining)
        return self._remaining

    # -- rate limit ------------------------------------------------------------------

    @property
    def rate_limit_remaining(self) -> int | None:
        """The last ``RateLimit-Remaining`` header seen, or ``None`` before any."""
        return self._remaining

    def pause_hint(self) -> float:
        """Seconds the caller should wait before its next non-essential call.

        0 while the remaining budget is unknown or at least ``low_rate_limit``. Below,
        the time the bucket needs to refill up to the threshold::

            (low_rate_limit - remaining) / REFILL_PER_SECOND    # 1.25 tokens/s

        With the default threshold of 300: 200 left → 80 s, none left → 240 s.
        """
        remaining = self._remaining
        if remaining is None or remaining >= self._low_rate_limit:
            return 0.0
        return (min(self._low_rate_limit, BUCKET_CAPACITY) - remaining) / REFILL_PER_SECOND

    # -- lifecycle -------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client if this object created it (a passed-in one is the caller's)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None, deadline: float | None = None) -> Any:
        """Send with retries; return the decoded JSON of the 2xx answer."""
        limit = self._monotonic() + self._retry_budget
        if deadline is not None:
            limit = min(limit, deadline)
        attempt = 1
        while True:
            try:
                return self._send(method, path, body)
            except _RETRYABLE as exc:
                delay = self._delay(attempt, exc)
                if attempt >= self._max_attempts or self._monotonic() + delay > limit:
                    raise
            self._sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, exc: Exception) -> float:
        """Retry-After when the server sent one, else full-jitter exponential backoff."""
        if isinstance(exc, HerokuAPIError) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * BACKOFF_FACTOR ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    def _send(self, method: str, path: str, body: Any) -> Any:
        """One HTTP request; every failure leaves as an :mod:`autoscaler.errors` error."""
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": ACCEPT,
            "User-Agent": USER_AGENT,
            "Request-Id": str(uuid.uuid4()),
        }
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        where = f"{method} {path}"
        self.calls += 1
        try:
            response = self._http.request(
                method, self._base_url + path, headers=headers, content=content, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise HerokuTransportError(self._redact(f"{where}: timed out ({type(exc).__name__})")) from exc
        except httpx.DecodingError as exc:
            raise HerokuResponseError(self._redact(f"{where}: undecodable answer: {exc}")) from exc
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise HerokuTransportError(self._redact(f"{where}: {type(exc).__name__}: {exc}")) from exc
        self._track_rate_limit(response)
        if not response.is_success:
            raise _api_error(response, self._redact)
        try:
            return response.json()
        except ValueError as exc:
            status, request_id = response.status_code, response.headers.get("Request-Id")
            message = f"{where}: HTTP {status} answer is not JSON (Request-Id {request_id})"
            raise HerokuResponseError(self._redact(message)) from exc

    def _track_rate_limit(self, response: httpx.Response) -> None:
        # An absent or garbled header keeps the last value seen.
        with contextlib.suppress(KeyError, ValueError):
            self._remaining = max(0, int(response.headers["RateLimit-Remaining"]))


def _api_error(response: httpx.Response, redact: Callable[[str], str]) -> HerokuAPIError:
    """The one place where an error status becomes an exception."""
    status = response.status_code
    error_id: str | None = None
    message = ""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        error_id = data.get("id") if isinstance(data.get("id"), str) else None
        message = data["message"] if isinstance(data.get("message"), str) else ""
    if not message:
        message = " ".join(response.text.split())[:_MAX_TEXT] or response.reason_phrase
    request_id = response.headers.get("Request-Id")
    cls = ServerError if 500 <= status < 600 else _STATUS_ERRORS.get(status, HerokuAPIError)
    if status == 422 and "preboot" in message.lower():
        cls = PrebootLocked
    return cls(
        status,
        redact(error_id) if error_id else None,
        redact(message),
        redact(request_id) if request_id else None,
        _retry_after(response.headers.get("Retry-After")),
    )


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds; the HTTP-date form and garbage give ``None``."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _quote(segment: str) -> str:
    return quote(segment, safe="")
