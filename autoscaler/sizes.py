"""The dyno size catalogue: memory, price and quantity limits of each Heroku size.

Shared by the decision engine (cost, limits) and the ``plan`` command. Prices are
Heroku's list prices in USD per month for a dyno running all month (billing is
prorated to the second); the hourly rate is monthly / 720, as the Heroku CLI uses.
Sources: Heroku Dev Center "Dyno Types" and "Usage and Billing", and the CLI's
``COST_MONTHLY`` table.

Two generations of the platform: Cedar (:data:`CEDAR_SIZES`, most apps: at most 100 dynos per
app, 10 per Performance/Private/Shield process type, 1 per Eco/Basic one) and Fir
(:data:`FIR_SIZES`, Kubernetes based, in Fir Private Spaces only: the ``dyno-Nc-Xgb`` sizes, at
most 255 dynos per process type and 255 per app). The daemon prefers the prices the Platform API
reports for the app (``GET /apps/{app}/available-dyno-sizes``) to these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HOURS_PER_MONTH = 720
APP_DYNO_LIMIT = 100
"""Cedar: at most 100 dynos per app, all process types together."""
FIR_DYNO_LIMIT = 255
"""Fir: at most 255 dynos per process type, and 255 per app."""


class Generation(StrEnum):
    """The generation of the Heroku platform an app runs on (``generation.name`` of ``GET /apps/{app}``)."""

    CEDAR = "cedar"
    FIR = "fir"

    @property
    def app_limit(self) -> int:
        """Dynos one app may run, all process types together."""
        return FIR_DYNO_LIMIT if self is Generation.FIR else APP_DYNO_LIMIT


class Tier(StrEnum):
    ECO = "eco"
    BASIC = "basic"
    STANDARD = "standard"
    PERFORMANCE = "performance"
    PRIVATE = "private"
    SHIELD = "shield"
    FIR = "fir"


@dataclass(frozen=True, slots=True)
class DynoSize:
    """One dyno size. ``name`` is Heroku's display name (``Standard-1X``)."""

    name: str
    memory_mb: int
    monthly_usd: float
    tier: Tier
    max_per_type: int | None
    """Heroku's per-process-type quantity limit; None when only the app-wide limit applies."""
    compute: int | None = None
    """vCPUs (Fir sizes); None where the catalogue does not say."""

    @property
    def key(self) -> str:
        """The lower-case name used in configuration and app.json (``standard-1x``)."""
        return self.name.lower()

    @property
    def generation(self) -> Generation:
        return Generation.FIR if self.tier is Tier.FIR else Generation.CEDAR

    @property
    def raisable(self) -> bool:
        """Whether Heroku support may raise the per-type limit (Performance, Private, Shield)."""
        return self.tier in {Tier.PERFORMANCE, Tier.PRIVATE, Tier.SHIELD}

    @property
    def hourly_usd(self) -> float:
        return self.monthly_usd / HOURS_PER_MONTH

    @property
    def per_second_usd(self) -> float:
        return self.monthly_usd / (HOURS_PER_MONTH * 3600)


def _gb(gb: float) -> int:
    return int(gb * 1024)


_T = Tier
# Eco is $5 per account for 1000 shared hours; per dyno we count it as $5/month.
CEDAR_SIZES: tuple[DynoSize, ...] = (
    DynoSize("Eco", 512, 5.0, _T.ECO, 1),
    DynoSize("Basic", 512, 7.0, _T.BASIC, 1),
    DynoSize("Standard-1X", 512, 25.0, _T.STANDARD, None),
    DynoSize("Standard-2X", 1024, 50.0, _T.STANDARD, None),
    DynoSize("Performance-M", _gb(2.5), 250.0, _T.PERFORMANCE, 10),
    DynoSize("Performance-L", _gb(14), 500.0, _T.PERFORMANCE, 10),
    DynoSize("Performance-L-RAM", _gb(30), 500.0, _T.PERFORMANCE, 10),
    DynoSize("Performance-XL", _gb(62), 750.0, _T.PERFORMANCE, 10),
    DynoSize("Performance-2XL", _gb(126), 1500.0, _T.PERFORMANCE, 10),
    DynoSize("Private-S", _gb(1), 225.0, _T.PRIVATE, 10),
    DynoSize("Private-M", _gb(2.5), 450.0, _T.PRIVATE, 10),
    DynoSize("Private-L", _gb(14), 900.0, _T.PRIVATE, 10),
    DynoSize("Private-L-RAM", _gb(30), 500.0, _T.PRIVATE, 10),
    DynoSize("Private-XL", _gb(62), 750.0, _T.PRIVATE, 10),
    DynoSize("Private-2XL", _gb(126), 1500.0, _T.PRIVATE, 10),
    DynoSize("Shield-S", _gb(1), 270.0, _T.SHIELD, 10),
    DynoSize("Shield-M", _gb(2.5), 540.0, _T.SHIELD, 10),
    DynoSize("Shield-L", _gb(14), 1080.0, _T.SHIELD, 10),
    DynoSize("Shield-L-RAM", _gb(30), 600.0, _T.SHIELD, 10),
    DynoSize("Shield-XL", _gb(62), 900.0, _T.SHIELD, 10),
    DynoSize("Shield-2XL", _gb(126), 1800.0, _T.SHIELD, 10),
)


def _fir(vcpus: int, gb: float, monthly_usd: float) -> DynoSize:
    name = f"dyno-{vcpus}c-{gb:g}gb"
    return DynoSize(name, _gb(gb), monthly_usd, _T.FIR, FIR_DYNO_LIMIT, compute=vcpus)


# Fir list prices per dyno-month. dyno-16c-64gb is listed at $1,000, below dyno-16c-32gb ($1,200):
# unverified, and most likely a typo in the price list; the API's price (available-dyno-sizes)
# or AUTOSCALER_PRICES replaces it.
FIR_SIZES: tuple[DynoSize, ...] = (
    _fir(1, 0.5, 25.0),
    _fir(1, 4, 80.0),
    _fir(1, 8, 100.0),
    _fir(2, 1, 50.0),
    _fir(2, 4, 150.0),
    _fir(2, 8, 160.0),
    _fir(2, 16, 250.0),
    _fir(4, 8, 300.0),
    _fir(4, 16, 320.0),
    _fir(4, 32, 500.0),
    _fir(8, 16, 600.0),
    _fir(8, 32, 640.0),
    _fir(8, 64, 750.0),
    _fir(16, 32, 1200.0),
    _fir(16, 64, 1000.0),
    _fir(16, 128, 1500.0),
    _fir(32, 64, 2400.0),
)
ALL_SIZES: tuple[DynoSize, ...] = CEDAR_SIZES + FIR_SIZES
"""Both generations: Cedar first, then Fir."""

# Legacy names Heroku may still report for old formations.
_ALIASES = {
    "free": "eco",
    "hobby": "basic",
    "1x": "standard-1x",
    "2x": "standard-2x",
    "px": "performance-l",
    "performance": "performance-l",
}

_BY_KEY = {size.key: size for size in ALL_SIZES}


def normalize(name: str) -> str:
    """The catalogue key for a size name in any case or legacy spelling."""
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def lookup(name: str) -> DynoSize | None:
    """The catalogue entry for ``name`` (any case, legacy names accepted), or None."""
    return _BY_KEY.get(normalize(name))


def known_names() -> list[str]:
    """Every size of the catalogue, Cedar then Fir."""
    return [size.key for size in ALL_SIZES]


def sizes_of(generation: Generation) -> tuple[DynoSize, ...]:
    return FIR_SIZES if generation is Generation.FIR else CEDAR_SIZES


def generation_of(name: str) -> Generation:
    """The generation a size belongs to: the catalogue's, else Fir for a ``dyno-...`` name, else Cedar."""
    size = lookup(name)
    if size is not None:
        return size.generation
    return Generation.FIR if normalize(name).startswith("dyno-") else Generation.CEDAR


def parse_generation(value: object) -> Generation | None:
    """``cedar`` or ``fir`` in any case (also the ``{"name": ...}`` object of the Platform API); None otherwise."""
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str):
        try:
            return Generation(value.strip().lower())
        except ValueError:
            return None
    return None
