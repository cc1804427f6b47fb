"""Fact parsing: raw case values (text, JSON numbers, Decimal …) → exact typed values; errors name the field.

Money parses to an exact pair of fen (n/d), rates and numbers to exact pairs, never through a float;
fast paths cover the common shapes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

from zhisuan.core.errors import PolicyError, ValidationError
from zhisuan.core.money import MAX_PLACES, MAX_YUAN, Money, bounded_decimal
from zhisuan.core.regions import all_cities
from zhisuan.policy.decision import Pair
from zhisuan.policy.errors import FactError
from zhisuan.policy.schema import FactSpec, fraction_text


def as_day(on: dt.date | str, field: str = "on") -> dt.date:
    """The event date from a date or ISO text; a timestamp is refused (policy dates are calendar dates)."""
    if isinstance(on, dt.datetime):
        raise PolicyError("the event date is a calendar date (Asia/Shanghai), not a timestamp", field=field)
    if isinstance(on, dt.date):
        return on
    if isinstance(on, str):
        try:
            return dt.date.fromisoformat(on.strip())
        except ValueError:
            pass
    raise PolicyError(f"an ISO date YYYY-MM-DD expected, got {on!r}", field=field)


#: digits before the point that the fast paths take unchecked (below 10^15)
_MAX_WHOLE = 15


def _decimal_pair(text: str, name: str, scale: int) -> Pair:
    """'1234.567' → (1234567 × scale, 1000), exact; comma and underscore separators allowed."""
    s = text.strip()
    if "," in s or "_" in s:
        s = s.replace(",", "").replace("_", "")
    whole, dot, frac = s.partition(".")
    short = len(whole) <= _MAX_WHOLE and len(frac) <= MAX_PLACES  # else bounded below, before arithmetic
    if (
        short
        and whole.isdecimal()
        and (frac.isdecimal() or (not frac and not dot) or (dot and not frac and whole))
    ):
        if not frac:
            return int(whole) * scale, 1
        k = len(frac)
        return int(whole + frac) * scale, 10**k
    if short and dot and not whole and frac.isdecimal():
        return int(frac) * scale, 10 ** len(frac)
    try:
        dec = bounded_decimal(s, name)
    except ValidationError as exc:
        if not exc.message.startswith("not a number"):
            raise FactError(exc.message, field=name) from None
        dec = None
    if dec is None:
        raise FactError(f"not a number: {text[:40]!r} (give a decimal string such as '1234.56')", field=name)
    if dec < 0:
        raise FactError(f"must not be negative, got {text!r}", field=name)
    n, d = dec.as_integer_ratio()
    return n * scale, d


def _numeric(raw: object, name: str, scale: int, what: str) -> Pair:
    t = type(raw)
    if t is str:
        assert isinstance(raw, str)
        if raw.lstrip().startswith("-"):
            raise FactError(f"{what} must not be negative, got {raw!r}", field=name)
        return _decimal_pair(raw, name, scale)
    if t is int:
        assert isinstance(raw, int)
        if raw < 0:
            raise FactError(f"{what} must not be negative, got {raw}", field=name)
        if raw > MAX_YUAN:
            raise FactError(f"{what} must be at most {MAX_YUAN}", field=name)
        return raw * scale, 1
    if isinstance(raw, bool):
        raise FactError(f"{what} expected, got a boolean", field=name)
    if isinstance(raw, Decimal):
        if not raw.is_finite() or raw < 0:
            raise FactError(f"{what} must be a finite number ≥ 0, got {raw}", field=name)
        try:
            n, d = bounded_decimal(raw, name).as_integer_ratio()
        except ValidationError as exc:
            raise FactError(exc.message, field=name) from None
        return n * scale, d
    if isinstance(raw, Fraction):
        if raw < 0:
            raise FactError(f"{what} must not be negative, got {raw}", field=name)
        return raw.numerator * scale, raw.denominator
    if isinstance(raw, Money):
        v = raw.exact
        if v < 0:
            raise FactError(f"{what} must not be negative", field=name)
        return v.numerator * scale, v.denominator
    if isinstance(raw, int):
        return _numeric(int(raw), name, scale, what)
    if isinstance(raw, float):
        raise FactError(f"{what} is never a binary float; give a decimal string such as '12.34'", field=name)
    raise FactError(f"{what} expected, got {type(raw).__name__}", field=name)


def _parse_money(raw: object, name: str) -> Pair:
    if type(raw) is str:
        # fast path: plain "1234" or "1234.5" / "1234.56" (whole fen, denominator 1)
        whole, dot, frac = raw.partition(".")
        if len(whole) <= _MAX_WHOLE and whole.isascii() and whole.isdigit():
            if not dot:
                return int(whole) * 100, 1
            if frac.isascii() and frac.isdigit():
                if len(frac) == 2:
                    return int(whole) * 100 + int(frac), 1
                if len(frac) == 1:
                    return int(whole) * 100 + int(frac) * 10, 1
    elif type(raw) is int and 0 <= raw <= MAX_YUAN:
        return raw * 100, 1
    return _numeric(raw, name, 100, "an amount of money")


def _parse_number(raw: object, name: str) -> Pair:
    return _numeric(raw, name, 1, "a number")


def _parse_rate(raw: object, name: str) -> Pair:
    if type(raw) is str:
        assert isinstance(raw, str)
        text = raw.strip()
        if text.endswith("%"):
            n, d = _numeric(text[:-1], name, 1, "a rate")
            d *= 100
        elif "/" in text:
            top, _, bottom = text.partition("/")
            tn, td = _numeric(top, name, 1, "a rate")
            bn, bd = _numeric(bottom, name, 1, "a rate")
            if bn == 0:
                raise FactError(f"a rate cannot divide by zero: {raw!r}", field=name)
            n, d = tn * bd, td * bn
        else:
            n, d = _numeric(text, name, 1, "a rate")
    else:
        n, d = _numeric(raw, name, 1, "a rate")
    if n > d:
        raise FactError(f"a rate is between 0 and 1 (or 0% and 100%), got {raw!r}", field=name)
    return n, d


def _parse_count(raw: object, name: str) -> Pair:
    if type(raw) is int:
        assert isinstance(raw, int)
        if not 0 <= raw <= MAX_YUAN:
            raise FactError(f"a count is between 0 and {MAX_YUAN}, got {raw}", field=name)
        return raw, 1
    if isinstance(raw, str) and raw.strip().isdecimal() and len(raw.strip()) <= _MAX_WHOLE:
        return int(raw.strip()), 1
    raise FactError(f"a whole number between 0 and {MAX_YUAN} expected, got {str(raw)[:40]!r}", field=name)


def _parse_bool(raw: object, name: str) -> bool:
    if raw is True or raw is False:
        return raw
    if isinstance(raw, str):
        low = raw.strip().lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
    raise FactError(f"true or false expected, got {raw!r}", field=name)


def parse_date(raw: object, name: str) -> dt.date:
    """An ISO date fact."""
    if type(raw) is str:
        assert isinstance(raw, str)
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise FactError(f"an ISO date YYYY-MM-DD expected, got {raw!r}", field=name) from None
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    raise FactError(f"an ISO date YYYY-MM-DD expected, got {raw!r}", field=name)


def _parse_text(raw: object, name: str) -> str:
    if isinstance(raw, str):
        return raw
    raise FactError(f"text expected, got {raw!r}", field=name)


def _enum_parser(values: tuple[str, ...]) -> Callable[[object, str], str]:
    allowed = frozenset(values)
    listing = ", ".join(values)

    def parse(raw: object, name: str) -> str:
        if isinstance(raw, str) and raw in allowed:
            return raw
        raise FactError(f"one of {listing} expected, got {raw!r}", field=name)

    return parse


def _city_parser(region: str) -> Callable[[object, str], str]:
    """6-digit division codes; codes inside the pack's own region must be known cities."""
    prefix = region[:2]
    known = frozenset(c.code for c in all_cities())

    def parse(raw: object, name: str) -> str:
        code = raw if isinstance(raw, str) else str(raw) if type(raw) is int else None
        if code is not None and len(code) == 6 and code.isdecimal():
            if code in known or not code.startswith(prefix):
                return code
            raise FactError(f"no city with division code {code!r} in region {region}", field=name)
        raise FactError(f"a 6-digit city division code expected (e.g. '340100'), got {raw!r}", field=name)

    return parse


def parser_for(spec: FactSpec, region: str) -> Callable[[object, str], object]:
    """The parser of one fact spec (with its minimum, and the pack's region for cities)."""
    parsers: dict[str, Callable[[object, str], object]] = {
        "money": _parse_money,
        "number": _parse_number,
        "rate": _parse_rate,
        "count": _parse_count,
        "bool": _parse_bool,
        "date": parse_date,
        "text": _parse_text,
    }
    if spec.type == "enum":
        base: Callable[[object, str], object] = _enum_parser(spec.values)
    elif spec.type == "city":
        base = _city_parser(region)
    else:
        base = parsers[spec.type]
    if spec.minimum is None:
        return base
    mn, md = spec.minimum.numerator, spec.minimum.denominator
    if spec.type == "money":
        mn *= 100

    def bounded(raw: object, name: str) -> object:
        value = base(raw, name)
        assert isinstance(value, tuple)
        if value[0] * md < mn * value[1]:
            raise FactError(
                f"must be at least {fraction_text(spec.minimum or Fraction(0))}, got {raw!r}", field=name
            )
        return value

    return bounded
