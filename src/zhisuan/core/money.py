"""Money: exact yuan, rounded once to the fen, never a float.

Inside, an amount is an exact rational number of yuan (a third stays a third); it becomes a
decimal with two places only when :meth:`Money.round` is called, with the rounding mode the policy
pack names (default: down, so that an award never exceeds "no more than x%"). Storage is integer fen.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from functools import total_ordering
from typing import Final

from zhisuan.core.errors import ValidationError

FEN_PER_YUAN: Final = 100
#: The largest amount accepted from outside (an API body, a file, a pack, an option): 10^15 yuan.
MAX_YUAN: Final = 10**15
#: The most decimal places an amount or a number from outside may carry (trailing zeros aside).
MAX_PLACES: Final = 12
#: The longest text a number may be written with (digits, sign, point, separators, exponent).
MAX_NUMBER_TEXT: Final = 64


class Rounding(StrEnum):
    """Rounding modes a pack may name; all work on the fen."""

    DOWN = "down"  # toward zero
    UP = "up"  # away from zero
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    FLOOR = "floor"
    CEILING = "ceiling"


def _round_fraction(value: Fraction, mode: Rounding) -> int:
    """Round an exact number of fen to an integer number of fen."""
    floor = value.numerator // value.denominator
    rest = value - floor
    if rest == 0:
        return floor
    ceil = floor + 1
    if mode is Rounding.FLOOR:
        return floor
    if mode is Rounding.CEILING:
        return ceil
    if mode is Rounding.DOWN:
        return floor if value > 0 else ceil
    if mode is Rounding.UP:
        return ceil if value > 0 else floor
    half = Fraction(1, 2)
    if rest < half:
        return floor
    if rest > half:
        return ceil
    if mode is Rounding.HALF_UP:
        return ceil if value > 0 else floor
    return floor if floor % 2 == 0 else ceil


def bounded_decimal(
    value: str | Decimal,
    field: str | None,
    *,
    limit: int = MAX_YUAN,
    places: int = MAX_PLACES,
    what: str = "a number",
) -> Decimal:
    """A finite decimal from outside, refused before any arithmetic if it is too long, too large or too fine.

    The exponent is checked on the parsed digits, so ``1E+999999999`` costs nothing (turning it into a
    fraction would take minutes).

    >>> bounded_decimal("1,234.50", "price")
    Decimal('1234.50')
    >>> bounded_decimal("1E+3000000", "rd_cost")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zhisuan.core.errors.ValidationError: rd_cost: must be at most 1000000000000000 ...
    """
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        if len(text) > MAX_NUMBER_TEXT:
            raise ValidationError(f"a number has at most {MAX_NUMBER_TEXT} characters", field=field)
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise ValidationError(f"not {what}: {value[:MAX_NUMBER_TEXT]!r}", field=field) from None
    else:
        dec = value
    if not dec.is_finite():
        raise ValidationError(f"must be a finite number, got {value!r}"[:120], field=field)
    _sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)  # finite
    if len(digits) > MAX_NUMBER_TEXT:
        raise ValidationError(f"a number has at most {MAX_NUMBER_TEXT} digits", field=field)
    if dec.adjusted() >= len(str(limit)) or abs(dec) > limit:
        raise ValidationError(f"must be at most {limit} in size, got {str(value)[:40]!r}", field=field)
    if exponent < -places:
        # trailing zeros do not count as places ('1.5000')
        zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
        if exponent + zeros < -places:
            raise ValidationError(
                f"give at most {places} decimal places, got {str(value)[:40]!r}", field=field
            )
    return dec


def _parse(value: object, field: str | None) -> Fraction:
    if isinstance(value, Money):
        return value._value
    if isinstance(value, bool):
        raise ValidationError("money must be a decimal string or an integer, not a boolean", field=field)
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal | str):
        return Fraction(bounded_decimal(value, field, what="an amount of money"))
    if isinstance(value, float):
        raise ValidationError(
            "money is never built from a float; pass a decimal string such as '12.34'", field=field
        )
    raise ValidationError(f"not an amount of money: {value!r}", field=field)


@total_ordering
class Money:
    """An exact amount of yuan.

    >>> third = Money("100") / 3
    >>> third.round()
    Money('33.33')
    >>> (third * 3).round()
    Money('100.00')
    >>> Money(12.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    zhisuan.core.errors.ValidationError: money is never built from a float; pass a decimal string ...
    """

    __slots__ = ("_value",)
    _value: Fraction

    def __init__(
        self, value: str | int | Decimal | Fraction | Money = 0, *, field: str | None = None
    ) -> None:
        object.__setattr__(self, "_value", _parse(value, field))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Money is immutable")

    # construction -----------------------------------------------------------------------------
    @classmethod
    def from_fen(cls, fen: int) -> Money:
        """Money from an integer number of fen (the storage form)."""
        if isinstance(fen, bool) or not isinstance(fen, int):
            raise ValidationError(f"fen must be an integer, got {fen!r}")
        return cls(Fraction(fen, FEN_PER_YUAN))

    @classmethod
    def parse(cls, value: str | int | Decimal, *, field: str | None = None) -> Money:
        """An amount from outside (API, file, option): at most :data:`MAX_YUAN` yuan either way.

        >>> Money.parse(10**16, field="budget")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        zhisuan.core.errors.ValidationError: budget: must be at most 1000000000000000 ...
        """
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_YUAN:
            raise ValidationError(f"must be at most {MAX_YUAN} in size, got {str(value)[:40]!r}", field=field)
        return cls(value, field=field)

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    # conversion -------------------------------------------------------------------------------
    @property
    def exact(self) -> Fraction:
        """The exact value in yuan."""
        return self._value

    def round(self, mode: Rounding | str = Rounding.DOWN) -> Money:
        """This amount rounded to the fen (the one final rounding)."""
        return Money.from_fen(self.to_fen(mode))

    def to_fen(self, mode: Rounding | str = Rounding.DOWN) -> int:
        """Integer fen, rounding with ``mode`` if the amount is not a whole number of fen."""
        return _round_fraction(self._value * FEN_PER_YUAN, Rounding(mode))

    def to_decimal(self, mode: Rounding | str = Rounding.DOWN) -> Decimal:
        """Decimal yuan with exactly two places."""
        fen = self.to_fen(mode)
        return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"))

    def is_whole_fen(self) -> bool:
        return (self._value * FEN_PER_YUAN).denominator == 1

    def __str__(self) -> str:
        if self.is_whole_fen():
            return str(self.to_decimal())
        return f"{self._value.numerator}/{self._value.denominator}"

    def __repr__(self) -> str:
        return f"Money('{self}')"

    # arithmetic -------------------------------------------------------------------------------
    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self._value + other._value)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self._value - other._value)

    def __neg__(self) -> Money:
        return Money(-self._value)

    def __abs__(self) -> Money:
        return Money(abs(self._value))

    def __mul__(self, factor: int | Decimal | Fraction) -> Money:
        return Money(self._value * _factor(factor))

    __rmul__ = __mul__

    def __truediv__(self, divisor: int | Decimal | Fraction) -> Money:
        d = _factor(divisor)
        if d == 0:
            raise ValidationError("division of money by zero")
        return Money(self._value / d)

    def ratio(self, other: Money) -> Fraction:
        """self / other as an exact fraction."""
        if other._value == 0:
            raise ValidationError("ratio to a zero amount")
        return self._value / other._value

    # comparison -------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Money):
            return self._value == other._value
        return NotImplemented

    def __lt__(self, other: Money) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._value < other._value

    def __hash__(self) -> int:
        return hash(("Money", self._value))

    def __bool__(self) -> bool:
        return self._value != 0

    def is_negative(self) -> bool:
        return self._value < 0


def _factor(value: int | Decimal | Fraction | str) -> Fraction:
    if isinstance(value, bool | float):
        raise ValidationError("money is never multiplied by a float or a boolean; use Decimal or Fraction")
    if isinstance(value, int | Fraction):
        return Fraction(value)
    if isinstance(value, Decimal | str):
        return Fraction(bounded_decimal(value, None))
    raise ValidationError(f"not a numeric factor: {value!r}")


def min_money(*amounts: Money) -> Money:
    return min(amounts)


def max_money(*amounts: Money) -> Money:
    return max(amounts)
