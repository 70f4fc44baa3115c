"""The daemon: one tick reads the formation and the signals, decides, and applies.

A tick, top to bottom (:meth:`Daemon.tick`):

1. The formation: the one kept from an earlier read, or ``GET /apps/{app}/formation`` when
   that is more than a minute old (:mod:`autoscaler.appview` says what else is read, and
   when). If a needed read fails, nothing else happens: the formation is held as it is and
   the failure is logged.
2. For each managed process type, read its source (a failure makes the reading unknown,
   never 0). Then the pure :func:`autoscaler.policy.decide_formation` decides every
   process type from the readings and the remembered state, within the app's bounds.
   When that decision, made on a kept formation, wants a change, the formation is read
   again and the decision made again on the fresh one: a PATCH is always decided on a
   formation read of the same tick. The new state is stored and one canonical decision
   line is logged per process type. With ``PREDICT``, each observation carries the forecast
   made from the recorded demand (:mod:`autoscaler.history.demand`).
3. If any decision changes the formation: one batch ``PATCH /apps/{app}/formation`` with
   absolute quantities (idempotent, so two overlapping daemons cannot compound a change).
   In dry-run mode the same decision is logged with ``dry_run=true`` and nothing is sent.
   A failing Platform API (a rejected token, refused PATCHes, a deploy's preboot) is
   :mod:`autoscaler.api_health`'s to handle.

``check`` runs the first two steps (:meth:`Daemon.observe`, :meth:`Daemon.decide`) on a
daemon that keeps its state in memory; ``simulate`` runs whole ticks against a simulated
platform. The clock is injected; every I/O is bounded by timeouts and the tick's deadline.
The loop around ticks is :mod:`autoscaler.loop`; the decision lines, :mod:`autoscaler.decision_log`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from structlog.typing import FilteringBoundLogger

from autoscaler import sizes
from autoscaler.api_health import ApiHealth
from autoscaler.appview import AppView, BudgetSplit, PlatformAPI
from autoscaler.clock import Clock
from autoscaler.config import Settings
from autoscaler.decision_log import DecisionLog
from autoscaler.errors import Forbidden, HerokuError, SignalError, StateError, Unauthorized
from autoscaler.heroku import Formation, FormationUpdate, PrebootLocked
from autoscaler.history import HistoryRecorder, HistoryStore
from autoscaler.history.demand import Predictor
from autoscaler.logs import get_logger
from autoscaler.notify import TIMEOUT as NOTIFY_TIMEOUT
from autoscaler.notify import Alerts, Notifier, NullNotifier
from autoscaler.policy import (
    AppLimits,
    Decision,
    Observation,
    ProcessState,
    decide_formation,
    mark_applied,
)
from autoscaler.signals import Reading, Source
from autoscaler.state import Lease, MemoryState, StateStore

TICK_BUDGET = 0.8
"""Share of the interval one tick may spend on I/O (retries stop at this deadline)."""


class FormationAPI(Protocol):
    """The part of :class:`autoscaler.heroku.HerokuClient` the daemon uses."""

    def formation(self, app: str, *, deadline: float | None = None) -> list[Formation]: ...

    def update_formation(
        self, app: str, updates: Sequence[FormationUpdate], *, deadline: float | None = None
    ) -> list[Formation]: ...

    def pause_hint(self) -> float: ...


@dataclass
class TickResult:
    """What one tick did, for ``once`` (exit status), tests and benchmarks."""

    ok: bool
    decisions: list[Decision] = field(default_factory=list)
    readings: dict[str, Reading] = field(default_factory=dict)
    updates: list[FormationUpdate] = field(default_factory=list)
    patched: bool = False
    skipped: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass
class Observed:
    """What one look at the app found: the formation (None when it could not be read), a reading per
    managed process type, and the observations the engine decides from (process types in the formation)."""

    formation: dict[str, Formation] | None = None
    formation_error: HerokuError | None = None
    readings: dict[str, Reading] = field(default_factory=dict)
    observations: dict[str, Observation] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    fresh: bool = False
    """The formation was read from the Platform API in this tick (not the one kept from an earlier read)."""


@dataclass
class _Evaluation:
    """One decision of the whole formation, not yet stored nor logged."""

    decisions: dict[str, Decision]
    states: dict[str, ProcessState]
    split: BudgetSplit | None

    @property
    def changes(self) -> bool:
        return any(d.changed for d in self.decisions.values())


class Daemon:
    """Owns the sources, the state and the API client for the life of the process."""

    def __init__(
        self,
        settings: Settings,
        api: FormationAPI,
        sources: Mapping[str, Source],
        *,
        clock: Clock,
        state: StateStore | None = None,
        lease: Lease | None = None,
        notifier: Notifier | None = None,
        logger: FilteringBoundLogger | None = None,
        history: HistoryStore | None = None,
    ) -> None:
        """``logger`` replaces the process's logger (``simulate`` passes a silent one, so a simulated
        day does not log every tick); by default the daemon logs through :func:`autoscaler.logs.get_logger`.
        ``history``: where each acting tick is recorded for the status page (:mod:`autoscaler.history`)."""
        self.settings = settings
        self.app = settings.app_name or ""
        self.api = api
        self.sources = dict(sources)
        self.clock = clock
        self.state: StateStore = state or MemoryState()
        self.lease = lease
        self.notifier: Notifier = notifier or NullNotifier()
        self.alerts = Alerts(self.notifier, self.app, settings.notify_after)
        self._prices = {sizes.normalize(name): price for name, price in settings.prices.items()}
        """AUTOSCALER_PRICES by catalogue key."""
        self.log = logger if logger is not None else get_logger(app=self.app)
        self.narrate = DecisionLog(self.log, self.alerts, settings, self._prices)
        self.history: HistoryRecorder | None = None
        if history is not None:
            owner = lease.owner if lease is not None else None
            self.history = HistoryRecorder(history, settings, self._prices, self.log, instance=owner)
        self.predictor = Predictor.wanted(settings.processes, history, self.log)
        self._failing: dict[str, str] = {}
        self._quiet: set[str] = set()
        self._lease_unreadable = False
        self._would_scale: tuple[str, ...] = ()
        """Dry run: the changes last announced, so a webhook hears of each would-be formation once."""
        self.ticks = 0
        platform = api if isinstance(api, PlatformAPI) else None
        self.view = AppView(self.app, platform, settings, self._prices, self.log)
        """The kept formation, the app's generation and prices, one-off dynos, the rate limit."""
        self.health = ApiHealth(settings.interval, clock, self.log, self.alerts, api.pause_hint)
        """The Platform API's failures: token back-off, PATCH back-off, preboot waits, pauses."""

    # --- one tick -------------------------------------------------------------------

    def tick(self) -> TickResult:
        """Run one tick. Never raises for I/O failures; those are logged and held."""
        self.ticks += 1
        start = self.clock.monotonic()
        deadline = start + self.settings.interval * TICK_BUDGET
        if self.health.paused(start):
            return TickResult(ok=True, skipped=True)
        if self.lease is not None and not self._lead():
            if self._lease_unreadable:
                return TickResult(ok=False, skipped=True, errors=["state store: cannot tell who leads: not acting"])
            return TickResult(ok=True, skipped=True)

        observed = self.observe(deadline, cached=True)
        evaluation = self._evaluate_fresh(observed, deadline)
        if evaluation is None:
            assert observed.formation_error is not None
            self.health.failed(observed.formation_error, "formation_read_failed")
            return self._recorded(TickResult(ok=False, errors=[f"formation: {observed.formation_error}"]), False)
        if observed.fresh:
            self.health.ok()
        result = TickResult(ok=not observed.errors, readings=observed.readings, errors=observed.errors)
        result.decisions = self._commit(evaluation, observed.observations)
        self.narrate.cost(result.decisions)
        result.updates = [_update_for(d) for d in result.decisions if d.changed]
        if not result.updates:
            self._would_scale = ()
            self.health.preboot_over(accepted=False)
        if result.updates and (self.settings.dry_run or (observed.fresh and self.health.may_patch())):
            result.patched = self._apply(result.updates, deadline, result)
            if result.patched:
                self._remember_applied(result.decisions)
        self.health.note_pause()
        return self._recorded(result)

    def _recorded(self, result: TickResult, formation_read: bool = True) -> TickResult:
        """The history hook: record what an acting tick saw and did (one round trip; never raises)."""
        if self.history is not None:
            self.history.record(self.clock.time(), result, formation_read=formation_read)
        return result

    def observe(
        self, deadline: float | None = None, *, read_without_formation: bool = False, cached: bool = False
    ) -> Observed:
        """The first step of a tick (and all that ``check`` needs before deciding): the formation, then
        each managed process type's signal. The formation is read from the Platform API, unless
        ``cached`` and the one kept from an earlier read is recent enough; the app's platform, the
        account's rate limit and the one-off dynos are read when due (:mod:`autoscaler.appview`).
        Without a formation a tick stops there; ``check`` (``read_without_formation``) still reads
        the signals, to report them."""
        observed = Observed()
        now = self.clock.monotonic()
        self.view.watch_rate(deadline, now)
        if cached and self.view.keeps_formation and self.view.formation is not None and not self.view.stale(now):
            observed.formation = dict(self.view.formation)
        else:
            try:
                observed.formation = self.view.store(self.api.formation(self.app, deadline=deadline), now)
                observed.fresh = True
            except HerokuError as exc:
                observed.formation_error = exc
                if not read_without_formation:
                    return observed
            if observed.fresh:
                self.view.learn(deadline)
        self.view.refresh_one_offs(deadline, now)
        for name in self.settings.processes:
            entry = observed.formation.get(name) if observed.formation is not None else None
            if observed.formation is not None and entry is None:
                error = f"process type {name!r} is not in the formation of {self.app} (not in the Procfile?)"
                self.log.error("process_missing", process=name, error=error)
                observed.errors.append(error)
                continue
            reading = self._read(name)
            observed.readings[name] = reading
            if not reading.ok:
                observed.errors.append(f"{name}: signal unknown: {reading.error or 'no value'}")
            if entry is not None:
                observed.observations[name] = Observation(name, entry.quantity, entry.size, reading)
        return observed

    # --- leadership, failures, state ---------------------------------------------------

    def _once(self, key: str, active: bool) -> bool:
        """True the first time ``key`` becomes active (for logging once per streak)."""
        if not active:
            self._quiet.discard(key)
            return False
        if key in self._quiet:
            return False
        self._quiet.add(key)
        return True

    def _lead(self) -> bool:
        assert self.lease is not None
        now = self.clock.time()
        try:
            leading = self.lease.acquire()
            self._lease_unreadable = False
        except StateError as exc:
            self._lease_unreadable = True
            if self._once("state_unavailable", True):
                self.log.error("state_unavailable", error=str(exc), message="not acting: cannot tell who leads")
            self.alerts.failing("state store", str(exc), now)
            return False
        self._once("state_unavailable", False)
        self.alerts.recovered("state store", now)
        if not leading:
            if self._once("standby", True):
                self.log.info("standby", leader=self.lease.leader(), message="another daemon leads; standing by")
            return False
        if self._once("leading", True) or "standby" in self._quiet:
            self.log.info("leading", instance=self.lease.owner)
        self._once("standby", False)
        return True

    def _get_state(self, name: str) -> ProcessState:
        try:
            state = self.state.get(name)
        except StateError as exc:
            if self._once(f"state_read:{name}", True):
                self.log.warning("state_read_failed", process=name, error=str(exc))
            return ProcessState()
        self._once(f"state_read:{name}", False)
        return state

    def _put_state(self, name: str, state: ProcessState) -> None:
        try:
            self.state.put(name, state)
        except StateError as exc:
            if self._once(f"state_write:{name}", True):
                self.log.warning("state_write_failed", process=name, error=str(exc))
            return
        self._once(f"state_write:{name}", False)

    def _read(self, name: str) -> Reading:
        now = self.clock.time()
        source = self.sources[name]
        try:
            reading = source.read(now)
        except SignalError as exc:
            reading = Reading.unknown(now, str(exc))
        if reading.ok:
            if name in self._failing:
                self.log.info("signal_recovered", process=name, was=self._failing.pop(name))
            self.alerts.recovered(f"signal of {name}", now)
        else:
            if name not in self._failing:  # once per streak, not every tick
                self._failing[name] = reading.error or "unknown"
                self.log.warning("signal_unknown", process=name, error=reading.error)
            self.alerts.failing(f"signal of {name}", reading.error or "unknown", now)
        return reading

    def _limits(self, formation: Mapping[str, Formation]) -> tuple[AppLimits, BudgetSplit | None]:
        """The app's bounds: its generation's dyno limit (the process types not managed here count),
        and the budget less what the one-off dynos and the other process types cost now."""
        others = [f for name, f in formation.items() if name not in self.settings.processes]
        split = self.view.budget_split(formation, self.settings.processes)
        limits = AppLimits(
            max_dynos=self.view.app_limit,
            other_dynos=sum(f.quantity for f in others),
            max_monthly_cost=self.settings.max_monthly_cost,
            other_monthly_cost=split.one_off + split.other_types if split is not None else 0.0,
            prices=self._prices,
        )
        return limits, split

    def decide(self, observations: Mapping[str, Observation], formation: Mapping[str, Formation]) -> list[Decision]:
        """Decide every observed process type within the app's bounds; store the new state and log
        one decision line each. Sends nothing (``check`` uses this too)."""
        return self._commit(self._evaluate(observations, formation), observations)

    def _evaluate(self, observations: Mapping[str, Observation], formation: Mapping[str, Formation]) -> _Evaluation:
        """The decisions and the state they would leave; nothing stored, nothing logged."""
        now = self.clock.time()
        if self.predictor is not None:
            observations = self.predictor.attach(observations, now)
        configs = {name: self.settings.processes[name].engine() for name in observations}
        states = {name: self._get_state(name) for name in observations}
        limits, split = self._limits(formation)
        decisions, new_states = decide_formation(observations, states, configs, now, limits)
        return _Evaluation(decisions, new_states, split)

    def _evaluate_fresh(self, observed: Observed, deadline: float) -> _Evaluation | None:
        """Decide on the formation observed; when it was a kept one and the decision wants a change,
        read the formation again and decide again on the fresh one (``observed`` is updated), so a
        PATCH is always decided on a formation read of this tick. None when there is no formation."""
        if observed.formation is None:
            return None
        evaluation = self._evaluate(observed.observations, observed.formation)
        if observed.fresh or self.settings.dry_run or not evaluation.changes or not self.health.may_patch():
            return evaluation
        now = self.clock.monotonic()
        try:
            formation = self.view.store(self.api.formation(self.app, deadline=deadline), now)
        except HerokuError as exc:
            observed.formation, observed.formation_error = None, exc
            return None
        self.view.learn(deadline)
        observed.formation, observed.fresh = formation, True
        observed.observations = {
            name: Observation(name, formation[name].quantity, formation[name].size, reading)
            for name, reading in observed.readings.items()
            if name in formation
        }
        return self._evaluate(observed.observations, formation)

    def _commit(self, evaluation: _Evaluation, observations: Mapping[str, Observation]) -> list[Decision]:
        """Store the new state and log the budget's split and one decision line per process type."""
        for name, state in evaluation.states.items():
            self._put_state(name, state)
        self.narrate.budget(evaluation.split)
        for decision in evaluation.decisions.values():
            self.narrate.decision(decision, observations[decision.process].reading)
        if self.predictor is not None:
            self.predictor.note(evaluation.decisions.values(), self.clock.time())
        return list(evaluation.decisions.values())

    def _remember_applied(self, decisions: list[Decision]) -> None:
        now = self.clock.time()
        for d in decisions:
            if d.changed:
                boot_time = self.settings.processes[d.process].boot_time
                self._put_state(
                    d.process, mark_applied(self._get_state(d.process), d.current, d.desired, now, boot_time)
                )

    def _apply(self, updates: list[FormationUpdate], deadline: float, result: TickResult) -> bool:
        changes = [update.describe() for update in updates]
        if self.settings.dry_run:
            self.log.info(
                "scale_skipped", dry_run=True, changes=changes, message="dry run: would scale; nothing was sent"
            )
            if tuple(changes) != self._would_scale:  # once per would-be formation, not every tick
                self.alerts.scaled(changes, dry_run=True)
            self._would_scale = tuple(changes)
            return False
        try:
            answer = self.api.update_formation(self.app, updates, deadline=deadline)
        except PrebootLocked as exc:
            self.health.preboot_wait(exc, changes)
            return False
        except HerokuError as exc:
            self.health.patch_failed()
            self.log.error(
                "scale_failed",
                changes=changes,
                error=str(exc),
                message="formation left as it was; the next tick re-reads it and decides again",
            )
            if isinstance(exc, Unauthorized | Forbidden):
                self.health.failed(exc, "scale_failed")
            else:
                self.alerts.failing("Platform API", str(exc), self.clock.time())
            result.ok = False
            result.errors.append(f"scale: {exc}")
            return False
        self.view.merge(answer)
        self.health.patch_ok()
        for update, text in zip(updates, changes, strict=True):
            self.log.info("scaled", process=update.type, change=text, dry_run=False)
        self.alerts.scaled(changes, dry_run=False)
        return True

    def close(self, *, quick: bool = False) -> None:
        """Release the lease, flush and close the notifier (``quick``: waiting at most a second,
        when the process is in a hurry to exit), close the sources."""
        if self.lease is not None:
            with contextlib.suppress(StateError):
                self.lease.release()
        self.notifier.close(timeout=1.0 if quick else NOTIFY_TIMEOUT)
        for source in self.sources.values():
            try:
                source.close()
            except Exception as exc:  # closing must not hide the real exit reason
                self.log.warning("close_failed", error=str(exc))


def _update_for(decision: Decision) -> FormationUpdate:
    resize = sizes.normalize(decision.desired_size) != sizes.normalize(decision.current_size)
    return FormationUpdate(
        type=decision.process, quantity=decision.desired, size=decision.desired_size if resize else None
    )
