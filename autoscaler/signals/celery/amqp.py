"""Celery queues on RabbitMQ (``amqp://``, ``amqps://``; ``CLOUDAMQP_URL``).

* Without ``MANAGEMENT_URL``: ``depth`` = ``message_count`` of a passive
  ``queue.declare`` per queue, on one long-lived connection: ready messages only, every
  priority of an ``x-max-priority`` queue included, prefetched and running ones not.
  ``busy`` and ``latency`` are unknown (``None``).
* With ``MANAGEMENT_URL``: one ``GET /api/queues/{vhost}?columns=...``: ``depth`` =
  ``messages_ready``, ``busy`` = ``messages_unacknowledged`` (running, prefetched and, on
  classic queues, ETA-held), ``latency`` = ``now − head_message_timestamp`` when RabbitMQ
  reports it (the head message has an AMQP ``timestamp``: :mod:`autoscaler.celery` sets
  one; RabbitMQ reports it only for classic queues), else unknown. The statistics are a
  few seconds old. The answer is read within the limits of
  :func:`autoscaler.signals.http_get.get_json` (:data:`MANAGEMENT_MAX_BYTES`, the
  timeout for the whole answer, no redirect followed).
* A queue that does not exist has nothing waiting (0): Celery declares queues when it
  first publishes to them or a worker starts. Celery's ``celery_delayed_*`` queues
  (native delayed delivery on quorum queues: tasks whose ETA has not come) cannot be
  configured as queues. Messages are never consumed, not even to peek and requeue.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import amqp
import httpx

from autoscaler.errors import ConfigError, SignalError
from autoscaler.redact import MASK, Redactor, redact_url
from autoscaler.signals import Reading, check_count, check_seconds
from autoscaler.signals.common import queue_names
from autoscaler.signals.http_get import get_json, json_client

DELAYED_QUEUE_PREFIX = "celery_delayed_"
MANAGEMENT_MAX_BYTES = 4 * 1024 * 1024
"""Largest management API answer read; a bigger one is an error, not a partial read."""
MANAGEMENT_COLUMNS = "name,messages_ready,messages_unacknowledged,consumers,head_message_timestamp"

AMQP_SCHEMES = {"amqp": 5672, "amqps": 5671, "pyamqp": 5672}


@dataclass(frozen=True, slots=True)
class AMQPAddress:
    """The parts of an ``amqp://`` / ``amqps://`` URL, as kombu reads them."""

    host: str
    port: int
    user: str
    password: str
    vhost: str
    tls: bool

    @classmethod
    def parse(cls, url: str) -> AMQPAddress:
        """Raises ConfigError (password masked) for a URL py-amqp cannot use."""
        parts, port = _split("url", "AMQP URL", url)
        scheme = parts.scheme.lower()
        if scheme not in AMQP_SCHEMES:
            raise ConfigError([f"url: not an AMQP URL: {redact_url(url)!r}"])
        path = parts.path
        return cls(
            host=parts.hostname or "localhost",
            port=port or AMQP_SCHEMES[scheme],
            user=unquote(parts.username) if parts.username is not None else "guest",
            password=unquote(parts.password) if parts.password is not None else "guest",
            vhost=unquote(path[1:]) if len(path) > 1 else "/",
            tls=scheme == "amqps",
        )

    def describe(self) -> str:
        """``amqp://user:***@host:port/vhost``, for messages."""
        scheme = "amqps" if self.tls else "amqp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{quote(self.user, safe='')}:{MASK}@{host}:{self.port}/{quote(self.vhost, safe='')}"


class CeleryAMQPSource:
    """Ready (and, with the management API, unacknowledged) messages of Celery queues on
    RabbitMQ. Keeps one AMQP connection (or one HTTP client) across reads."""

    def __init__(
        self,
        url: str,
        queues: Sequence[str] = ("celery",),
        *,
        management_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        names, problems = queue_names(queues)
        if problems:
            raise ConfigError(problems)
        delayed = [name for name in names if name.startswith(DELAYED_QUEUE_PREFIX)]
        if delayed:
            raise ConfigError(
                [
                    f"queues: {', '.join(delayed)}: Celery's delayed-delivery queues hold tasks whose ETA has "
                    "not come; they are not waiting work"
                ]
            )
        self._address = AMQPAddress.parse(url)
        self._queues = names
        self._timeout = timeout
        self._hide = Redactor([self._address.password])
        self._connection: Any = None
        self._channel: Any = None
        self._http: httpx.Client | None = None
        self._management: tuple[str, tuple[str, str]] | None = None
        if management_url is not None:
            self._management = _management_base(management_url, self._address)
            self._hide.add(self._management[1][1])

    def __repr__(self) -> str:
        management = f", management_url={self._management[0]!r}" if self._management else ""
        return f"CeleryAMQPSource({self._address.describe()}, queues={list(self._queues)!r}{management})"

    def read(self, now: float) -> Reading:
        """Read every queue at wall-clock time ``now`` (epoch seconds)."""
        if self._management is not None:
            base, auth = self._management
            if self._http is None:  # one client (and its kept-alive connection) across reads
                self._http = json_client(self._timeout, auth=auth)
            return self._read_management(self._http, base, now)
        reused = self._connection is not None
        try:
            depth = self._declare_all()
        except (OSError, amqp.exceptions.AMQPError) as exc:
            self._disconnect()
            if not reused:
                raise self._error(exc) from exc
            # The kept connection may have been closed by the broker while idle (restart,
            # failover, idle timeout): one new connection before calling it a failure.
            try:
                depth = self._declare_all()
            except (OSError, amqp.exceptions.AMQPError) as retry_exc:
                self._disconnect()
                raise self._error(retry_exc) from retry_exc
        return Reading(at=now, depth=check_count("celery depth", depth))

    def close(self) -> None:
        """Drop the connection (a later read opens a new one)."""
        self._disconnect()
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def _declare_all(self) -> int:
        if self._connection is None:
            address = self._address
            tls: Any = {"server_hostname": address.host, "cert_reqs": ssl.CERT_REQUIRED} if address.tls else False
            connection = amqp.Connection(
                host=f"{address.host}:{address.port}",
                userid=address.user,
                password=address.password,
                virtual_host=address.vhost,
                ssl=tls,
                connect_timeout=self._timeout,
                read_timeout=self._timeout,
                write_timeout=self._timeout,
                heartbeat=0,
                client_properties={"connection_name": "autoscaler"},
            )
            self._connection = connection
            connection.connect()
        depth = 0
        for name in self._queues:
            if self._channel is None:
                self._channel = self._connection.channel()
            try:
                declared = self._channel.queue_declare(queue=name, passive=True)
            except amqp.exceptions.NotFound:
                # The queue has nothing waiting yet. The broker closed the channel; py-amqp
                # reopens it before raising, else a new one is opened for the next queue.
                if not getattr(self._channel, "is_open", False):
                    self._channel = None
                continue
            depth += check_count(f"celery queue {name!r} ready messages", declared.message_count)
        return depth

    def _disconnect(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken; nothing left to release
                connection.collect()

    def _error(self, exc: BaseException) -> SignalError:
        detail = self._hide(str(exc)) or "no detail"
        return SignalError(
            f"cannot read Celery queues {', '.join(self._queues)} at {self._address.describe()}: "
            f"{type(exc).__name__}: {detail}"
        )

    def _read_management(self, http: httpx.Client, base: str, now: float) -> Reading:
        url = f"{base}/api/queues/{quote(self._address.vhost, safe='')}"
        where = f"the RabbitMQ management API at {base}"
        document = get_json(
            http,
            url,
            timeout=self._timeout,
            max_bytes=MANAGEMENT_MAX_BYTES,
            fail=lambda problem: SignalError(self._hide(f"cannot read {where}: {problem}")),
            params={"columns": MANAGEMENT_COLUMNS},
            setting="MANAGEMENT_URL",
        )
        depth, busy, latency = management_figures(document, self._queues, now)
        return Reading(at=now, depth=depth, busy=busy, latency=latency)


def management_figures(document: Any, queues: Sequence[str], now: float) -> tuple[int, int, float | None]:
    """(depth, busy, latency) of ``queues`` from a ``GET /api/queues/{vhost}`` answer.

    A configured queue missing from the answer does not exist: 0 waiting, 0 busy. Latency
    is unknown (None) when a queue with ready messages reports no head timestamp.
    """
    items = document.get("items") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise SignalError(f"the RabbitMQ management API answered no list of queues: {document!r:.200}")
    by_name = {item.get("name"): item for item in items if isinstance(item, dict)}
    depth = 0
    busy = 0
    latency: float | None = 0.0
    for name in queues:
        item = by_name.get(name)
        if item is None:
            continue
        where = f"celery queue {name!r}"
        if "messages_ready" not in item or "messages_unacknowledged" not in item:
            raise SignalError(f"{where}: RabbitMQ has no message statistics for it yet")
        ready = check_count(f"{where} messages_ready", item["messages_ready"])
        depth += ready
        busy += check_count(f"{where} messages_unacknowledged", item["messages_unacknowledged"])
        if ready and latency is not None:
            head = item.get("head_message_timestamp")
            if head is None:
                latency = None
            else:
                if isinstance(head, bool) or not isinstance(head, int | float) or not math.isfinite(head):
                    raise SignalError(f"{where}: head_message_timestamp is not a time: {head!r:.60}")
                latency = max(latency, check_seconds(f"{where} latency", now - head))
    return check_count("celery depth", depth), check_count("celery busy", busy), latency


def _management_base(url: str, address: AMQPAddress) -> tuple[str, tuple[str, str]]:
    """The management API base URL without credentials, and the basic-auth pair: the
    URL's own user and password, else the AMQP URL's (CloudAMQP uses the same)."""
    parts, port = _split("management_url", "URL", url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ConfigError([f"management_url: must be an http(s):// URL, got {redact_url(url)!r}"])
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host + (f":{port}" if port is not None else "")
    path = parts.path.rstrip("/")
    path = path.removesuffix("/api")
    base = urlunsplit((parts.scheme.lower(), netloc, path, "", ""))
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    else:
        auth = (address.user, address.password)
    return base, auth


def _split(field: str, what: str, url: str) -> tuple[SplitResult, int | None]:
    """The parts of ``url`` and its port; ConfigError (password masked) when unreadable."""
    try:
        parts = urlsplit(url)
        return parts, parts.port
    except ValueError as exc:
        raise ConfigError([f"{field}: invalid {what} {redact_url(url)!r}: {exc}"]) from None
