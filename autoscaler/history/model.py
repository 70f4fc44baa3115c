"""What the history holds, and how one minute of one process type is written down.

A tick writes one :class:`Sample` per process type. Samples are kept one **slot** a minute
per process type: a later tick of the same minute replaces the last values (quantity, size,
desired, reason, signals, cost) and raises the extremes (the largest quantity, desired
quantity and main signal of the minute), so a spike shorter than a minute still shows. A
slot is stored as one short comma-separated line (:func:`encode`, :func:`merge`,
:func:`decode`), about 60 bytes (reason codes are written short), so 8 days of 3 process types take
about 2 MB.

Beside the slots: the latest :class:`Event` s (a decision whose quantity, size or reason
differs from the one before, with its message: the table of the status page) and one
:class:`Status` (the latest tick: did the Platform API answer, is each signal read, dry run).

Every process type has one **main signal** (:func:`main_signal`), the one the status page
charts against its target: the p95 queue time for ``web``, the p95 response time for
``router``, the waiting jobs per dyno when ``JOBS_PER_DYNO`` is set, else the age of the
oldest job when ``MAX_LATENCY`` is set, else the waiting jobs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from autoscaler.config import ProcessConfig

SLOT = 60
"""Seconds per slot."""

MEASURED = (
    "depth",
    "latency",
    "busy",
    "rate",
    "queue_time_p95",
    "response_time_p95",
    "monthly_usd",
    "demand",
    "service_ms",
)
"""The figures a slot keeps as the minute's last tick read them (and the last columns of ``history``).
``demand`` is the minute's largest reactive recommendation (the recorder keeps the maximum)."""
REASON_CODES = {
    "scale_up": "up",
    "scale_up_memory": "upm",
    "scale_down": "dn",
    "within_target": "ok",
    "held_downscale_delay": "hd",
    "held_booting": "hb",
    "held_panic": "hp",
    "held_manual": "hm",
    "held_signal_unknown": "hu",
    "fallback": "fb",
    "clamped_to_max": "cx",
    "clamped_to_min": "cn",
    "clamped_to_heroku_limit": "ch",
    "clamped_to_app_limit": "ca",
    "clamped_to_budget": "cb",
    "scale_up_limited": "ul",
    "scale_down_limited": "dl",
    "resize": "rs",
    "predicted": "pr",
}
"""A reason as a stored line writes it, short so that a line stays within the 64 bytes Redis keeps in
a hash's compact encoding (lines stored with the full name read back the same)."""
_REASONS = {code: name for name, code in REASON_CODES.items()}
FIELDS = (
    "max_current",
    "max_desired",
    "max_signal",
    "event",
    "current",
    "size",
    "desired",
    "desired_size",
    "reason",
    *MEASURED,
)
"""The comma-separated fields of a stored slot, in order. The first four are merged within the
minute (largest value kept; the latest event kept), the others are the last tick's."""
MERGED = 4
REQUIRED = len(FIELDS) - 2
"""Fields a stored line has at least: trailing empty fields are not written, and lines written
before ``demand`` and ``service_ms`` were recorded end at ``monthly_usd``."""


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """A process type's main signal: its name (a column), how a person reads it, its target."""

    name: str
    label: str
    unit: str
    target: float | None


def main_signal(process: ProcessConfig) -> SignalSpec:
    """The signal the status page charts for ``process``, and its target."""
    if process.source == "web":
        return SignalSpec("queue_time_p95", "p95 queue time", "ms", process.queue_time_ms)
    if process.source == "router":
        return SignalSpec("response_time_p95", "p95 response time", "ms", process.response_time_ms)
    if process.jobs_per_dyno is not None:
        return SignalSpec("depth_per_dyno", "waiting jobs per dyno", "jobs", process.jobs_per_dyno)
    if process.max_latency is not None:
        return SignalSpec("latency", "oldest job's wait", "s", process.max_latency)
    return SignalSpec("depth", "waiting jobs", "jobs", None)


def signal_value(spec: SignalSpec, values: Sample | Slot) -> float | None:
    """The main signal of a sample or slot (its last value)."""
    if spec.name == "depth_per_dyno":
        return None if values.depth is None else values.depth / max(values.current, 1)
    value: float | int | None = getattr(values, spec.name)
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Sample:
    """What one tick saw and decided for one process type."""

    process: str
    current: int
    size: str
    desired: int
    desired_size: str
    reason: str
    signal: float | None = None
    """The main signal (:func:`signal_value`), for the minute's maximum."""
    depth: int | None = None
    latency: float | None = None
    busy: int | None = None
    rate: float | None = None
    queue_time_p95: float | None = None
    response_time_p95: float | None = None
    monthly_usd: float | None = None
    """What the process type's current formation costs a month (the run-rate)."""
    demand: float | None = None
    """Dynos the reactive rules asked for (the minute's largest: see :class:`HistoryRecorder`)."""
    service_ms: float | None = None
    """The mean time one request (web) or job (workers, as learned) takes, in ms."""
    event: str = ""
    """A scale event of this tick: ``3>5`` applied, ``~3>5`` dry run (not sent), ``!3>5`` failed."""


def _optional_int(text: str) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _optional_float(text: str) -> float | None:
    """The number of a stored field; None when empty, or not a finite number."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


class Slot:
    """One minute of one process type, as read back: the last tick's values and the minute's extremes.

    Made from the stored line (:func:`decode`) and read field by field when asked: one view of a
    week reads 30,000 slots, of which a chart needs four fields and only the last slot needs all.
    """

    __slots__ = ("_parts", "at", "process")

    def __init__(self, at: float, process: str, parts: list[str]) -> None:
        self.at = at
        """The start of the minute (epoch seconds, UTC)."""
        self.process = process
        self._parts = parts

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Slot):
            return NotImplemented
        return (self.at, self.process, self._parts) == (other.at, other.process, other._parts)

    def __hash__(self) -> int:
        return hash((self.at, self.process, ",".join(self._parts)))

    def __repr__(self) -> str:
        return f"Slot({self.at!r}, {self.process!r}, {','.join(self._parts)!r})"

    @property
    def max_current(self) -> int:
        return int(self._parts[0])

    @property
    def max_desired(self) -> int:
        return int(self._parts[1])

    @property
    def max_signal(self) -> float | None:
        return _optional_float(self._parts[2])

    @property
    def event(self) -> str:
        return self._parts[3]

    @property
    def current(self) -> int:
        return int(self._parts[4])

    @property
    def size(self) -> str:
        return self._parts[5]

    @property
    def desired(self) -> int:
        return int(self._parts[6])

    @property
    def desired_size(self) -> str:
        return self._parts[7] or self._parts[5]

    @property
    def reason(self) -> str:
        return _REASONS.get(self._parts[8], self._parts[8])

    @property
    def depth(self) -> int | None:
        return _optional_int(self._parts[9])

    @property
    def latency(self) -> float | None:
        return _optional_float(self._parts[10])

    @property
    def busy(self) -> int | None:
        return _optional_int(self._parts[11])

    @property
    def rate(self) -> float | None:
        return _optional_float(self._parts[12])

    @property
    def queue_time_p95(self) -> float | None:
        return _optional_float(self._parts[13])

    @property
    def response_time_p95(self) -> float | None:
        return _optional_float(self._parts[14])

    @property
    def monthly_usd(self) -> float | None:
        return _optional_float(self._parts[15])

    def _extra(self, index: int) -> str:
        return self._parts[index] if len(self._parts) > index else ""

    @property
    def demand(self) -> float | None:
        return _optional_float(self._extra(16))

    @property
    def service_ms(self) -> float | None:
        return _optional_float(self._extra(17))


@dataclass(frozen=True, slots=True)
class Event:
    """A decision worth a row in the table: the quantity, size or reason changed (or a scale
    was sent, skipped by dry run, or failed: ``outcome``)."""

    at: float
    process: str
    current: int
    desired: int
    size: str
    desired_size: str
    reason: str
    message: str
    outcome: str = ""
    """``scaled``, ``dry_run`` (would have scaled), ``failed`` (the PATCH was refused), ``waiting`` (not
    sent this tick: the daemon waits after failed tries), or empty (nothing to send)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "process": self.process,
            "current": self.current,
            "desired": self.desired,
            "size": self.size,
            "desired_size": self.desired_size,
            "reason": self.reason,
            "message": self.message,
            "outcome": self.outcome,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            at=float(data["at"]),
            process=str(data["process"]),
            current=int(data["current"]),
            desired=int(data["desired"]),
            size=str(data["size"]),
            desired_size=str(data["desired_size"]),
            reason=str(data["reason"]),
            message=str(data.get("message", "")),
            outcome=str(data.get("outcome", "")),
        )


@dataclass(frozen=True, slots=True)
class ProcessStatus:
    """The latest decision of one process type, with its message and whether its signal was read."""

    current: int
    size: str
    desired: int
    desired_size: str
    reason: str
    message: str
    signal_error: str | None = None
    monthly_usd: float | None = None
    desired_monthly_usd: float | None = None
    forecast: str | None = None
    """``PREDICT``: what the forecast said (None without it)."""


@dataclass(frozen=True, slots=True)
class Status:
    """The latest recording tick: when, by which daemon, whether it went well."""

    at: float
    instance: str
    ok: bool
    dry_run: bool
    interval: float
    errors: tuple[str, ...] = ()
    processes: dict[str, ProcessStatus] = field(default_factory=dict)
    """The latest decision of each process type; kept from earlier ticks when the Platform API failed."""
    api_ok: bool = True
    """False when this tick could not read the formation (no decision was made)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "instance": self.instance,
            "ok": self.ok,
            "dry_run": self.dry_run,
            "interval": self.interval,
            "errors": list(self.errors),
            "api_ok": self.api_ok,
            "processes": {
                name: {
                    "current": p.current,
                    "size": p.size,
                    "desired": p.desired,
                    "desired_size": p.desired_size,
                    "reason": p.reason,
                    "message": p.message,
                    "signal_error": p.signal_error,
                    "monthly_usd": p.monthly_usd,
                    "desired_monthly_usd": p.desired_monthly_usd,
                    "forecast": p.forecast,
                }
                for name, p in self.processes.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Status:
        processes = {
            str(name): ProcessStatus(
                current=int(p["current"]),
                size=str(p["size"]),
                desired=int(p["desired"]),
                desired_size=str(p["desired_size"]),
                reason=str(p["reason"]),
                message=str(p.get("message", "")),
                signal_error=p.get("signal_error"),
                monthly_usd=p.get("monthly_usd"),
                desired_monthly_usd=p.get("desired_monthly_usd"),
                forecast=p.get("forecast"),
            )
            for name, p in dict(data.get("processes") or {}).items()
        }
        return cls(
            at=float(data["at"]),
            instance=str(data.get("instance", "")),
            ok=bool(data.get("ok", False)),
            dry_run=bool(data.get("dry_run", False)),
            interval=float(data.get("interval", 15.0)),
            errors=tuple(str(e) for e in data.get("errors") or ()),
            processes=processes,
            api_ok=bool(data.get("api_ok", True)),
        )


@dataclass
class History:
    """What a read returns: the slots of each process type (oldest first), the latest events
    (newest first, every process type), the latest status and the lease's holder."""

    slots: dict[str, list[Slot]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    status: Status | None = None
    leader: str | None = None


@dataclass(frozen=True, slots=True)
class TickRecord:
    """Everything one recording tick writes: a sample per decided process type, the new events,
    the status."""

    at: float
    samples: tuple[Sample, ...]
    events: tuple[Event, ...]
    status: Status


# --- the stored line of a slot ----------------------------------------------------------------


def number(value: float | None) -> str:
    """A value as stored and shown: empty for None, else with as many decimals as a chart needs
    (none from 100, one from 10, two from 1, three below), trailing zeros dropped."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    size = abs(value)
    decimals = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 1 else 3
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def encode(sample: Sample) -> str:
    """The stored line of a sample, as if it were the only tick of its minute."""
    desired_size = "" if sample.desired_size == sample.size else sample.desired_size
    return ",".join(
        (
            str(sample.current),
            str(sample.desired),
            number(sample.signal),
            sample.event,
            str(sample.current),
            sample.size,
            str(sample.desired),
            desired_size,
            REASON_CODES.get(sample.reason, sample.reason),
            number(sample.depth),
            number(sample.latency),
            number(sample.busy),
            number(sample.rate),
            number(sample.queue_time_p95),
            number(sample.response_time_p95),
            number(sample.monthly_usd),
        )
    ) + _extras(number(sample.demand), number(sample.service_ms))


def _extras(*values: str) -> str:
    """The fields after ``monthly_usd``, without the empty ones at the end."""
    kept = list(values)
    while kept and not kept[-1]:
        kept.pop()
    return "".join("," + value for value in kept)


def _larger(old: str, new: str) -> str:
    if not old:
        return new
    if not new:
        return old
    return old if float(old) >= float(new) else new


def merge(old: str | None, new: str) -> str:
    """A later tick's line ``new`` merged into the minute's stored line ``old``: the largest of each
    extreme, the latest event, the last values. The Redis store runs the same merge in Lua."""
    if not old:
        return new
    before = old.split(",", MERGED)
    after = new.split(",", MERGED)
    if len(before) <= MERGED:
        return new
    extremes = [_larger(before[i], after[i]) for i in range(MERGED - 1)]
    event = after[MERGED - 1] or before[MERGED - 1]
    return ",".join((*extremes, event, after[MERGED]))


def decode(process: str, minute: int, line: str) -> Slot | None:
    """The slot of a stored line (``minute``: minutes since the epoch); None when it is not one."""
    parts = line.split(",")
    if len(parts) < REQUIRED or not (
        parts[0].isdigit() and parts[1].isdigit() and parts[4].isdigit() and parts[6].isdigit()
    ):
        return None
    return Slot(minute * float(SLOT), process, parts)


def parse_event(text: str) -> tuple[str, int, int] | None:
    """``(outcome mark, from, to)`` of a slot's event (``~3>5`` → ``("~", 3, 5)``); None for none."""
    if not text:
        return None
    mark = text[0] if text[0] in "~!" else ""
    before, _, after = text[len(mark) :].partition(">")
    try:
        return mark, int(before), int(after)
    except ValueError:
        return None
