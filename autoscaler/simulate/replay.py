"""A workload rebuilt from the history the daemon recorded: ``simulate --from-history``.

The daemon keeps one slot a minute per process type (:mod:`autoscaler.history.model`): the last
tick's readings of the minute. This module turns the slots of one process type into a
:class:`~autoscaler.simulate.workloads.Workload`, one value per minute held for its 60 seconds,
with pure functions; :mod:`autoscaler.simulate.recorded` reads the slots from the state store, and
:func:`from_history` does both.

Arrivals per second, per minute:

* **web**: the request rate the source read (``rate``, requests per second over its window);
  the app time is the slot's ``service_ms`` (the mean app time the source read), else
  ``service_s`` (``--service-ms`` or the default).
* **workers**: estimated from the queue readings by conservation of jobs: jobs done in the minute
  are the running jobs over the job time (Little's law on the workers, ``busy = throughput × job
  time``, ``busy`` averaged over the minute's two ends), plus the change in waiting jobs:
  ``λ ≈ (busy₀ + busy₁) / 2 / job_time
  + (depth₁ − depth₀) / 60``, never below 0. Without ``busy`` (a source that does not read it) and
  with jobs waiting, Little's law on the queue: the waiting jobs arrived while the oldest one
  waited, ``λ ≈ depth / latency``. The job time is ``service_s`` (``--service-ms`` or the
  default); a wrong job time scales the rate and the job time inversely, so the work (jobs × job
  time) replayed stays that of the history. ``learned=True`` takes the arrival rate and job time
  the engine learned instead (the slot's ``rate`` and ``service_ms``), where recorded: the engine
  learns a worker's throughput only while every worker is busy, and on the built-in scenarios
  those rates are further off than the queue's (``python -m benchmarks.replay``).

A minute the daemon did not record (a change of leader, an outage), or whose reading held no
rate, holds the value of the minute before (the first known one, at the start); the description
says how many. The replay lasts from the first slot to the end of the last, at most a week (the
latest week of a longer history).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autoscaler.errors import ConfigError
from autoscaler.history import SLOT, Slot
from autoscaler.history.cli import iso
from autoscaler.simulate import recorded as store
from autoscaler.simulate.recorded import FLAG, Recorded
from autoscaler.simulate.workloads import HOUR, MAX_DURATION_S, Kind, Workload

MIN_SLOTS = 60
"""Recorded minutes a replay needs at least (an hour)."""
MAX_MINUTES = MAX_DURATION_S // SLOT


def detect_kind(slots: Sequence[Slot]) -> Kind | None:
    """``worker`` when the slots hold queue readings (waiting jobs, their age, running jobs), else
    ``web`` when they hold a request rate, queue time or response time; None when neither."""
    if any(s.depth is not None or s.latency is not None or s.busy is not None for s in slots):
        return "worker"
    if any(s.rate is not None or s.queue_time_p95 is not None or s.response_time_p95 is not None for s in slots):
        return "web"
    return None


def worker_rate(slot: Slot, before: Slot | None, job_s: float, *, learned: bool = False) -> float | None:
    """A worker's arrivals per second in ``slot``'s minute (see the module doc); ``before`` is the
    slot recorded before it, if any. None when the slot tells nothing of them."""
    if learned and slot.rate is not None:
        return max(0.0, slot.rate)
    elapsed = float(SLOT) if before is None else max(slot.at - before.at, float(SLOT))
    if slot.busy is not None:
        start = before.busy if before is not None and elapsed <= SLOT and before.busy is not None else slot.busy
        growth = 0.0
        if before is not None and slot.depth is not None and before.depth is not None:
            growth = (slot.depth - before.depth) / elapsed
        return max(0.0, (start + slot.busy) / 2 / job_s + growth)
    if slot.depth and slot.latency:
        return slot.depth / slot.latency
    return None


@dataclass(frozen=True, slots=True)
class Series:
    """One value per minute, from the first slot's minute to the last's."""

    rate: tuple[float, ...]
    """Arrivals per second."""
    service_s: tuple[float, ...]
    """App time (web) or job time (workers), in seconds."""
    gaps: int
    """Minutes with no slot."""
    unread: int
    """Slots with no arrival rate."""
    learned: int
    """Worker minutes whose rate is the engine's learned one (the others are estimated)."""


def held(values: Sequence[float | None]) -> list[float] | None:
    """Each unknown value replaced by the known one before it (the first known one at the start);
    None when no value is known."""
    first = next((value for value in values if value is not None), None)
    if first is None:
        return None
    out: list[float] = []
    last = first
    for value in values:
        last = last if value is None else value
        out.append(last)
    return out


def series(slots: Sequence[Slot], kind: Kind, service_s: float, *, learned: bool = False) -> Series:
    """The arrival rate and service time of each minute of ``slots`` (oldest first, at least one).
    ``learned=False`` ignores what the engine learned of a worker (its arrival rate and job time):
    every minute is estimated, with the job time ``service_s``."""
    first = slots[0].at
    count = round((slots[-1].at - first) / SLOT) + 1
    minute: list[Slot | None] = [None] * count
    for slot in slots:
        minute[round((slot.at - first) / SLOT)] = slot
    trusted = learned or kind == "web"
    known_ms = [s.service_ms if trusted and s is not None else None for s in minute]
    service = held([None if ms is None or ms <= 0 else ms / 1000 for ms in known_ms]) or [service_s] * count
    rates: list[float | None] = []
    before: Slot | None = None
    from_engine = 0
    for here, job_s in zip(minute, service, strict=True):
        if here is None:
            rates.append(None)
            continue
        if kind == "web":
            rates.append(None if here.rate is None else max(0.0, here.rate))
        else:
            rates.append(worker_rate(here, before, job_s, learned=learned))
            from_engine += learned and here.rate is not None
        before = here
    gaps = minute.count(None)
    unread = sum(rate is None for rate in rates) - gaps
    return Series(tuple(held(rates) or [0.0] * count), tuple(service), gaps, unread, from_engine)


def recorded_service_s(recorded: Recorded, kind: Kind) -> float | None:
    """The app time the history of a web process recorded, averaged over its arrivals; None when it
    recorded none, and for workers (whose job time, as the engine learned it, is not used): the
    run's own is then used."""
    if kind != "web" or not any(s.service_ms for s in recorded.slots):
        return None
    found = series(recorded.slots, kind, 1.0)
    total = sum(found.rate)
    if total <= 0:
        return sum(found.service_s) / len(found.service_s)
    return sum(rate * service for rate, service in zip(found.rate, found.service_s, strict=True)) / total


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.3g} d"
    return f"{seconds / HOUR:.3g} h" if seconds >= HOUR else f"{seconds / 60:g} min"


def rebuild(
    recorded: Recorded, kind: Kind | None, service_s: float, hours: float | None = None, *, learned: bool = False
) -> Workload:
    """The workload of ``recorded`` (``kind``: that of its slots when None), each minute's values
    held for 60 s; ``hours`` cuts it, or holds its last minute longer. ConfigError when there is
    too little history, or nothing to rebuild the arrivals from."""
    process, slots = recorded.process, list(recorded.slots)
    if len(slots) < MIN_SLOTS:
        span = f", {iso(slots[0].at)} to {iso(slots[-1].at + SLOT)}" if slots else ""
        raise ConfigError(
            [
                f"{FLAG}: {len(slots)} minutes of history of {process} since {iso(recorded.since)}{span}; "
                f"a replay needs at least {MIN_SLOTS} (the daemon records a slot a minute while it runs)"
            ]
        )
    chosen = kind or detect_kind(slots)
    if chosen is None:
        raise ConfigError([f"--kind: the history of {process} holds no readings to tell its kind; give web or worker"])
    cut = len(slots)
    slots = [s for s in slots if s.at > slots[-1].at - MAX_MINUTES * SLOT]
    cut -= len(slots)
    found = series(slots, chosen, service_s, learned=learned)
    if found.unread + found.gaps == len(found.rate):
        what = "request rate" if chosen == "web" else "arrival rate, running jobs or waiting jobs with their age"
        raise ConfigError([f"{FLAG}: the history of {process} holds no {what} to rebuild the {chosen} arrivals from"])
    rate = [value for value in found.rate for _ in range(SLOT)]
    service = [value for value in found.service_s for _ in range(SLOT)]
    natural = len(rate)
    duration = natural if hours is None else round(hours * HOUR)
    if duration > MAX_DURATION_S:
        raise ConfigError([f"--hours: at most {MAX_DURATION_S // 3600} h are simulated"])
    rate = (rate + [rate[-1]] * (duration - natural))[:duration]
    service = (service + [service[-1]] * (duration - natural))[:duration]
    return Workload(
        f"history:{process}",
        chosen,
        _describe(recorded, slots, chosen, found, cut, learned=learned),
        tuple(rate),
        tuple(service),
    )


def _describe(recorded: Recorded, slots: Sequence[Slot], kind: Kind, found: Series, cut: int, *, learned: bool) -> str:
    start, end = slots[0].at, slots[-1].at + SLOT
    text = (
        f"history of {recorded.process} ({kind}): {len(slots)} slots, {iso(start)} to {iso(end)} ({_span(end - start)})"
    )
    if cut:
        text += f", the latest {_span(MAX_DURATION_S)} of it ({cut} older slots left out)"
    what = "a request rate" if kind == "web" else "an arrival rate"
    held_text = [f"{found.gaps} minutes not recorded"] if found.gaps else []
    held_text += [f"{found.unread} without {what}"] if found.unread else []
    text += f"; {' and '.join(held_text)} hold the minute before" if held_text else "; no minute missing"
    recorded_time = (learned or kind == "web") and any(s.service_ms for s in slots)
    if kind == "web":
        text += "; app time as recorded" if recorded_time else "; app time not recorded: the run's"
    elif learned:
        text += "; job time as learned by the engine" if recorded_time else "; job time not recorded: the run's"
        estimated = len(slots) - found.learned
        text += f"; arrivals: {found.learned} minutes learned by the engine, {estimated} estimated from the queue"
    else:
        text += "; arrivals estimated from the queue readings with the run's job time"
    return text


def from_history(
    env: Mapping[str, str], *, process: str | None, since_s: float | None, kind: Kind | None, service_s: float
) -> Workload:
    """The workload of ``process`` (the one process type with history when None) over the last
    ``since_s`` seconds (a week when None), from the state store that ``env`` names, as the
    ``history`` command finds it. ``kind``: that of the slots when None; ``service_s``: the app time
    or job time where the history has none. ConfigError, with a line per problem, otherwise."""
    found = store.read(env, process, since_s, time.time())
    return rebuild(found, kind, service_s)
