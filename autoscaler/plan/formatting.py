"""How ``plan`` writes numbers and money: ``1,024`` or ``201.5``, ``$1,500.00`` or ``-``."""

from __future__ import annotations


def number(value: float) -> str:
    """``value`` with thousands separators and one decimal, dropped when it is ``.0``."""
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def money(value: float | None) -> str:
    """USD with cents, or ``-`` for no value."""
    return "-" if value is None else f"${value:,.2f}"
