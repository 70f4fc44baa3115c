"""The dyno size catalogue: memory, price and quantity limits of each Heroku size.

Shared by the decision engine (cost, limits) and the ``plan`` command. Prices are
Heroku's list prices in USD per month for a dyno running all month (billing is
prorated to the second); the hourly rate is monthly / 720, as the Heroku CLI uses.
Sources: Heroku Dev Center "Dyno Types" and "Usage and Billing", and the CLI's
``COST_MONTHLY`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HOURS_PER_MONTH = 720
APP_DYNO_LIMIT = 100
"""Cedar: at most 100 dynos per app, all process types together."""


class Tier(StrEnum):
    ECO = "eco"
    BASIC = "basic"
    STANDARD = "standard"
    PERFORMANCE = "performance"
    PRIVATE = "private"
    SHIELD = "shield"


@dataclass(frozen=True, slots=True)
class DynoSize:
    """One dyno size. ``name`` is Heroku's display name (``Standard-1X``)."""

    name: str
    memory_mb: int
    monthly_usd: float
    tier: Tier
    max_per_type: int | None
    """Heroku's per-process-type quantity limit; None when only the app-wide limit applies."""

    @property
    def key(self) -> str:
        """The lower-case name used in configuration and app.json (``standard-1x``)."""
        return self.name.lower()

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

# Legacy names Heroku may still report for old formations.
_ALIASES = {
    "free": "eco",
    "hobby": "basic",
    "1x": "standard-1x",
    "2x": "standard-2x",
    "px": "performance-l",
    "performance": "performance-l",
}

_BY_KEY = {size.key: size for size in CEDAR_SIZES}


def normalize(name: str) -> str:
    """The catalogue key for a size name in any case or legacy spelling."""
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def lookup(name: str) -> DynoSize | None:
    """The catalogue entry for ``name`` (any case, legacy names accepted), or None."""
    return _BY_KEY.get(normalize(name))


def known_names() -> list[str]:
    return [size.key for size in CEDAR_SIZES]
