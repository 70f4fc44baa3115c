"""Where the engine's memory between ticks lives.

The engine (:mod:`autoscaler.policy`) is pure: it gets a :class:`ProcessState` and returns
the next one. The daemon keeps them in a :class:`StateStore`. This release ships the
in-memory store, for a single instance; a shared Redis store with a leader lease is the
same interface.
"""

from __future__ import annotations

from typing import Protocol

from autoscaler.policy import ProcessState


class StateStore(Protocol):
    """Keeps one ProcessState per process type."""

    def get(self, process: str) -> ProcessState: ...

    def put(self, process: str, state: ProcessState) -> None: ...


class MemoryState:
    """State kept in this process only: lost on restart (the engine then starts
    conservatively: no scale-down until a full DOWNSCALE_DELAY has passed)."""

    description = "in memory (single instance; forgotten on restart)"

    def __init__(self) -> None:
        self._states: dict[str, ProcessState] = {}

    def get(self, process: str) -> ProcessState:
        return self._states.get(process, ProcessState())

    def put(self, process: str, state: ProcessState) -> None:
        self._states[process] = state
