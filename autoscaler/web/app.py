"""The web process's Starlette app: ``GET /health``, ``POST /drain`` and the status page ``GET /``
(:mod:`autoscaler.web.dashboard`).

``POST /drain`` takes Logplex batches (``Content-Type: application/logplex-1``) with HTTP basic
auth (any user name, the password ``AUTOSCALER_DRAIN_PASSWORD``, compared in constant time),
reads at most :data:`BODY_LIMIT` bytes, tallies the router and runtime-metrics lines
(:mod:`autoscaler.drain.lines`) and adds them to the state store in one round trip,
de-duplicated by ``Logplex-Frame-Id`` (:mod:`autoscaler.drain.store`). Answers:

=====  ==========================================================================
200    added (or a retried frame id, added before: ``"duplicate": true``)
400    not octet-counted frames, a ``Logplex-Msg-Count`` that does not match, a bad header
401    no or wrong credentials (with ``WWW-Authenticate``)
403    the drain is off: ``AUTOSCALER_DRAIN_PASSWORD`` is not set
413    a body over :data:`BODY_LIMIT` (by ``Content-Length`` or counted while reading)
415    another content type
503    the state store could not be written (Logplex may send the batch again)
=====  ==========================================================================

A refused batch changes nothing. Neither answers nor log lines ever hold a secret or a line
of the body: they say what was wrong and where, never what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from autoscaler import __version__, logs
from autoscaler.drain import wire
from autoscaler.drain.frames import FrameError, split_frames
from autoscaler.drain.lines import Batch
from autoscaler.drain.store import DrainStore

if TYPE_CHECKING:
    from autoscaler.web.dashboard import Dashboard

BODY_LIMIT = 1024 * 1024
"""Largest body accepted, in bytes (1 MiB); Logplex's batches are far smaller."""
CONTENT_TYPE = "application/logplex-1"
REALM = 'Basic realm="autoscaler drain", charset="UTF-8"'
SUMMARY_EVERY = 60.0
"""Seconds between two ``drain_summary`` log lines (written when a POST arrives)."""


class Refused(Exception):
    """A POST answered with a 4xx: ``status`` and the reason given to the sender and the log."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(slots=True)
class Counters:
    """What the drain received since the last summary line."""

    since: float
    posts: int = 0
    lines: int = 0
    router: int = 0
    metrics: int = 0
    ignored: int = 0
    duplicates: int = 0
    refused: dict[int, int] = field(default_factory=dict)

    def reset(self, now: float) -> None:
        self.since = now
        self.posts = self.lines = self.router = self.metrics = self.ignored = self.duplicates = 0
        self.refused = {}

    def fields(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "lines": self.lines,
            "router_lines": self.router,
            "metrics_lines": self.metrics,
            "ignored_lines": self.ignored,
            "duplicates": self.duplicates,
            "refused": sum(self.refused.values()),
        }


def supplied_password(header: str | None) -> bytes | None:
    """The password of an ``Authorization: Basic`` header (any user name); None without one."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    _user, colon, password = decoded.partition(b":")
    return password if colon else None


def _check_auth(request: Request, password: bytes | None) -> None:
    if password is None:
        raise Refused(403, "the drain is off: set AUTOSCALER_DRAIN_PASSWORD on the autoscaler app")
    given = supplied_password(request.headers.get("authorization"))
    if given is None or not hmac.compare_digest(given, password):
        raise Refused(401, "credentials missing or wrong", {"WWW-Authenticate": REALM})


def _check_headers(request: Request, limit: int) -> tuple[int | None, str | None]:
    """The expected frame count and the frame-id key of a POST, after checking its headers."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != CONTENT_TYPE:
        raise Refused(415, f"Content-Type must be {CONTENT_TYPE}")
    length = request.headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):
            raise Refused(400, "Content-Length is not a number")
        if int(length) > limit:
            raise Refused(413, f"body larger than {limit} bytes")
    count_header = request.headers.get("logplex-msg-count")
    count = None
    if count_header is not None:
        if not (count_header.isascii() and count_header.isdigit() and len(count_header) <= 7):
            raise Refused(400, "Logplex-Msg-Count is not a number")
        count = int(count_header)
    frame_id = request.headers.get("logplex-frame-id")
    token = request.headers.get("logplex-drain-token", "")
    if frame_id is None:
        return count, None
    if not wire.is_frame_id(frame_id) or (token and not wire.is_frame_id(token)):
        raise Refused(400, "Logplex-Frame-Id or Logplex-Drain-Token holds characters a frame id never has")
    return count, wire.frame_key(token, frame_id)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and refused as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refused(400, "the client went away before the body ended") from None
    return b"".join(chunks)


def create_app(
    store_factory: Callable[[], DrainStore],
    password: str | None,
    *,
    body_limit: int = BODY_LIMIT,
    clock: Callable[[], float] = time.time,
    dashboard: Dashboard | None = None,
) -> Starlette:
    """The app. ``store_factory`` builds the store when the server starts (inside its event
    loop); ``password`` is ``AUTOSCALER_DRAIN_PASSWORD`` (None: the drain is off);
    ``dashboard`` serves the status page at ``GET /`` (None: no such route)."""
    expected = None if password is None else password.encode("utf-8")
    log = logs.get_logger(component="web")
    counters = Counters(since=clock())
    holder: dict[str, DrainStore] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["store"] = store_factory()
        try:
            yield
        finally:
            await holder.pop("store").close()
            if dashboard is not None:
                dashboard.close()
            log.info("web_stopped", seconds=round(clock() - counters.since), **counters.fields())

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "version": __version__,
                "drain": "off" if expected is None else "on",
                "dashboard": "on" if dashboard is not None and dashboard.enabled else "off",
            }
        )

    async def drain(request: Request) -> Response:
        now = clock()
        counters.posts += 1
        try:
            _check_auth(request, expected)
            count, frame = _check_headers(request, body_limit)
            body = await _read_body(request, body_limit)
            try:
                frames = split_frames(body)
            except FrameError as exc:
                raise Refused(400, str(exc)) from None
            if not frames:
                raise Refused(400, "empty body: no frame")
            if count is not None and count != len(frames):
                raise Refused(400, f"Logplex-Msg-Count says {count} frames, the body has {len(frames)}")
        except Refused as refused:
            counters.refused[refused.status] = counters.refused.get(refused.status, 0) + 1
            level = log.info if refused.status in {401, 403} else log.warning
            level("drain_refused", status=refused.status, reason=refused.reason)
            return JSONResponse({"error": refused.reason}, refused.status, headers=refused.headers)
        batch = Batch(now)
        batch.add_frames(frames)
        try:
            added = await holder["store"].write(batch, frame)
        except redis.RedisError as exc:
            log.warning("drain_store_failed", error=exc, lines=batch.lines)
            return JSONResponse({"error": "the state store could not be written; send the batch again"}, 503)
        counters.lines += batch.lines
        counters.router += batch.router
        counters.metrics += batch.metrics
        counters.ignored += batch.ignored
        counters.duplicates += not added
        if now - counters.since >= SUMMARY_EVERY:
            log.info("drain_summary", seconds=round(now - counters.since), **counters.fields())
            counters.reset(now)
        return JSONResponse(
            {
                "lines": batch.lines,
                "router": batch.router,
                "metrics": batch.metrics,
                "ignored": batch.ignored,
                "duplicate": not added,
            }
        )

    routes = [Route("/health", health, methods=["GET"]), Route("/drain", drain, methods=["POST"])]
    if dashboard is not None:
        routes.append(Route("/", dashboard.page, methods=["GET"]))
    return Starlette(routes=routes, lifespan=lifespan)
