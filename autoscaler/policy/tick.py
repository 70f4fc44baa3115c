"""The values one decision reads at every step, gathered once per call."""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoscaler.policy.decision import Decision, Observation, Outcome, ProcessState
from autoscaler.policy.engine_config import EngineConfig
from autoscaler.policy.learning import per_dyno_rate
from autoscaler.policy.limits import Span
from autoscaler.signals import Reading


@dataclass(frozen=True, slots=True)
class Tick:
    """One process type at one moment: what was observed, its configuration, the time ``now``, the
    bounds (and the size wanted, ``span.size``), the dynos still booting, and whether the formation
    was changed by hand since the daemon last set it."""

    obs: Observation
    config: EngineConfig
    now: float
    span: Span
    booting: int
    manual_change: bool

    @property
    def current(self) -> int:
        return self.obs.quantity

    @property
    def reading(self) -> Reading:
        return self.obs.reading

    @property
    def ready(self) -> int:
        """Dynos serving now: the current ones less those still booting."""
        return max(0, self.current - self.booting)

    @property
    def serving(self) -> int:
        """Dynos serving, as far as the reading shows: :attr:`ready`, or more when more jobs run than
        the ready dynos hold (dynos that booted sooner than BOOT_TIME), never more than the formation.
        What throughput is measured per."""
        busy = self.reading.busy
        if busy is None:
            return self.ready
        return min(self.current, max(self.ready, math.ceil(busy / self.config.concurrency)))

    def decision(
        self, outcome: Outcome, recommendation: int | None = None, learned: ProcessState | None = None
    ) -> Decision:
        """The decision of ``outcome``; ``learned``: the state after learning from this reading (its
        worker arrival rate and job time join the inputs)."""
        inputs = self.inputs()
        if learned is not None and not self.config.web and self.config.response_time_ms is None:
            rate = per_dyno_rate(self.config, learned)
            inputs.update(
                arrival_rate=learned.arrival_rate,
                job_time=self.config.concurrency / rate if rate else None,
            )
        return Decision(
            process=self.obs.process,
            current=self.current,
            desired=outcome.desired,
            current_size=self.obs.size,
            desired_size=self.span.size,
            reason=outcome.reason,
            message=outcome.message,
            recommendation=recommendation,
            inputs=inputs,
            manual_change=self.manual_change,
            forecast=self.obs.forecast if self.config.predict else None,
        )

    def inputs(self) -> dict[str, float | int | None]:
        """The signal values and bounds a decision used, for its log line."""
        reading = self.reading
        inputs: dict[str, float | int | None] = {
            "depth": reading.depth,
            "latency": reading.latency,
            "busy": reading.busy,
        }
        if self.config.web:
            inputs.update(rate=reading.rate, queue_time_p95=reading.queue_time_p95, app_time=reading.app_time)
        elif self.config.response_time_ms is not None:
            inputs.update(rate=reading.rate, response_time_p95=reading.response_time_p95)
        inputs.update(min=self.span.low, max=self.span.high)
        return inputs
