from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Money, Rounding


def test_money_refuses_floats() -> None:
    with pytest.raises(ValidationError, match="float"):
        Money(0.1)  # type: ignore[arg-type]


def test_money_refuses_float_factors() -> None:
    with pytest.raises(ValidationError):
        Money("10") * 0.2  # type: ignore[operator]


def test_money_refuses_garbage_strings() -> None:
    with pytest.raises(ValidationError, match="not an amount"):
        Money("12,3x")


def test_a_third_stays_exact_until_the_final_rounding() -> None:
    third = Money("100.00") / 3
    assert not third.is_whole_fen()
    assert (third * 3) == Money("100")
    assert third.round() == Money("33.33")
    # rounding early would have lost a fen: 33.33 * 3 = 99.99
    assert (third * Decimal("1.2")).round() == Money("40.00")


def test_rounding_modes_on_the_fen() -> None:
    half = Money("0.005")
    assert half.round(Rounding.DOWN) == Money("0.00")
    assert half.round(Rounding.HALF_UP) == Money("0.01")
    assert half.round(Rounding.HALF_EVEN) == Money("0.00")
    assert Money("0.015").round(Rounding.HALF_EVEN) == Money("0.02")
    assert Money("-0.019").round(Rounding.DOWN) == Money("-0.01")
    assert Money("-0.011").round(Rounding.FLOOR) == Money("-0.02")


def test_fen_round_trip_of_a_large_amount() -> None:
    amount = Money("49999999.99")
    assert amount.to_fen() == 4_999_999_999
    assert Money.from_fen(4_999_999_999) == amount
    assert str(amount * 2) == "99999999.98"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_from_fen_to_fen_is_identity(fen: int) -> None:
    assert Money.from_fen(fen).to_fen() == fen


@given(st.fractions(min_value=Fraction(0), max_value=Fraction(10**9)))
def test_rounding_down_never_exceeds_the_exact_amount(value: Fraction) -> None:
    money = Money(value)
    rounded = money.round(Rounding.DOWN)
    assert rounded <= money
    assert money - rounded < Money("0.01")


def test_huge_exponents_are_refused_before_any_arithmetic() -> None:
    import time

    started = time.monotonic()
    for text in ("1E+999999999", "1E+3000000", "1E-999999999", "9" * 10_000):
        with pytest.raises(ValidationError):
            Money(text, field="price")
    assert time.monotonic() - started < 0.5


def test_money_from_outside_is_at_most_ten_to_the_fifteen_yuan() -> None:
    assert Money("1000000000000000").to_fen() == 10**17
    with pytest.raises(ValidationError, match="at most"):
        Money("1000000000000000.01")
    with pytest.raises(ValidationError, match="at most"):
        Money.parse(10**15 + 1, field="budget")
    with pytest.raises(ValidationError, match="decimal places"):
        Money("0.0000000000001")
    assert Money("1.500000000000000") == Money("1.5")  # trailing zeros are not places
