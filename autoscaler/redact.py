"""Keeping secrets out of every line this program writes.

Two tools: :func:`redact_url` hides the password of one URL, and :class:`Redactor`
replaces every registered secret (the API token, webhook URLs, URL passwords) in
arbitrary text. The logging set-up runs every log event through one Redactor.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@host → scheme://user:***@host, for URLs inside free text.
_URL_PASSWORD = re.compile(r"(?P<prefix>[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)(?P<at>@)")
# Bearer tokens echoed back in text.
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact_url(url: str) -> str:
    """Return ``url`` with its password (if any) replaced by ``***``.

    >>> redact_url("redis://:s3cret@host:6379/0")
    'redis://:***@host:6379/0'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_PASSWORD.sub(rf"\g<prefix>{MASK}\g<at>", url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:{MASK}@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The secret parts of a URL: its password, if any."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password] if password else []


class Redactor:
    """Replaces registered secrets, URL passwords and bearer tokens in text.

    Thread-safe: secrets may be added while other threads log.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register secrets. Empty values and very short ones (< 4 chars) are ignored:
        masking every ``a`` in the logs would help nobody."""
        with self._lock:
            known = set(self._secrets)
            for secret in secrets:
                if secret and len(secret) >= 4 and secret not in known:
                    known.add(secret)
            # Longest first, so a secret that contains another is masked whole.
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def add_url(self, url: str | None) -> None:
        """Register the password of ``url``."""
        if url:
            self.add(*url_secrets(url))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if "://" in text:
            text = _URL_PASSWORD.sub(rf"\g<prefix>{MASK}\g<at>", text)
        if "earer" in text:
            text = _BEARER.sub(rf"\g<1>{MASK}", text)
        return text
