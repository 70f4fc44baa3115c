"""The daemon's side of ``PREDICT``: the recorded demand of each predicting process type, and the
forecast made from it (:mod:`autoscaler.policy.forecast`, pure) once a minute.

Demand (the largest reactive recommendation of each minute) is kept in memory for
:data:`KEPT_MINUTES`: read from the history store when the daemon starts and every
:data:`RELOAD_S` after (so a daemon that takes over from another one learns what that one
recorded), and fed by each tick's decisions. Without a state store it is only what this process
has seen since it started. Each minute, the predictions whose horizon has just passed are judged
(did the rise come?), and the forecast is made again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from structlog.typing import FilteringBoundLogger

from autoscaler.config import ProcessConfig
from autoscaler.errors import StateError
from autoscaler.history.model import SLOT
from autoscaler.history.store import HistoryStore
from autoscaler.policy import Decision, Observation
from autoscaler.policy.forecast import (
    DAY,
    JUDGE_SLACK,
    JUDGE_WITHIN,
    MARGIN_S,
    WEEK,
    Demand,
    Forecast,
    forecast,
    horizon_minutes,
    judge,
)

KEPT_MINUTES = WEEK + DAY
"""Minutes of demand kept: a week back from any minute of the coming day."""
RELOAD_S = 3600.0
"""Seconds between reads of the history store."""


@dataclass
class _Process:
    """What is kept for one predicting process type."""

    lead_s: float
    values: dict[int, float] = field(default_factory=dict)
    judgements: deque[tuple[int, bool]] = field(default_factory=deque)
    judged_until: int | None = None
    """The last minute whose prediction was judged."""
    cached: tuple[int, Forecast] | None = None

    @property
    def ahead(self) -> int:
        return horizon_minutes(self.lead_s)

    def demand(self) -> Demand:
        return Demand.of(self.values)

    def add(self, minute: int, dynos: float) -> None:
        old = self.values.get(minute)
        if old is None or dynos > old:
            self.values[minute] = dynos

    def judge_until(self, minute: int, demand: Demand) -> None:
        """Judge every prediction whose horizon ended before ``minute``, and forget old judgements."""
        last = minute - 1 - self.ahead - JUDGE_SLACK
        start = last - JUDGE_WITHIN if self.judged_until is None else max(last - JUDGE_WITHIN, self.judged_until)
        for at in range(start + 1, last + 1):
            hit = judge(demand, at, self.ahead)
            if hit is not None:
                self.judgements.append((at, hit))
        self.judged_until = last if self.judged_until is None else max(last, self.judged_until)
        while self.judgements and self.judgements[0][0] < minute - JUDGE_WITHIN:
            self.judgements.popleft()

    def forget(self, minute: int) -> None:
        oldest = minute - KEPT_MINUTES
        for old in [m for m in self.values if m < oldest]:
            del self.values[old]


class Predictor:
    """The forecasts of the process types with ``PREDICT=true``."""

    def __init__(
        self, processes: Mapping[str, ProcessConfig], store: HistoryStore | None, log: FilteringBoundLogger
    ) -> None:
        self.store = store
        self.log = log
        self.processes = {
            name: _Process(lead_s=process.boot_time + MARGIN_S)
            for name, process in processes.items()
            if process.predict
        }
        self._loaded_at: float | None = None
        self._load_failed = False

    @classmethod
    def wanted(
        cls, processes: Mapping[str, ProcessConfig], store: HistoryStore | None, log: FilteringBoundLogger
    ) -> Predictor | None:
        """A predictor when some process type predicts, else None."""
        return cls(processes, store, log) if any(p.predict for p in processes.values()) else None

    def attach(self, observations: Mapping[str, Observation], now: float) -> dict[str, Observation]:
        """``observations`` with the forecast of each predicting process type."""
        self._reload(now)
        return {
            name: replace(obs, forecast=self.forecast(name, now)) if name in self.processes else obs
            for name, obs in observations.items()
        }

    def forecast(self, name: str, now: float) -> Forecast:
        """The forecast of ``name`` at ``now``, made once a minute."""
        process = self.processes[name]
        minute = int(now // SLOT)
        if process.cached is None or process.cached[0] != minute:
            demand = process.demand()
            process.judge_until(minute, demand)
            made = forecast(demand, now, process.lead_s, [hit for _, hit in process.judgements])
            process.cached = (minute, made)
            process.forget(minute)
        return process.cached[1]

    def note(self, decisions: Iterable[Decision], now: float) -> None:
        """Record each predicting process type's reactive recommendation of this tick."""
        minute = int(now // SLOT)
        for decision in decisions:
            process = self.processes.get(decision.process)
            if process is not None and decision.recommendation is not None:
                process.add(minute, decision.recommendation)

    def _reload(self, now: float) -> None:
        """Read the recorded demand from the store at start and every RELOAD_S."""
        if self.store is None or (self._loaded_at is not None and now - self._loaded_at < RELOAD_S):
            return
        self._loaded_at = now
        try:
            history = self.store.read(now - KEPT_MINUTES * SLOT, now, list(self.processes), events=0)
        except StateError as exc:
            if not self._load_failed:
                self.log.warning("forecast_history_unreadable", error=str(exc), message="forecasting from memory")
            self._load_failed = True
            return
        self._load_failed = False
        for name, slots in history.slots.items():
            process = self.processes[name]
            for slot in slots:
                if slot.demand is not None:
                    process.add(int(slot.at // SLOT), slot.demand)
            process.cached = None
