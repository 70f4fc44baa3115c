"""How drained router figures are laid out in Redis: the one module the writer and the reader share.

The web process (:mod:`autoscaler.web`) writes it from Logplex batches; the ``router`` source
(:mod:`autoscaler.signals.router`) reads it in the daemon. Only the standard library and the
package's error, count and slot helpers are imported here.

**Layout** (``P`` = :data:`DEFAULT_PREFIX`; ``PROC`` = process type, ``web.1`` → ``web``;
``S`` = slot start, epoch seconds, a multiple of :data:`SLOT_SECONDS`; a line belongs to the
slot of its own syslog timestamp, so a late batch still lands where it happened)::

    P:PROC:S   HASH, expires KEY_TTL seconds after its last write
      n        router lines (requests, errors included)
      ms       their service times, summed, in ms (timed lines only)
      h:I      service-time histogram: timed lines in bucket I (see EDGES_MS); non-zero ones only
      e:CODE   router error lines by code (H12, H13, ...)
      m:DYNO   latest memory_total of a dyno, MB (log-runtime-metrics)
      l:DYNO   latest load_avg_1m of a dyno

    F:TOKEN:ID STRING, expires FRAME_TTL seconds after it was set: a Logplex-Frame-Id seen

Counts are HINCRBY'd, so any number of web dynos may add to the same slot; the latest
memory and load are HSET (last writer wins). One POST is one script call (store.lua),
which first sets the frame id with ``SET NX EX`` and adds nothing when it was already
there: a retried batch counts once.

**Buckets**: integer milliseconds (the router logs ``service=97ms``). Bucket 0 holds 0 ms,
bucket I holds ``EDGES_MS[I-1] <= ms < EDGES_MS[I]``, the last one everything from
``EDGES_MS[-1]`` (61.5 s) up. Each bucket is at most 4 % wider than its lower edge (one
millisecond wide below 50 ms), so a quantile interpolated inside its bucket is within 4 %
of the exact quantile of the lines.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoscaler.errors import SignalError
from autoscaler.signals import field_count, reply_text, slots
from autoscaler.signals.webwire import is_process_name as is_process_name  # one rule for both wires

DEFAULT_PREFIX = "autoscaler:drain"
FRAME_PREFIX = "autoscaler:drain-frames"
SLOT_SECONDS = 5
"""Width of one time slot."""
KEY_TTL = 900
"""Seconds a slot hash lives after its last write: longer than the longest window plus the grace delay."""
FRAME_TTL = 900
"""Seconds a frame id is remembered; Logplex retries a batch within seconds to minutes."""
MAX_LINE_AGE = 600.0
"""A line whose timestamp is older than this (seconds) is ignored: no window reads that far back."""
MAX_LINE_AHEAD = 60.0
"""A line more than this many seconds in the future is ignored (a clock that far off is broken)."""
H12_MS = 30_000
"""An H12 (request timeout) counts as a 30 s response, whatever its ``service`` says."""

MAX_EDGE_MS = 60_000


def _edges() -> tuple[int, ...]:
    edges: list[int] = []
    edge = 1
    while True:
        edges.append(edge)
        if edge >= MAX_EDGE_MS:
            return tuple(edges)
        edge += edge * 4 // 100 + 1  # floor(edge × 1.04) + 1, in integers


EDGES_MS: tuple[int, ...] = _edges()
BUCKETS = len(EDGES_MS) + 1

FIELD_REQUESTS = "n"
FIELD_SERVICE_MS = "ms"
FIELD_BUCKET = "h:"
FIELD_ERROR = "e:"
FIELD_MEMORY = "m:"
FIELD_LOAD = "l:"
BUCKET_FIELDS: tuple[str, ...] = tuple(f"{FIELD_BUCKET}{index}" for index in range(BUCKETS))

_DYNO_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_CODE_RE = re.compile(r"[A-Z][0-9]{1,3}")
_FRAME_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,200}")


def is_dyno_name(name: str) -> bool:
    """Can ``name`` be the dyno part of a field (``web.1``, ``web-12a34b56d-e78f9``)?"""
    return _DYNO_RE.fullmatch(name) is not None


def is_error_code(code: str) -> bool:
    """Is ``code`` a router error code (``H12``)?"""
    return _CODE_RE.fullmatch(code) is not None


def is_frame_id(value: str) -> bool:
    """Can ``value`` (a ``Logplex-Frame-Id`` or ``Logplex-Drain-Token``) be part of a key?"""
    return _FRAME_ID_RE.fullmatch(value) is not None


def slot_key(prefix: str, process: str, slot: int) -> str:
    """The Redis key of one process type's figures for the slot starting at ``slot``."""
    return f"{prefix}:{process}:{slot}"


def frame_key(token: str, frame_id: str) -> str:
    """The Redis key that remembers one frame id of one drain."""
    return f"{FRAME_PREFIX}:{token or '-'}:{frame_id}"


def slot_start(at: float) -> int:
    """Start (epoch seconds) of the slot containing ``at``."""
    whole = int(at // 1)
    return whole - whole % SLOT_SECONDS


def bucket_of(ms: int) -> int:
    """The histogram bucket of a service time in whole ms (negative counts as 0)."""
    return bisect_right(EDGES_MS, ms)


def bucket_values(index: int) -> tuple[int, float]:
    """The smallest and the largest whole ms of a bucket; +inf as the largest of the open last one."""
    low = 0 if index == 0 else EDGES_MS[index - 1]
    high = EDGES_MS[index] - 1 if index < len(EDGES_MS) else math.inf
    return low, high


def histogram_quantile(counts: Sequence[int], quantile: float) -> float | None:
    """The ``quantile`` (0 < q ≤ 1) of a service-time histogram in ms: the bucket holding the
    line of rank ``q × total``, interpolated linearly between the bucket's smallest and largest
    whole ms (exact for one-ms buckets; the open last bucket gives its lower edge). None when
    the histogram is empty."""
    return slots.histogram_quantile(counts, quantile, bucket_values)


@dataclass(slots=True)
class SlotFigures:
    """What one slot hash holds, as numbers (the reader's side of the layout)."""

    requests: int = 0
    service_ms: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    errors: dict[str, int] = field(default_factory=dict)
    memory_mb: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)


def parse_slot(key: str, reply: Mapping[Any, Any]) -> SlotFigures:
    """The figures of one slot hash as HGETALL returns it (bytes or str). SignalError for a
    value no writer of this layout produces; unknown fields are ignored (a newer writer may
    add some)."""
    figures = SlotFigures()
    for raw_field, raw_value in reply.items():
        name = reply_text(raw_field)
        if name == FIELD_REQUESTS:
            figures.requests = field_count(key, name, raw_value)
        elif name == FIELD_SERVICE_MS:
            figures.service_ms = field_count(key, name, raw_value)
        elif name.startswith(FIELD_BUCKET):
            index = name[len(FIELD_BUCKET) :]
            if not index.isdigit() or int(index) >= BUCKETS:
                raise SignalError(
                    f"{key} has service-time bucket {index!r}, this version knows 0..{BUCKETS - 1}: "
                    "are the web process and the daemon the same version?"
                )
            figures.histogram[int(index)] += field_count(key, name, raw_value)
        elif name.startswith(FIELD_ERROR):
            figures.errors[name[len(FIELD_ERROR) :]] = field_count(key, name, raw_value)
        elif name.startswith(FIELD_MEMORY):
            figures.memory_mb[name[len(FIELD_MEMORY) :]] = _number(key, name, raw_value)
        elif name.startswith(FIELD_LOAD):
            figures.load[name[len(FIELD_LOAD) :]] = _number(key, name, raw_value)
    return figures


def _number(key: str, name: str, raw: object) -> float:
    try:
        value = float(reply_text(raw))
    except ValueError:
        raise SignalError(f"{key} field {name!r} is not a number: {raw!r:.100}") from None
    if not 0.0 <= value < 1e9:  # also refuses nan and inf
        raise SignalError(f"{key} field {name!r} is out of range: {raw!r:.100}")
    return value
