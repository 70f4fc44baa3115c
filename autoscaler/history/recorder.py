"""The daemon's side of the history: turn one tick's decisions and readings into a
:class:`~autoscaler.history.model.TickRecord` and hand it to the store.

Only a daemon that acts records (the leader: a stand-by's tick ends before deciding). A
failed write is logged once per streak and never fails the tick: the history is for people,
the formation is not held back for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from structlog.typing import FilteringBoundLogger

from autoscaler.config import Settings
from autoscaler.decision_log import decision_fields
from autoscaler.errors import StateError
from autoscaler.history.model import (
    SLOT,
    Event,
    ProcessStatus,
    Sample,
    SignalSpec,
    Status,
    TickRecord,
    main_signal,
    signal_value,
)
from autoscaler.history.store import HistoryStore
from autoscaler.policy import Decision, monthly_price
from autoscaler.signals import Reading
from autoscaler.state import instance_id


class TickOutcome(Protocol):
    """What the recorder reads of a tick (:class:`autoscaler.daemon.TickResult`)."""

    @property
    def ok(self) -> bool: ...

    @property
    def decisions(self) -> Sequence[Decision]: ...

    @property
    def readings(self) -> Mapping[str, Reading]: ...

    @property
    def patched(self) -> bool: ...

    @property
    def errors(self) -> Sequence[str]: ...


def _cost(quantity: int, size: str, prices: Mapping[str, float]) -> float | None:
    price = monthly_price(size, prices)
    return None if price is None else quantity * price


class HistoryRecorder:
    """Records each tick of one daemon into ``store``."""

    def __init__(
        self,
        store: HistoryStore,
        settings: Settings,
        prices: Mapping[str, float],
        log: FilteringBoundLogger,
        *,
        instance: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.prices = prices
        self.log = log
        self.instance = instance or instance_id()
        self.specs: dict[str, SignalSpec] = {name: main_signal(p) for name, p in settings.processes.items()}
        self._last: dict[str, tuple[int, int, str, str]] = {}
        """Per process type: (current, desired, desired size, reason) of the last tick, to tell an event."""
        self._latest: dict[str, ProcessStatus] = {}
        self._demand: dict[str, tuple[int, int]] = {}
        """Per process type: (minute, largest reactive recommendation of the minute so far)."""
        self._failing = False

    def record(self, at: float, tick: TickOutcome, *, formation_read: bool = True) -> None:
        """Write what ``tick`` saw and decided (``formation_read=False``: the formation could not be
        read, so there is no decision, only the status). Never raises."""
        samples: list[Sample] = []
        events: list[Event] = []
        dry_run = self.settings.dry_run
        for decision in tick.decisions:
            reading = tick.readings.get(decision.process) or Reading.unknown(at, "not read")
            outcome, mark = _outcome(decision, tick, dry_run)
            sample = self._sample(decision, reading, self._minute_demand(decision, at))
            key = (decision.current, decision.desired, decision.desired_size, str(decision.reason))
            new = self._last.get(decision.process) != key or decision.manual_change
            self._last[decision.process] = key
            if new:
                events.append(
                    Event(
                        at=at,
                        process=decision.process,
                        current=decision.current,
                        **decision_fields(decision),
                        outcome=outcome,
                    )
                )
                if outcome in {"scaled", "dry_run", "failed"}:
                    sample = replace(sample, event=f"{mark}{decision.current}>{decision.desired}")
            samples.append(sample)
            self._latest[decision.process] = ProcessStatus(
                current=decision.current,
                **decision_fields(decision),
                signal_error=reading.error,
                monthly_usd=sample.monthly_usd,
                desired_monthly_usd=_cost(decision.desired, decision.desired_size, self.prices),
                forecast=None if decision.forecast is None else decision.forecast.message,
            )
        status = Status(
            at=at,
            instance=self.instance,
            ok=tick.ok,
            dry_run=dry_run,
            interval=self.settings.interval,
            errors=tuple(tick.errors),
            processes=dict(self._latest),
            api_ok=formation_read,
        )
        self._write(TickRecord(at=at, samples=tuple(samples), events=tuple(events), status=status))

    def _minute_demand(self, decision: Decision, at: float) -> int | None:
        """The largest reactive recommendation of this minute so far (a slot keeps the last tick's
        values: the maximum is kept here)."""
        if decision.recommendation is None:
            return None
        minute = int(at // SLOT)
        seen = self._demand.get(decision.process)
        demand = decision.recommendation if seen is None or seen[0] != minute else max(seen[1], decision.recommendation)
        self._demand[decision.process] = (minute, demand)
        return demand

    def _sample(self, decision: Decision, reading: Reading, demand: int | None) -> Sample:
        job_time = decision.inputs.get("job_time")
        arrivals = decision.inputs.get("arrival_rate")
        sample = Sample(
            process=decision.process,
            current=decision.current,
            size=decision.current_size,
            desired=decision.desired,
            desired_size=decision.desired_size,
            reason=str(decision.reason),
            depth=reading.depth,
            latency=reading.latency,
            busy=reading.busy,
            rate=reading.rate if reading.rate is not None else arrivals,
            queue_time_p95=reading.queue_time_p95,
            response_time_p95=reading.response_time_p95,
            monthly_usd=_cost(decision.current, decision.current_size, self.prices),
            demand=demand,
            service_ms=reading.app_time if reading.app_time is not None else job_time and job_time * 1000,
        )
        spec = self.specs.get(decision.process)
        if spec is None:
            return sample
        return replace(sample, signal=signal_value(spec, sample))

    def _write(self, record: TickRecord) -> None:
        try:
            self.store.write(record)
        except StateError as exc:
            if not self._failing:
                self.log.warning("history_write_failed", error=str(exc), message="the status page misses this tick")
            self._failing = True
            return
        if self._failing:
            self.log.info("history_write_recovered")
        self._failing = False


def _outcome(decision: Decision, tick: TickOutcome, dry_run: bool) -> tuple[str, str]:
    """What became of a decision's change, and its mark in a slot's event: ``scaled`` (no mark),
    ``dry_run`` (``~``), ``failed`` (``!``: the PATCH was refused), ``waiting`` (not sent this tick:
    the daemon waits before trying again; no mark). Empty for a decision that changes nothing."""
    if not decision.changed:
        return "", ""
    if dry_run:
        return "dry_run", "~"
    if tick.patched:
        return "scaled", ""
    if any(error.startswith("scale:") for error in tick.errors):
        return "failed", "!"
    return "waiting", ""
