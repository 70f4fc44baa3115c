"""What the daemon tells a person about its decisions: one canonical ``decision`` line per
process type and tick, ``clamped`` and ``manual_change`` events, the notices they imply, and
the ``cost`` line when the monthly run-rate changes, and the ``budget`` line when the share of
``AUTOSCALER_MAX_MONTHLY_COST`` left to the managed process types does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from structlog.typing import FilteringBoundLogger

from autoscaler.appview import BudgetSplit
from autoscaler.config import Settings
from autoscaler.logs import measurements
from autoscaler.notify import Alerts
from autoscaler.policy import CLAMP_REASONS, Decision, Reason, monthly_price
from autoscaler.signals import Reading


class DecisionFields(TypedDict):
    """What a decision says beside the quantity it starts from, as the history and ``check`` show it."""

    size: str
    desired: int
    desired_size: str
    reason: str
    message: str


def decision_fields(decision: Decision) -> DecisionFields:
    """The size, the wanted quantity and size, the reason and the message of ``decision``."""
    return DecisionFields(
        size=decision.current_size,
        desired=decision.desired,
        desired_size=decision.desired_size,
        reason=str(decision.reason),
        message=decision.message,
    )


def monthly_cost(quantities: Mapping[str, tuple[int, str]], prices: Mapping[str, float] | None = None) -> float | None:
    """USD per month of the given ``{process: (quantity, size)}``; None if a size has no price."""
    total = 0.0
    for quantity, size_name in quantities.values():
        price = monthly_price(size_name, prices or {})
        if price is None:
            return None
        total += quantity * price
    return total


class DecisionLog:
    """Logs decisions and costs for one daemon (its logger, its alerts, its settings)."""

    def __init__(
        self, log: FilteringBoundLogger, alerts: Alerts, settings: Settings, prices: Mapping[str, float]
    ) -> None:
        self.log = log
        self.alerts = alerts
        self.settings = settings
        self.prices = prices
        self._last_cost: tuple[float | None, float | None] | None = None
        self._last_split: tuple[float, int, float] | None = None

    def decision(self, decision: Decision, reading: Reading) -> None:
        """The canonical decision line of one process type, and the clamp and fallback events it implies."""
        name = decision.process
        if decision.manual_change:
            self.log.warning(
                "manual_change",
                process=name,
                quantity=decision.current,
                message=f"the formation was changed outside the autoscaler: {decision.current} is the floor "
                f"for {self.settings.processes[name].manual_hold:g}s",
            )
        fields: dict[str, Any] = {
            "process": name,
            "current": decision.current,
            "desired": decision.desired,
            "size": decision.current_size,
            "desired_size": decision.desired_size,
            "depth": reading.depth,
            "latency": reading.latency,
            "busy": reading.busy,
        }
        source = self.settings.processes[name].source
        if source == "web":
            fields.update(reading.web_fields())
        elif source == "router":
            fields.update(reading.router_fields())
        if decision.forecast is not None:
            forecast = decision.forecast
            fields.update(forecast=str(forecast.status), forecast_add=forecast.add, forecast_peak=forecast.peak)
        fields.update(
            recommendation=decision.recommendation,
            reason=str(decision.reason),
            message=decision.message,
            dry_run=self.settings.dry_run,
        )
        charted: dict[str, float | int | None] = {"dynos": decision.current, "desired": decision.desired}
        charted.update(depth=reading.depth, latency=reading.latency, queue_time_p95=reading.queue_time_p95)
        if source == "router":
            charted.update(response_time_p95=reading.response_time_p95)
        fields.update(measurements(name, charted))
        self.log.info("decision", **fields)
        for reason, text in (
            (Reason.CLAMPED_TO_MAX, f"{name} needs more than MAX_DYNOS: held at {decision.desired}"),
            (Reason.CLAMPED_TO_BUDGET, f"{name} trimmed to {decision.desired} by AUTOSCALER_MAX_MONTHLY_COST"),
            (Reason.FALLBACK, f"{name}: signal unknown, fallback to {decision.desired} dynos"),
        ):
            self.alerts.condition(f"{reason}:{name}", decision.reason is reason, text, {"process": name})
        if decision.reason in CLAMP_REASONS:
            self.log.warning(
                "clamped",
                process=name,
                reason=str(decision.reason),
                desired=decision.desired,
                recommendation=decision.recommendation,
                message=decision.message,
            )

    def cost(self, decisions: list[Decision]) -> None:
        """The monthly run-rate now and as decided, logged when it changes."""
        if not decisions:
            return
        current = monthly_cost({d.process: (d.current, d.current_size) for d in decisions}, self.prices)
        desired = monthly_cost({d.process: (d.desired, d.desired_size) for d in decisions}, self.prices)
        if (current, desired) == self._last_cost:  # logged when it changes, not every tick
            return
        self._last_cost = (current, desired)
        self.log.info(
            "cost",
            monthly_usd=current,
            desired_monthly_usd=desired,
            **{"sample#autoscaler.monthly_usd": current} if current is not None else {},
        )

    def budget(self, split: BudgetSplit | None) -> None:
        """How AUTOSCALER_MAX_MONTHLY_COST is shared, logged when it changes."""
        if split is None:
            return
        key = (round(split.one_off, 2), split.one_off_dynos, round(split.other_types, 2))
        if key == self._last_split:
            return
        self._last_split = key
        self.log.info(
            "budget",
            max_monthly_usd=round(split.budget, 2),
            one_off_usd=round(split.one_off, 2),
            one_off_dynos=split.one_off_dynos,
            other_types_usd=round(split.other_types, 2),
            managed_usd=round(split.managed, 2),
            message=f"AUTOSCALER_MAX_MONTHLY_COST ${split.budget:,.2f}: ${split.one_off:,.2f} for "
            f"{split.one_off_dynos} one-off dynos running now, ${split.other_types:,.2f} for the process "
            f"types not managed here, ${split.managed:,.2f} left for the managed ones",
        )
