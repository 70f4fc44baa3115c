"""The response-time model of a ``router`` process: what Heroku's router measures, per dyno.

The router's ``service`` time is the time a request spent in the dyno: the wait for a free
process, then the app's own work. Heroku's router sends each request to a random dyno, so
``N`` dynos of ``k`` processes are ``N`` independent M/M/k queues fed ``rate / N`` each
(:mod:`autoscaler.queueing`). With ``S`` the mean app time and ``c`` the online correction, the
response time of one request is ``R = W + A``:

* ``W``, the wait in an M/M/k queue of app time ``S × c``: 0 with probability ``1 − C``, else
  exponential with rate ``δ = k / (S c) − rate / N`` (Erlang C: ``C = C(k, rate / N × S c)``);
* ``A``, the app time, exponential with mean ``S`` (so the app's own p95 is ``S × ln 20``),
  independent of the wait (first come, first served);
* ``P(R > t) = (1 − C)·e^(−t/S) + C·(δ·e^(−t/S) − e^(−δt)/S) / (δ − 1/S)``.

``S`` is learned from **quiet** readings, in which the model says waiting adds at most
:data:`QUIET_MARGIN` to the p95 (or the p95 is no more than the app's own): there the p95
response time is the app's. ``c`` is learned from the other readings, as the web model corrects
its app time: it moves so the model predicts the p95 observed at the current dynos. Both are
smoothed (EWMA) and kept in :class:`~autoscaler.policy.decision.ProcessState`.

Every quantity here is in seconds; the state and the configuration keep milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from autoscaler import queueing

QUANTILE = 0.95
"""The response-time quantile held to ``RESPONSE_TIME_MS``, as Heroku's own autoscaling does."""
TAIL = 1.0 - QUANTILE
APP_P95_FACTOR = math.log(1.0 / TAIL)
"""p95 / mean of an exponential app time: ``ln 20`` (about 3.0)."""
QUIET_MARGIN = 0.10
"""A reading is quiet when the model puts its p95 within 10 % of the app's own p95."""
CORRECTION_RANGE = (0.5, 4.0)
"""Bounds of the online correction of the app time in the wait (as the web model's)."""
FIT_STEPS = 50


def _sum_tail(delta: float, mu: float, t: float) -> float:
    """P(X + A > t) for independent exponentials X of rate ``delta`` and A of rate ``mu``."""
    if math.isclose(delta, mu, rel_tol=1e-9):
        return math.exp(-mu * t) * (1.0 + mu * t)
    return (delta * math.exp(-mu * t) - mu * math.exp(-delta * t)) / (delta - mu)


@dataclass(frozen=True, slots=True)
class ResponseModel:
    """One dyno of ``k`` processes, a mean app time ``app_s`` (seconds), and the ``correction`` of
    the app time in the wait."""

    k: int
    app_s: float
    correction: float = 1.0

    @property
    def app_p95(self) -> float:
        """The app's own p95 (no wait), in seconds."""
        return self.app_s * APP_P95_FACTOR

    def tail(self, per_dyno: float, t: float) -> float:
        """P(response time > ``t``) with ``per_dyno`` requests a second on one dyno (1.0 when it
        cannot keep up)."""
        wait_s = self.app_s * self.correction
        load = per_dyno * wait_s
        if load >= self.k:
            return 1.0
        mu = 1.0 / self.app_s
        served = math.exp(-mu * t)
        waiting = queueing.erlang_c(self.k, load)
        if waiting <= 0.0:
            return served
        return (1.0 - waiting) * served + waiting * _sum_tail(self.k / wait_s - per_dyno, mu, t)

    def meets(self, per_dyno: float, target_s: float) -> bool:
        """Whether the p95 response time is at most ``target_s``."""
        return self.tail(per_dyno, target_s) <= TAIL

    def quiet(self, per_dyno: float) -> bool:
        """Whether waiting adds at most :data:`QUIET_MARGIN` to the app's own p95."""
        return self.meets(per_dyno, self.app_p95 * (1.0 + QUIET_MARGIN))

    def dynos(self, rate: float, target_s: float, cap: int) -> int | None:
        """The fewest dynos, at most ``cap``, whose p95 response time meets ``target_s`` at ``rate``
        requests a second (0 without requests); None when ``cap`` dynos do not."""
        if rate <= 0:
            return 0
        if not self.meets(rate / cap, target_s):
            return None
        # Fewer than rate × S c / k dynos cannot keep up at all: search above that bound.
        failing = max(0, math.ceil(rate * self.app_s * self.correction / self.k) - 1)
        meeting = cap
        while meeting - failing > 1:  # the tail falls as dynos are added: bisection
            middle = (failing + meeting) // 2
            if middle > 0 and self.meets(rate / middle, target_s):
                meeting = middle
            else:
                failing = middle
        return meeting


def _bisect(low: float, high: float, above: Callable[[float], bool]) -> float:
    """The point of [low, high] (geometric bisection) where ``above`` turns true; ``above`` grows."""
    for _ in range(FIT_STEPS):
        middle = math.sqrt(low * high)
        if above(middle):
            high = middle
        else:
            low = middle
    return math.sqrt(low * high)


def fit_app(k: int, per_dyno: float, correction: float, p95_s: float) -> float:
    """The mean app time (seconds) at which the model's p95 is the ``p95_s`` observed."""
    highest = p95_s / APP_P95_FACTOR  # no wait at all: the p95 is the app's own
    return _bisect(highest / 1000, highest, lambda app: ResponseModel(k, app, correction).tail(per_dyno, p95_s) > TAIL)


def fit_correction(k: int, per_dyno: float, app_s: float, p95_s: float) -> float:
    """The correction, within :data:`CORRECTION_RANGE`, at which the model's p95 is ``p95_s``."""
    low, high = CORRECTION_RANGE
    return _bisect(low, high, lambda factor: ResponseModel(k, app_s, factor).tail(per_dyno, p95_s) > TAIL)
