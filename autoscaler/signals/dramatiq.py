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
from autoscaler.signals import Reading, check_count, check_seconds
from autoscaler.signals.redis_conn import describe, signal_error

if TYPE_CHECKING:
    from autoscaler.config import ProcessConfig, Settings
    from autoscaler.signals.build import Connections

DEFAULT_NAMESPACE = "dramatiq"

HEAD_WINDOW = 5
"""Ids read at the head of a queue to find the first one whose message still exists."""

DELAY_WINDOW = 20
"""Messages examined at the head of a delay queue for due ones (each one is JSON-decoded)."""

# dramatiq's own rule for queue names (dramatiq/actor.py ``_queue_name_re``).
_QUEUE_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9._-]*")

# KEYS: heartbeats, then 4 per queue (list, messages hash, delay list, delay hash).
# ARGV: now (epoch ms), ack key prefix ("N:__acks__."), head window, delay window, then
# the queue names (to build the ack keys).
# Returns per queue: {LLEN, head, busy, due delayed count, oldest due eta | false} where
# head is "" (no message found in the window), "j" (the message is not a JSON object),
# "b" (no numeric message_timestamp) or the timestamp as text.
_LUA = """
local now = tonumber(ARGV[1])
local acks_prefix = ARGV[2]
local head_window = tonumber(ARGV[3])
local delay_window = tonumber(ARGV[4])
local workers = redis.call('ZRANGE', KEYS[1], 0, -1)

local function decode(data)
  local ok, message = pcall(cjson.decode, data)
  if ok and type(message) == 'table' then
    return message
  end
  return nil
end

local out = {}
local q = 0
for i = 2, #KEYS, 4 do
  q = q + 1
  local list_key, msgs_key, delay_key, delay_msgs_key = KEYS[i], KEYS[i + 1], KEYS[i + 2], KEYS[i + 3]
  local queue = ARGV[4 + q]
  local length = redis.call('LLEN', list_key)

  local head = ''
  if length > 0 then
    for _, id in ipairs(redis.call('LRANGE', list_key, 0, head_window - 1)) do
      local data = redis.call('HGET', msgs_key, id)
      if data then
        local message = decode(data)
        if message == nil then
          head = 'j'
        elseif type(message['message_timestamp']) == 'number' then
          head = string.format('%.17g', message['message_timestamp'])
        else
          head = 'b'
        end
        break
      end
    end
  end

  local busy = 0
  for _, worker in ipairs(workers) do
    busy = busy + redis.call('SCARD', acks_prefix .. worker .. '.' .. queue)
  end

  local due = 0
  local oldest_due = false
  for _, id in ipairs(redis.call('LRANGE', delay_key, 0, delay_window - 1)) do
    local data = redis.call('HGET', delay_msgs_key, id)
    local message = data and decode(data)
    local options = message and message['options']
    local eta = type(options) == 'table' and options['eta']
    if type(eta) == 'number' and eta <= now then
      due = due + 1
      if oldest_due == false or eta < oldest_due then
        oldest_due = eta
      end
    end
  end
  if oldest_due then
    oldest_due = string.format('%.17g', oldest_due)
  end

  out[#out + 1] = {length, head, busy, due, oldest_due}
end
return out
"""


class DramatiqSource:
    """Depth, latency and busy count of Dramatiq queues in Redis, in one round trip.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect`;
    ``queues`` are queue names as the actors declare them (``queue_name=``, default
    ``default``); ``namespace`` is the broker's ``namespace`` (default ``dramatiq``).
    """

    def __init__(
        self, client: redis.Redis, queues: Sequence[str] = ("default",), *, namespace: str = DEFAULT_NAMESPACE
    ) -> None:
        problems: list[str] = []
        if isinstance(queues, str):
            problems.append(f"queues: expected a list of queue names, got the string {queues!r}")
            queues = ()
        names = list(dict.fromkeys(queues))
        if not names and not problems:
            problems.append("queues: at least one queue name is needed")
        for name in names:
            if not _QUEUE_RE.fullmatch(name):
                problems.append(f"queues: invalid Dramatiq queue name {name!r}")
            elif name.endswith((".DQ", ".XQ")):
                problems.append(f"queues: {name!r} is a delay or dead-letter queue; name the queue itself")
        if not namespace or namespace != namespace.strip():
            problems.append(f"prefix: invalid Dramatiq namespace {namespace!r}")
        if problems:
            raise ConfigError(problems)
        self._client = client
        self._queues = tuple(names)
        self._namespace = namespace
        self._keys = [f"{namespace}:__heartbeats__"]
        for name in self._queues:
            full = f"{namespace}:{name}"
            self._keys += [full, f"{full}.msgs", f"{full}.DQ", f"{full}.DQ.msgs"]
        self._script = client.register_script(_LUA)

    def __repr__(self) -> str:
        return f"DramatiqSource({describe(self._client)}, queues={list(self._queues)!r}, namespace={self._namespace!r})"

    @property
    def queues(self) -> tuple[str, ...]:
        return self._queues

    def read(self, now: float) -> Reading:
        """Read every queue at wall-clock time ``now`` (epoch seconds).

        Raises SignalError when Redis cannot be read or answers with values that make no
        sense; the message names the server with its password masked.
        """
        args: list[str | int] = [repr(now * 1000.0), f"{self._namespace}:__acks__.", HEAD_WINDOW, DELAY_WINDOW]
        try:
            reply = self._script(keys=self._keys, args=[*args, *self._queues])
        except redis.RedisError as exc:
            raise signal_error(f"cannot read Dramatiq queues {', '.join(self._queues)}", self._client, exc) from exc
        if not isinstance(reply, list) or len(reply) != len(self._queues):
            raise SignalError(f"unexpected reply from the Dramatiq read script: {reply!r:.200}")

        depth = 0
        busy = 0
        latency: float | None = 0.0
        for name, row in zip(self._queues, reply, strict=True):
            q_depth, q_latency, q_busy = _queue_figures(name, row, now)
            depth += q_depth
            busy += q_busy
            if latency is not None:
                latency = None if q_latency is None else max(latency, q_latency)
        return Reading(
            at=now,
            depth=check_count("dramatiq depth", depth),
            latency=latency,
            busy=check_count("dramatiq busy", busy),
        )

    def close(self) -> None:
        """Drop the client's connections (redis-py opens new ones if it is used again)."""
        self._client.close()


def _queue_figures(name: str, row: Any, now: float) -> tuple[int, float | None, int]:
    """(depth, latency, busy) of one queue from its part of the script's reply."""
    if not isinstance(row, list) or len(row) != 5:
        raise SignalError(f"unexpected reply from the Dramatiq read script for queue {name!r}: {row!r:.200}")
    length, head, busy, due, oldest_due = row
    length = check_count(f"dramatiq queue {name!r} length", length)
    busy = check_count(f"dramatiq queue {name!r} unacknowledged messages", busy)
    due = check_count(f"dramatiq queue {name!r} due delayed messages", due)

    ages: list[float] = []
    if oldest_due is not None:
        eta = _millis(name, "eta", oldest_due)
        ages.append(check_seconds(f"dramatiq queue {name!r} delayed age", now - eta / 1000.0))
    head_text = _text(head) if head is not None else ""
    if length:
        if head_text == "j":
            return length + due, None, busy  # not JSON (PickleEncoder): latency unknown
        if head_text == "b":
            raise SignalError(f"dramatiq queue {name!r}: the head message has no numeric message_timestamp")
        if head_text:
            stamp = _millis(name, "message_timestamp", head)
            ages.append(check_seconds(f"dramatiq queue {name!r} latency", now - stamp / 1000.0))
        else:
            # Ids wait but none of the first HEAD_WINDOW has a message: unknown, not 0.
            return length + due, None, busy
    return length + due, max(ages, default=0.0), busy


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _millis(queue: str, what: str, raw: object) -> float:
    try:
        return float(_text(raw))
    except ValueError as exc:
        raise SignalError(f"dramatiq queue {queue!r}: {what} is not a number: {raw!r:.100}") from exc


def build(name: str, process: ProcessConfig, settings: Settings, connections: Connections) -> DramatiqSource:
    """The ``dramatiq`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    namespace = DEFAULT_NAMESPACE if process.prefix is None else process.prefix
    return DramatiqSource(client, process.queue_names(), namespace=namespace)
