"""How web request counts travel from the app to the autoscaler: the Redis layout both sides share.

:mod:`autoscaler.middleware` writes it (in the web app), :mod:`autoscaler.signals.web` reads
it (in the daemon). This module is the one place that knows the key names, the slot width,
the queue-time buckets and the hash fields; it imports only the standard library and the
package's light error, reply and count-checking helpers, because it runs inside the web app too.

**Layout** (``P`` = prefix, default ``autoscaler:web``; ``PROC`` = process type, from
``$DYNO`` ``web.1`` → ``web``; ``S`` = slot start, epoch seconds, a multiple of
:data:`SLOT_SECONDS`; a request belongs to the slot in which it ended)::

    P:PROC:S   HASH, expires KEY_TTL seconds after the last write
      n        requests that ended in the slot
      qn       of which carried a usable X-Request-Start
      app_us   their app time, summed, in microseconds
      q:I      queue-time histogram: requests in bucket I (see EDGES_MS); only non-zero ones
      d:DYNO   requests per dyno ($DYNO, else hostname-pid); 0 = alive but idle

All dynos' processes HINCRBY the same fields, so the hash already holds the merged counts
and the reader needs one HGETALL per slot, no ``KEYS``. Every process that has the
middleware also writes ``n`` += 0 and ``d:DYNO`` += 0 once per slot while idle, so "no
requests" (rate 0) can be told from "no middleware running" (no key at all). One flush is
one MULTI/EXEC, so a reader never sees half of it.

**Counts**: both sides hold one slot's numbers as a flat list of ints of length
:data:`WIDTH`: ``[n, qn, app_us, bucket 0, …, bucket 91]`` (offsets :data:`REQUESTS`,
:data:`QUEUED`, :data:`APP_US`, :data:`HIST`), the cheapest thing to add to on the request
path. :func:`add_slot` turns one into the commands of a flush, :func:`parse_slot` turns a
hash read back into one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from autoscaler.errors import SignalError
from autoscaler.signals import field_count, reply_text

if TYPE_CHECKING:
    import redis

SLOT_SECONDS = 5
"""Width of one time slot in Redis. The reader uses complete slots only, so this is most
of the signal's lag (plus the flush interval)."""
FLUSH_INTERVAL = 2.0
"""Seconds between two flushes of one app process."""
KEY_TTL = 900
"""Seconds a slot key lives after its last write; bounds the reader's window."""
DEFAULT_PREFIX = "autoscaler:web"

BUCKETS_PER_DECADE = 20
EDGES_MS: tuple[float, ...] = tuple(10 ** (k / BUCKETS_PER_DECADE) for k in range(0, 91))
"""Queue-time bucket edges in ms, log-spaced (ratio 1.122) from 1 ms to 31.6 s. Bucket 0 is
[0, 1 ms), bucket I is [EDGES_MS[I-1], EDGES_MS[I]) (``bisect_right(EDGES_MS, ms)``), the
last one (91) is ≥ 31.6 s."""
BUCKETS = len(EDGES_MS) + 1

FIELD_REQUESTS = "n"
FIELD_QUEUED = "qn"
FIELD_APP_US = "app_us"
FIELD_BUCKET = "q:"
FIELD_DYNO = "d:"

REQUESTS, QUEUED, APP_US, HIST = 0, 1, 2, 3
"""Offsets into one slot's counts; bucket I is at ``HIST + I``."""
WIDTH = HIST + BUCKETS

_TOTALS = {FIELD_REQUESTS: REQUESTS, FIELD_QUEUED: QUEUED, FIELD_APP_US: APP_US}
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:{}-]{1,200}")


def name_problems(process: str, prefix: str) -> list[str]:
    """What is wrong with a process type name and a key prefix, one ``"name: why"`` line each
    (empty when both can be part of a key)."""
    problems: list[str] = []
    if not _NAME_RE.fullmatch(process):
        problems.append(f"process: invalid process type name {process!r}")
    if not _PREFIX_RE.fullmatch(prefix):
        problems.append(f"prefix: invalid key prefix {prefix!r} (letters, digits and _.:{{}}- only)")
    return problems


def is_process_name(name: str) -> bool:
    """Can ``name`` be the process-type part of a key?"""
    return _NAME_RE.fullmatch(name) is not None


_FIR_DYNO = re.compile(r"(.+)-[0-9a-z]{6,10}-[0-9a-z]{5}")
"""A Fir dyno name: the process type, then two random parts (``web-12a34b56d-e78f9``)."""


def process_type(dyno: str) -> str | None:
    """The process type of a dyno name, on either generation: ``web.1`` (Cedar) → ``web``,
    ``web-12a34b56d-e78f9`` (Fir, no ordinal) → ``web``; None when the name cannot be one."""
    if "." in dyno:
        name = dyno.partition(".")[0]
    else:
        fir = _FIR_DYNO.fullmatch(dyno)
        name = dyno if fir is None else fir.group(1)
    return name if is_process_name(name) else None


def slot_key(prefix: str, process: str, slot: int) -> str:
    """The Redis key of one process type's counts for the slot starting at ``slot``."""
    return f"{prefix}:{process}:{slot}"


def slot_start(at: float) -> int:
    """Start (epoch seconds) of the slot containing ``at``."""
    whole = int(at)
    return whole - whole % SLOT_SECONDS


def add_slot(pipe: redis.client.Pipeline, key: str, counts: Sequence[int], dyno: str) -> None:
    """Queue on ``pipe`` the commands that add one process's ``counts`` of a slot to ``key``
    and renew its TTL. All-zero counts are the idle mark (``n`` and the dyno field += 0)."""
    dyno_field = FIELD_DYNO + dyno
    pipe.hincrby(key, FIELD_REQUESTS, counts[REQUESTS])
    pipe.hincrby(key, dyno_field, counts[REQUESTS])
    if counts[QUEUED]:
        pipe.hincrby(key, FIELD_QUEUED, counts[QUEUED])
    if counts[APP_US]:
        pipe.hincrby(key, FIELD_APP_US, counts[APP_US])
    for index in range(BUCKETS):
        if counts[HIST + index]:
            pipe.hincrby(key, f"{FIELD_BUCKET}{index}", counts[HIST + index])
    pipe.expire(key, KEY_TTL)


def parse_slot(key: str, reply: Mapping[Any, Any]) -> tuple[list[int], dict[str, int]]:
    """The counts (layout above) and the requests per dyno of one slot hash as HGETALL
    returns it (bytes or str). SignalError for a value no middleware writes; fields this
    version does not know are ignored (a newer middleware may add some)."""
    counts = [0] * WIDTH
    dynos: dict[str, int] = {}
    for raw_field, raw_value in reply.items():
        field = reply_text(raw_field)
        if field in _TOTALS:
            counts[_TOTALS[field]] = field_count(key, field, raw_value)
        elif field.startswith(FIELD_DYNO):
            dyno = field[len(FIELD_DYNO) :]
            dynos[dyno] = dynos.get(dyno, 0) + field_count(key, field, raw_value)
        elif field.startswith(FIELD_BUCKET):
            index = field[len(FIELD_BUCKET) :]
            if not index.isdigit() or int(index) >= BUCKETS:
                raise SignalError(
                    f"{key} has queue-time bucket {index!r}, this version knows 0..{BUCKETS - 1}: "
                    "are the middleware and the autoscaler the same version?"
                )
            counts[HIST + int(index)] += field_count(key, field, raw_value)
    return counts, dynos
