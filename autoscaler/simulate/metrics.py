"""SPEC RG elasticity metrics of a supply curve against a demand curve (SPEC Research Group, cloud elasticity).

``demand`` d_t and ``supply`` s_t are sampled every ``dt`` seconds (the report uses one
minute: d_t the clairvoyant demand, s_t the time-averaged serving dynos, booting ones
excluded). BUNGEE forms:

* ``accuracy_u`` = Σ max(d − s, 0)·Δt / T and ``accuracy_o`` = Σ max(s − d, 0)·Δt / T, in dynos;
* ``timeshare_u`` / ``timeshare_o``: the share of time with d > s / s > d;
* ``jitter`` = (E_S − E_D) / T in minutes, E_X the sum of |x_t − x_{t−1}|: below 0 the
  policy adapts less often than demand changes, above 0 it oscillates more.

Normalised SPEC RG forms, in %: ``theta_u``/``theta_o`` (the accuracies relative to d_t,
with d_t floored at :data:`EPSILON`), ``tau_u``/``tau_o`` (the timeshares) and
``upsilon``, the instability: the share of steps where supply and demand do not move in
the same direction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

EPSILON = 0.1
"""Floor of d_t in the relative forms, so a demand of 0 (scale to zero) does not divide by zero."""
SPEEDUP_METRICS = ("theta_u", "theta_o", "tau_u", "tau_o", "upsilon")
"""The elastic speedup weighs these equally (fixed before any run, never tuned to a result)."""
SPEEDUP_FLOOR = 0.1
"""Each metric is floored at 0.1 % in the speedup, so a perfect 0 does not divide by zero."""


@dataclass(frozen=True, slots=True)
class Elasticity:
    accuracy_u: float
    accuracy_o: float
    timeshare_u: float
    timeshare_o: float
    jitter: float
    theta_u: float
    theta_o: float
    tau_u: float
    tau_o: float
    upsilon: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def elasticity(demand: Sequence[float], supply: Sequence[float], dt: float = 60.0) -> Elasticity:
    """The metrics of ``supply`` against ``demand``, both sampled every ``dt`` seconds."""
    if len(demand) != len(supply) or not demand:
        raise ValueError("demand and supply must be non-empty and of the same length")
    total = len(demand) * dt
    under = [max(d - s, 0.0) for d, s in zip(demand, supply, strict=True)]
    over = [max(s - d, 0.0) for d, s in zip(demand, supply, strict=True)]
    moves_s = sum(abs(b - a) for a, b in itertools.pairwise(supply))
    moves_d = sum(abs(b - a) for a, b in itertools.pairwise(demand))
    unstable = sum(
        min(abs(_sign(s1 - s0) - _sign(d1 - d0)), 1)
        for s0, s1, d0, d1 in zip(supply, supply[1:], demand, demand[1:], strict=False)
    )
    floor = [max(d, EPSILON) for d in demand]
    return Elasticity(
        accuracy_u=sum(under) * dt / total,
        accuracy_o=sum(over) * dt / total,
        timeshare_u=sum(dt for u in under if u > 0) / total,
        timeshare_o=sum(dt for o in over if o > 0) / total,
        jitter=(moves_s - moves_d) / (total / 60),
        theta_u=100 * sum(u / f for u, f in zip(under, floor, strict=True)) * dt / total,
        theta_o=100 * sum(o / f for o, f in zip(over, floor, strict=True)) * dt / total,
        tau_u=100 * sum(dt for u in under if u > 0) / total,
        tau_o=100 * sum(dt for o in over if o > 0) / total,
        upsilon=100 * unstable * dt / (total - dt) if total > dt else 0.0,
    )


def speedup(policy: Mapping[str, float], reference: Mapping[str, float]) -> float:
    """Elastic speedup of ``policy`` over ``reference``: Π (m_ref / m_policy)^(1/5) over :data:`SPEEDUP_METRICS`."""
    weight = 1 / len(SPEEDUP_METRICS)
    logs = [
        weight * math.log(max(reference[name], SPEEDUP_FLOOR) / max(policy[name], SPEEDUP_FLOOR))
        for name in SPEEDUP_METRICS
    ]
    return math.exp(sum(logs))
