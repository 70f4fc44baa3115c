"""Logplex's HTTPS drain body: octet-counted RFC 5424 syslog frames.

A batch is ``<length> <message><length> <message>...``: the length is the message's size in
**bytes** (decimal, no leading zero, RFC 6587 octet counting), followed by one space and
exactly that many bytes; the message usually ends with a newline, which the length counts.
Heroku's messages carry no structured data::

    <158>1 2026-03-01T19:04:19.887695+00:00 host heroku router - at=info method=GET ...
    PRI+VERSION TIMESTAMP                   HOST APP-NAME PROCID MSGID MSG

:func:`split_frames` cuts a body into its messages and raises :class:`FrameError` when the
lengths do not add up; :func:`parse_header` reads a message's header. Neither ever looks
outside the bytes it was given: a frame is the slice its length names, nothing more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

MAX_LENGTH_DIGITS = 7
"""A frame length has at most this many digits (the whole body is limited to about 1 MiB)."""


class FrameError(ValueError):
    """The body is not a sequence of octet-counted frames; the message says where, never what."""


def split_frames(body: bytes) -> list[bytes]:
    """The messages of a Logplex body, in order. FrameError when a length is missing or not a
    number, or runs past the end of the body, or when bytes follow the last frame; an empty
    body has no frame."""
    frames: list[bytes] = []
    pos = 0
    end = len(body)
    while pos < end:
        space = body.find(b" ", pos, pos + MAX_LENGTH_DIGITS + 1)
        digits = body[pos:space] if space > pos else b""
        if not digits.isdigit() or digits.startswith(b"0"):
            raise FrameError(
                f"frame {len(frames) + 1} at byte {pos}: expected a length (1 to {MAX_LENGTH_DIGITS} digits, "
                "no leading zero) and a space"
            )
        start = space + 1
        stop = start + int(digits)
        if stop > end:
            raise FrameError(
                f"frame {len(frames) + 1} at byte {pos}: length {int(digits)} runs past the end of the body "
                f"({end - start} bytes left)"
            )
        frames.append(body[start:stop])
        pos = stop
    return frames


class Header(NamedTuple):
    """The parts of a syslog message the drain reads (bytes, as received)."""

    timestamp: bytes
    app_name: bytes
    procid: bytes
    msg: bytes


def parse_header(frame: bytes) -> Header | None:
    """The header fields and the message text (trailing newline removed) of one frame; None
    when it is not an RFC 5424 message of the form Heroku sends."""
    parts = frame.split(b" ", 6)
    if len(parts) != 7:
        return None
    pri, timestamp, _host, app_name, procid, _msgid, msg = parts
    if not (pri.startswith(b"<") and pri.endswith(b">1") and pri[1:-2].isdigit() and len(pri) <= 7):
        return None
    return Header(timestamp, app_name, procid, msg.rstrip(b"\r\n"))


def timestamp_epoch(timestamp: bytes) -> float | None:
    """Epoch seconds of an RFC 3339 syslog timestamp (no offset: UTC); None when unreadable."""
    if len(timestamp) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(timestamp.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
