"""Celery queues read from the broker: Redis (kombu's ``redis`` transport) or RabbitMQ.

The daemon does not need Celery: it reads the broker's own data, as kombu 5.x and
Celery 5.x lay it out (checked against kombu 5.7.0 and celery 5.7.0).

Redis (``redis://``, ``rediss://``)
-----------------------------------

``P`` is kombu's ``global_keyprefix`` transport option (default none), prepended to every
key; ``sep`` (default ``"\\x06\\x16"``) and ``priority_steps`` (default ``[0, 3, 6, 9]``)
are transport options too. Set all three as the app sets them (``PREFIX``,
``PRIORITY_SEP``, ``PRIORITY_STEPS``).

=============================  =====  =====================================================
``P<queue>``                   LIST   messages of priority step 0. Publish ``LPUSH``,
                                      workers ``BRPOP``/``RPOP``: the oldest is at index −1.
``P<queue><sep><step>``        LIST   one list per non-zero step; a message goes to the
                                      highest step ≤ its priority (priority 5 → step 3).
                                      Workers drain step 0 first.
``Punacked``                   HASH   delivery tag → JSON ``[message, exchange,
                                      routing_key]``: prefetched, running and ETA-held
                                      tasks of every queue. Restored to the list after
                                      ``visibility_timeout`` (1 h) if never acked.
``P_kombu.binding.<exchange>`` SET    ``routing_key<sep>pattern<sep>queue`` members.
=============================  =====  =====================================================

A message is JSON: ``headers`` (Celery's protocol 2: ``id``, ``eta``, ...) and
``properties``. ``headers.eta`` is ISO 8601 (an offset, or naive = UTC), set for
countdown/ETA tasks and retries; such a task is published at once and only runs after
its ETA. There is no publish time unless the app stamps one.

What one read reports, summed over the configured queues, in one round trip (a
read-only Lua script; no ``KEYS``, no writes):

* ``depth`` = Σ ``LLEN`` over every priority list, minus the tasks with a future ETA
  among the :data:`TAIL_WINDOW` oldest of each list (read ten at a time; no further ten
  once :data:`TAIL_WINDOW_BYTES` have been read). Bound: exact while no list is longer
  than its window; in a longer list, future-ETA tasks further from the tail count as
  waiting. (While workers run they fetch ETA tasks at once and hold them in ``unacked``,
  so long lists of them only build up when no worker runs.)
* ``latency`` = seconds the oldest ready task has waited: the first task from the tail of
  each list without a future ETA, and also the head of the list (a task rejected with
  ``requeue`` is pushed back there). Its ready time is its publish stamp — our own
  ``autoscaler_published_at`` header (:mod:`autoscaler.celery`), judoscale's
  ``properties.published_at`` or hirefire-resource's ``run_at`` header, first found — or
  its ETA when that is later. Without a stamp or past ETA the source tracks the tail
  task's ``headers.id`` across reads and reports how long it has been seen at the tail,
  with ``latency_is_lower_bound=True`` (also when the whole tail window holds future-ETA
  tasks). Tasks prefetched into ``unacked`` are not examined.
* ``busy`` = entries of ``unacked`` that came from a configured queue and do not hold a
  future ETA: prefetched tasks, and running ones only with ``task_acks_late=True``. With
  Celery's default early acknowledgement a task leaves Redis when it starts, so nothing
  in the broker shows it running (checked with a real worker). The queue of
  an entry is its routing key for the anonymous exchange (Celery's default), else the
  queues its exchange binds that routing key to (direct routing), else its routing key.
  Bound: up to :data:`UNACKED_LIMIT` entries are examined; above it, that many are
  sampled (``HSCAN``; delivery tags are random UUIDs) and the count is scaled to
  ``HLEN``. An entry left by a worker that died counts until kombu puts it back on its
  list (after ``visibility_timeout``).

RabbitMQ (``amqp://``, ``amqps://``; ``CLOUDAMQP_URL``)
-------------------------------------------------------

* Without ``MANAGEMENT_URL``: ``depth`` = ``message_count`` of a passive
  ``queue.declare`` per queue, on one long-lived connection: ready messages only, every
  priority of an ``x-max-priority`` queue included, prefetched and running ones not.
  ``busy`` and ``latency`` are unknown (``None``).
* With ``MANAGEMENT_URL``: one ``GET /api/queues/{vhost}?columns=...``: ``depth`` =
  ``messages_ready``, ``busy`` = ``messages_unacknowledged`` (running, prefetched and, on
  classic queues, ETA-held), ``latency`` = ``now − head_message_timestamp`` when RabbitMQ
  reports it (the head message has an AMQP ``timestamp``: :mod:`autoscaler.celery` sets
  one; RabbitMQ reports it only for classic queues), else unknown. The statistics are a
  few seconds old.
* A queue that does not exist has nothing waiting (0): Celery declares queues when it
  first publishes to them or a worker starts. Celery's ``celery_delayed_*`` queues
  (native delayed delivery on quorum queues: tasks whose ETA has not come) cannot be
  configured as queues. Messages are never consumed, not even to peek and requeue.

Every failure (connection, timeout, authentication, a malformed value) raises
:class:`~autoscaler.errors.SignalError` with passwords masked; never 0. The source never
looks at the clock: ``now`` comes from the caller.
"""

from __future__ import annotations

import contextlib
import json
import math
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import amqp
import httpx
import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.redact import MASK, Redactor, redact_url
from autoscaler.signals import Reading, check_count, check_seconds
from autoscaler.signals.redis_conn import describe, signal_error

if TYPE_CHECKING:
    from autoscaler.config import ProcessConfig, Settings
    from autoscaler.signals.build import Connections

DEFAULT_SEP = "\x06\x16"
"""kombu's separator between a queue name and its priority step."""
DEFAULT_PRIORITY_STEPS: tuple[int, ...] = (0, 3, 6, 9)
"""kombu's ``PRIORITY_STEPS``."""
UNACKED_KEY = "unacked"
"""kombu's ``unacked_key`` transport option (its default; not configurable here)."""
BINDING_KEY_PREFIX = "_kombu.binding."

PUBLISHED_AT_HEADER = "autoscaler_published_at"
"""Header stamped by :mod:`autoscaler.celery` (kept equal to its constant by a test)."""

TAIL_WINDOW = 50
"""Oldest messages examined per list for future ETAs (and for the oldest ready task)..."""
TAIL_WINDOW_BYTES = 256 * 1024
"""... or fewer, once this many bytes of them have been examined (large task arguments)."""
UNACKED_LIMIT = 1000
"""``unacked`` entries examined per read; above this, a sample scaled to ``HLEN``."""

DELAYED_QUEUE_PREFIX = "celery_delayed_"
MANAGEMENT_MAX_BYTES = 4 * 1024 * 1024
"""Largest management API answer read; a bigger one is an error, not a partial read."""
MANAGEMENT_COLUMNS = "name,messages_ready,messages_unacknowledged,consumers,head_message_timestamp"

AMQP_SCHEMES = {"amqp": 5672, "amqps": 5671, "pyamqp": 5672}
REDIS_SCHEMES = {"redis", "rediss"}

# KEYS: the list keys (queue × step), then the unacked hash. ARGV: now, tail window,
# window bytes, unacked limit, binding key prefix, sep, stamp header, then the queue names.
# Per list: {LLEN, future ETAs in the window, examined, no ready task in the window (0/1),
#            tail candidate|false, head candidate|false}
# where a candidate is {id, our stamp, properties.published_at, run_at, eta} (false when
# absent; numbers as %.17g text, since Lua numbers come back truncated to integers).
# Then {HLEN unacked, entries examined, entries of our queues without a future ETA}.
_LUA = r"""
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local window_bytes = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local binding_prefix = ARGV[5]
local sep = ARGV[6]
local stamp_header = ARGV[7]
local wanted = {}
for i = 8, #ARGV do wanted[ARGV[i]] = true end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- ISO 8601 as Python's isoformat writes it (offset, 'Z' or naive = UTC) -> epoch seconds
local function epoch(text)
  local y, mo, d, h, mi, s, rest = string.match(text,
    '^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d%.?%d*)(.*)$')
  if not y then return nil end
  local offset = 0
  if rest ~= '' and rest ~= 'Z' then
    local sign, oh, om, osec = string.match(rest, '^([+-])(%d%d):?(%d%d):?(%d*%.?%d*)$')
    if not sign then return nil end
    offset = tonumber(oh) * 3600 + tonumber(om) * 60 + (tonumber(osec) or 0)
    if sign == '-' then offset = -offset end
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
end

-- The first "eta" key of a message is headers.eta (the body is base64, and Celery puts
-- eta before every free-form header). nil: no ETA; a number: its epoch; error if unreadable.
local function eta_of(msg)
  local e = string.find(msg, '"eta":', 1, true)
  if not e then return nil end
  e = e + 5
  local c = string.sub(msg, e + 1, e + 1)
  while c == ' ' or c == '\t' or c == '\r' or c == '\n' do
    e = e + 1
    c = string.sub(msg, e + 1, e + 1)
  end
  if c ~= '"' then return nil end
  local close = string.find(msg, '"', e + 2, true)
  local value = close and epoch(string.sub(msg, e + 2, close - 1))
  if not value then
    return redis.error_reply('unreadable eta in a Celery message: ' .. string.sub(msg, e + 1, e + 40))
  end
  return value
end

local function field(value)
  if value == nil or value == cjson.null then return false end
  if type(value) == 'number' then return string.format('%.17g', value) end
  if type(value) == 'string' then return value end
  return '?'
end

local function candidate(msg)
  local ok, m = pcall(cjson.decode, msg)
  if not ok or type(m) ~= 'table' then
    return redis.error_reply('a Celery message is not JSON: ' .. string.sub(msg, 1, 60))
  end
  local h = type(m.headers) == 'table' and m.headers or {}
  local p = type(m.properties) == 'table' and m.properties or {}
  return {field(h.id), field(h[stamp_header]), field(p.published_at), field(h.run_at), field(h.eta)}
end

local out = {}
for k = 1, #KEYS - 1 do
  local key = KEYS[k]
  local length = redis.call('LLEN', key)
  local future, examined, bytes, none_ready = 0, 0, 0, 0
  local tail, head = false, false
  local tail_msg, tail_at, last_msg, last_ready = nil, 0, nil, false
  -- From the tail (the oldest) towards the head, ten at a time: at most `window`
  -- messages, and no further chunk once `window_bytes` have been examined.
  while examined < window and examined < length and bytes < window_bytes do
    local count = math.min(10, window - examined)
    local chunk = redis.call('LRANGE', key, -(examined + count), -(examined + 1))
    if #chunk == 0 then break end
    for i = #chunk, 1, -1 do
      local msg = chunk[i]
      examined = examined + 1
      bytes = bytes + #msg
      local eta = eta_of(msg)
      if type(eta) == 'table' then return eta end
      last_msg, last_ready = msg, not (eta and eta > now)
      if not last_ready then
        future = future + 1
      elseif not tail_msg then
        tail_msg, tail_at = msg, examined
      end
    end
  end
  if tail_msg then
    tail = candidate(tail_msg)
    if tail.err then return tail end
  elseif length > examined then
    none_ready = 1
  end
  -- The head (index 0), where a task rejected with requeue goes back.
  local first, first_ready = nil, false
  if length > examined then
    first = redis.call('LINDEX', key, 0)
    if first then
      local eta = eta_of(first)
      if type(eta) == 'table' then return eta end
      first_ready = not (eta and eta > now)
    end
  elseif examined > tail_at then
    first, first_ready = last_msg, last_ready
  end
  if first and first_ready then
    head = candidate(first)
    if head.err then return head end
  end
  out[#out + 1] = {length, future, examined, none_ready, tail, head}
end

local tables = {}
local function routed_to_us(exchange, routing_key)
  if exchange == '' then return wanted[routing_key] == true end
  local bindings = tables[exchange]
  if not bindings then
    bindings = {}
    for _, member in ipairs(redis.call('SMEMBERS', binding_prefix .. exchange)) do
      local a = string.find(member, sep, 1, true)
      local b = a and string.find(member, sep, a + #sep, true)
      if b then
        bindings[#bindings + 1] = {string.sub(member, 1, a - 1), string.sub(member, b + #sep)}
      end
    end
    tables[exchange] = bindings
  end
  local bound = false
  for _, binding in ipairs(bindings) do
    if binding[1] == routing_key then
      bound = true
      if wanted[binding[2]] then return true end
    end
  end
  if bound then return false end
  return wanted[routing_key] == true
end

local unacked = KEYS[#KEYS]
local total = redis.call('HLEN', unacked)
local values
if total <= limit then
  values = redis.call('HVALS', unacked)
else
  values = {}
  local cursor = '0'
  repeat
    local page = redis.call('HSCAN', unacked, cursor, 'COUNT', 100)
    cursor = page[1]
    for i = 2, #page[2], 2 do values[#values + 1] = page[2][i] end
  until cursor == '0' or #values >= limit
end
local mine = 0
for _, value in ipairs(values) do
  -- The value ends with ', "exchange", "routing_key"]': match it reversed, anchored.
  local kr, xr = string.match(string.reverse(string.sub(value, -300)), '^%s*%]"([^"]*)"%s*,%s*"([^"]*)"')
  if not kr then
    return redis.error_reply('an entry of the Celery unacked hash is not [message, exchange, routing_key]')
  end
  local eta = eta_of(value)
  if type(eta) == 'table' then return eta end
  if not (eta and eta > now) and routed_to_us(string.reverse(xr), string.reverse(kr)) then mine = mine + 1 end
end
out[#out + 1] = {total, #values, mine}
return out
"""


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A ready task near one end of a list, as the script found it."""

    task_id: str | None
    ready_at: float | None
    """When it became ready (publish stamp, or a later past ETA); None: no stamp, no ETA."""


class CeleryRedisSource:
    """Depth, latency and busy count of Celery queues on a Redis broker, one round trip.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect`
    (any ``redis.Redis`` works). ``queues`` are bare queue names; ``prefix``, ``sep`` and
    ``priority_steps`` are kombu's ``global_keyprefix``, ``sep`` and ``priority_steps``.
    """

    def __init__(
        self,
        client: redis.Redis,
        queues: Sequence[str] = ("celery",),
        *,
        prefix: str = "",
        sep: str = DEFAULT_SEP,
        priority_steps: Sequence[int] = DEFAULT_PRIORITY_STEPS,
    ) -> None:
        names = _queue_names(queues)
        problems: list[str] = []
        if not sep:
            problems.append("priority_sep: must not be empty")
        steps = sorted(set(priority_steps))
        if not steps:
            problems.append("priority_steps: at least one step is needed (kombu's default: 0,3,6,9)")
        problems += [f"priority_steps: {step} is not between 0 and 9" for step in steps if not 0 <= step <= 9]
        if problems:
            raise ConfigError(problems)
        self._client = client
        self._queues = names
        self._prefix = prefix
        self._sep = sep
        self._steps = tuple(steps)
        # (queue, step, key); step 0's list is the queue's own key. kombu never uses the
        # base key when 0 is not a step, but reading an absent key costs nothing.
        self._lists: list[tuple[str, int, str]] = []
        for name in names:
            self._lists.append((name, 0, f"{prefix}{name}"))
            self._lists += [(name, step, f"{prefix}{name}{sep}{step}") for step in self._steps if step]
        self._keys = [key for _, _, key in self._lists] + [f"{prefix}{UNACKED_KEY}"]
        self._args: list[str | int] = [
            TAIL_WINDOW,
            TAIL_WINDOW_BYTES,
            UNACKED_LIMIT,
            f"{prefix}{BINDING_KEY_PREFIX}",
            sep,
            PUBLISHED_AT_HEADER,
            *names,
        ]
        self._script = client.register_script(_LUA)
        # Tail task id and when it was first seen there, per list: the lower-bound latency
        # of lists whose tasks carry no publish stamp.
        self._seen: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return (
            f"CeleryRedisSource({describe(self._client)}, queues={list(self._queues)!r}, "
            f"prefix={self._prefix!r}, sep={self._sep!r}, priority_steps={list(self._steps)!r})"
        )

    @property
    def keys(self) -> list[str]:
        """Every key the source reads: the priority lists, then the unacked hash."""
        return list(self._keys)

    def read(self, now: float) -> Reading:
        """Read every queue at wall-clock time ``now`` (epoch seconds)."""
        try:
            reply = self._script(keys=self._keys, args=[repr(float(now)), *self._args])
        except redis.RedisError as exc:
            raise signal_error(f"cannot read Celery queues {', '.join(self._queues)}", self._client, exc) from exc
        if not isinstance(reply, list) or len(reply) != len(self._lists) + 1:
            raise SignalError(f"unexpected reply from the Celery read script: {reply!r:.200}")

        depth = 0
        latency = 0.0
        lower_bound = False
        for (queue, step, key), row in zip(self._lists, reply[:-1], strict=True):
            where = f"celery queue {queue!r}" + (f" step {step}" if step else "")
            waiting, age, bounded = self._list_figures(where, key, row, now)
            depth += waiting
            latency = max(latency, age)
            lower_bound = lower_bound or bounded
        return Reading(
            at=now,
            depth=check_count("celery depth", depth),
            latency=check_seconds("celery latency", latency),
            busy=self._busy(reply[-1]),
            latency_is_lower_bound=lower_bound,
        )

    def close(self) -> None:
        """Drop the client's connections (redis-py opens new ones if it is used again)."""
        self._client.close()

    def _list_figures(self, where: str, key: str, row: Any, now: float) -> tuple[int, float, bool]:
        """(waiting tasks, latency, latency is a lower bound) of one priority list."""
        if not isinstance(row, list) or len(row) != 6:
            raise SignalError(f"unexpected reply from the Celery read script for {where}: {row!r:.200}")
        length = check_count(f"{where} length", row[0])
        future = check_count(f"{where} future ETA tasks", row[1])
        none_ready = row[3] == 1
        if future > length:
            raise SignalError(f"{where}: {future} future ETA tasks in a list of {length}")
        tail = _candidate(where, row[4])
        head = _candidate(where, row[5])

        ages: list[float] = []
        lower_bound = none_ready
        if tail is not None and tail.ready_at is None:
            # No stamp: how long this task has been seen at the tail, across reads.
            lower_bound = True
            seen = self._seen.get(key)
            if tail.task_id is None:
                self._seen.pop(key, None)
            elif seen is not None and seen[0] == tail.task_id:
                ages.append(now - seen[1])
            else:
                self._seen[key] = (tail.task_id, now)
        else:
            self._seen.pop(key, None)
        ages += [now - c.ready_at for c in (tail, head) if c is not None and c.ready_at is not None]
        age = max((check_seconds(f"{where} latency", a) for a in ages), default=0.0)
        return length - future, age, lower_bound

    def _busy(self, row: Any) -> int:
        if not isinstance(row, list) or len(row) != 3:
            raise SignalError(f"unexpected reply from the Celery read script for unacked: {row!r:.200}")
        total = check_count("celery unacked entries", row[0])
        examined = check_count("celery unacked entries examined", row[1])
        mine = check_count("celery unacked entries of the queues", row[2])
        if examined >= total or examined == 0:
            return mine
        return check_count("celery busy", math.ceil(mine * total / examined))


def _candidate(where: str, raw: Any) -> _Candidate | None:
    """A candidate task from the script's ``{id, stamp, published_at, run_at, eta}``."""
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != 5:
        raise SignalError(f"unexpected candidate task from the Celery read script for {where}: {raw!r:.200}")
    task_id, ours, published_at, run_at, eta = (None if value is None else _text(value) for value in raw)
    stamp: float | None = None
    if ours is not None:
        stamp = _number(where, PUBLISHED_AT_HEADER, ours)
    elif published_at is not None:
        stamp = _number(where, "published_at", published_at)
    elif run_at is not None:
        stamp = _iso(where, "run_at", run_at)
    eta_at = None if eta is None else _iso(where, "eta", eta)
    if stamp is None:
        return _Candidate(task_id, eta_at)
    return _Candidate(task_id, stamp if eta_at is None else max(stamp, eta_at))


def _number(where: str, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SignalError(f"{where}: task {name} is not a number: {text!r:.60}") from None
    if not math.isfinite(value):
        raise SignalError(f"{where}: task {name} is not a finite number: {text!r:.60}")
    return value


def _iso(where: str, name: str, text: str) -> float:
    """An ISO 8601 time as Celery and hirefire-resource write it; naive means UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SignalError(f"{where}: task {name} is not an ISO 8601 time: {text!r:.60}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _queue_names(queues: Sequence[str]) -> tuple[str, ...]:
    problems: list[str] = []
    if isinstance(queues, str):
        raise ConfigError([f"queues: expected a list of queue names, got the string {queues!r}"])
    names = list(dict.fromkeys(queues))  # a queue named twice is counted once
    if not names:
        problems.append("queues: at least one queue name is needed")
    problems += [f"queues: invalid queue name {name!r}" for name in names if not name or name.isspace()]
    if problems:
        raise ConfigError(problems)
    return tuple(names)


# --- RabbitMQ ---------------------------------------------------------------------------


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
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError([f"url: invalid AMQP URL {redact_url(url)!r}: {exc}"]) from None
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
        names = _queue_names(queues)
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
                self._http = httpx.Client(auth=auth, timeout=self._timeout, follow_redirects=False)
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
        try:
            with http.stream("GET", url, params={"columns": MANAGEMENT_COLUMNS}) as response:
                if response.status_code != 200:
                    raise SignalError(f"{where} answered HTTP {response.status_code} {response.reason_phrase}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MANAGEMENT_MAX_BYTES:
                        raise SignalError(f"{where} answered more than {MANAGEMENT_MAX_BYTES} bytes")
        except httpx.HTTPError as exc:
            detail = self._hide(str(exc)) or "no detail"
            raise SignalError(f"cannot read {where}: {type(exc).__name__}: {detail}") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise SignalError(f"{where} did not answer JSON: {bytes(body[:100])!r}") from exc
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
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError([f"management_url: invalid URL {redact_url(url)!r}: {exc}"]) from None
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


# --- build --------------------------------------------------------------------------------


def build(
    name: str, process: ProcessConfig, settings: Settings, connections: Connections
) -> CeleryRedisSource | CeleryAMQPSource:
    """The ``celery`` source of one process type (see :mod:`autoscaler.signals.build`).

    The broker URL is the process's ``URL``, else ``CLOUDAMQP_URL``, else
    ``REDIS_TLS_URL``/``REDIS_URL``; its scheme picks Redis or RabbitMQ.
    """
    var = f"AUTOSCALER_PROCESSES__{name.upper()}"
    url = settings.require_source_url(name, process)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    try:
        if scheme in REDIS_SCHEMES:
            client = connections.redis(url, process.verify_tls)
            return CeleryRedisSource(
                client,
                process.queue_names(),
                prefix=process.prefix or "",
                sep=process.priority_sep if process.priority_sep is not None else DEFAULT_SEP,
                priority_steps=process.priority_steps or DEFAULT_PRIORITY_STEPS,
            )
        if scheme in AMQP_SCHEMES:
            return CeleryAMQPSource(
                url, process.queue_names(), management_url=process.management_url, timeout=connections.timeout
            )
    except ConfigError as exc:
        raise ConfigError([_named(var, problem) for problem in exc.problems]) from None
    raise ConfigError(
        [f"{var}__URL: the celery source reads redis(s):// or amqp(s):// brokers, got {redact_url(url)!r}"]
    )


def _named(var: str, problem: str) -> str:
    """``"queues: ..."`` → ``"AUTOSCALER_PROCESSES__WORKER__QUEUES: ..."``."""
    field, _, detail = problem.partition(": ")
    return f"{var}__{field.upper()}: {detail}"
