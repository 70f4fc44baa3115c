"""The search of ``tune``: coarse to fine, within a budget of candidates.

1. **Sweep**: the current settings, and each knob moved alone to each of its sweep values
   (:func:`autoscaler.tune.space.sweep`): what each setting does on its own.
2. **Combine**: the moves of the sweep that helped on either axis are combined, one value per
   knob, assuming their effects add up; the combinations predicted to qualify
   (:mod:`autoscaler.tune.decide`) are simulated, the best predicted first, half of them
   ranked by SLO minutes and half by cost.
3. **Refine**: around the best candidate so far (the current settings when none qualifies yet),
   each knob tries the values halfway to its nearest values tried on either side, the knobs the
   candidate changed first, and none whose sweep changed nothing at all; rounds repeat while the
   best candidate changes and the budget lasts. When no candidate qualifies after a round around
   the current settings, the search stops there.

The budget counts candidates, the current settings included; each is simulated on every seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from autoscaler.tune import space
from autoscaler.tune.decide import Score, Scored, best, qualifies, rank
from autoscaler.tune.space import Knob, Point

DEFAULT_BUDGET = 26
"""Candidates simulated at most (each on every seed), the current settings included."""
MIN_BUDGET = 2
LONG_BUDGET = 12
"""The default budget of the longest workloads (a day or less gets DEFAULT_BUDGET; longer ones fewer, at least 12)."""
COMBINATIONS = 6
"""Combinations of the sweep's moves simulated at most."""
MAX_COMBINED = 20_000
"""Combinations predicted at most (the sweep's helpful moves, one value per knob)."""

Scorer = Callable[[Sequence[dict[str, space.Value]]], list[Score]]
"""Scores candidates given as ProcessConfig fields and values (an Evaluator's ``scores``)."""
Progress = Callable[[str, int], None]
"""Told of each phase before it runs: its name and the candidates it simulates."""


@dataclass(slots=True)
class Outcome:
    """What the search found."""

    knobs: list[Knob]
    current: Score
    tried: list[Scored[Point]] = field(default_factory=list)
    """Every candidate simulated besides the current settings, in order."""
    phases: dict[str, int] = field(default_factory=dict)
    """Candidates simulated per phase."""

    @property
    def suggested(self) -> Scored[Point] | None:
        return best(self.current, self.tried, lambda point: len(space.changed(self.knobs, point)))

    @property
    def evaluations(self) -> int:
        """Candidates simulated, the current settings included."""
        return len(self.tried) + 1


def default_budget(duration_s: int) -> int:
    """:data:`DEFAULT_BUDGET` candidates for a workload of a day or less; for a longer one, as many
    as take the time of :data:`DEFAULT_BUDGET` on a day, and never fewer than :data:`LONG_BUDGET`."""
    return max(LONG_BUDGET, min(DEFAULT_BUDGET, round(DEFAULT_BUDGET * 86400 / max(1, duration_s))))


class _Search:
    def __init__(self, knobs: list[Knob], scorer: Scorer, budget: int, progress: Progress | None) -> None:
        self.knobs = knobs
        self.scorer = scorer
        self.budget = max(MIN_BUDGET, budget)
        self.progress = progress
        base = space.current(knobs)
        self.outcome = Outcome(knobs, scorer([space.settings(knobs, base)])[0])
        self.outcome.phases["current"] = 1
        self.seen: set[Point] = {base}

    @property
    def left(self) -> int:
        return self.budget - self.outcome.evaluations

    def run(self, phase: str, points: Sequence[Point]) -> list[Scored[Point]]:
        fresh = list(dict.fromkeys(p for p in points if p not in self.seen))[: max(0, self.left)]
        if not fresh:
            return []
        if self.progress is not None:
            self.progress(phase, len(fresh))
        scores = self.scorer([space.settings(self.knobs, p) for p in fresh])
        found = [Scored(point, score) for point, score in zip(fresh, scores, strict=True)]
        self.seen.update(fresh)
        self.outcome.tried += found
        self.outcome.phases[phase] = self.outcome.phases.get(phase, 0) + len(found)
        return found


def combinations(knobs: Sequence[Knob], current: Score, sweep: Sequence[Scored[Point]], most: int) -> list[Point]:
    """Up to ``most`` combinations of two or more of the sweep's helpful moves predicted to qualify
    (each move's change of SLO minutes and cost added to the current score), half the best by SLO
    minutes, half the best by cost."""
    base = space.current(knobs)
    moves: list[list[tuple[space.Value, float, float]]] = [[] for _ in knobs]
    for scored in sweep:
        index = next(i for i, (a, b) in enumerate(zip(scored.candidate, base, strict=True)) if a != b)
        slo = scored.score.slo_minutes - current.slo_minutes
        cost = scored.score.cost_usd - current.cost_usd
        if slo < 0 or cost < 0:
            moves[index].append((scored.candidate[index], slo, cost))
    options = [[(knob.current, 0.0, 0.0), *found] for knob, found in zip(knobs, moves, strict=True)]
    predicted: list[tuple[Point, Score]] = []
    for combo in itertools.islice(itertools.product(*options), MAX_COMBINED):
        point = tuple(value for value, _, _ in combo)
        if sum(a != b for a, b in zip(point, base, strict=True)) < 2:
            continue
        score = Score(
            current.slo_minutes + sum(slo for _, slo, _ in combo), current.cost_usd + sum(c for _, _, c in combo)
        )
        if qualifies(current, score):
            predicted.append((point, score))
    by_slo = [p for p, _ in sorted(predicted, key=lambda item: rank(item[1]))]
    by_cost = [p for p, _ in sorted(predicted, key=lambda item: (item[1].cost_usd, item[1].slo_minutes))]
    chosen: list[Point] = []
    for point in itertools.chain.from_iterable(itertools.zip_longest(by_slo, by_cost)):
        if point is not None and point not in chosen:
            chosen.append(point)
    return chosen[:most]


def inert(knobs: Sequence[Knob], current: Score, sweep: Sequence[Scored[Point]]) -> set[int]:
    """The knobs whose every sweep value scored exactly as the current settings (or that have none):
    on this workload they change nothing, so they are not refined."""
    base = space.current(knobs)
    moved: dict[int, list[Score]] = {}
    for scored in sweep:
        index = next(i for i, (a, b) in enumerate(zip(scored.candidate, base, strict=True)) if a != b)
        moved.setdefault(index, []).append(scored.score)
    return {i for i in range(len(knobs)) if all(score == current for score in moved.get(i, []))}


def refinements(
    knobs: Sequence[Knob], centre: Point, tried: Sequence[Point], skip: Collection[int] = ()
) -> list[Point]:
    """``centre`` with one knob moved halfway to the nearest value tried on either side of its own:
    first the knobs ``centre`` changed, then the others, but none of ``skip``."""
    points: list[Point] = []
    moved = [i for i, knob in enumerate(knobs) if centre[i] != knob.current]
    others = [i for i in range(len(knobs)) if i not in moved and i not in skip]
    for index in moved + others:
        knob = knobs[index]
        values = [point[index] for point in tried]
        for value in knob.between(centre[index], values):
            point = list(centre)
            point[index] = value
            points.append(tuple(point))
    return points


def search(
    knobs: list[Knob], scorer: Scorer, budget: int = DEFAULT_BUDGET, progress: Progress | None = None
) -> Outcome:
    """Coarse to fine (the module's steps) within ``budget`` candidates."""
    state = _Search(knobs, scorer, budget, progress)
    outcome = state.outcome
    swept = state.run("sweep", space.sweep(knobs))
    state.run("combine", combinations(knobs, outcome.current, swept, COMBINATIONS))
    skip = inert(knobs, outcome.current, swept)
    while state.left > 0:
        found = outcome.suggested
        centre = space.current(knobs) if found is None else found.candidate
        tried = [space.current(knobs), *(s.candidate for s in outcome.tried)]
        if not state.run("refine", refinements(knobs, centre, tried, skip)):
            break
        after = outcome.suggested
        if after is None or (found is not None and after.candidate == found.candidate):
            break  # finer steps around the current settings found nothing either, or nothing better
    return outcome
