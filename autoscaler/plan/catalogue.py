"""The sizes ``plan`` chooses from: built-in or live (``--live``), priced (``--prices``), picked (``--sizes``).

The built-in catalogue is :data:`autoscaler.sizes.CEDAR_SIZES`; by default only the
Common Runtime sizes are planned with, since Private and Shield sizes need a Private
Space. ``--live`` replaces the catalogue with what ``GET /dyno-sizes`` reports (memory in
GB, monthly cost); a size the API gives no memory or cost for keeps the built-in value,
or is left out when the built-in catalogue does not know it either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from autoscaler.errors import ConfigError
from autoscaler.plan.model import SizeOption
from autoscaler.plan.prices import apply_prices, read_prices
from autoscaler.sizes import APP_DYNO_LIMIT, CEDAR_SIZES, DynoSize, Tier, lookup, normalize

FetchSizes = Callable[[], list[tuple[str, float | None, float | None]]]
"""Reads ``/dyno-sizes``: (name, memory in GB or None, monthly USD or None) per size."""

_SPACE_ONLY_TIERS = frozenset({Tier.PRIVATE, Tier.SHIELD})


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The sizes to plan with, and header lines that say where their prices come from."""

    sizes: list[SizeOption]
    notes: list[str]


def option_from_size(size: DynoSize) -> SizeOption:
    """The planner's view of a catalogue entry."""
    return SizeOption(
        key=size.key,
        memory_mb=size.memory_mb,
        monthly_usd=size.monthly_usd,
        limit=size.max_per_type if size.max_per_type is not None else APP_DYNO_LIMIT,
        space_only=size.tier in _SPACE_ONLY_TIERS,
    )


def builtin_sizes() -> list[SizeOption]:
    """Every Cedar size of the built-in catalogue, in catalogue order."""
    return [option_from_size(size) for size in CEDAR_SIZES]


def live_sizes(
    reported: Iterable[tuple[str, float | None, float | None]],
) -> tuple[list[SizeOption], list[str]]:
    """The sizes ``/dyno-sizes`` reported, and the names left out for want of memory or price.

    Missing values fall back to the built-in catalogue. Known sizes come in catalogue
    order, the others after them by memory.
    """
    order = {size.key: index for index, size in enumerate(CEDAR_SIZES)}
    options: dict[str, SizeOption] = {}
    skipped: list[str] = []
    for name, memory_gb, monthly_usd in reported:
        key = normalize(name)
        if not key or key in options:
            continue
        known = lookup(key)
        base = option_from_size(known) if known is not None else None
        memory_mb = _live_memory(memory_gb, base)
        price = _live_price(monthly_usd, base)
        if memory_mb is None or price is None:
            skipped.append(key)
            continue
        limit = base.limit if base is not None else APP_DYNO_LIMIT
        space_only = base.space_only if base is not None else key.startswith(("private-", "shield-"))
        options[key] = SizeOption(key, memory_mb, price, limit, space_only)
    ranked = sorted(options.values(), key=lambda size: (order.get(size.key, len(order)), size.memory_mb, size.key))
    return ranked, skipped


def _live_memory(memory_gb: float | None, base: SizeOption | None) -> int | None:
    if memory_gb is not None and math.isfinite(memory_gb) and memory_gb > 0:
        return round(memory_gb * 1024)
    return base.memory_mb if base is not None else None


def _live_price(monthly_usd: float | None, base: SizeOption | None) -> float | None:
    if monthly_usd is not None and math.isfinite(monthly_usd) and monthly_usd >= 0:
        return float(monthly_usd)
    return base.monthly_usd if base is not None else None


def load_catalogue(
    *,
    live: bool,
    prices_path: str | None,
    wanted: str | None,
    env: Mapping[str, str],
    fetch_sizes: FetchSizes | None,
) -> Catalogue:
    """The sizes to plan with: ``--live`` or built-in, ``--prices`` applied, ``--sizes`` honoured."""
    notes: list[str] = []
    if live:
        if fetch_sizes is None or not env.get("HEROKU_API_KEY", "").strip():
            raise ConfigError(["--live: needs HEROKU_API_KEY (a Platform API token) in the environment"])
        sizes, skipped = live_sizes(fetch_sizes())
        if not sizes:
            raise ConfigError(["--live: /dyno-sizes reported no size with a known memory and price"])
        notes.append("Sizes and prices: live, from /dyno-sizes")
        if skipped:
            notes.append(f"Left out (no memory or price reported): {', '.join(skipped)}")
    else:
        sizes = builtin_sizes()
        notes.append("Sizes and prices: built-in Cedar list prices")
    if prices_path is not None:
        sizes = apply_prices(sizes, read_prices(prices_path))
        notes.append(f"Prices from {prices_path}")
    return Catalogue(_select(sizes, wanted), notes)


def _select(sizes: list[SizeOption], wanted: str | None) -> list[SizeOption]:
    """The ``--sizes`` named in ``wanted`` (any case), in catalogue order; None: all but Private/Shield."""
    if wanted is None:
        return [size for size in sizes if not size.space_only] or sizes
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    if not names:
        raise ConfigError(["--sizes: names no size"])
    by_key = {size.key: size for size in sizes}
    known = ", ".join(by_key)
    unknown = [name for name in names if normalize(name) not in by_key]
    if unknown:
        raise ConfigError([f"--sizes: unknown size {name!r}; known sizes: {known}" for name in unknown])
    keys = list(dict.fromkeys(normalize(name) for name in names))
    return [size for size in sizes if size.key in keys]
