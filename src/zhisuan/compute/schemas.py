"""Compute federation, input schemas: what it takes to register a center or pool, set a quota, submit a job.

The API validates request bodies with them and the CLI builds them from options; the service
modules check the rest (known accelerators, amounts to the fen, keys).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from zhisuan.compute.model import DEFAULT_REFERENCE
from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Money
from zhisuan.core.text import Name, Text

_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def _check_key(key: str, what: str) -> str:
    key = key.strip().lower()
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"a {what} key is 2–63 lower-case letters, digits or dashes (e.g. hf-chaohu)", field="key"
        )
    return key


def _yuan(text: str | int | Decimal, field: str) -> Money:
    amount = Money.parse(text if not isinstance(text, Decimal) else str(text), field=field)
    if amount.is_negative():
        raise ValidationError("an amount cannot be negative", field=field)
    if not amount.is_whole_fen():
        raise ValidationError(f"give the amount to the fen (0.01 yuan), got {text}", field=field)
    return amount


#: the longest run time a job may state: a year
MAX_RUNTIME_S = 366 * 86_400
#: the most cards a quota may name, and card-hours a month (far above any province's capacity)
MAX_QUOTA_CARDS = 10_000_000
MAX_CARD_HOURS = 10_000_000_000

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_duration(text: str, field: str = "runtime") -> int:
    """Seconds from ``3600``, ``90m``, ``2h``, ``1h30m`` or ``2d``.

    >>> parse_duration("1h30m"), parse_duration("45"), parse_duration("2d")
    (5400, 45, 172800)
    """
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValidationError(f"not a duration: {text!r} (e.g. 3600, 90m, 2h, 1h30m)", field=field)
    if any(g and len(g) > 9 for g in m.groups()):
        raise ValidationError(f"a duration is at most {MAX_RUNTIME_S} seconds", field=field)
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = d * 86400 + h * 3600 + mi * 60 + s
    if total < 1:
        raise ValidationError("a duration must be at least one second", field=field)
    if total > MAX_RUNTIME_S:
        raise ValidationError(f"a duration is at most {MAX_RUNTIME_S} seconds (a year)", field=field)
    return total


class BandInput(BaseModel):
    """A price per card-hour between two Shanghai local hours ``[from, to)`` (may wrap midnight)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: int = Field(alias="from", ge=0, le=24)
    end: int = Field(alias="to", ge=0, le=24)
    price: Name = Field(max_length=64, description="yuan per card-hour, decimal string")


class CenterInput(BaseModel):
    """What it takes to register a center."""

    model_config = ConfigDict(extra="forbid")
    key: Name = Field(max_length=63, description="short id, e.g. hf-chaohu")
    name: Name = Field(min_length=2, max_length=200)
    name_en: Name | None = Field(default=None, max_length=200)
    operator: Name = Field(max_length=200, description="operator organization: id, credit code or name")
    city_code: Name = Field(max_length=6, description="6-digit division code")
    engine: dict[str, Any] = Field(default_factory=dict, description="engine settings shared by its pools")


class PoolInput(BaseModel):
    """A pool of one accelerator model at a center."""

    model_config = ConfigDict(extra="forbid")
    key: Name = Field(max_length=63, description="short id, e.g. hf-chaohu-910b3")
    accelerator: Name = Field(max_length=64)
    nodes: int = Field(ge=1, le=100_000)
    cards_per_node: int = Field(ge=1, le=64)
    price: Name = Field(max_length=64, description="list price, yuan per card-hour (decimal string)")
    bands: list[BandInput] = Field(default_factory=list, max_length=24)
    engine: Name = Field(default="simulated", max_length=32)
    engine_config: dict[str, Any] = Field(default_factory=dict)


class QuotaInput(BaseModel):
    """Limits for an organization over all centers together (omit a limit to lift it)."""

    model_config = ConfigDict(extra="forbid")
    max_cards: int | None = Field(default=None, ge=0, le=MAX_QUOTA_CARDS)
    max_cards_by_model: dict[
        Annotated[Name, Field(max_length=64)], Annotated[int, Field(le=MAX_QUOTA_CARDS)]
    ] = Field(default_factory=dict, max_length=200)
    monthly_budget: Name | None = Field(
        default=None, max_length=64, description="yuan per Shanghai calendar month"
    )
    monthly_card_hours: int | None = Field(default=None, ge=0, le=MAX_CARD_HOURS)


class JobInput(BaseModel):
    """A job request."""

    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=200)
    command: Text = Field(min_length=1, max_length=10_000, description="what the engine runs")
    cards: int = Field(ge=1, le=100_000, description="cards, all started at once")
    accelerators: list[Annotated[Name, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="acceptable models (empty: any)"
    )
    min_memory_gb: int | None = Field(default=None, ge=1, le=1_000_000)
    domestic_only: bool = False
    runtime_s: int = Field(
        ge=1, le=MAX_RUNTIME_S, description="estimated run time on the reference accelerator, seconds"
    )
    reference: Name = Field(
        default=DEFAULT_REFERENCE, max_length=64, description="the accelerator the estimate refers to"
    )
    price_ceiling: Name | None = Field(
        default=None, max_length=64, description="most yuan per card-hour the user will pay"
    )
    deadline: dt.datetime | None = None
    data_city: Name | None = Field(
        default=None, max_length=6, description="city holding the data (6-digit code)"
    )
    data_center: Name | None = Field(
        default=None, max_length=63, description="center holding the data (id or key)"
    )
    retries: int = Field(default=0, ge=0, le=10)
    org: Name | None = Field(
        default=None, max_length=200, description="submitting organization (default: the caller's)"
    )


__all__ = [
    "MAX_RUNTIME_S",
    "BandInput",
    "CenterInput",
    "JobInput",
    "PoolInput",
    "QuotaInput",
    "parse_duration",
]
