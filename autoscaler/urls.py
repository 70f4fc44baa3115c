"""URL checks shared by the configuration, the Platform API client and the sources."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from autoscaler.redact import redact_url


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback ranges (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str | None:
    """The problem with a Platform API base URL, or None when it is acceptable:
    https, or http only for a loopback host (127.0.0.0/8, ::1, localhost: a local
    stand-in for tests)."""
    problem = f"must use https:// (http:// is accepted only for loopback hosts), got {redact_url(url)!r}"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return problem
    scheme = parts.scheme.lower()
    if host and (scheme == "https" or (scheme == "http" and is_loopback(host))):
        return None
    return problem


def url_problem(url: str, schemes: Iterable[str]) -> str | None:
    """What is wrong with a connection URL for a source reading ``schemes``, or None."""
    allowed = tuple(schemes)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return f"not a valid URL: {redact_url(url)!r}"
    if "://" not in url or parts.scheme.lower() not in allowed:
        names = [scheme + "://" for scheme in allowed]
        listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        return f"must be a {listed} URL, got {redact_url(url)!r}"
    if parts.scheme.lower() != "unix" and not parts.hostname:
        return f"has no host: {redact_url(url)!r}"
    return None
