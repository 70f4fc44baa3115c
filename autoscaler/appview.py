"""What the daemon knows of the app between two formation reads, and how often it asks again.

The daemon reads its signals and decides every ``AUTOSCALER_INTERVAL`` (2 s by default), but
asks the Platform API only for what it needs, because the account's rate limit (4,500 tokens,
refilled at about 75 a minute) is shared by every tool of the account:

* **The formation** is kept from one read to the next. A tick decides on the kept formation; when
  that decision wants a change, the daemon reads the formation again and decides again on the
  fresh one before any PATCH (so every PATCH is decided on a read of the same tick). It is also
  read when it is older than :data:`FORMATION_MAX_AGE` (to see changes made by hand) and after a
  PATCH was refused.
* **The platform** (:class:`PlatformAPI`, when the client has these calls): the app's generation
  (``GET /apps/{app}``, Cedar or Fir) and the sizes it may use with their prices
  (``GET /apps/{app}/available-dyno-sizes``), read at the first formation read and again when a
  read shows other process types or sizes. The generation sets the app's dyno limit (100 on Cedar,
  255 on Fir); the API's prices replace the catalogue's, and ``AUTOSCALER_PRICES`` replaces both.
* **One-off dynos** (``GET /apps/{app}/dynos``: Scheduler jobs, ``heroku run``) count in
  ``AUTOSCALER_MAX_MONTHLY_COST``; read only when a budget is set, at most every
  :data:`ONE_OFF_MAX_AGE` seconds.
* **The rate limit**: ``GET /account/rate-limits`` (which costs no token) every
  :data:`RATE_CHECK_EVERY` seconds, and ``RateLimit-Remaining`` of every answer. Below
  :data:`SLOW_BELOW` tokens left the daemon slows down until :data:`SLOW_UNTIL` are back: the
  formation and the one-off dynos are read every :data:`SLOW_MAX_AGE` seconds and the platform is
  not read again. (Below 300 the client's ``pause_hint`` makes the daemon skip ticks altogether.)

A client without these calls (a minimal stand-in in a test) is asked for the formation every
tick; the real client and ``simulate``'s platform both have them.

A quiet app thus costs about 70 Platform API calls an hour (a formation read a minute and a
rate-limit check every 5 minutes, measured 59 + 11), and about 130 with a budget (the running
dynos read once a minute too); ``benchmarks/daemon.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from structlog.typing import FilteringBoundLogger

from autoscaler import sizes
from autoscaler.config import Settings
from autoscaler.errors import HerokuError
from autoscaler.heroku import ApiDynoSize, Dyno, Formation
from autoscaler.sizes import Generation

FORMATION_MAX_AGE = 60.0
"""Seconds a formation read is used for at most: changes made by hand are seen within this."""
ONE_OFF_MAX_AGE = 60.0
"""Seconds between reads of the running dynos (only with AUTOSCALER_MAX_MONTHLY_COST)."""
RATE_CHECK_EVERY = 300.0
"""Seconds between ``GET /account/rate-limits`` while the account has tokens to spare."""
SLOW_BELOW = 1500
"""Tokens left in the account's bucket under which the daemon slows down (a third of 4,500)."""
SLOW_UNTIL = 2000
"""Tokens left at which it goes back to its usual pace."""
SLOW_MAX_AGE = 300.0
"""Slowed down: seconds between formation reads, and between reads of the running dynos."""
SLOW_RATE_CHECK_EVERY = 60.0
"""Slowed down: seconds between ``GET /account/rate-limits`` (free, so watched more closely)."""
RUNNING_STATES = frozenset({"up", "starting"})
"""States of a dyno that is billed (or about to be)."""


@runtime_checkable
class PlatformAPI(Protocol):
    """The Platform API calls beyond the formation, used when the client has them (the real client
    and ``simulate``'s platform do; without them the generation comes from the formation's sizes,
    the prices from the catalogue, and no one-off dyno is counted)."""

    @property
    def rate_limit_remaining(self) -> int | None: ...

    def app(self, app: str, *, deadline: float | None = None) -> dict[str, Any]: ...

    def available_dyno_sizes(self, app: str, *, deadline: float | None = None) -> list[ApiDynoSize]: ...

    def dynos(self, app: str, *, deadline: float | None = None) -> list[Dyno]: ...

    def rate_limits(self, *, deadline: float | None = None) -> int: ...


@dataclass(frozen=True, slots=True)
class BudgetSplit:
    """How ``AUTOSCALER_MAX_MONTHLY_COST`` is shared, in USD per month at the current run-rate."""

    budget: float
    one_off: float
    """The one-off dynos running now (Scheduler jobs, ``heroku run``)."""
    one_off_dynos: int
    other_types: float
    """The process types of the formation this daemon does not manage."""

    @property
    def managed(self) -> float:
        """What is left for the managed process types (negative when the others already exceed it)."""
        return self.budget - self.one_off - self.other_types


def _signature(formation: Mapping[str, Formation]) -> frozenset[tuple[str, str]]:
    return frozenset((f.type, sizes.normalize(f.size)) for f in formation.values())


class AppView:
    """The kept formation and what the daemon learnt of the app's platform, for one daemon."""

    def __init__(
        self,
        app: str,
        platform: PlatformAPI | None,
        settings: Settings,
        prices: dict[str, float],
        log: FilteringBoundLogger,
    ) -> None:
        """``prices`` is the daemon's price table (size key → USD per month), updated in place with
        the API's prices under the ``AUTOSCALER_PRICES`` overrides, so everything holding it sees them."""
        self.app = app
        self.platform = platform
        self.settings = settings
        self.prices = prices
        self._overrides = dict(prices)
        self.log = log
        self.formation: dict[str, Formation] | None = None
        self.read_at = 0.0
        """``monotonic()`` of the last formation read."""
        self.app_generation: Generation | None = None
        """From ``GET /apps/{app}``; None until read."""
        self.available: list[ApiDynoSize] | None = None
        """From ``GET /apps/{app}/available-dyno-sizes``; None until read."""
        self._signature: frozenset[tuple[str, str]] | None = None
        self._facts_due = True
        self._checked: Generation | None = None
        self.one_offs: list[Dyno] = []
        self._one_offs_at: float | None = None
        self._rate_at: float | None = None
        self.slow = False
        self._warned: set[str] = set()

    # --- the formation ------------------------------------------------------------------

    @property
    def keeps_formation(self) -> bool:
        """Whether a formation read is kept for later ticks: only with a client that watches the
        account's rate limit (one without those calls is read every tick)."""
        return self.platform is not None

    def max_age(self) -> float:
        return SLOW_MAX_AGE if self.slow else FORMATION_MAX_AGE

    def stale(self, now: float) -> bool:
        """Whether the kept formation must be read again before it is used (``now``: monotonic)."""
        return self.formation is None or now - self.read_at >= self.max_age()

    def store(self, formation: Iterable[Formation], now: float) -> dict[str, Formation]:
        """Keep a formation just read; other process types or sizes than the last read's make the
        platform due to be read again."""
        self.formation = {f.type: f for f in formation}
        self.read_at = now
        signature = _signature(self.formation)
        if self._signature is not None and signature != self._signature:
            self._facts_due = True
        self._signature = signature
        return dict(self.formation)

    def merge(self, formation: Iterable[Formation]) -> None:
        """The process types a PATCH answered with, as they are now."""
        if self.formation is not None:
            self.formation.update({f.type: f for f in formation})
            self._signature = _signature(self.formation)

    def forget(self) -> None:
        """Read the formation again at the next tick."""
        self.formation = None

    # --- the platform: generation, sizes, prices --------------------------------------------

    @property
    def generation(self) -> Generation:
        """The app's generation: as the API said, else Fir when the formation runs Fir sizes, else Cedar."""
        if self.app_generation is not None:
            return self.app_generation
        if self.formation and any(sizes.generation_of(f.size) is Generation.FIR for f in self.formation.values()):
            return Generation.FIR
        return Generation.CEDAR

    @property
    def app_limit(self) -> int:
        """Dynos the app may run, all process types together: 100 on Cedar, 255 on Fir."""
        return self.generation.app_limit

    def learn(self, deadline: float | None) -> None:
        """After a formation read: read the platform when it is due (first read, other types or sizes),
        then check the settings against the generation once it is known. Never raises."""
        if self.platform is not None and self._facts_due and (not self.slow or self.app_generation is None):
            self._facts_due = False
            self._read_platform(self.platform, deadline)
        if self._checked is not self.generation:
            self._checked = self.generation
            self._check_settings()

    def _read_platform(self, platform: PlatformAPI, deadline: float | None) -> None:
        try:
            generation = sizes.parse_generation(platform.app(self.app, deadline=deadline).get("generation"))
            available = platform.available_dyno_sizes(self.app, deadline=deadline)
        except HerokuError as exc:
            self._facts_due = True  # tried again at the next formation read
            self._warn_once(
                "platform_read_failed",
                error=str(exc),
                message=f"could not read the app's generation and sizes: assuming {self.generation.value} "
                "limits and catalogue prices for now",
            )
            return
        self._warned.discard("platform_read_failed")
        if generation is not None:
            self.app_generation = generation
        self.available = available
        priced = {sizes.normalize(s.name): s.monthly_usd for s in available if s.monthly_usd is not None}
        self.prices.clear()
        self.prices.update(priced)
        self.prices.update(self._overrides)
        self.log.info(
            "platform",
            generation=self.generation.value,
            dyno_limit=self.app_limit,
            sizes=len(available),
            priced_by_api=len(priced),
            message=f"{self.generation.value.capitalize()} app: at most {self.app_limit} dynos; prices "
            + ("from the Platform API" if priced else "from the catalogue")
            + (", AUTOSCALER_PRICES over them" if self._overrides else ""),
        )

    def _check_settings(self) -> None:
        """What the configuration could not know at start: MAX_DYNOS above the generation's limit
        (then the app's limit keeps the formation within it) and a SIZE the app may not use."""
        generation, limit = self.generation, self.app_limit
        names = {sizes.normalize(s.name) for s in self.available or []}
        for name, process in self.settings.processes.items():
            if process.max_dynos > limit:
                self.log.error(
                    "max_dynos_above_limit",
                    process=name,
                    max_dynos=process.max_dynos,
                    limit=limit,
                    generation=generation.value,
                    message=f"MAX_DYNOS {process.max_dynos} is more than Heroku runs in one "
                    f"{generation.value.capitalize()} app: scaling stops at {limit} dynos for the whole app; "
                    f"lower AUTOSCALER_PROCESSES__{name.upper()}__MAX_DYNOS",
                )
            size = process.size
            if size is None:
                continue
            unavailable = (names and sizes.normalize(size) not in names) or (
                not names and sizes.generation_of(size) is not generation
            )
            if unavailable:
                self.log.error(
                    "size_unavailable",
                    process=name,
                    size=size,
                    generation=generation.value,
                    message=f"SIZE {size} is not a size this {generation.value.capitalize()} app may use: "
                    "Heroku will refuse the resize",
                )

    # --- one-off dynos ----------------------------------------------------------------------

    def refresh_one_offs(self, deadline: float | None, now: float) -> None:
        """Read the running dynos when a budget is set and the last read is old enough. Never raises:
        a failed read keeps the last one-off dynos known."""
        if self.platform is None or self.settings.max_monthly_cost is None:
            return
        every = SLOW_MAX_AGE if self.slow else ONE_OFF_MAX_AGE
        if self._one_offs_at is not None and now - self._one_offs_at < every:
            return
        self._one_offs_at = now
        try:
            self.one_offs = self.platform.dynos(self.app, deadline=deadline)
        except HerokuError as exc:
            self._warn_once(
                "dynos_read_failed",
                error=str(exc),
                message="could not read the running dynos: the budget counts the one-off dynos last seen",
            )
            return
        self._warned.discard("dynos_read_failed")

    def budget_split(self, formation: Mapping[str, Formation], managed: Iterable[str]) -> BudgetSplit | None:
        """How the budget is shared now: one-off dynos (running dynos of types outside the formation),
        the formation's process types not managed here, and what is left; None without a budget."""
        budget = self.settings.max_monthly_cost
        if budget is None:
            return None
        managed = set(managed)
        one_offs = [d for d in self.one_offs if d.type not in formation and d.state in RUNNING_STATES]
        one_off = sum(self.price(d.size) for d in one_offs)
        others = sum(f.quantity * self.price(f.size) for name, f in formation.items() if name not in managed)
        return BudgetSplit(budget, one_off, len(one_offs), others)

    def price(self, size: str) -> float:
        """USD per month of one dyno: the API's or an override, else the catalogue's, else 0."""
        key = sizes.normalize(size)
        if key in self.prices:
            return self.prices[key]
        known = sizes.lookup(size)
        return known.monthly_usd if known is not None else 0.0

    # --- the rate limit ---------------------------------------------------------------------

    def watch_rate(self, deadline: float | None, now: float) -> None:
        """Ask the account's rate limit when it is time (free), then slow down or speed up."""
        if self.platform is None:
            return
        every = SLOW_RATE_CHECK_EVERY if self.slow else RATE_CHECK_EVERY
        if self._rate_at is None or now - self._rate_at >= every:
            self._rate_at = now
            try:
                self.platform.rate_limits(deadline=deadline)
            except HerokuError as exc:
                self.log.debug("rate_limit_unread", error=str(exc))
        self.pace()

    def pace(self) -> None:
        """Slow down below :data:`SLOW_BELOW` tokens left, back to the usual pace at :data:`SLOW_UNTIL`."""
        remaining = self.platform.rate_limit_remaining if self.platform is not None else None
        if remaining is None:
            return
        if not self.slow and remaining < SLOW_BELOW:
            self.slow = True
            self.log.warning(
                "rate_limit_low",
                remaining=remaining,
                message=f"the account's Platform API rate limit (shared by every tool of the account) is "
                f"running low: reading the formation every {SLOW_MAX_AGE:g}s instead of every "
                f"{FORMATION_MAX_AGE:g}s until {SLOW_UNTIL} tokens are back",
            )
        elif self.slow and remaining >= SLOW_UNTIL:
            self.slow = False
            self.log.info("rate_limit_recovered", remaining=remaining, message="back to the usual pace")

    def _warn_once(self, event: str, **fields: Any) -> None:
        if event not in self._warned:
            self._warned.add(event)
            self.log.warning(event, **fields)
