"""Dramatiq queues on Redis, read straight from the broker's keys: waiting messages, the
oldest one's age, messages held by workers.

Key layout of dramatiq 2.2.1's Redis broker (checked against ``dramatiq/brokers/redis.py``
and ``dramatiq/brokers/redis/dispatch.lua``). ``N`` is the broker's ``namespace``
(``RedisBroker(namespace=...)``, default ``dramatiq``), ``Q`` a queue name:

==============================  =====  =====================================================
``N:Q``                         LIST   ids of waiting messages. Enqueue ``RPUSH``, workers
                                       fetch with ``LPOP``: the oldest is at the head. A
                                       worker that stops, and the clean-up of a dead worker,
                                       ``RPUSH`` their unprocessed ids back at the tail.
``N:Q.msgs``                    HASH   id → message JSON, for waiting *and* fetched but not
                                       yet acknowledged messages; ack ``HDEL``s.
``N:Q.DQ``, ``N:Q.DQ.msgs``     LIST,  the delay queue (``send_with_options(delay=...)``,
                                HASH   retries with backoff); ``options.eta`` = due time in
                                       epoch ms. A worker fetches delayed messages at once,
                                       holds them in memory and, once due, enqueues a copy
                                       on ``N:Q``.
``N:Q.XQ``, ``N:Q.XQ.msgs``     ZSET,  dead letters: never counted.
                                HASH
``N:__heartbeats__``            ZSET   broker id → last dispatch time (epoch ms). Every
                                       broker that talks to Redis is in it (producers too)
                                       until the broker's maintenance removes it, dead and
                                       without unacknowledged messages.
``N:__acks__.<broker id>.Q``    SET    ids fetched by that worker process and not yet
                                       acknowledged: running and prefetched (a worker
                                       prefetches up to 2 × its threads).
==============================  =====  =====================================================

The message JSON has ``message_timestamp``: epoch ms, set when the message object was
created (``send``), and kept on every copy (retries, delayed messages once due).

What one read reports, summed over the configured queues:

* ``depth`` = ``LLEN N:Q`` + delayed messages already due that still sit in ``N:Q.DQ``
  (the first :data:`DELAY_WINDOW` of them are examined). While workers run, ``N:Q.DQ`` is
  emptied within a second and future delayed messages are held by the workers, so this
  only matters with no worker running (``MIN_DYNOS=0``, or after a crash): a message that
  came due while nobody was there to move it still wakes a dyno up. Future delayed
  messages are never counted.
* ``latency`` = the largest, over queues, of ``now −`` the ``message_timestamp`` of the
  message at the head of ``N:Q`` (the oldest by position; judoscale reads the tail, the
  newest) and ``now −`` the eta of the oldest due message left in ``N:Q.DQ``. ``0.0`` when
  nothing waits. ``None`` (unknown) when messages wait but the head message is not JSON
  (an app using dramatiq's ``PickleEncoder``): depth and busy stay known.
  Limits: a retried or delayed message keeps its original ``message_timestamp``, so its age
  includes the delay or backoff; messages requeued at the tail by a stopping worker are
  not looked at until they reach the head.
* ``busy`` = the members of every ``N:__acks__.<broker id>.Q`` (broker ids from
  ``N:__heartbeats__``): running and prefetched messages. Messages held by a worker that
  died without requeueing them count until dramatiq's maintenance, run by a live worker,
  puts them back on the list, which keeps one dyno up for it. Delayed messages held by
  workers (``...Q.DQ`` acks) are not counted.

One ``EVALSHA`` of a read-only script per read; no ``KEYS``, no writes, no dramatiq broker
object (whose dispatch script writes a heartbeat on every call). The script reaches the
message hashes and ack sets it was not given in ``KEYS``: fine on a single Redis primary
(Heroku Key-Value Store), not on Redis Cluster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import check_count, check_seconds, reply_text
from autoscaler.signals.common import ScriptQueueSource, lua_script, queue_names, reply_number
from autoscaler.signals.redis_conn import describe

if TYPE_CHECKING:
    from autoscaler.config import DramatiqSettings, Settings
    from autoscaler.signals.build import Connections

DEFAULT_NAMESPACE = "dramatiq"

HEAD_WINDOW = 5
"""Ids read at the head of a queue to find the first one whose message still exists."""

DELAY_WINDOW = 20
"""Messages examined at the head of a delay queue for due ones (each one is JSON-decoded)."""

# dramatiq's own rule for queue names (dramatiq/actor.py ``_queue_name_re``).
_QUEUE_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")

# The read script (dramatiq.lua says what it is given and returns).
_LUA = lua_script(__name__)


class DramatiqSource(ScriptQueueSource):
    """Depth, latency and busy count of Dramatiq queues in Redis, in one round trip.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect`;
    ``queues`` are queue names as the actors declare them (``queue_name=``, default
    ``default``); ``namespace`` is the broker's ``namespace`` (default ``dramatiq``).
    """

    KIND = "dramatiq"
    LABEL = "Dramatiq"

    def __init__(
        self, client: redis.Redis, queues: Sequence[str] = ("default",), *, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        names, problems = queue_names(queues, check=_queue_problem)
        if not namespace or namespace != namespace.strip():
            problems.append(f"prefix: invalid Dramatiq namespace {namespace!r}")
        if problems:
            raise ConfigError(problems)
        self._namespace = namespace
        keys = [f"{namespace}:__heartbeats__"]
        for name in names:
            full = f"{namespace}:{name}"
            keys += [full, f"{full}.msgs", f"{full}.DQ", f"{full}.DQ.msgs"]
        super().__init__(client, names, keys, _LUA)

    def __repr__(self) -> str:
        return f"DramatiqSource({describe(self._client)}, queues={list(self._queues)!r}, namespace={self._namespace!r})"

    def _script_args(self, now: float) -> list[str | int]:
        return [repr(now * 1000.0), f"{self._namespace}:__acks__.", HEAD_WINDOW, DELAY_WINDOW, *self._queues]

    def _queue_figures(self, name: str, row: Any, now: float) -> tuple[int, float | None, int]:
        """(depth, latency, busy) of one queue from its part of the script's reply."""
        if not isinstance(row, list) or len(row) != 5:
            raise SignalError(f"unexpected reply from the Dramatiq read script for queue {name!r}: {row!r:.200}")
        length, head, busy, due, oldest_due = row
        where = f"dramatiq queue {name!r}"
        length = check_count(f"{where} length", length)
        busy = check_count(f"{where} unacknowledged messages", busy)
        due = check_count(f"{where} due delayed messages", due)

        ages: list[float] = []
        if oldest_due is not None:
            eta = reply_number(where, "eta", oldest_due)
            ages.append(check_seconds(f"{where} delayed age", now - eta / 1000.0))
        head_text = reply_text(head) if head is not None else ""
        if length:
            if head_text == "j":
                return length + due, None, busy  # not JSON (PickleEncoder): latency unknown
            if head_text == "b":
                raise SignalError(f"{where}: the head message has no numeric message_timestamp")
            if head_text:
                stamp = reply_number(where, "message_timestamp", head)
                ages.append(check_seconds(f"{where} latency", now - stamp / 1000.0))
            else:
                # Ids wait but none of the first HEAD_WINDOW has a message: unknown, not 0.
                return length + due, None, busy
        return length + due, max(ages, default=0.0), busy


def _queue_problem(name: str) -> str | None:
    if not _QUEUE_RE.fullmatch(name):
        return f"queues: invalid Dramatiq queue name {name!r}"
    if name.endswith((".DQ", ".XQ")):
        return f"queues: {name!r} is a delay or dead-letter queue; name the queue itself"
    return None


def build(name: str, process: DramatiqSettings, settings: Settings, connections: Connections) -> DramatiqSource:
    """The ``dramatiq`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    namespace = DEFAULT_NAMESPACE if process.prefix is None else process.prefix
    return DramatiqSource(client, process.queue_names(), namespace=namespace)
