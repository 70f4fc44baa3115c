"""Price files (``--prices FILE``): monthly USD prices that replace those of the sizes they name.

Two formats, told apart by the first character that is not white space (``{`` means JSON):

* JSON, one object mapping size name to monthly USD: ``{"standard-1x": 25, "Performance-M": 250}``
* CSV with the header ``size,monthly_usd`` and one size a line::

      size,monthly_usd
      standard-1x,25
      performance-m,250

Names are matched in any case and must be sizes of the catalogue in use; prices are
numbers ≥ 0; a size named twice is an error.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from autoscaler.errors import ConfigError
from autoscaler.plan.model import SizeOption
from autoscaler.sizes import normalize


def _price_value(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _collect_prices(pairs: Iterable[tuple[str, object, str]], where: str) -> dict[str, float]:
    """Checks (name, raw price, position) triples into a {key: price} map."""
    prices: dict[str, float] = {}
    problems: list[str] = []
    for name, raw, position in pairs:
        key = normalize(name)
        value = _price_value(raw)
        if not key:
            problems.append(f"--prices: {where} {position}: empty size name")
        elif value is None:
            problems.append(f"--prices: {where} {position}: price of {name!r} is not a number >= 0: {raw!r}")
        elif key in prices:
            problems.append(f"--prices: {where} {position}: {name!r} is named twice")
        else:
            prices[key] = value
    if problems:
        raise ConfigError(problems)
    if not prices:
        raise ConfigError([f"--prices: {where} names no size"])
    return prices


def _json_prices(text: str, where: str) -> dict[str, float]:
    try:
        data = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"--prices: {where} is not valid JSON: {exc}"]) from exc
    if not isinstance(data, list) or not all(isinstance(pair, tuple) for pair in data):
        raise ConfigError([f"--prices: {where} must hold one JSON object {{size: monthly USD}}"])
    return _collect_prices(((name, raw, f"key {name!r}") for name, raw in data), where)


def _csv_prices(text: str, where: str) -> dict[str, float]:
    rows = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1) if row]
    if not rows or [cell.strip().lower() for cell in rows[0][1]] != ["size", "monthly_usd"]:
        raise ConfigError([f"--prices: {where} must be a JSON object or CSV with the header size,monthly_usd"])
    bad = [
        f"--prices: {where} line {number}: expected 2 fields, got {len(row)}"
        for number, row in rows[1:]
        if len(row) != 2
    ]
    if bad:
        raise ConfigError(bad)
    return _collect_prices(((row[0], row[1], f"line {number}") for number, row in rows[1:]), where)


def parse_prices(text: str, where: str = "the price file") -> dict[str, float]:
    """{normalised size key: monthly USD} from a price file's text (format in the module docstring)."""
    if text.lstrip().startswith("{"):
        return _json_prices(text, where)
    return _csv_prices(text, where)


def read_prices(path: str) -> dict[str, float]:
    """The prices of the file at ``path``; ConfigError when it cannot be read or is not a price file."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"--prices: cannot read {path}: {exc}"]) from exc
    return parse_prices(text, path)


def apply_prices(sizes: Sequence[SizeOption], prices: Mapping[str, float]) -> list[SizeOption]:
    """``sizes`` with the prices of ``prices`` put in; raises ConfigError for a name not among ``sizes``."""
    known = [size.key for size in sizes]
    unknown = [key for key in prices if key not in known]
    if unknown:
        raise ConfigError([f"--prices: unknown size {key!r}; known sizes: {', '.join(known)}" for key in unknown])
    return [replace(size, monthly_usd=prices.get(size.key, size.monthly_usd)) for size in sizes]
