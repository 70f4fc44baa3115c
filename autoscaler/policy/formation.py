"""The whole formation: :func:`decide` for every managed process type, then the app-wide bounds:
Heroku's dynos per app and ``AUTOSCALER_MAX_MONTHLY_COST``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from autoscaler import sizes
from autoscaler.policy.decision import Decision, Observation, ProcessState, Reason
from autoscaler.policy.engine import decide
from autoscaler.policy.engine_config import EngineConfig, HasEngineConfig, engine_config
from autoscaler.policy.limits import bounds


@dataclass(frozen=True, slots=True)
class AppLimits:
    """The app-wide bounds :func:`decide_formation` applies across process types."""

    max_dynos: int = sizes.APP_DYNO_LIMIT
    other_dynos: int = 0
    """Dynos of process types this daemon does not manage (they count against the app limit)."""
    max_monthly_cost: float | None = None
    other_monthly_cost: float = 0.0
    prices: Mapping[str, float] = field(default_factory=dict)
    """USD per month by size key, overriding the catalogue."""


def monthly_price(size_name: str, prices: Mapping[str, float]) -> float | None:
    """USD per month of one dyno of ``size_name``: an override, else the catalogue."""
    key = sizes.normalize(size_name)
    if key in prices:
        return prices[key]
    size = sizes.lookup(size_name)
    return size.monthly_usd if size else None


def decide_formation(
    observations: Mapping[str, Observation],
    states: Mapping[str, ProcessState],
    configs: Mapping[str, EngineConfig | HasEngineConfig],
    now: float,
    limits: AppLimits | None = None,
) -> tuple[dict[str, Decision], dict[str, ProcessState]]:
    """:func:`decide` for every process type, then the app-wide bounds: Heroku's dynos per
    app and the monthly budget. Both trim the processes with the lowest ``PRIORITY`` first,
    never below their own floor (``MIN_DYNOS``, or the current quantity when their signal
    is unknown, since unknown data never lowers a formation). Pure.

    ``configs`` are engine configurations; settings that build one (``ProcessConfig``) are
    accepted too."""
    limits = limits or AppLimits()
    engine = {name: engine_config(configs[name]) for name in observations}
    decisions: dict[str, Decision] = {}
    new_states: dict[str, ProcessState] = {}
    for name, obs in observations.items():
        decisions[name], new_states[name] = decide(obs, states.get(name, ProcessState()), engine[name], now)
    floors = _Floors(observations, engine, now)
    _trim(decisions, floors, _over_app_limit(decisions, limits))
    _trim(decisions, floors, _over_budget(decisions, limits))
    return decisions, new_states


@dataclass(frozen=True, slots=True)
class _Excess:
    """An app-wide bound exceeded by ``over`` units; one dyno of a process is ``unit[name]`` units."""

    unit: Mapping[str, float]
    over: float
    reason: Reason
    what: str


def _over_app_limit(decisions: Mapping[str, Decision], limits: AppLimits) -> _Excess | None:
    total = limits.other_dynos + sum(d.desired for d in decisions.values())
    if total <= limits.max_dynos:
        return None
    what = f"Heroku allows {limits.max_dynos} dynos per app"
    return _Excess(dict.fromkeys(decisions, 1.0), total - limits.max_dynos, Reason.CLAMPED_TO_APP_LIMIT, what)


def _over_budget(decisions: Mapping[str, Decision], limits: AppLimits) -> _Excess | None:
    if limits.max_monthly_cost is None:
        return None
    unit_price = {n: monthly_price(d.desired_size, limits.prices) or 0.0 for n, d in decisions.items()}
    cost = limits.other_monthly_cost + sum(d.desired * unit_price[n] for n, d in decisions.items())
    if cost <= limits.max_monthly_cost:
        return None
    what = f"AUTOSCALER_MAX_MONTHLY_COST ${limits.max_monthly_cost:g}"
    return _Excess(unit_price, cost - limits.max_monthly_cost, Reason.CLAMPED_TO_BUDGET, what)


@dataclass(frozen=True, slots=True)
class _Floors:
    """What the app-wide bounds may not take from a process, and the order they take it in."""

    observations: Mapping[str, Observation]
    configs: Mapping[str, EngineConfig]
    now: float

    def order(self) -> list[str]:
        """The process types, lowest PRIORITY first."""
        return sorted(self.observations, key=lambda n: (self.configs[n].priority, n))

    def removable(self, name: str, desired: int) -> int:
        """Dynos above the floor: MIN_DYNOS, or the current quantity while the signal is unknown."""
        obs = self.observations[name]
        low = bounds(self.configs[name], self.now)[0]
        floor = min(desired, max(low, obs.quantity if not obs.reading.ok else 0))
        return desired - floor


def _trim(decisions: dict[str, Decision], floors: _Floors, excess: _Excess | None) -> None:
    """Lower the decisions, lowest priority first and each down to its floor at most, until the
    excess is gone (or nothing more may go)."""
    if excess is None:
        return
    over = excess.over
    for name in floors.order():
        if over <= 0:
            return
        d, unit = decisions[name], excess.unit[name]
        if unit <= 0:
            continue
        cut = min(floors.removable(name, d.desired), math.ceil(over / unit))
        if cut > 0:
            decisions[name] = replace(
                d, desired=d.desired - cut, reason=excess.reason, message=f"{d.message}; {excess.what}: -{cut}"
            )
            over -= cut * unit
