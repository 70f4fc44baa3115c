"""Writing one batch's tallies to Redis: one script call per POST, de-duplicated by frame id.

:meth:`DrainStore.write` runs ``store.lua`` (beside this module) once: it remembers the
batch's ``Logplex-Frame-Id`` with ``SET NX EX`` and, only when the id was new, adds every
tally (HINCRBY counts, HSET latest values, EXPIRE). One round trip, atomic: a retried batch
counts once, and a reader never sees half a batch. The layout is in :mod:`autoscaler.drain.wire`.

The web process serves with asyncio, so its client is :mod:`redis.asyncio`'s, built by
:func:`connect_async` with the options of :func:`autoscaler.signals.redis_conn.connect`.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from autoscaler.drain import wire
from autoscaler.drain.lines import Batch
from autoscaler.errors import SignalError
from autoscaler.redact import Redactor, redact_url, url_secrets
from autoscaler.signals.common import lua_script
from autoscaler.signals.redis_conn import CLIENT_NAME, HEALTH_CHECK_INTERVAL

SCRIPT = lua_script(__name__)


def connect_async(url: str, *, timeout: float = 5.0) -> redis.asyncio.Redis:
    """The web process's client of the state store at ``url`` (no connection opened yet);
    ``rediss://`` without certificate checks (Heroku's are self-signed). SignalError, with
    the password masked, when the URL cannot be used."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "client_name": CLIENT_NAME,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
    }
    if url.lower().startswith("rediss://"):
        options["ssl_cert_reqs"] = None
    try:
        client = redis.asyncio.Redis.from_url(url, **options)
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)  # an unknown URL option fails here, not on the first POST
    except (ValueError, TypeError) as exc:
        hide = Redactor(url_secrets(url))
        raise SignalError(f"invalid Redis URL {hide(redact_url(url))}: {hide(str(exc))}") from exc
    return client


def script_arguments(
    batch: Batch, frame: str | None, *, prefix: str = wire.DEFAULT_PREFIX
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of ``store.lua`` for ``batch``; ``frame`` is the frame-id key (None: no
    de-duplication)."""
    keys: list[str] = [frame or f"{wire.FRAME_PREFIX}:-"]
    args: list[str | int] = [wire.FRAME_TTL if frame else 0, wire.KEY_TTL]
    for (process, slot), tally in sorted(batch.tallies.items()):
        keys.append(wire.slot_key(prefix, process, slot))
        args += [len(tally.counts), len(tally.latest)]
        for name, amount in tally.counts.items():
            args += [name, amount]
        for name, value in tally.latest.items():
            args += [name, value]
    return keys, args


class DrainStore:
    """Adds batches to the state store through ``client`` (a :func:`connect_async` client)."""

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str = wire.DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(SCRIPT)

    async def write(self, batch: Batch, frame: str | None) -> bool:
        """Add ``batch`` unless its frame id (the key ``frame``, see
        :func:`autoscaler.drain.wire.frame_key`) was seen: True when added, False for a
        retry. A batch with nothing to add costs no round trip. redis errors propagate."""
        if not batch.tallies:
            return True
        keys, args = script_arguments(batch, frame, prefix=self.prefix)
        added = await self._script(keys=keys, args=args)
        return bool(added)

    async def close(self) -> None:
        await self.client.aclose()
