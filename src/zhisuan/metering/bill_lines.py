"""Metering: monthly bill lines and bill states — pure values and functions, no database.

A bill's records are grouped into lines (usage month, policy period, pool, price, discount,
adjustment or not) and each line is rounded once, half-up to the fen; VAT is the part of the
tax-inclusive amount. Bills go draft → issued → paid, or to void before payment.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from zhisuan.core.clock import Month
from zhisuan.core.errors import ConflictError, ValidationError
from zhisuan.core.money import Money
from zhisuan.metering.model import BP, SECONDS_PER_HOUR, UsageKind, UsageRecord, half_up

DEFAULT_VAT_RATE = Fraction(6, 100)  # VAT on compute (modern services) in China: 6%


class BillState(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


_TRANSITIONS: Mapping[BillState, frozenset[BillState]] = {
    BillState.DRAFT: frozenset({BillState.ISSUED, BillState.VOID}),
    BillState.ISSUED: frozenset({BillState.PAID, BillState.VOID}),
    BillState.PAID: frozenset(),
    BillState.VOID: frozenset(),
}


def check_transition(current: BillState, target: BillState) -> None:
    """Bills go draft → issued → paid, or to void before payment; nothing else."""
    if target not in _TRANSITIONS[current]:
        raise ConflictError(f"a {current.value} bill cannot become {target.value}", field="state")


def vat_fen(gross_fen: int, rate: Fraction = DEFAULT_VAT_RATE) -> int:
    """VAT inside a tax-inclusive amount: gross × rate / (1 + rate), half-up to the fen.

    >>> vat_fen(10600)
    600
    """
    if rate < 0:
        raise ValidationError("a VAT rate cannot be negative", field="vat_rate")
    sign = -1 if gross_fen < 0 else 1
    # gross × (p/q) / (1 + p/q) = gross × p / (q + p): exact in integers, rounded once
    return sign * half_up(abs(gross_fen) * rate.numerator, rate.denominator + rate.numerator)


@dataclass(frozen=True, slots=True)
class LineKey:
    """What makes bill lines distinct: usage month and policy period, pool, price, adjustment or not."""

    usage_month: Month
    policy_on: dt.date
    pool_id: int
    accelerator: str
    price_fen_per_card_hour: int
    discount_bp: int
    adjustment: bool


@dataclass(frozen=True, slots=True)
class BillLine:
    key: LineKey
    card_seconds: int
    gross_fen: int  # tax-inclusive, as invoiced
    vat_fen: int

    @property
    def net_fen(self) -> int:
        return self.gross_fen - self.vat_fen

    @property
    def unit_price(self) -> Money:
        """Price per card-hour after discount, tax-inclusive."""
        return Money.from_fen(self.key.price_fen_per_card_hour) * Fraction(BP - self.key.discount_bp, BP)


def line_amount_fen(card_seconds: int, price_fen: int, discount_bp: int) -> int:
    """Card-seconds × price per card-hour × (1 − discount), rounded half-up once, sign kept."""
    sign = -1 if card_seconds < 0 else 1
    # fen × card-seconds × basis points over seconds per hour × basis points: integers, rounded once
    return sign * half_up(abs(card_seconds) * price_fen * (BP - discount_bp), SECONDS_PER_HOUR * BP)


def bill_lines(
    records: Iterable[UsageRecord], bill_month: Month, vat_rate: Fraction = DEFAULT_VAT_RATE
) -> list[BillLine]:
    """Group a bill's records into lines and round each line once.

    Usage of earlier months and reversals are *adjustment* lines. A correction's reversal and its
    replacement at the same price share one line: the net change, rounded once.
    """
    sums: dict[LineKey, int] = defaultdict(int)
    for r in records:
        if r.month > bill_month:
            raise ValidationError(f"usage of {r.month} cannot go on the bill of {bill_month}", field="month")
        key = LineKey(
            r.month,
            r.policy_date,
            r.pool_id,
            r.accelerator,
            r.price_fen_per_card_hour,
            r.discount_bp,
            r.month < bill_month or r.kind is UsageKind.REVERSAL,
        )
        sums[key] += r.card_seconds
    return price_lines(sums, vat_rate)


def _line_order(k: LineKey) -> tuple[bool, Month, dt.date, int, int, int]:
    return (k.adjustment, k.usage_month, k.policy_on, k.pool_id, k.price_fen_per_card_hour, k.discount_bp)


def price_lines(card_seconds: Mapping[LineKey, int], vat_rate: Fraction = DEFAULT_VAT_RATE) -> list[BillLine]:
    """Bill lines from card-seconds summed per line key: each line rounded once, in bill order."""
    out = []
    for key in sorted(card_seconds, key=_line_order):
        gross = line_amount_fen(card_seconds[key], key.price_fen_per_card_hour, key.discount_bp)
        out.append(BillLine(key, card_seconds[key], gross, vat_fen(gross, vat_rate)))
    return out


__all__ = [
    "DEFAULT_VAT_RATE",
    "BillLine",
    "BillState",
    "LineKey",
    "bill_lines",
    "check_transition",
    "line_amount_fen",
    "price_lines",
    "vat_fen",
]
