"""The simulated platform: dynos that boot, serve and drain, and the queues in front of them.

Time advances in one-second steps. Per step:

* **Formation** (:class:`Formation`): a new dyno boots for a delay drawn from U(20, 60) s
  (the i-th dyno any policy starts gets the i-th delay of one seeded sequence: common
  random numbers) and is billed but does not serve while it boots. Scale-down stops
  booting dynos first (the newest), then serving ones, which are billed for their drain
  (in-flight work, at most the 30 s between SIGTERM and SIGKILL).
* **Web** (:class:`~autoscaler.simulate.webqueues.WebQueues`): random routing to one M/M/k
  queue per dyno, and the readings of the ``web`` source.
* **Workers** (:class:`~autoscaler.simulate.workerqueue.WorkerQueue`): one shared FIFO of
  whole jobs, and the readings of the ``rq`` source.

:class:`Platform` is one policy's app: its formation, the queues behind it and its Platform
API. The random draws every policy shares are in :mod:`~autoscaler.simulate.streams`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from autoscaler.simulate.streams import ApiFaults, BootDelays
from autoscaler.simulate.webqueues import WebQueues
from autoscaler.simulate.workerqueue import WorkerQueue


class Formation:
    """One process type's dynos: serving, and booting (billed, not serving yet)."""

    def __init__(self, serving: int, boots: BootDelays | None) -> None:
        self.serving = serving
        self.booting: list[float] = []
        """Ready times of booting dynos, in start order (the newest last)."""
        self.next_ready = math.inf
        self._boots = boots
        self._started = 0

    @property
    def quantity(self) -> int:
        """What ``GET /formation`` reports: booting and serving dynos."""
        return self.serving + len(self.booting)

    def ready(self, now: float) -> int:
        """Moves dynos whose boot is over to serving; returns how many."""
        if now < self.next_ready:
            return 0
        done = sum(1 for t in self.booting if t <= now)
        self.booting = [t for t in self.booting if t > now]
        self.serving += done
        self.next_ready = min(self.booting, default=math.inf)
        return done

    def scale(self, desired: int, now: float) -> int:
        """Sets the quantity; returns how many *serving* dynos were stopped (booting ones go first)."""
        while self.quantity < desired:
            delay = self._boots[self._started] if self._boots is not None else 0.0
            self._started += 1
            self.booting.append(now + delay)
        stopped = 0
        while self.quantity > desired:
            if self.booting:
                self.booting.pop()
            else:
                self.serving -= 1
                stopped += 1
        self.next_ready = min(self.booting, default=math.inf)
        return stopped


# --- one app on the platform ------------------------------------------------------------------------

System = WebQueues | WorkerQueue


class Platform:
    """One policy's app: its formation, the queues behind it, and its Platform API.

    Every policy changes its formation here, so the counts are kept in one place: API calls
    (a GET, of the formation or, for ``ours``, of what else the daemon reads, or a PATCH), the
    calls that failed (one draw per second each for GETs and PATCHes, from :class:`ApiFaults`, the
    same for every policy: the GETs of one second fail together), scale actions, the largest
    quantity, and the drain billed for the serving dynos a scale-down stopped."""

    def __init__(
        self, formation: Formation, system: System, faults: ApiFaults, service_s: Sequence[float], drain_s: float
    ) -> None:
        self.formation = formation
        self.system = system
        self.faults = faults
        self.service_s = service_s
        self.drain_s = drain_s
        self.api_calls = 0
        self.api_failures = 0
        self.scale_actions = 0
        self.peak = formation.quantity
        """The largest quantity of the formation so far (booting dynos included)."""
        self.drained = 0.0
        """Dyno-seconds billed for draining stopped dynos, not yet collected (:meth:`collect`)."""

    def read(self, second: int) -> bool:
        """One GET at ``second``: False when it fails."""
        return self._call(self.faults.read_fails(second))

    def patch(self, second: int) -> bool:
        """One formation PATCH at ``second``: False when it fails (the formation is then left as it is)."""
        return self._call(self.faults.patch_fails(second))

    def _call(self, fails: bool) -> bool:
        """Counts one API call, and a failure when it ``fails``; True when the call went through."""
        self.api_calls += 1
        if fails:
            self.api_failures += 1
        return not fails

    def scale(self, desired: int, second: int) -> None:
        """Sets the quantity (one scale action); the serving dynos it stops drain, and are billed for it."""
        stopped = self.formation.scale(desired, second)
        self.scale_actions += 1
        self.peak = max(self.peak, desired)
        if not stopped:
            return
        service_s = self.service_s[second]
        if isinstance(self.system, WebQueues):
            self.drained += self.system.remove(stopped, service_s, self.drain_s)
        else:
            self.drained += self.system.remove(stopped, second, service_s, self.drain_s)

    def collect(self) -> float:
        """The drain billed since the last call."""
        drained, self.drained = self.drained, 0.0
        return drained
