"""``ours``: the daemon's decision engine, fed simulated readings. The only module that knows it.

Each tick does what :meth:`autoscaler.daemon.Daemon.tick` does for one process type: the
formation's quantity and size and the source's reading go into
:func:`autoscaler.policy.decide_formation` with the state the engine returned last time;
after a successful PATCH, :func:`autoscaler.policy.mark_applied` records the change (boot
tracking, manual-change detection). When the engine's inputs change, this is the one
place to follow them.
"""

from __future__ import annotations

from autoscaler.config import ProcessConfig
from autoscaler.policy import Observation, ProcessState, decide_formation, mark_applied
from autoscaler.signals import Reading


class Engine:
    """One process type under the real engine."""

    def __init__(self, process: str, config: ProcessConfig, size: str) -> None:
        self.process = process
        self.config = config
        self.size = size
        self.state = ProcessState()
        self.last_reason = ""

    def decide(self, now: float, quantity: int, reading: Reading) -> int:
        """The quantity the engine wants, given the formation's ``quantity`` and the reading."""
        observation = Observation(self.process, quantity, self.size, reading)
        decisions, states = decide_formation(
            {self.process: observation}, {self.process: self.state}, {self.process: self.config}, now
        )
        self.state = states[self.process]
        decision = decisions[self.process]
        self.last_reason = str(decision.reason)
        return decision.desired

    def applied(self, now: float, previous: int, quantity: int) -> None:
        """The PATCH to ``quantity`` succeeded."""
        self.state = mark_applied(self.state, previous, quantity, now, self.config.boot_time)
