"""The Platform API's resources as the client returns them (formation, dyno sizes, dynos), and
the parsing of its JSON into them: anything of an unexpected shape is a
:class:`~autoscaler.errors.HerokuResponseError`, never a half-read value."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from autoscaler.errors import HerokuResponseError

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Formation:
    """One process type of an app, as the API reports it."""

    type: str
    quantity: int
    size: str
    """``dyno_size.name`` (e.g. ``Standard-1X``), else the legacy ``size`` field."""
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class FormationUpdate:
    """One item of a batch update; ``None`` leaves that attribute unchanged."""

    type: str
    quantity: int | None = None
    size: str | None = None
    """Sent as ``{"dyno_size": {"name": size}}``, never as the deprecated ``size`` key."""

    def describe(self) -> str:
        """``web=3``, or ``web=3:standard-2x`` with a new size, as logs and notices show a change."""
        text = f"{self.type}={self.quantity}"
        return f"{text}:{self.size}" if self.size else text


@dataclass(frozen=True, slots=True)
class ApiDynoSize:
    """One entry of ``GET /dyno-sizes`` or ``GET /apps/{app}/available-dyno-sizes``."""

    name: str
    memory_gb: float | None
    monthly_usd: float | None
    """``cost.cents / 100`` when the cost is given per month, else ``None``."""
    generation: str | None = None
    """``generation.name`` (``cedar`` or ``fir``), lower case, when given."""
    compute: int | None = None
    """vCPUs, when given."""
    private_space_only: bool | None = None


@dataclass(frozen=True, slots=True)
class Dyno:
    """One running dyno of ``GET /apps/{app}/dynos``: ``web.1`` of type ``web``, ``run.1234`` of type ``run``."""

    name: str
    type: str
    size: str
    state: str


def update_body(update: FormationUpdate) -> dict[str, Any]:
    item: dict[str, Any] = {"type": update.type}
    if update.quantity is not None:
        item["quantity"] = update.quantity
    if update.size is not None:
        item["dyno_size"] = {"name": update.size}
    return item


def parse_object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise HerokuResponseError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_list(data: Any, where: str, parse: Callable[[Any], _T | None]) -> list[_T]:
    if not isinstance(data, list):
        raise HerokuResponseError(f"{where}: expected a JSON array, got {type(data).__name__}")
    items: list[_T] = []
    for index, raw in enumerate(data):
        item = parse(raw)
        if item is None:
            raise HerokuResponseError(f"{where}: item {index} has an unexpected shape")
        items.append(item)
    return items


def parse_formation(raw: Any) -> Formation | None:
    if not isinstance(raw, dict):
        return None
    kind, quantity, updated_at = raw.get("type"), raw.get("quantity"), raw.get("updated_at")
    dyno_size = raw.get("dyno_size")
    size = dyno_size.get("name") if isinstance(dyno_size, dict) else None
    if not isinstance(size, str):
        size = raw.get("size")
    if (
        isinstance(kind, str)
        and isinstance(quantity, int)
        and not isinstance(quantity, bool)
        and isinstance(size, str)
        and (updated_at is None or isinstance(updated_at, str))
    ):
        return Formation(kind, quantity, size, updated_at)
    return None


def parse_dyno_size(raw: Any) -> ApiDynoSize | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    memory, cost = raw.get("memory"), raw.get("cost")
    if not (memory is None or _is_number(memory)) or not (cost is None or isinstance(cost, dict)):
        return None
    monthly = None
    if isinstance(cost, dict) and cost.get("unit") == "month" and _is_number(cost.get("cents")):
        monthly = cost["cents"] / 100
    # Descriptive fields the daemon can do without: a value of an unexpected type is left out.
    generation = raw.get("generation")
    generation = generation.get("name") if isinstance(generation, dict) else generation
    compute, space_only = raw.get("compute"), raw.get("private_space_only")
    return ApiDynoSize(
        raw["name"],
        None if memory is None else float(memory),
        monthly,
        generation.lower() if isinstance(generation, str) else None,
        compute if isinstance(compute, int) and not isinstance(compute, bool) else None,
        space_only if isinstance(space_only, bool) else None,
    )


def parse_dyno(raw: Any) -> Dyno | None:
    if not isinstance(raw, dict):
        return None
    name, kind, state = raw.get("name"), raw.get("type"), raw.get("state")
    size = raw.get("size")
    dyno_size = raw.get("dyno_size")
    if not isinstance(size, str) and isinstance(dyno_size, dict):
        size = dyno_size.get("name")
    if isinstance(name, str) and isinstance(kind, str) and isinstance(state, str) and isinstance(size, str):
        return Dyno(name, kind, size, state)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
