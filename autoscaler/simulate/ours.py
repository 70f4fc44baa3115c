"""``ours``: the daemon itself, :class:`autoscaler.daemon.Daemon`, on simulated edges.

Each tick of ``ours`` is :meth:`Daemon.tick`, unchanged: formation GET, a reading per process,
:func:`autoscaler.policy.decide_formation` with the app's limits (``AUTOSCALER_MAX_MONTHLY_COST``
included), one PATCH, and the daemon's own handling of failed calls. Only its edges are simulated:

* :class:`SimulatedHeroku` is the Platform API (the daemon's :class:`~autoscaler.daemon.FormationAPI`):
  the GET answers the simulated formation, booting dynos included, as Heroku counts them; the
  PATCH sets it. A call that :class:`~autoscaler.simulate.streams.ApiFaults` fails raises the
  client's own :class:`~autoscaler.errors.ServerError` (a 503, as the client raises it once its
  retries are spent), so the daemon's failure handling runs as it does in production.
* :class:`SimulatedSource` is the process's signal source: what the ``web`` source (or, with the
  router's signal, the ``router`` source) would read of the simulated request slots, or the ``rq``
  source of the simulated queue.
* :class:`SimClock`: ``time()`` is the run's wall clock (:data:`START_EPOCH` + the second),
  ``monotonic()`` the second.

The state is kept in memory, no lease is taken, notices go nowhere and the daemon logs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from autoscaler.daemon import Daemon, TickResult
from autoscaler.errors import ServerError
from autoscaler.heroku import Formation as ApiFormation
from autoscaler.heroku import FormationUpdate
from autoscaler.notify import NullNotifier
from autoscaler.signals import Reading
from autoscaler.simulate.model import Platform, System
from autoscaler.simulate.settings import START_EPOCH, SimConfig
from autoscaler.simulate.webqueues import WebQueues
from autoscaler.state import MemoryState

_SILENT: Any = structlog.make_filtering_bound_logger(logging.CRITICAL)
"""Drops every level below critical; the daemon logs none above error."""


def silent_logger() -> FilteringBoundLogger:
    """A logger that writes nothing (a critical line would be handed back to the caller, not printed)."""
    logger: FilteringBoundLogger = _SILENT(structlog.ReturnLogger(), [], {})
    return logger


class SimClock:
    """The run's clock, set to each tick's second by the runner."""

    def __init__(self) -> None:
        self.second = 0

    def time(self) -> float:
        return START_EPOCH + self.second

    def monotonic(self) -> float:
        return float(self.second)


class SimulatedHeroku:
    """The Platform API of one simulated app with one process type."""

    def __init__(self, platform: Platform, clock: SimClock, process: str, size: str) -> None:
        self.platform = platform
        self.clock = clock
        self.process = process
        self.size = size

    def _failure(self, call: str) -> ServerError:
        return ServerError(503, None, f"simulated Platform API failure ({call})")

    def _formation(self) -> list[ApiFormation]:
        return [ApiFormation(type=self.process, quantity=self.platform.formation.quantity, size=self.size)]

    def formation(self, app: str, *, deadline: float | None = None) -> list[ApiFormation]:
        if not self.platform.read(self.clock.second):
            raise self._failure("GET formation")
        return self._formation()

    def update_formation(
        self, app: str, updates: Sequence[FormationUpdate], *, deadline: float | None = None
    ) -> list[ApiFormation]:
        if not self.platform.patch(self.clock.second):
            raise self._failure("PATCH formation")
        for update in updates:  # the daemon only sends the one process type it manages here
            if update.size is not None:
                self.size = update.size
            if update.quantity is not None:
                self.platform.scale(update.quantity, self.clock.second)
        return self._formation()

    def pause_hint(self) -> float:
        return 0.0


class SimulatedSource:
    """The process's signal source, reading the simulated queues through :meth:`Ours.reading`."""

    def __init__(self, policy: Ours, system: System, clock: SimClock) -> None:
        self.policy = policy
        self.system = system
        self.clock = clock

    def read(self, now: float) -> Reading:
        return self.policy.reading(self.system, self.clock.second, now)

    def close(self) -> None:
        return None


class Ours:
    """The daemon, ticking every AUTOSCALER_INTERVAL, configured as :meth:`SimConfig.daemon_settings` says."""

    name = "ours"
    boots = True

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.tick_s = self.first_tick = config.interval
        self.daemon: Daemon | None = None
        """The daemon of the last run started."""
        self.last: TickResult | None = None
        """What its last tick did."""

    def reading(self, system: System, second: int, at: float) -> Reading:
        """What the process's source reports at ``second`` (``at`` on the wall clock)."""
        if isinstance(system, WebQueues):
            if self.config.router:
                return system.router_reading(second, at, self.config.window_s)
            return system.reading(second, at, self.config.window_s)
        return system.reading(second, at)

    def start(self, platform: Platform) -> Callable[[int], None]:
        """A new daemon on ``platform``; returns its tick."""
        config = self.config
        clock = SimClock()
        api = SimulatedHeroku(platform, clock, config.process_name, config.size.name)
        source = SimulatedSource(self, platform.system, clock)
        daemon = Daemon(
            config.daemon_settings(),
            api,
            {config.process_name: source},
            clock=clock,
            state=MemoryState(),
            notifier=NullNotifier(),
            logger=silent_logger(),
        )
        self.daemon = daemon

        def tick(second: int) -> None:
            clock.second = second
            self.last = daemon.tick()

        return tick
