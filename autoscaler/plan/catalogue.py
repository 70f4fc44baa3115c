"""The sizes ``plan`` chooses from: of one generation (``--generation``), built-in or live
(``--live``), priced (``--prices``), picked (``--sizes``).

An app runs on one generation, so a plan is for one: Cedar (the default, the built-in
catalogue :data:`autoscaler.sizes.CEDAR_SIZES`) or Fir (``--generation fir``,
:data:`autoscaler.sizes.FIR_SIZES`: the ``dyno-Nc-Xgb`` sizes, at most 255 dynos of a type).
Without ``--generation``, ``--sizes`` naming only Fir sizes plans for Fir. For Cedar only the
Common Runtime sizes are planned with by default, since Private and Shield sizes need a
Private Space; for Fir every size is. ``--live`` replaces the catalogue with what
``GET /dyno-sizes`` reports for that generation (memory in GB, monthly cost; a size's
generation is the catalogue's, or Fir for a ``dyno-`` name); a size the API gives no memory
or cost for keeps the built-in value, or is left out when the built-in catalogue does not
know it either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from autoscaler.errors import ConfigError
from autoscaler.plan.model import SizeOption
from autoscaler.plan.prices import apply_prices, read_prices
from autoscaler.sizes import DynoSize, Generation, Tier, generation_of, lookup, normalize, sizes_of

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
        limit=size.max_per_type if size.max_per_type is not None else size.generation.app_limit,
        space_only=size.tier in _SPACE_ONLY_TIERS,
    )


def builtin_sizes(generation: Generation = Generation.CEDAR) -> list[SizeOption]:
    """Every size of one generation of the built-in catalogue (Cedar by default), in catalogue order."""
    return [option_from_size(size) for size in sizes_of(generation)]


def live_sizes(
    reported: Iterable[tuple[str, float | None, float | None]],
    generation: Generation = Generation.CEDAR,
) -> tuple[list[SizeOption], list[str]]:
    """The sizes of ``generation`` that ``/dyno-sizes`` reported, and the names left out for want of
    memory or price.

    Missing values fall back to the built-in catalogue. Known sizes come in catalogue
    order, the others after them by memory.
    """
    order = {size.key: index for index, size in enumerate(sizes_of(generation))}
    options: dict[str, SizeOption] = {}
    skipped: list[str] = []
    for name, memory_gb, monthly_usd in reported:
        key = normalize(name)
        if not key or key in options or generation_of(key) is not generation:
            continue
        known = lookup(key)
        base = option_from_size(known) if known is not None else None
        memory_mb = _live_memory(memory_gb, base)
        price = _live_price(monthly_usd, base)
        if memory_mb is None or price is None:
            skipped.append(key)
            continue
        limit = base.limit if base is not None else generation.app_limit
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


def plan_generation(flag: str | None, wanted: str | None) -> Generation:
    """The generation to plan for: ``--generation``, else Fir when ``--sizes`` names only Fir sizes,
    else Cedar."""
    if flag is not None:
        try:
            return Generation(flag.strip().lower())
        except ValueError:
            raise ConfigError([f"--generation: must be cedar or fir, got {flag!r}"]) from None
    names = [name for name in (wanted or "").split(",") if name.strip()]
    if names and all(generation_of(name) is Generation.FIR for name in names):
        return Generation.FIR
    return Generation.CEDAR


def load_catalogue(
    *,
    live: bool,
    prices_path: str | None,
    wanted: str | None,
    env: Mapping[str, str],
    fetch_sizes: FetchSizes | None,
    generation: str | None = None,
) -> Catalogue:
    """The sizes to plan with: of the generation planned for, ``--live`` or built-in, ``--prices``
    applied, ``--sizes`` honoured."""
    notes: list[str] = []
    planned = plan_generation(generation, wanted)
    name = planned.value.capitalize()
    if live:
        if fetch_sizes is None or not env.get("HEROKU_API_KEY", "").strip():
            raise ConfigError(["--live: needs HEROKU_API_KEY (a Platform API token) in the environment"])
        sizes, skipped = live_sizes(fetch_sizes(), planned)
        if not sizes:
            among = "" if planned is Generation.CEDAR else " among the Fir sizes"
            raise ConfigError([f"--live: /dyno-sizes reported no size with a known memory and price{among}"])
        notes.append(f"Sizes and prices: live, from /dyno-sizes ({name})")
        if skipped:
            notes.append(f"Left out (no memory or price reported): {', '.join(skipped)}")
    else:
        sizes = builtin_sizes(planned)
        notes.append(f"Sizes and prices: built-in {name} list prices")
        if planned is Generation.FIR:
            notes.append("dyno-16c-64gb: list price $1,000 unverified (below dyno-16c-32gb; likely a typo)")
    if planned is Generation.FIR:
        notes.append("Fir: at most 255 dynos per process type and per app, in a Fir Private Space")
    if prices_path is not None:
        sizes = apply_prices(sizes, read_prices(prices_path))
        notes.append(f"Prices from {prices_path}")
    return Catalogue(_select(sizes, wanted, planned), notes)


def _select(sizes: list[SizeOption], wanted: str | None, planned: Generation) -> list[SizeOption]:
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
        raise ConfigError([_unknown(name, known, planned) for name in unknown])
    keys = list(dict.fromkeys(normalize(name) for name in names))
    return [size for size in sizes if size.key in keys]


def _unknown(name: str, known: str, planned: Generation) -> str:
    other = lookup(name)
    if other is not None and other.generation is not planned:
        gen = other.generation.value
        return (
            f"--sizes: {name!r} is a {gen.capitalize()} size, and this plan is for {planned.value.capitalize()}: "
            f"an app runs on one generation (--generation {gen} plans with its sizes)"
        )
    return f"--sizes: unknown size {name!r}; known sizes: {known}"
