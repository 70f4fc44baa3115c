"""Any HTTP endpoint that answers JSON: the HireFire info format, or JSON pointers.

``GET URL`` once per read, on one long-lived httpx client (keep-alive), with:

* a time limit (:data:`DEFAULT_TIMEOUT` s to connect, and for the whole answer to
  arrive, checked while the body streams in);
* a size limit (:data:`MAX_BYTES`, checked against ``Content-Length`` and again while
  streaming, so a huge or endless body is cut off);
* no redirects followed (a 3xx answer is an error naming where it points: set ``URL``
  to the final address; following one could send the token to another host);
* the optional token as ``Authorization: Bearer <token>``, or raw in the header
  ``TOKEN_HEADER`` names (e.g. ``HireFire-Token``).

What the document means:

* ``POINTER`` unset: the HireFire info format ``[{"name": "worker", "value": 42}, ...]``
  served by hirefire-resource at ``/hirefire/<HIREFIRE_TOKEN>/info`` (or at ``/hirefire``
  with the token in a ``HireFire-Token`` header). The entry whose ``name`` is the process
  type (compared case-insensitively) gives ``depth`` = its ``value``. HireFire lets the
  app report either a queue size or a latency there; this source reads it as the number
  of waiting jobs, so point it at an endpoint whose worker macro is a size
  (``job_queue_size``), or use pointers.
* ``POINTER`` set: an RFC 6901 JSON pointer to the depth (``/queues/default/size``);
  ``LATENCY_POINTER`` (seconds) and ``BUSY_POINTER`` are optional and also apply to the
  HireFire format.

Anything else (a non-2xx status, a timeout, a body that is too large or not JSON, a
missing entry or pointer target, a value that is not a sane number) raises SignalError.
Messages name the server as ``scheme://host:port/…``: the path and query are left out
because HireFire puts its token in the path, and the token itself is masked wherever it
could appear.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from autoscaler import __version__
from autoscaler.errors import ConfigError, SignalError
from autoscaler.redact import Redactor
from autoscaler.signals import Reading, check_count, check_seconds
from autoscaler.signals.http_get import get_json, json_client
from autoscaler.urls import is_loopback

if TYPE_CHECKING:
    from autoscaler.config import HTTPJSONSettings, Settings
    from autoscaler.signals.build import Connections

DEFAULT_TIMEOUT = 5.0
MAX_BYTES = 1024 * 1024
"""Largest response body read (1 MiB); a larger one is an error."""

USER_AGENT = f"autoscaler/{__version__}"

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


class PointerError(Exception):
    """A JSON pointer is malformed or does not resolve in a document."""


def parse_pointer(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON pointer (``""`` is the whole document).

    >>> parse_pointer("/a~1b/m~0n/0")
    ['a/b', 'm~n', '0']
    """
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise PointerError(f"JSON pointer {pointer!r}: '~' must be followed by 0 or 1")
    # ~1 before ~0, so "~01" becomes "~1" and not "/".
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value ``pointer`` (RFC 6901) designates in ``document``; PointerError if none."""
    value = document
    walked = ""
    for token in parse_pointer(pointer):
        walked += "/" + token.replace("~", "~0").replace("/", "~1")
        if isinstance(value, dict):
            if token not in value:
                raise PointerError(f"no member at {walked}")
            value = value[token]
        elif isinstance(value, list):
            if not _ARRAY_INDEX.fullmatch(token) or int(token) >= len(value):
                raise PointerError(f"no array element at {walked} (length {len(value)})")
            value = value[int(token)]
        else:
            raise PointerError(f"{walked}: cannot descend into a {type(value).__name__}")
    return value


def _config_problems(
    url: str, pointers: dict[str, str | None], token: str | None, token_header: str | None, timeout: float
) -> list[str]:
    """Everything wrong with the settings of one source, one line each."""
    problems: list[str] = []
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        host = ""
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not host:
        problems.append("url: must be an http:// or https:// URL with a host")
    elif token and scheme == "http" and not is_loopback(host):
        problems.append("url: https:// is required to send TOKEN (http:// only for loopback hosts)")
    for field, value in pointers.items():
        if value is not None:
            try:
                parse_pointer(value)
            except PointerError as exc:
                problems.append(f"{field}: {exc}")
    if token_header is not None and not _HEADER_NAME.fullmatch(token_header):
        problems.append(f"token_header: not a valid HTTP header name: {token_header!r}")
    if token_header is not None and not token:
        problems.append("token_header: set TOKEN too (the header would be sent empty)")
    if token is not None and (not token or any(c in token for c in "\r\n")):
        problems.append("token: must be a non-empty single line")
    if not timeout > 0:
        problems.append(f"timeout: must be > 0, got {timeout!r}")
    return problems


class HTTPJSONSource:
    """Depth (and optionally latency and busy) from a JSON document fetched over HTTP.

    ``process`` is the process type, looked up in the HireFire format when ``pointer``
    is None. ``client`` may be given (tests, a shared transport); redirects are not
    followed whatever its setting. Otherwise the source builds and owns one.
    """

    def __init__(
        self,
        url: str,
        *,
        process: str,
        pointer: str | None = None,
        latency_pointer: str | None = None,
        busy_pointer: str | None = None,
        token: str | None = None,
        token_header: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_BYTES,
        client: httpx.Client | None = None,
    ) -> None:
        pointers = {"pointer": pointer, "latency_pointer": latency_pointer, "busy_pointer": busy_pointer}
        problems = _config_problems(url, pointers, token, token_header, timeout)
        if problems:
            hide = Redactor([token] if token else [])
            raise ConfigError([hide(p) for p in problems])
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
        scheme = parts.scheme.lower()

        self._url = url
        self._process = process
        self._pointer = pointer
        self._latency_pointer = latency_pointer
        self._busy_pointer = busy_pointer
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._hide = Redactor([s for s in (token, parts.path, parts.query) if s and s != "/"])
        bracketed = f"[{host}]" if ":" in host else host
        self._where = f"{scheme}://{bracketed}" + (f":{port}" if port is not None else "") + "/…"
        self._headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": USER_AGENT}
        if token:
            if token_header is None:
                self._headers["Authorization"] = f"Bearer {token}"
            else:
                self._headers[token_header] = token
        self._own_client = client is None
        self._client = client if client is not None else json_client(timeout)

    def __repr__(self) -> str:
        return f"HTTPJSONSource({self._where}, process={self._process!r})"

    def read(self, now: float) -> Reading:
        """Fetch and interpret the document at ``now``. Raises SignalError on any failure."""
        document = self._fetch()
        try:
            if self._pointer is None:
                depth_value = self._hirefire_value(document)
            else:
                depth_value = resolve_pointer(document, self._pointer)
            latency = busy = None
            if self._latency_pointer is not None:
                latency = check_seconds("http_json latency", resolve_pointer(document, self._latency_pointer))
            if self._busy_pointer is not None:
                busy = check_count("http_json busy", resolve_pointer(document, self._busy_pointer))
        except PointerError as exc:
            raise SignalError(f"JSON from {self._where}: {exc}") from exc
        return Reading(at=now, depth=check_count("http_json depth", depth_value), latency=latency, busy=busy)

    def close(self) -> None:
        """Close the client's connections (only when the source built the client)."""
        if self._own_client:
            self._client.close()

    def _fetch(self) -> Any:
        """GET the URL and parse its JSON body, within the time and size limits."""
        return get_json(
            self._client,
            self._url,
            timeout=self._timeout,
            max_bytes=self._max_bytes,
            fail=self._error,
            headers=self._headers,
        )

    def _hirefire_value(self, document: Any) -> Any:
        """``value`` of the entry named after the process in the HireFire info format."""
        if not isinstance(document, list):
            raise self._error(
                f"expected the HireFire format (a list of {{name, value}}), got a {type(document).__name__}"
            )
        wanted = self._process.lower()
        matches = [e for e in document if isinstance(e, dict) and str(e.get("name", "")).lower() == wanted]
        if not matches:
            names = [str(e.get("name")) for e in document if isinstance(e, dict)]
            raise self._error(f"no entry named {self._process!r} (names: {', '.join(names)[:200] or 'none'})")
        if len(matches) > 1:
            raise self._error(f"{len(matches)} entries named {self._process!r}")
        if "value" not in matches[0]:
            raise self._error(f"the entry named {self._process!r} has no value")
        return matches[0]["value"]

    def _error(self, message: str) -> SignalError:
        return SignalError(self._hide(f"GET {self._where}: {message}"))


def build(name: str, process: HTTPJSONSettings, settings: Settings, connections: Connections) -> HTTPJSONSource:
    """The ``http_json`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    if not process.url:
        var = f"AUTOSCALER_PROCESSES__{name.upper()}__URL"
        raise ConfigError([f"{var}: required for the http_json source: the URL of the JSON document"])
    token = process.token.get_secret_value() if process.token is not None else None
    return HTTPJSONSource(
        process.url,
        process=name,
        pointer=process.pointer,
        latency_pointer=process.latency_pointer,
        busy_pointer=process.busy_pointer,
        token=token,
        token_header=process.token_header,
        timeout=connections.timeout,
    )
