"""The decision rule of ``tune``: which settings, if any, are better than the current ones.

A candidate **qualifies** when, over the same seeds, it has no more SLO minutes on average than
the current settings and costs no more on average, and it is better on at least one of the two
by a meaningful margin: at least :data:`SLO_MARGIN` SLO minute fewer, or at least
:data:`COST_MARGIN` of the current cost cheaper. Among the qualifying candidates the best is
found among those within :data:`SLO_MARGIN` of the fewest SLO minutes (a smaller difference in
SLO minutes is noise), and of those, within :data:`COST_MARGIN` of the current cost of the cheapest
(a smaller saving is noise too), the one that changes the fewest settings; then the cheaper, then
fewer SLO minutes, then the candidate tried first. When none qualifies there is no suggestion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

SLO_MARGIN = 1.0
"""SLO minutes (mean over the seeds) a candidate must save to be better on that axis alone."""
COST_MARGIN = 0.01
"""Share of the current cost a candidate must save to be better on that axis alone."""
_EPSILON = 1e-9
"""Rounding room for means over the seeds (a third of a minute is not exact in binary)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Score:
    """What one set of settings did, as means over the seeds."""

    slo_minutes: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Scored(Generic[T]):
    """A candidate and its score."""

    candidate: T
    score: Score


def no_worse(current: Score, candidate: Score) -> bool:
    """No more SLO minutes and no higher cost than the current settings."""
    return candidate.slo_minutes <= current.slo_minutes + _EPSILON and candidate.cost_usd <= current.cost_usd + _EPSILON


def qualifies(current: Score, candidate: Score) -> bool:
    """No worse on both axes, and better by the margin on at least one."""
    if not no_worse(current, candidate):
        return False
    fewer = current.slo_minutes - candidate.slo_minutes >= SLO_MARGIN - _EPSILON
    cheaper = current.cost_usd - candidate.cost_usd >= COST_MARGIN * current.cost_usd - _EPSILON
    return fewer or cheaper


def best(
    current: Score, candidates: Sequence[Scored[T]], changes: Callable[[T], int] = lambda _: 0
) -> Scored[T] | None:
    """The best qualifying candidate (the module's rule), None when none qualifies. ``changes``: how
    many settings a candidate changes."""
    good = [c for c in candidates if qualifies(current, c.score)]
    if not good:
        return None
    fewest = min(c.score.slo_minutes for c in good)
    near = [c for c in good if c.score.slo_minutes < fewest + SLO_MARGIN - _EPSILON]
    cheapest = min(c.score.cost_usd for c in near)
    close = [c for c in near if c.score.cost_usd <= cheapest + COST_MARGIN * current.cost_usd + _EPSILON]
    return min(close, key=lambda c: (changes(c.candidate), c.score.cost_usd, c.score.slo_minutes))


def rank(score: Score) -> tuple[float, float]:
    """An order for the search to try the most promising first: fewer SLO minutes, then cheaper."""
    return (score.slo_minutes, score.cost_usd)
