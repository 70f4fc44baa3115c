"""Simulating candidates: the daemon (``ours``) with each candidate's settings, on every seed, in
parallel processes.

Every candidate runs on the same seeds (common random numbers): seed ``s`` gives the same load
(a built-in scenario's noise), arrivals, boot delays and API failures to every candidate, so the
candidates differ by their settings alone. A run is :func:`autoscaler.simulate.runner.simulate`
of :class:`~autoscaler.simulate.ours.Ours` configured with the candidate's settings, starting
from the clairvoyant demand of its first minute, as ``simulate`` starts it; SLO minutes are
measured against the configured target (:attr:`SimConfig.slo_target_s`), whatever the
candidate's. The processes are started once (``spawn``: the same on every platform) and given
the workloads once; each prepares a seed's inputs on first use and keeps them.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace
from types import TracebackType

from autoscaler.simulate.ours import Ours
from autoscaler.simulate.runner import Inputs, simulate
from autoscaler.simulate.settings import SimConfig
from autoscaler.simulate.workloads import Workload
from autoscaler.tune import space
from autoscaler.tune.decide import Score

SMALL_BATCH_S = 4 * 3600
"""A batch of at most this many simulated seconds runs in this process while no process is started:
it takes about a second, about what starting the processes takes."""
Task = tuple[tuple[tuple[str, space.Value], ...], int]
"""One run: the candidate's settings (as ProcessConfig fields) and the seed."""


@dataclass(slots=True)
class _Worker:
    """What each process keeps: the configuration, the workload of each seed, their inputs."""

    config: SimConfig
    workloads: Mapping[int, Workload]
    inputs: dict[int, Inputs]

    def run(self, task: Task) -> tuple[int, float]:
        values, seed = task
        inputs = self.inputs.get(seed)
        if inputs is None:
            inputs = Inputs.prepare(self.workloads[seed], replace(self.config, seed=seed))
            self.inputs[seed] = inputs
        config = space.apply(inputs.config, dict(values))
        run = simulate(inputs, Ours(config), inputs.demand[0])
        return run.slo_minutes, run.cost_usd


_worker: _Worker | None = None


def _start(config: SimConfig, workloads: Mapping[int, Workload]) -> None:
    global _worker  # one per process: the pool's initializer sets it
    _worker = _Worker(config, workloads, {})


def _run(task: Task) -> tuple[int, float]:
    assert _worker is not None, "the pool's initializer did not run"
    return _worker.run(task)


def cores() -> int:
    """The processors this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Evaluator:
    """Scores candidates: the mean SLO minutes and cost over the seeds, each candidate once."""

    def __init__(self, config: SimConfig, workloads: Mapping[int, Workload], jobs: int | None = None) -> None:
        """``workloads``: the load of each seed; ``jobs``: processes to run in (default the cores;
        1 runs in this process)."""
        self.config = config
        self.workloads = dict(workloads)
        self.seeds = sorted(self.workloads)
        self.jobs = max(1, cores() if jobs is None else jobs)
        self.runs = 0
        """Simulations run so far."""
        self.processes = 1
        """Processes the simulations ran in: ``jobs`` once they are started, else this one."""
        self.seen: dict[tuple[tuple[str, space.Value], ...], Score] = {}
        self._pool: Executor | None = None
        self._local: _Worker | None = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _map(self, tasks: list[Task]) -> list[tuple[int, float]]:
        simulated = sum(self.workloads[seed].duration for _, seed in tasks)
        if self.jobs == 1 or (self._pool is None and (len(tasks) == 1 or simulated <= SMALL_BATCH_S)):
            if self._local is None:
                self._local = _Worker(self.config, self.workloads, {})
            return [self._local.run(task) for task in tasks]
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(self.config, self.workloads),
            )
            self.processes = self.jobs
        return list(self._pool.map(_run, tasks))

    def scores(self, candidates: Sequence[Mapping[str, space.Value]]) -> list[Score]:
        """The score of each candidate (ProcessConfig fields and values), simulating those not seen yet."""
        keys = [tuple(sorted(candidate.items(), key=lambda item: item[0])) for candidate in candidates]
        new = list(dict.fromkeys(key for key in keys if key not in self.seen))
        tasks: list[Task] = [(key, seed) for key in new for seed in self.seeds]
        results = self._map(tasks) if tasks else []
        self.runs += len(tasks)
        for index, key in enumerate(new):
            mine = results[index * len(self.seeds) : (index + 1) * len(self.seeds)]
            self.seen[key] = Score(
                slo_minutes=sum(slo for slo, _ in mine) / len(mine),
                cost_usd=sum(cost for _, cost in mine) / len(mine),
            )
        return [self.seen[key] for key in keys]
