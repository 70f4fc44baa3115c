"""RQ queues read straight from Redis: waiting jobs, the oldest one's age, running jobs.

Key layout of rq 3.0 (checked against its source; 1.x and 2.x use the same keys with a
fixed ``rq`` prefix). ``P`` is the key prefix, ``RQ_KEY_PREFIX`` in rq 3.0 (default
``rq``; ``{...}`` hash tags allowed), read once by rq at import time:

=======================  =====  ==========================================================
``P:queue:Q``            LIST   ids of waiting jobs. Enqueue ``RPUSH``, ``at_front=True``
                                ``LPUSH``, workers take from the head.
``P:queue:Q:intermediate`` LIST ids a worker has taken (``LMOVE``) but not yet started.
``P:job:<id>``           HASH   the job; ``enqueued_at`` = when it was put on the list.
``P:scheduled:Q``        ZSET   ``enqueue_at``/``enqueue_in`` jobs and retries with an
                                interval; score = due time (whole epoch seconds). The
                                scheduler moves due ones onto the list.
``P:deferred:Q``         ZSET   jobs waiting for ``depends_on``: not ready, not counted.
``P:ready:Q``            ZSET   (3.0) dependents whose dependencies are done, waiting to be
                                pushed; score = when they became ready. Transient: only
                                left behind when the enqueuing process died.
``P:wip:Q``              ZSET   StartedJobRegistry. Member ``<job id>:<execution id>``,
                                score = expiry time (now + heartbeat ttl), ``+inf`` for
                                ttl −1. Expired entries belong to dead workers.
=======================  =====  ==========================================================

What one read reports, summed over the configured queues:

* ``depth`` = ``LLEN P:queue:Q`` + due scheduled jobs (``ZCOUNT P:scheduled:Q -inf now``)
  + ``ZCARD P:ready:Q``: every job that could start now. Future scheduled and deferred
  jobs are not counted. Jobs in the intermediate list are neither waiting nor counted
  as busy: rq adds the job to ``P:wip:Q`` *before* removing it from the intermediate
  list, so counting both would count it twice.
* ``latency`` = the largest, over queues, of ``now −`` the oldest of: the oldest
  readable ``enqueued_at`` on the list, the oldest due scheduled score, the oldest ready
  score. ``0.0`` when nothing waits; ``None`` (unknown) when some queue has jobs on its
  list but not one of the examined ids has a readable ``enqueued_at``.
* ``busy`` = unexpired ``P:wip:Q`` entries (``ZCOUNT P:wip:Q (now +inf``). Never
  ``StartedJobRegistry.count``: its cleanup writes, fails jobs and runs callbacks.

Not counted: rate-limited jobs waiting for a concurrency slot (``P:rl:*``): more
workers would not run them sooner.

The source only reads (no ``KEYS``, no cleanup, no ``Queue``/``Job`` objects, which
remove ids of missing jobs when fetched), and never looks at the clock: ``now`` comes
from the caller.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis

from autoscaler.errors import ConfigError, SignalError
from autoscaler.signals import check_count, check_seconds, reply_text
from autoscaler.signals.common import ScriptQueueSource, iso_epoch, lua_script, queue_names, reply_number
from autoscaler.signals.redis_conn import describe

if TYPE_CHECKING:
    from autoscaler.config import RQSettings, Settings
    from autoscaler.signals.build import Connections

# Where the oldest job can be. Ids are RPUSHed at the tail, ``at_front`` ids LPUSHed at
# the head, and workers pop the head, so along the list the enqueue times fall from the
# head down to the oldest job and rise again towards the tail. The oldest job is the
# first one only while no at_front job is waiting in front of it; the last one when every
# waiting job was enqueued at_front. We read HEAD_WINDOW ids at the head and TAIL_WINDOW at
# the tail and take the oldest readable ``enqueued_at`` among them. Bound: the answer is
# exact unless HEAD_WINDOW or more at_front (or vanished) jobs sit in front of the oldest
# job while it is not in the tail window either; then it is a lower bound, the age of the
# oldest job examined. Cost per queue: HEAD_WINDOW + TAIL_WINDOW HGETs of one field.
HEAD_WINDOW = 10
TAIL_WINDOW = 2

# Same character set rq 3.0 accepts for RQ_KEY_PREFIX (rq/defaults.py).
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:{}-]+")

# Why Lua and not a pipeline: the job hashes can only be looked up once the ids at the
# ends of the list are known, so a pipeline needs two round trips (ids, then hashes) and
# a job taken between them is read after it left the queue. One EVALSHA gets everything
# for every queue in one round trip, from one consistent instant. The script (rq.lua,
# which says what it is given and returns) only reads; it reaches job hashes it was not
# given in KEYS, which is fine on a single Redis primary (Heroku KVS) and on a cluster
# needs rq's "{...}" hash-tag prefix.
_LUA = lua_script(__name__)

_STAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


class RQSource(ScriptQueueSource):
    """Depth, latency and busy count of RQ queues, read from Redis with one round trip.

    ``client`` is the long-lived client of :func:`autoscaler.signals.redis_conn.connect`
    (any ``redis.Redis`` works, with or without ``decode_responses``). ``queues`` are bare
    queue names; ``prefix`` is the app's ``RQ_KEY_PREFIX`` (rq 3.0), ``rq`` otherwise.
    """

    KIND = "rq"
    LABEL = "RQ"

    def __init__(self, client: redis.Redis, queues: Sequence[str] = ("default",), *, prefix: str = "rq") -> None:
        names, problems = queue_names(queues)
        if not _PREFIX_RE.fullmatch(prefix):
            problems.append(f"prefix: invalid RQ key prefix {prefix!r} (letters, digits and _.:{{}}- only)")
        if problems:
            raise ConfigError(problems)
        self._prefix = prefix
        keys: list[str] = []
        for name in names:
            keys += [
                f"{prefix}:queue:{name}",
                f"{prefix}:scheduled:{name}",
                f"{prefix}:wip:{name}",
                f"{prefix}:ready:{name}",
            ]
        super().__init__(client, names, keys, _LUA)

    def __repr__(self) -> str:
        return f"RQSource({describe(self._client)}, queues={list(self._queues)!r}, prefix={self._prefix!r})"

    def _script_args(self, now: float) -> list[str | int]:
        return [repr(float(now)), f"{self._prefix}:job:", HEAD_WINDOW, TAIL_WINDOW]

    def _queue_figures(self, name: str, row: Any, now: float) -> tuple[int, float | None, int]:
        """(depth, latency, busy) of one queue from its part of the script's reply."""
        if not isinstance(row, list) or len(row) != 7 or not isinstance(row[6], list):
            raise SignalError(f"unexpected reply from the RQ read script for queue {name!r}: {row!r:.200}")
        length, due, oldest_due, wip, ready, oldest_ready, stamps = row
        where = f"rq queue {name!r}"
        length = check_count(f"{where} length", length)
        due = check_count(f"{where} due scheduled jobs", due)
        ready = check_count(f"{where} ready jobs", ready)
        wip = check_count(f"{where} started jobs", wip)

        ages: list[float] = []
        if oldest_due is not None:
            ages.append(check_seconds(f"{where} scheduled age", now - reply_number(where, "score", oldest_due)))
        if oldest_ready is not None:
            ages.append(check_seconds(f"{where} ready age", now - reply_number(where, "score", oldest_ready)))
        if length:
            # A vanished job (no hash) or one without enqueued_at (rq writes none until the
            # job is enqueued) is skipped: the next examined id counts.
            enqueued = [
                _parse_enqueued_at(name, job_id, raw)
                for job_id, raw in _pairs(stamps)
                if raw is not None and reply_text(raw).strip()
            ]
            if not enqueued:
                # Jobs wait but none of the examined ids has a timestamp: unknown, not 0.
                return length + due + ready, None, wip
            ages.append(check_seconds(f"{where} latency", now - min(enqueued)))
        return length + due + ready, max(ages, default=0.0), wip


def _pairs(flat: list[Any]) -> list[tuple[str, Any]]:
    return [(reply_text(flat[i]), flat[i + 1]) for i in range(0, len(flat) - 1, 2)]


def _parse_enqueued_at(queue: str, job_id: str, raw: object) -> float:
    """``enqueued_at`` as epoch seconds. rq writes UTC with a literal ``Z`` (naive in 1.x,
    aware in 2.x/3.x: the same text), very old jobs without the fraction."""
    text = reply_text(raw).strip()
    for fmt in _STAMP_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    try:  # ISO 8601 with an offset, from other writers
        return iso_epoch(text)
    except ValueError:
        raise SignalError(f"rq job {job_id!r} in queue {queue!r}: unreadable enqueued_at {text!r:.100}") from None


def build(name: str, process: RQSettings, settings: Settings, connections: Connections) -> RQSource:
    """The ``rq`` source of one process type (see :mod:`autoscaler.signals.build`)."""
    client = connections.redis(settings.require_source_url(name, process), process.verify_tls)
    return RQSource(client, process.queue_names(), prefix=settings.rq_prefix(process))
