"""Celery queues on a Redis broker (kombu's ``redis`` transport), read from kombu's keys.

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

What one read reports, summed over the configured queues, in one round trip (the
read-only Lua script ``redis.lua`` beside this module; no ``KEYS``, no writes):

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import Reading, check_count, check_seconds, reply_text
from autoscaler.signals.common import iso_epoch, lua_script, queue_names, reply_number
from autoscaler.signals.redis_conn import RedisSource, describe, run_script

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

# The read script (redis.lua says what it is given and returns).
_LUA = lua_script(__name__)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A ready task near one end of a list, as the script found it."""

    task_id: str | None
    ready_at: float | None
    """When it became ready (publish stamp, or a later past ETA); None: no stamp, no ETA."""


class CeleryRedisSource(RedisSource):
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
        names, problems = queue_names(queues)
        if problems:
            raise ConfigError(problems)
        if not sep:
            problems.append("priority_sep: must not be empty")
        steps = sorted(set(priority_steps))
        if not steps:
            problems.append("priority_steps: at least one step is needed (kombu's default: 0,3,6,9)")
        problems += [f"priority_steps: {step} is not between 0 and 9" for step in steps if not 0 <= step <= 9]
        if problems:
            raise ConfigError(problems)
        super().__init__(client)
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
        reply = run_script(
            self._script,
            self._client,
            keys=self._keys,
            args=[repr(float(now)), *self._args],
            what=f"Celery queues {', '.join(self._queues)}",
            name="Celery",
            rows=len(self._lists) + 1,
        )

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
    task_id, ours, published_at, run_at, eta = (None if value is None else reply_text(value) for value in raw)
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
    value = reply_number(where, f"task {name}", text)
    if not math.isfinite(value):
        raise SignalError(f"{where}: task {name} is not a finite number: {text!r:.60}")
    return value


def _iso(where: str, name: str, text: str) -> float:
    """An ISO 8601 time as Celery and hirefire-resource write it; naive means UTC."""
    try:
        return iso_epoch(text)
    except ValueError:
        raise SignalError(f"{where}: task {name} is not an ISO 8601 time: {text!r:.60}") from None
