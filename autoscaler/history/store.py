"""Where the history is kept: :class:`RedisHistory` in the state store, :class:`MemoryHistory`
in the daemon's own memory when there is none. Both behind :class:`HistoryStore`, so the
daemon never knows which.

Keys in Redis, for app ``A`` (every one expires :data:`TTL` after its last write)::

    autoscaler:A:history:<process>:<hour>   HASH    minute of the hour (0-59) -> the slot's line
    autoscaler:A:history:<process>:events   LIST    the latest events as JSON, newest first
    autoscaler:A:history:status             STRING  JSON of the latest recording tick

``<hour>`` counts hours since the epoch. A hash holds at most 60 short lines, which Redis keeps
in its compact encoding (a listpack): 8 days of one process type take about 1 MB.

A recording tick is **one** round trip, whatever the number of process types: one ``EVALSHA``
of :data:`RECORD` merges every process type's minute (largest values kept, last values
replaced, the same merge as :func:`autoscaler.history.model.merge`), pushes the new events,
sets the status and renews the expiries. A read is one pipelined round trip too.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import redis

from autoscaler.errors import StateError
from autoscaler.history.model import SLOT, Event, History, Slot, Status, TickRecord, decode, encode, merge
from autoscaler.signals.redis_conn import describe
from autoscaler.state import Lease

TTL = 9 * 86400
"""Seconds a history key lives after its last write: 8 days to read, and a day to spare."""
EVENTS_KEPT = 200
"""Events kept per process type."""
MEMORY_HOURS = 6.0
"""Hours :class:`MemoryHistory` keeps."""

RECORD = """
-- KEYS: the status key, then per process type its hour hash and its events list.
-- ARGV: TTL, events kept, status JSON, then per process type: minute field, line, events (JSON), count.
local ttl = tonumber(ARGV[1])
local kept = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[3], 'EX', ttl)
local function larger(old, new)
  if old == '' then return new end
  if new == '' then return old end
  if tonumber(old) >= tonumber(new) then return old end
  return new
end
local a = 4
for k = 2, #KEYS, 2 do
  local hash, events = KEYS[k], KEYS[k + 1]
  local minute, line, count = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local old = redis.call('HGET', hash, minute)
  if old then
    local oc, od, os, oe = string.match(old, '^([^,]*),([^,]*),([^,]*),([^,]*),')
    local nc, nd, ns, ne, rest = string.match(line, '^([^,]*),([^,]*),([^,]*),([^,]*),(.*)$')
    if oc and nc then
      if ne == '' then ne = oe end
      line = larger(oc, nc) .. ',' .. larger(od, nd) .. ',' .. larger(os, ns) .. ',' .. ne .. ',' .. rest
    end
  end
  redis.call('HSET', hash, minute, line)
  redis.call('EXPIRE', hash, ttl)
  if count > 0 then
    for i = 1, count do
      redis.call('LPUSH', events, ARGV[a + 2 + i])
    end
    redis.call('LTRIM', events, 0, kept - 1)
    redis.call('EXPIRE', events, ttl)
  end
  a = a + 3 + count
end
return 1
"""


READ = """
-- KEYS: hour hashes. Returns one string per hash: a line per minute, 'minute line', so that a week
-- of minutes comes back as a few hundred strings rather than tens of thousands of replies.
local out = {}
for i, key in ipairs(KEYS) do
  local fields = redis.call('HGETALL', key)
  local lines = {}
  for j = 1, #fields, 2 do
    lines[#lines + 1] = fields[j] .. ' ' .. fields[j + 1]
  end
  out[i] = table.concat(lines, '\\n')
end
return out
"""


class HistoryStore(Protocol):
    """Keeps what each recording tick saw and did, and reads it back."""

    description: str

    def write(self, record: TickRecord) -> None:
        """Add one tick. Raises StateError when it cannot be written."""
        ...

    def read(self, since: float, until: float, processes: Sequence[str], *, events: int = 50) -> History:
        """The slots of ``processes`` from ``since`` to ``until`` (epoch seconds), at most ``events``
        latest events, the status and the leader. Raises StateError when it cannot be read."""
        ...

    def close(self) -> None:
        """Let go of the connection, if any."""
        ...


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _minutes(since: float, until: float) -> tuple[int, int]:
    return int(since // SLOT), int(until // SLOT)


class RedisHistory:
    """The history in Redis (``AUTOSCALER_STATE_URL``): survives restarts and leader changes."""

    def __init__(self, client: redis.Redis, app: str, *, ttl: int = TTL, kept: int = EVENTS_KEPT) -> None:
        self.client = client
        self.app = app
        self.prefix = f"autoscaler:{app}:history"
        self.ttl = ttl
        self.kept = kept
        self.description = f"in Redis ({describe(client)})"
        self._script = client.register_script(RECORD)
        self._read_sha = client.register_script(READ).sha
        self._lease_key = Lease(client, app, ttl=1.0, owner="-").key

    def hour_key(self, process: str, hour: int) -> str:
        return f"{self.prefix}:{process}:{hour}"

    def events_key(self, process: str) -> str:
        return f"{self.prefix}:{process}:events"

    @property
    def status_key(self) -> str:
        return f"{self.prefix}:status"

    def write(self, record: TickRecord) -> None:
        keys: list[str] = [self.status_key]
        args: list[str | int] = [self.ttl, self.kept, _json(record.status.to_dict())]
        events: dict[str, list[str]] = {}
        for event in record.events:
            events.setdefault(event.process, []).append(_json(event.to_dict()))
        minute = int(record.at // SLOT)
        for sample in record.samples:
            mine = events.pop(sample.process, [])
            keys += [self.hour_key(sample.process, minute // 60), self.events_key(sample.process)]
            args += [minute % 60, encode(sample), len(mine), *mine]
        try:
            self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise StateError(f"writing history to {describe(self.client)}: {type(exc).__name__}") from exc

    def read(self, since: float, until: float, processes: Sequence[str], *, events: int = 50) -> History:
        first, last = _minutes(since, until)
        hours = range(first // 60, last // 60 + 1)
        keys = [self.hour_key(process, hour) for process in processes for hour in hours]
        try:
            replies = self._read(keys, processes, events)
        except redis.RedisError as exc:
            raise StateError(f"reading history from {describe(self.client)}: {type(exc).__name__}") from exc
        history = History(status=_status(replies[0]), leader=_text(replies[1]) if replies[1] is not None else None)
        found: list[Event] = []
        at = 2
        if events > 0:
            for _ in processes:
                found += _events(replies[at])
                at += 1
        per_key = iter(replies[at])
        for process in processes:
            slots: list[Slot] = []
            for hour in hours:
                slots += _slots(process, hour, _text(next(per_key)), first, last)
            history.slots[process] = slots
        history.events = sorted(found, key=lambda e: e.at, reverse=True)[:events]
        return history

    def _read(self, keys: Sequence[str], processes: Sequence[str], events: int) -> list[Any]:
        """One pipelined round trip (two more, once, after Redis lost its scripts: ``SCRIPT LOAD``, again)."""
        for attempt in range(2):
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self.status_key)
            pipe.get(self._lease_key)
            if events > 0:
                for process in processes:
                    pipe.lrange(self.events_key(process), 0, events - 1)
            pipe.evalsha(self._read_sha, len(keys), *keys)
            try:
                replies: list[Any] = pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                self.client.script_load(READ)
                continue
            return replies
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.client.close()


def _status(raw: Any) -> Status | None:
    if raw is None:
        return None
    try:
        return Status.from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        return None


def _events(raw: Iterable[Any]) -> list[Event]:
    found: list[Event] = []
    for item in raw:
        try:
            found.append(Event.from_dict(json.loads(item)))
        except (ValueError, TypeError, KeyError):
            continue
    return found


def _slots(process: str, hour: int, text: str, first: int, last: int) -> list[Slot]:
    slots: list[Slot] = []
    for entry in text.split("\n") if text else ():
        raw_minute, _, line = entry.partition(" ")
        try:
            minute = hour * 60 + int(raw_minute)
        except ValueError:
            continue
        if first <= minute <= last:
            slot = decode(process, minute, line)
            if slot is not None:
                slots.append(slot)
    slots.sort(key=lambda s: s.at)
    return slots


class MemoryHistory:
    """The history in this process only, for the last :data:`MEMORY_HOURS` hours (a daemon
    without a state store): forgotten on restart."""

    def __init__(self, hours: float = MEMORY_HOURS, *, kept: int = EVENTS_KEPT) -> None:
        self.description = f"in memory (the last {hours:g} hours; forgotten on restart)"
        self.keep = int(hours * 3600 // SLOT)
        self._slots: dict[str, dict[int, str]] = {}
        self._events: dict[str, deque[Event]] = {}
        self._kept = kept
        self._status: Status | None = None

    def write(self, record: TickRecord) -> None:
        minute = int(record.at // SLOT)
        self._status = record.status
        for sample in record.samples:
            slots = self._slots.setdefault(sample.process, {})
            if minute not in slots and len(slots) >= self.keep:  # a new minute: drop what is too old
                for old in [m for m in slots if m <= minute - self.keep]:
                    del slots[old]
            slots[minute] = merge(slots.get(minute), encode(sample))
        for event in record.events:
            self._events.setdefault(event.process, deque(maxlen=self._kept)).appendleft(event)

    def read(self, since: float, until: float, processes: Sequence[str], *, events: int = 50) -> History:
        first, last = _minutes(since, until)
        history = History(status=self._status)
        found: list[Event] = []
        for process in processes:
            slots = self._slots.get(process, {})
            decoded = (decode(process, m, slots[m]) for m in sorted(slots) if first <= m <= last)
            history.slots[process] = [slot for slot in decoded if slot is not None]
            found += list(self._events.get(process, ()))[:events]
        history.events = sorted(found, key=lambda e: e.at, reverse=True)[:events]
        return history

    def close(self) -> None:
        return None
