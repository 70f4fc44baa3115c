"""``ours``: the daemon itself, :class:`autoscaler.daemon.Daemon`, on simulated edges.

Each tick of ``ours`` is :meth:`Daemon.tick`, unchanged: a reading per process,
:func:`autoscaler.policy.decide_formation` with the app's limits (``AUTOSCALER_MAX_MONTHLY_COST``
included) on the formation it keeps, a fresh formation GET before any PATCH, one PATCH, and the
daemon's own handling of failed calls. Only its edges are simulated:

* :class:`SimulatedHeroku` is the Platform API, with every call the deployed daemon makes (its
  :class:`~autoscaler.daemon.FormationAPI` and :class:`~autoscaler.appview.PlatformAPI`), so the
  daemon's :class:`~autoscaler.appview.AppView` runs as deployed: the formation kept between
  reads, read again before a PATCH and every minute, the app's generation and sizes read at the
  start, the running dynos read once a minute with a budget, the rate limit checked every 5
  minutes. The formation GET answers the simulated formation, booting dynos included, as Heroku
  counts them; the PATCH sets it. Every call counts as one API call, as the real client counts
  the requests it sends (``GET /account/rate-limits`` too, though Heroku takes no token for it).
  A call that :class:`~autoscaler.simulate.streams.ApiFaults` fails raises the client's own
  :class:`~autoscaler.errors.ServerError` (a 503, as the client raises it once its retries are
  spent), so the daemon's failure handling runs as it does in production.
* :class:`SimulatedSource` is the process's signal source: what the ``web`` source (or, with the
  router's signal, the ``router`` source) would read of the simulated request slots, or the ``rq``
  source of the simulated queue.
* :class:`SimClock`: ``time()`` is the run's wall clock (:data:`START_EPOCH` + the second),
  ``monotonic()`` the second.

The state is kept in memory, no lease is taken, notices go nowhere and the daemon logs nothing; it
records its history only when given a store (``simulate`` gives none).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from autoscaler import sizes
from autoscaler.daemon import Daemon, TickResult
from autoscaler.errors import ServerError
from autoscaler.heroku import BUCKET_CAPACITY, ApiDynoSize, Dyno, FormationUpdate
from autoscaler.heroku import Formation as ApiFormation
from autoscaler.history import HistoryStore
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
    """The Platform API of one simulated app with one process type, on the generation of its size
    (Cedar for every Cedar size), on an account whose rate limit nothing else uses."""

    rate_limit_remaining = BUCKET_CAPACITY
    """Tokens left in the account's bucket: always full (the daemon alone spends about 75 an hour,
    and the bucket refills 4,500 an hour)."""

    def __init__(
        self, platform: Platform, clock: SimClock, process: str, size: str, monthly_usd: float | None = None
    ) -> None:
        """``monthly_usd``: the run's price of ``size``, as ``available-dyno-sizes`` answers it (default
        the catalogue's)."""
        self.platform = platform
        self.clock = clock
        self.process = process
        self.size = size
        known = sizes.lookup(size)
        self.generation = sizes.generation_of(size)
        self.monthly_usd = monthly_usd if monthly_usd is not None else known.monthly_usd if known else None
        self.requests: list[tuple[int, str]] = []
        """Every call made, failed ones too: (second, call), in order."""

    def _failure(self, call: str) -> ServerError:
        return ServerError(503, None, f"simulated Platform API failure ({call})")

    def _get(self, call: str) -> None:
        """One GET: counted, and raised as the client raises a 5xx when the second's draw fails it."""
        self.requests.append((self.clock.second, call))
        if not self.platform.read(self.clock.second):
            raise self._failure(call)

    def _formation(self) -> list[ApiFormation]:
        return [ApiFormation(type=self.process, quantity=self.platform.formation.quantity, size=self.size)]

    def formation(self, app: str, *, deadline: float | None = None) -> list[ApiFormation]:
        self._get("GET formation")
        return self._formation()

    def update_formation(
        self, app: str, updates: Sequence[FormationUpdate], *, deadline: float | None = None
    ) -> list[ApiFormation]:
        self.requests.append((self.clock.second, "PATCH formation"))
        if not self.platform.patch(self.clock.second):
            raise self._failure("PATCH formation")
        for update in updates:  # the daemon only sends the one process type it manages here
            if update.size is not None:
                self.size = update.size
            if update.quantity is not None:
                self.platform.scale(update.quantity, self.clock.second)
        return self._formation()

    def app(self, app: str, *, deadline: float | None = None) -> dict[str, Any]:
        self._get("GET app")
        return {"name": app, "generation": {"name": self.generation.value}}

    def available_dyno_sizes(self, app: str, *, deadline: float | None = None) -> list[ApiDynoSize]:
        """The sizes of the app's generation at their list prices, the run's size at the run's price."""
        self._get("GET available-dyno-sizes")
        run = sizes.normalize(self.size)
        return [
            ApiDynoSize(
                name=size.key,
                memory_gb=size.memory_mb / 1024,
                monthly_usd=self.monthly_usd if size.key == run else size.monthly_usd,
                generation=self.generation.value,
                compute=size.compute,
            )
            for size in sizes.sizes_of(self.generation)
        ]

    def dynos(self, app: str, *, deadline: float | None = None) -> list[Dyno]:
        """The formation's dynos (booting ones ``starting``) and no one-off dyno."""
        self._get("GET dynos")
        formation = self.platform.formation
        states = ["up"] * formation.serving + ["starting"] * len(formation.booting)
        return [Dyno(f"{self.process}.{n}", self.process, self.size, state) for n, state in enumerate(states, 1)]

    def rate_limits(self, *, deadline: float | None = None) -> int:
        """``GET /account/rate-limits``: free of tokens on Heroku, but a request all the same, so counted."""
        self._get("GET account/rate-limits")
        return self.rate_limit_remaining

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

    def __init__(self, config: SimConfig, history: HistoryStore | None = None) -> None:
        """``history``: where the daemon records each tick, as deployed (default: nowhere)."""
        self.config = config
        self.history = history
        self.tick_s = self.first_tick = config.interval
        self.daemon: Daemon | None = None
        """The daemon of the last run started."""
        self.api: SimulatedHeroku | None = None
        """Its Platform API."""
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
        api = SimulatedHeroku(platform, clock, config.process_name, config.size.name, config.monthly_usd)
        source = SimulatedSource(self, platform.system, clock)
        daemon = Daemon(
            config.daemon_settings(),
            api,
            {config.process_name: source},
            clock=clock,
            state=MemoryState(),
            notifier=NullNotifier(),
            logger=silent_logger(),
            history=self.history,
        )
        self.daemon, self.api = daemon, api

        def tick(second: int) -> None:
            clock.second = second
            self.last = daemon.tick()

        return tick
