"""The random-routing web model against the proportional rule alone, on the simulator's slow ramp.

The same engine runs twice on the same simulated traffic (random routing over per-dyno queues,
boot delays, the web source's lagging windowed readings): once as the daemon runs it, once with
the request rate and app time removed from its readings, so only the proportional queue-time rule
is left. On a ramp the queue time stays near 0 until the dynos saturate, so the proportional rule
only reacts once requests already wait, and then over-reacts; the model follows the rate.
"""

from __future__ import annotations

import dataclasses

from autoscaler.signals import Reading
from autoscaler.simulate import runner, workloads
from autoscaler.simulate.model import System
from autoscaler.simulate.ours import Ours
from autoscaler.simulate.settings import SimConfig
from autoscaler.sizes import lookup


class ProportionalOnly(Ours):
    """The daemon fed readings without rate and app time: no model, only the proportional rule."""

    name = "proportional-only"

    def reading(self, system: System, second: int, at: float) -> Reading:
        return dataclasses.replace(super().reading(system, second, at), rate=None, app_time=None)


def test_the_model_keeps_up_with_a_ramp_that_the_proportional_rule_lags() -> None:
    """On the 4-hour slow ramp the full engine is below demand in far fewer minutes, and breaches the
    queue-time target in far fewer, than the proportional rule alone."""
    size = lookup("standard-2x")
    assert size is not None
    config = SimConfig(
        kind="web",
        per_dyno=4,
        service_s=0.12,
        size=size,
        monthly_usd=size.monthly_usd,
        min_dynos=1,
        max_dynos=20,
        target_s=0.05,
        seed=1,
    )
    inputs = runner.Inputs.prepare(workloads.build("slow-ramp", "web", 1, None, 0.12), config)
    full = runner.simulate(inputs, Ours(config), inputs.demand[0])
    alone = runner.simulate(inputs, ProportionalOnly(config), inputs.demand[0])

    def minutes_short(run: runner.Run) -> int:
        return sum(quantity < needed for quantity, needed in zip(run.quantity, inputs.demand, strict=False))

    assert minutes_short(full) * 5 < minutes_short(alone), (minutes_short(full), minutes_short(alone))
    assert full.slo_minutes * 5 < alone.slo_minutes, (full.slo_minutes, alone.slo_minutes)
