"""The random draws every policy of a comparison shares (common random numbers).

Each stream has its own seeded generator, so what one policy does never shifts another's draws:
the boot delay of the i-th dyno started, which Platform API calls fail, the jobs enqueued per
second, and the sampling noise of a measured request rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from autoscaler.simulate.webqueues import SLOT_S


class BootDelays:
    """Boot delays, whole seconds in [low, high]: the i-th dyno started by any policy gets the i-th."""

    def __init__(self, seed: int, low: float, high: float) -> None:
        self._rng = random.Random(f"boot:{seed}")
        self._low, self._high = low, high
        self._delays: list[float] = []

    def __getitem__(self, index: int) -> float:
        while len(self._delays) <= index:
            self._delays.append(float(round(self._rng.uniform(self._low, self._high))))
        return self._delays[index]


class ApiFaults:
    """Which Platform API calls fail: one uniform draw per second for reads and one for PATCHes."""

    def __init__(self, seed: int, rate: float, duration: int) -> None:
        self.rate = rate
        rng = random.Random(f"api:{seed}")
        self._reads = [rng.random() for _ in range(duration)] if rate > 0 else []
        self._patches = [rng.random() for _ in range(duration)] if rate > 0 else []

    def read_fails(self, second: int) -> bool:
        return self.rate > 0 and self._reads[second] < self.rate

    def patch_fails(self, second: int) -> bool:
        return self.rate > 0 and self._patches[second] < self.rate


def poisson(rng: random.Random, mean: float) -> int:
    """One Poisson draw: inversion for small means, a rounded normal above 50."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    u = rng.random()
    term = math.exp(-mean)
    total, count = term, 0
    while u > total and term > 0:
        count += 1
        term *= mean / count
        total += term
    return count


def job_arrivals(rate: Sequence[float], dumps: Mapping[int, int], seed: int) -> list[int]:
    """Jobs enqueued in each second: Poisson(rate) plus the dumps."""
    rng = random.Random(f"arrivals:{seed}")
    return [poisson(rng, value) + dumps.get(second, 0) for second, value in enumerate(rate)]


def request_noise(rate: Sequence[float], seed: int) -> list[float]:
    """Per slot, counted requests / expected requests: the sampling noise of a measured rate."""
    rng = random.Random(f"requests:{seed}")
    factors = []
    for start in range(0, len(rate), SLOT_S):
        expected = sum(rate[start : start + SLOT_S])
        factors.append(poisson(rng, expected) / expected if expected > 0 else 1.0)
    return factors
