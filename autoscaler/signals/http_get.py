"""One bounded ``GET`` of a JSON document, for the sources that read an HTTP API.

Every limit is an error, never a partial read:

* time: ``timeout`` seconds to connect and between two pieces of the answer (httpx's
  timeouts), and for the whole answer, checked while the body streams in (a body
  trickling in byte by byte is cut off);
* size: ``max_bytes``, checked against ``Content-Length`` before the body is read and
  again while it streams in (a huge or endless body is cut off);
* no redirect is followed, whatever the client's setting (a redirect could carry the
  credentials to another host): a 3xx answer is an error naming where it points.

The texts written here name no URL but the host of a redirect's target; the caller's
``fail`` adds the name of the server it wants shown, and masks its secrets (httpx's own
error texts, kept as the detail, may hold the URL).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from autoscaler.errors import SignalError


def json_client(timeout: float, auth: tuple[str, str] | None = None) -> httpx.Client:
    """A long-lived client (keep-alive across reads) that follows no redirects."""
    return httpx.Client(auth=auth, timeout=timeout, follow_redirects=False)


def get_json(
    client: httpx.Client,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    fail: Callable[[str], SignalError],
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    setting: str = "URL",
) -> Any:
    """GET ``url`` and parse its JSON body within the limits above.

    ``fail`` turns what went wrong (``"HTTP 503 Service Unavailable"``) into the error to
    raise; ``setting`` names the setting to correct when the answer is a redirect.
    """
    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url, headers=headers, params=params, follow_redirects=False) as response:
            _check_status(response, fail, setting)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise fail(f"response too large: Content-Length {declared} > {max_bytes} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise fail(f"response too large: more than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise fail(f"response took longer than {timeout:g} s")
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        raise fail(f"GET {kind}: {type(exc).__name__}: {str(exc) or 'no detail'}") from exc
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise fail(f"response is not JSON: {exc}") from exc


def _check_status(response: httpx.Response, fail: Callable[[str], SignalError], setting: str) -> None:
    status = response.status_code
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("location", ""))
        where = f"{target.scheme}://{target.netloc.rpartition('@')[2]}/…" if target.netloc else "a relative path"
        raise fail(f"HTTP {status} redirect to {where} (not followed: set {setting} to the final address)")
    if not 200 <= status < 300:
        raise fail(f"HTTP {status} {response.reason_phrase}".rstrip())
