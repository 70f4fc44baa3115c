"""The lines the drain reads, and the per-slot tallies one batch adds to Redis.

Two kinds of line count, both logged by Heroku itself (syslog APP-NAME ``heroku``), never by
the app (``app``), so an app cannot forge them:

* **router** (PROCID ``router``), one per request::

      at=info method=GET path="/x" host=a.herokuapp.com request_id=... fwd="1.2.3.4" dyno=web.1
      connect=0ms service=97ms status=200 bytes=140 protocol=https
      at=error code=H12 desc="Request timeout" method=GET path="/" ... dyno=web.1 connect=1ms
      service=30000ms status=503 ...

  ``at`` and ``code`` are read before the first double quote, ``dyno`` and ``service`` after
  the last one: what a client controls (the path, ``X-Forwarded-For``) is always quoted, so
  a request for ``/?service=1ms`` cannot pose as a fast one. An H12 counts as 30 s. A line
  with no dyno (H14 "no web dynos running") belongs to ``web``, the only process type the
  router sends requests to.

* **runtime metrics** (log-runtime-metrics, PROCID the dyno), every 20 s per dyno::

      source=web.1 dyno=heroku.2808254.<uuid> sample#memory_total=21.00MB sample#memory_rss=...
      source=web.1 dyno=heroku.2808254.<uuid> sample#load_avg_1m=0.01 sample#load_avg_5m=...

  ``memory_total`` (MB) and ``load_avg_1m`` are kept per dyno.

Everything else (the app's own lines, other platform lines, lines too old or from the future)
is ignored. The process type of a dyno is the part before the first ``.`` (``web.1``) or,
for a name without one, before a ``-<hash>-<hash>`` suffix (``web-12a34b56d-e78f9``); the
ordinal is never used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from autoscaler.drain import wire
from autoscaler.drain.frames import parse_header, timestamp_epoch
from autoscaler.signals.webwire import process_type

MAX_KEYS = 256
"""Distinct (process type, slot) pairs one batch may touch; lines beyond are ignored."""
MAX_SERVICE_MS = 10**9

_HEROKU = b"heroku"
_ROUTER = b"router"


def _pairs(segment: bytes) -> dict[bytes, bytes]:
    """``key=value`` tokens of an unquoted stretch of a line (first occurrence wins)."""
    found: dict[bytes, bytes] = {}
    for token in segment.split(b" "):
        key, sep, value = token.partition(b"=")
        if sep and key not in found:
            found[key] = value
    return found


def _milliseconds(value: bytes) -> int | None:
    """``97ms`` → 97; None when not a duration in whole or decimal ms."""
    if not value.endswith(b"ms"):
        return None
    number = value[:-2]
    if number.isdigit():
        ms = int(number)
    else:
        try:
            parsed = float(number)
        except ValueError:
            return None
        if not math.isfinite(parsed) or parsed < 0:
            return None
        ms = round(parsed)
    return ms if ms <= MAX_SERVICE_MS else None


@dataclass(frozen=True, slots=True)
class RouterLine:
    """One request as the router logged it: ``service_ms`` None when it has no usable time."""

    process: str
    service_ms: int | None
    code: str | None


def parse_router(msg: bytes) -> RouterLine | None:
    """The request of a router line's message; None when it is not one."""
    first = msg.find(b'"')
    last = msg.rfind(b'"')
    head = _pairs(msg if first < 0 else msg[:first])
    tail = _pairs(msg if last < 0 else msg[last + 1 :])
    at = head.get(b"at")
    if at is None:
        return None
    code: str | None = None
    if at == b"error":
        raw_code = head.get(b"code", b"").decode("ascii", errors="replace")
        code = raw_code if wire.is_error_code(raw_code) else None
    dyno = tail.get(b"dyno", b"").decode("ascii", errors="replace")
    process = process_type(dyno) if dyno else "web"
    if process is None:
        return None
    service = wire.H12_MS if code == "H12" else _milliseconds(tail.get(b"service", b""))
    return RouterLine(process, service, code)


@dataclass(frozen=True, slots=True)
class MetricsLine:
    """One log-runtime-metrics sample of one dyno (either value may be absent)."""

    process: str
    dyno: str
    memory_mb: float | None
    load: float | None


def _sample(value: bytes | None, unit: bytes = b"") -> float | None:
    if value is None or not value.endswith(unit):
        return None
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        return None
    return number if math.isfinite(number) and 0.0 <= number < 1e9 else None


def parse_metrics(msg: bytes) -> MetricsLine | None:
    """The memory and load of a runtime-metrics message; None when it is not one."""
    if not msg.startswith(b"source="):
        return None
    pairs = _pairs(msg)
    memory = _sample(pairs.get(b"sample#memory_total"), b"MB")
    load = _sample(pairs.get(b"sample#load_avg_1m"))
    if memory is None and load is None:
        return None
    dyno = pairs.get(b"source", b"").decode("ascii", errors="replace")
    process = process_type(dyno) if wire.is_dyno_name(dyno) else None
    if process is None:
        return None
    return MetricsLine(process, dyno, memory, load)


@dataclass(slots=True)
class Tally:
    """What one batch adds to one slot hash: ``counts`` are added (HINCRBY), ``latest`` set (HSET)."""

    counts: dict[str, int] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


@dataclass(slots=True)
class Batch:
    """The tallies of one POST, by (process type, slot start), and how many lines were of each kind.

    ``now`` (epoch seconds) bounds the timestamps accepted: lines older than
    :data:`~autoscaler.drain.wire.MAX_LINE_AGE` or further ahead than
    :data:`~autoscaler.drain.wire.MAX_LINE_AHEAD` are ignored.
    """

    now: float
    tallies: dict[tuple[str, int], Tally] = field(default_factory=dict)
    lines: int = 0
    router: int = 0
    metrics: int = 0
    ignored: int = 0

    def add_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            if not self.add(frame):
                self.ignored += 1

    def add(self, frame: bytes) -> bool:
        """Tally one syslog message; False when it was ignored."""
        self.lines += 1
        header = parse_header(frame)
        if header is None or header.app_name != _HEROKU:
            return False
        if header.procid == _ROUTER:
            line = parse_router(header.msg)
            tally = None if line is None else self._tally(line.process, header.timestamp)
            if line is None or tally is None:
                return False
            tally.add(wire.FIELD_REQUESTS)
            if line.service_ms is not None:
                tally.add(wire.BUCKET_FIELDS[wire.bucket_of(line.service_ms)])
                tally.add(wire.FIELD_SERVICE_MS, line.service_ms)
            if line.code is not None:
                tally.add(wire.FIELD_ERROR + line.code)
            self.router += 1
            return True
        metrics = parse_metrics(header.msg)
        tally = None if metrics is None else self._tally(metrics.process, header.timestamp)
        if metrics is None or tally is None:
            return False
        if metrics.memory_mb is not None:
            tally.latest[wire.FIELD_MEMORY + metrics.dyno] = f"{metrics.memory_mb:g}"
        if metrics.load is not None:
            tally.latest[wire.FIELD_LOAD + metrics.dyno] = f"{metrics.load:g}"
        self.metrics += 1
        return True

    def _tally(self, process: str, timestamp: bytes) -> Tally | None:
        at = timestamp_epoch(timestamp)
        if at is None or not self.now - wire.MAX_LINE_AGE <= at <= self.now + wire.MAX_LINE_AHEAD:
            return None
        key = (process, wire.slot_start(at))
        tally = self.tallies.get(key)
        if tally is None:
            if len(self.tallies) >= MAX_KEYS:
                return None
            tally = self.tallies[key] = Tally()
        return tally
