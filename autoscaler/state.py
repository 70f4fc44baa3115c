"""Where the engine's memory between ticks lives, and who may act.

The engine (:mod:`autoscaler.policy`) is pure: it gets a :class:`ProcessState` and returns
the next one. The daemon keeps them in a :class:`StateStore`:

- :class:`MemoryState`: this process only, for a single instance without Redis. A restart
  forgets pending downscale delays; the engine then starts conservatively (no scale-down
  before a full ``DOWNSCALE_DELAY``).
- :class:`RedisState`: in ``AUTOSCALER_STATE_URL`` (by default the app's Redis), so the
  daily dyno restart neither forgets a pending downscale delay nor scales down at once.

With Redis, a :class:`Lease` makes sure that of two daemons (a worker scaled to 2, or the
overlap of an old and a new dyno during a restart) exactly one acts. Keys, for app ``A``::

    autoscaler:A:state:<process>   STRING  JSON of the ProcessState (kept 7 days)
    autoscaler:A:leader            STRING  the leader's instance id, with a TTL of one interval
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import uuid
from typing import Any, Protocol

import redis

from autoscaler.errors import StateError
from autoscaler.policy import ProcessState
from autoscaler.signals.redis_conn import describe

STATE_TTL = 7 * 86400


class StateStore(Protocol):
    """Keeps one ProcessState per process type."""

    description: str

    def get(self, process: str) -> ProcessState: ...

    def put(self, process: str, state: ProcessState) -> None: ...


class MemoryState:
    """State kept in this process only."""

    description = "in memory (single instance; forgotten on restart)"

    def __init__(self) -> None:
        self._states: dict[str, ProcessState] = {}

    def get(self, process: str) -> ProcessState:
        return self._states.get(process, ProcessState())

    def put(self, process: str, state: ProcessState) -> None:
        self._states[process] = state


def state_to_json(state: ProcessState) -> str:
    return json.dumps(dataclasses.asdict(state), separators=(",", ":"))


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def state_from_json(text: str | bytes) -> ProcessState:
    """The inverse of :func:`state_to_json`; unknown fields (from a newer version) are ignored,
    missing ones take their defaults. Raises StateError on anything else."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        known = {f.name for f in dataclasses.fields(ProcessState)}
        return ProcessState(**{key: _tuples(value) for key, value in data.items() if key in known})
    except (ValueError, TypeError) as exc:
        raise StateError(f"stored state is not readable: {exc}") from exc


class RedisState:
    """ProcessState per process type in Redis. A failed read or write raises StateError; the
    daemon then keeps working from the state it last had in memory."""

    def __init__(self, client: redis.Redis, app: str) -> None:
        self.client = client
        self.prefix = f"autoscaler:{app}"
        self.description = f"in Redis ({describe(client)})"
        self._cache: dict[str, ProcessState] = {}

    def _key(self, process: str) -> str:
        return f"{self.prefix}:state:{process}"

    def get(self, process: str) -> ProcessState:
        try:
            raw = self.client.get(self._key(process))
        except redis.RedisError as exc:
            if process in self._cache:
                return self._cache[process]
            raise StateError(f"reading state from {describe(self.client)}: {type(exc).__name__}") from exc
        state = ProcessState() if raw is None else state_from_json(raw)
        self._cache[process] = state
        return state

    def put(self, process: str, state: ProcessState) -> None:
        self._cache[process] = state
        try:
            self.client.set(self._key(process), state_to_json(state), ex=STATE_TTL)
        except redis.RedisError as exc:
            raise StateError(f"writing state to {describe(self.client)}: {type(exc).__name__}") from exc


def instance_id() -> str:
    """Who this daemon is, in logs and in the lease: the dyno name, host and a random part."""
    dyno = os.environ.get("DYNO") or socket.gethostname()
    return f"{dyno}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


LEASE_MIN_TTL = 10.0
"""Seconds a lease lasts at least, whatever the interval: with a 2 s tick, a leader slowed for a
moment (a slow Redis reply, a long pause) must not lose the lead to a stand-by and get it back."""


class Lease:
    """Leadership among daemons of the same app: ``SET NX PX`` to take it, a compare-and-renew
    script to keep it, compare-and-delete to give it up on a clean stop. The TTL is one tick
    interval, at least :data:`LEASE_MIN_TTL`, and the leader renews it several times an interval,
    so when the leader dies a stand-by takes over once the TTL has run out, and at once after a
    clean stop."""

    def __init__(self, client: redis.Redis, app: str, ttl: float, owner: str | None = None) -> None:
        self.client = client
        self.key = f"autoscaler:{app}:leader"
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.owner = owner or instance_id()
        self.held = False

    def acquire(self) -> bool:
        """Take or keep the lease. True when this instance leads. Raises StateError when Redis
        cannot say (the daemon then does not act: two leaders are worse than none for a tick)."""
        try:
            if self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms):
                self.held = True
            else:
                self.held = bool(self.client.eval(_RENEW, 1, self.key, self.owner, self.ttl_ms))
        except redis.RedisError as exc:
            self.held = False
            raise StateError(f"leader lease in {describe(self.client)}: {type(exc).__name__}") from exc
        return self.held

    def leader(self) -> str | None:
        try:
            value = self.client.get(self.key)
        except redis.RedisError:
            return None
        return value.decode() if isinstance(value, bytes) else value

    def release(self) -> None:
        """Give the lease up (clean stop), so a stand-by takes over at its next tick."""
        if not self.held:
            return
        with contextlib.suppress(redis.RedisError):  # if it fails, the lease expires within one interval
            self.client.eval(_RELEASE, 1, self.key, self.owner)
        self.held = False
