"""Any Redis lists: the escape hatch for queues this program has no source for.

``QUEUES`` names the Redis keys themselves (not queue names of some library), and the
reading is the sum of their lengths (``LLEN``), fetched in one pipeline. A key that does
not exist reads 0 (Redis deletes empty lists); a key of another type is an error, never
0. Only ``depth`` is known: a plain list says nothing about latency or running jobs, so
``latency`` and ``busy`` are ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading, check_count
from autoscaler.signals.common import queue_names
from autoscaler.signals.redis_conn import RedisSource, describe, signal_error

if TYPE_CHECKING:
    from autoscaler.config import RedisListSettings, Settings
    from autoscaler.signals.build import Connections


class RedisListSource(RedisSource):
    """Total length of some Redis lists. ``keys`` are full Redis key names."""

    def __init__(self, client: redis.Redis, keys: Sequence[str]) -> None:
        names, problems = queue_names(keys, noun="Redis key")
        if problems:
            raise ConfigError(problems)
        super().__init__(client)
        self._keys = names

    def __repr__(self) -> str:
        return f"RedisListSource({describe(self._client)}, keys={list(self._keys)!r})"

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    def read(self, now: float) -> Reading:
        """``LLEN`` of every key, summed. Raises SignalError when Redis cannot be read or a
        key is not a list."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for key in self._keys:
                    pipe.llen(key)
                lengths = pipe.execute()
        except redis.RedisError as exc:
            raise signal_error(f"cannot read Redis lists {', '.join(self._keys)}", self._client, exc) from exc
        if len(lengths) != len(self._keys):
            raise SignalError(f"unexpected reply to LLEN: {lengths!r:.200}")
        depth = sum(check_count(f"length of Redis list {key!r}", n) for key, n in zip(self._keys, lengths, strict=True))
        return Reading(at=now, depth=check_count("redis_list depth", depth))


def build(name: str, process: RedisListSettings, settings: Settings, connections: Connections) -> RedisListSource:
    """The ``redis_list`` source of one process type (see :mod:`autoscaler.signals.build`).

    ``QUEUES`` is required: there is no sensible default key name."""
    if not process.queues:
        var = f"AUTOSCALER_PROCESSES__{name.upper()}__QUEUES"
        raise ConfigError([f"{var}: required for the redis_list source: the Redis keys of the lists to count"])
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    return RedisListSource(client, process.queues)
