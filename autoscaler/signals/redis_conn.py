"""One Redis client per backend, set up for Heroku Key-Value Store.

:func:`connect` builds the client that a Redis-backed source keeps for its whole life:
the caller creates it once and reuses it on every tick. redis-py reconnects by itself
when the server restarts or drops the connection (one quick retry, then the error goes
to the caller), so nothing here needs to be rebuilt after a failure.

Heroku KVS serves ``rediss://`` with a self-signed certificate chain, which redis-py
rejects by default. :func:`connect` therefore turns certificate checks off for
``rediss://`` unless asked to verify (``verify_tls=True``); a ``ssl_cert_reqs=...``
query parameter in the URL still wins, because redis-py lets URL options override
keyword arguments.

:func:`describe` and :func:`signal_error` turn a client and a redis-py exception into
a :class:`~autoscaler.errors.SignalError` whose text names the server with its password
masked, for every Redis-backed source; :func:`run_script` runs a source's read script
and checks the shape of its reply; :func:`read_hashes` reads hashes in one pipeline;
:class:`RedisSource` is the base of the sources that keep one client.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import ExponentialBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.retry import Retry

from autoscaler.errors import SignalError
from autoscaler.redact import MASK, Redactor, redact_url, url_secrets

if TYPE_CHECKING:
    from redis.commands.core import Script

CLIENT_NAME = "autoscaler"
HEALTH_CHECK_INTERVAL = 30

# One retry after a connection error: enough to get past a connection the server closed
# (restart, idle timeout, CLIENT KILL) while we were not looking. redis-py's own default
# (10 retries) could hold one tick for a minute against a dead server.
_RETRIES = 1


def connect(url: str, *, verify_tls: bool = False, timeout: float = 5.0) -> redis.Redis:
    """Build the long-lived client for the Redis at ``url``.

    No connection is opened here; the first command opens it. ``timeout`` bounds both
    connecting and every reply. ``rediss://`` URLs skip certificate verification unless
    ``verify_tls`` is true (Heroku KVS certificates are self-signed).

    Raises :class:`SignalError` (URL password masked) when the URL cannot be used.
    """
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "client_name": CLIENT_NAME,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), _RETRIES),
    }
    if url.lower().startswith("rediss://"):
        # Only SSL connections accept ssl_* arguments; a plain one would fail with a
        # TypeError on its first command.
        options["ssl_cert_reqs"] = "required" if verify_tls else None
    try:
        client = redis.Redis.from_url(url, **options)
        # from_url parses the URL but builds connections lazily: build one (no socket is
        # opened) so that an unknown query option fails here instead of on the first read.
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, TypeError) as exc:
        hide = Redactor(url_secrets(url))
        raise SignalError(f"invalid Redis URL {hide(redact_url(url))}: {hide(str(exc))}") from exc
    return client


def describe(client: redis.Redis) -> str:
    """A URL-like name for the server ``client`` talks to, with the password masked."""
    kwargs: dict[str, Any] = dict(client.connection_pool.connection_kwargs)
    connection_class = getattr(client.connection_pool, "connection_class", None)
    user = kwargs.get("username") or ""
    auth = f"{user}:{MASK}@" if kwargs.get("password") else (f"{user}@" if user else "")
    if isinstance(connection_class, type) and issubclass(connection_class, UnixDomainSocketConnection):
        return f"unix://{auth}{kwargs.get('path', '')}?db={kwargs.get('db', 0)}"
    scheme = "rediss" if isinstance(connection_class, type) and issubclass(connection_class, SSLConnection) else "redis"
    host = str(kwargs.get("host", "localhost"))
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{auth}{host}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def signal_error(what: str, client: redis.Redis, exc: BaseException) -> SignalError:
    """A SignalError for a failed read: ``what`` failed on the server of ``client``.

    The exception's text is kept (it says *why*), with the client's password masked in
    case the server or the library echoed it. Use as ``raise signal_error(...) from exc``.
    """
    password = client.connection_pool.connection_kwargs.get("password")
    hide = Redactor([password] if isinstance(password, str) else [])
    detail = hide(str(exc)) or "no detail"
    return SignalError(f"{what} at {describe(client)}: {type(exc).__name__}: {detail}")


def run_script(
    script: Script,
    client: redis.Redis,
    *,
    keys: Sequence[str],
    args: Sequence[str | int],
    what: str,
    name: str,
    rows: int,
) -> list[Any]:
    """Run a registered read script (EVALSHA, loading it after a NOSCRIPT) and return its
    reply, which must be a list of ``rows`` entries.

    ``what`` is what failed to be read (``"RQ queues default, mail"``), ``name`` names the
    script in the error for a malformed reply (``"RQ"``).
    """
    try:
        reply = script(keys=keys, args=args)
    except redis.RedisError as exc:
        raise signal_error(f"cannot read {what}", client, exc) from exc
    if not isinstance(reply, list) or len(reply) != rows:
        raise SignalError(f"unexpected reply from the {name} read script: {reply!r:.200}")
    return reply


def read_hashes(client: redis.Redis, keys: Sequence[str], *, what: str) -> Iterator[tuple[str, dict[Any, Any]]]:
    """``HGETALL`` of every key in one pipeline (sent when the iteration starts); yields the
    hashes that exist, with their key, in the order of ``keys``.

    ``what`` is what failed to be read (``"web request counts of 'web'"``); a reply that is
    not a hash raises :class:`SignalError` when the iteration reaches it.
    """
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            replies: list[Any] = pipe.execute()
    except redis.RedisError as exc:
        raise signal_error(f"cannot read {what}", client, exc) from exc
    for key, reply in zip(keys, replies, strict=True):
        if not isinstance(reply, dict):
            raise SignalError(f"unexpected reply for {key}: {reply!r:.200}")
        if reply:
            yield key, reply


class RedisSource:
    """The base of a source that keeps one long-lived client (of :func:`connect`) for its
    whole life, and drops its connections on :meth:`close`."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def close(self) -> None:
        """Drop the client's connections (redis-py opens new ones if it is used again)."""
        self._client.close()
