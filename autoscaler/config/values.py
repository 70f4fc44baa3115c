"""How configuration values are written: booleans, lists, JSON, schedules. Parsed, never evaluated."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_bool(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("must be true or false (also 1/0, yes/no, on/off)")
    return value


def parse_list(value: object) -> object:
    """``"a,b"`` or a JSON list ``'["a","b"]'`` or a real list → list of names."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list ({exc.msg})") from None
        else:
            value = [part.strip() for part in text.split(",")]
    if isinstance(value, list):
        names = [str(item).strip() for item in value]
        if not names or any(not name for name in names):
            raise ValueError("must be a non-empty, comma-separated list of names")
        return names
    return value


def parse_int_list(value: object) -> object:
    parsed = parse_list(value)
    if isinstance(parsed, list):
        try:
            return [int(item) for item in parsed]
        except ValueError:
            raise ValueError("must be a comma-separated list of whole numbers") from None
    return parsed


def parse_json_list(value: object) -> object:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
    return value


Bool = Annotated[bool, BeforeValidator(parse_bool)]
NameList = Annotated[list[str], BeforeValidator(parse_list)]
IntList = Annotated[list[int], BeforeValidator(parse_int_list)]


class Schedule(BaseModel):
    """A time window that changes the bounds: from each CRON start, for DURATION seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str
    duration: float = Field(gt=0)
    timezone: str = "UTC"
    min_dynos: int | None = Field(None, ge=0)
    max_dynos: int | None = Field(None, ge=0)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from autoscaler.schedule import parse_cron

        parse_cron(value, "UTC")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


Schedules = Annotated[list[Schedule], BeforeValidator(parse_json_list)]
