"""The exception tree of the autoscaler.

Every error that crosses a module boundary is one of these. Foreign errors (httpx,
redis, psycopg, ...) are mapped to them at exactly one place per edge, with
``raise ... from exc`` so the cause is kept for debugging::

    AutoscalerError
    ├── ConfigError              invalid configuration or usage → exit status 2
    ├── SignalError              a signal source could not be read → reading unknown
    ├── StateError               the state store could not be read or written
    └── HerokuError              anything that went wrong talking to the Platform API
        ├── HerokuTransportError timeout, connection refused/reset, TLS failure
        └── HerokuAPIError       the API answered with an error status
            ├── BadRequest             400
            ├── Unauthorized           401 (token missing, invalid or expired)
            ├── Forbidden              402/403 (delinquent, suspended, no permission, 2FA)
            ├── NotFound               404 (app or process type missing)
            ├── UnprocessableEntity    422 (invalid params, size limits, verification)
            ├── RateLimited            429
            └── ServerError            5xx
        └── HerokuResponseError  a 2xx answer that could not be understood

Messages never contain secrets: URLs are redacted before they are put into a
message (see :func:`autoscaler.redact.redact_url`).
"""

from __future__ import annotations


class AutoscalerError(Exception):
    """Base class of every error raised by this package."""


class ConfigError(AutoscalerError):
    """Invalid configuration or command-line usage.

    ``problems`` holds one ``"NAME: what is wrong"`` line per offending variable or flag.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SignalError(AutoscalerError):
    """A signal source could not be read, or returned a value that makes no sense."""


class StateError(AutoscalerError):
    """The state store could not be read or written."""


class HerokuError(AutoscalerError):
    """Base class of Platform API failures."""


class HerokuTransportError(HerokuError):
    """The request never got an HTTP answer (timeout, connection error, TLS)."""


class HerokuResponseError(HerokuError):
    """The API answered 2xx with a body that could not be understood."""


class HerokuAPIError(HerokuError):
    """The API answered with an error status.

    Carries the HTTP ``status``, Heroku's error ``id`` (e.g. ``rate_limit``), its
    ``message`` and the ``Request-Id`` response header, for support tickets.
    """

    def __init__(
        self,
        status: int,
        error_id: str | None,
        message: str,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.error_id = error_id
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        text = f"HTTP {status}"
        if error_id:
            text += f" {error_id}"
        if message:
            text += f": {message}"
        if request_id:
            text += f" (Request-Id {request_id})"
        super().__init__(text)


class BadRequest(HerokuAPIError):
    """400 bad_request."""


class Unauthorized(HerokuAPIError):
    """401 unauthorized: the token is missing, invalid or expired."""


class Forbidden(HerokuAPIError):
    """402/403: delinquent, suspended, two_factor or forbidden."""


class NotFound(HerokuAPIError):
    """404 not_found: the app or the process type does not exist."""


class UnprocessableEntity(HerokuAPIError):
    """422: invalid_params, cannot_run_above_limit, verification_needed."""


class RateLimited(HerokuAPIError):
    """429 rate_limit: the account's token bucket is empty."""


class ServerError(HerokuAPIError):
    """5xx: a Heroku-side failure."""
