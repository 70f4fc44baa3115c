"""Worker dynos: one FIFO of whole jobs, shared by every worker of the formation.

Jobs arrive as Poisson arrivals per second, plus dumps, and are served by N·k workers at k/S
jobs per second per dyno (a fluid service with integer job starts); the oldest job's age,
waiting and running jobs are what the ``rq`` source would read. Jobs still running 30 s after
SIGTERM are killed and re-enqueued (or lost, by configuration).
"""

from __future__ import annotations

import math
from collections import deque

from autoscaler.signals import Reading


class WorkerQueue:
    """One FIFO of jobs served by ``serving × k`` workers (see the module doc)."""

    def __init__(self, k: int, target_s: float, duration: int, serving: int, requeue: bool) -> None:
        self.k = k
        self.target = target_s
        self.serving = serving
        self.requeue = requeue
        self.cohorts: deque[list[int]] = deque()
        """[second enqueued, jobs] oldest first."""
        self.queued = 0
        self.busy = 0.0
        self.carry = 0.0
        self.ages = [0.0] * duration
        """The oldest waiting job's age at the end of each second."""
        self.started = 0
        self.late = 0
        self.killed = 0.0
        self.lost = 0
        self._decay: tuple[float, float] = (0.0, 0.0)

    def add(self, dynos: int) -> None:
        self.serving += dynos

    def remove(self, dynos: int, second: int, service_s: float, drain_s: float) -> float:
        """Stops ``dynos``: their running jobs get ``drain_s`` to finish; returns the billed drain."""
        if self.serving <= 0 or dynos <= 0:
            return 0.0
        running = self.busy * dynos / self.serving
        self.busy -= running
        self.serving -= dynos
        killed = running * math.exp(-drain_s / service_s)
        self.killed += killed
        whole = round(killed)
        if whole and self.requeue:
            self.cohorts.appendleft([second, whole])
            self.queued += whole
        elif whole:
            self.lost += whole
        per_dyno = min(drain_s, service_s) if running > 0.5 else 1.0
        return dynos * per_dyno

    def step(self, second: int, arrivals: int, service_s: float) -> None:
        """One second: enqueue the arrivals, start what the free workers can take, FIFO."""
        if arrivals:
            self.cohorts.append([second, arrivals])
            self.queued += arrivals
        workers = self.serving * self.k
        capacity = max(workers / service_s, workers - self.busy * (1 - 1 / service_s)) + self.carry
        can = int(capacity)
        starts = 0
        cohorts = self.cohorts
        while starts < can and cohorts:
            front = cohorts[0]
            take = min(front[1], can - starts)
            if second - front[0] > self.target:
                self.late += take
            starts += take
            front[1] -= take
            if front[1] == 0:
                cohorts.popleft()
        self.queued -= starts
        self.started += starts
        self.carry = capacity - can if starts == can else 0.0
        if self._decay[0] != service_s:
            self._decay = (service_s, math.exp(-1 / service_s))
        decay = self._decay[1]
        self.busy = min(float(workers), self.busy * decay + starts * service_s * (1 - decay))
        self.ages[second] = float(second + 1 - cohorts[0][0]) if cohorts else 0.0

    def reading(self, now: int, at: float) -> Reading:
        """What the ``rq`` source reads at ``now``: waiting jobs, the oldest one's age, running jobs."""
        latency = self.ages[now - 1] if now > 0 else 0.0
        return Reading(at=at, depth=self.queued, latency=latency, busy=round(self.busy))

    def minute_age(self, minute: int) -> float:
        return max(self.ages[minute * 60 : minute * 60 + 60], default=0.0)

    def late_share(self) -> float:
        """Share of jobs that waited longer than the target (jobs still waiting at the end included)."""
        waiting_late = sum(n for t, n in self.cohorts if len(self.ages) - t > self.target)
        total = self.started + self.queued
        return (self.late + waiting_late) / total if total else 0.0
