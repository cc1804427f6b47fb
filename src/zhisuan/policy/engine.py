"""The rules engine: (article, facts, date, packs) → Decision, with every step explained.

Each article version is compiled once per parameter epoch (the span of dates over which none of its
parameters changes) into closures. Arithmetic is exact: money is an integer number of fen over an
integer denominator, rates are integer ratios, and the amount is rounded once, at the end, with the
pack's rounding mode (default down, so an award never exceeds "no more than x%").
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from json.encoder import encode_basestring as _encode  # the C encoder for one string
from typing import Final, NamedTuple

from zhisuan.core.errors import PolicyError, ZhisuanError
from zhisuan.core.money import Money, Rounding
from zhisuan.core.regions import all_cities
from zhisuan.policy.errors import FactError, RuleConflictError
from zhisuan.policy.pack import (
    ArticleVersion,
    AwardRule,
    Check,
    FactSpec,
    PackSet,
    Rule,
    dump_value,
    fraction_text,
)

_MISSING: Final = object()
#: a fact every article takes: the date the claim was made (the event's date still decides the version)
CLAIMED_ON: Final = "claimed_on"
Pair = tuple[int, int]  # exact rational n/d, d > 0; money pairs count fen


class Step(NamedTuple):
    """One rule applied: the article, the rule, the parameter and value used, and the result."""

    article: str
    rule: str
    parameter: str
    value: str
    result: str

    def to_dict(self) -> dict[str, str]:
        return {
            "article": self.article,
            "rule": self.rule,
            "parameter": self.parameter,
            "value": self.value,
            "result": self.result,
        }


class Reason(NamedTuple):
    """A plain-language reason, in Chinese and in English."""

    zh: str
    en: str

    def text(self, lang: str = "both") -> str:
        if lang == "zh":
            return self.zh
        if lang == "en":
            return self.en
        return f"{self.zh} / {self.en}"


class Decision(NamedTuple):
    """What the policy allows for one case; ``amount_fen`` is the maximum, rounded once."""

    program: str
    pack: str | None
    on: dt.date
    in_force: bool
    eligible: bool
    amount_fen: int
    payee: str
    case_by_case: bool
    steps: tuple[Step, ...]
    reasons: tuple[Reason, ...]
    version: ArticleVersion | None = None

    @property
    def amount(self) -> Money:
        """The maximum the policy allows, as Money rounded to the fen."""
        return Money.from_fen(self.amount_fen)

    @property
    def amount_text(self) -> str:
        return fen_text(self.amount_fen)

    @property
    def lead_unit(self) -> str | None:
        return self.version.lead_unit if self.version else None

    @property
    def cooperating_units(self) -> tuple[str, ...]:
        return self.version.cooperating_units if self.version else ()

    @property
    def evidence(self) -> tuple[str, ...]:
        return self.version.evidence if self.version else ()

    def to_dict(self, case_id: object = None, lang: str = "both") -> dict[str, object]:
        """The evaluation contract's JSON object (POLICY.md), key order as documented."""
        return {
            "id": case_id,
            "program": self.program,
            "pack": self.pack,
            "on": self.on.isoformat(),
            "in_force": self.in_force,
            "eligible": self.eligible,
            "amount": fen_text(self.amount_fen),
            "payee": self.payee,
            "case_by_case": self.case_by_case,
            "steps": [
                {"article": s[0], "rule": s[1], "parameter": s[2], "value": s[3], "result": s[4]}
                for s in self.steps
            ],
            "reasons": [r.text(lang) for r in self.reasons],
        }

    def to_json(self, case_id: object = None, lang: str = "both") -> str:
        """``json.dumps(self.to_dict(case_id, lang), ensure_ascii=False)``, built directly (3× faster)."""
        e = _encode
        steps = ", ".join(
            f'{{"article": {e(s[0])}, "rule": {e(s[1])}, "parameter": {e(s[2])}, "value": {e(s[3])}, '
            f'"result": {e(s[4])}}}'
            for s in self.steps
        )
        reasons = ", ".join(e(r.text(lang)) for r in self.reasons)
        if case_id is None:
            ident = "null"
        elif type(case_id) is str:
            ident = e(case_id)
        elif type(case_id) is int:
            ident = str(case_id)
        else:
            ident = json.dumps(case_id, ensure_ascii=False, default=str)
        pack = "null" if self.pack is None else e(self.pack)
        flags = {True: "true", False: "false"}
        return (
            f'{{"id": {ident}, "program": {e(self.program)}, "pack": {pack}, "on": "{self.on.isoformat()}", '
            f'"in_force": {flags[self.in_force]}, "eligible": {flags[self.eligible]}, '
            f'"amount": "{fen_text(self.amount_fen)}", "payee": {e(self.payee)}, '
            f'"case_by_case": {flags[self.case_by_case]}, "steps": [{steps}], "reasons": [{reasons}]}}'
        )


# --------------------------------------------------------------------------------------------------
# formatting


def fen_text(fen: int) -> str:
    """Integer fen as yuan with two places.

    >>> fen_text(12345), fen_text(-5), fen_text(0), fen_text(100)
    ('123.45', '-0.05', '0.00', '1.00')
    """
    if fen < 0:
        return "-" + fen_text(-fen)
    t = str(fen)
    if fen >= 100:
        return t[:-2] + "." + t[-2:]
    return ("0.0" if fen < 10 else "0.") + t


_POW10: Final = tuple(10**k for k in range(13))


def _decimal_text(n: int, d: int, places: int) -> str:
    """n/d (n ≥ 0) as an exact decimal with at least ``places`` places; '' when it needs more than 12.

    >>> _decimal_text(1, 8, 0), _decimal_text(12345, 500, 2), _decimal_text(1, 3, 2)
    ('0.125', '24.69', '')
    """
    for k in range(places, 13):
        m = n * _POW10[k]
        if m % d == 0:
            t = str(m // d)
            if k == 0:
                return t
            if len(t) <= k:
                t = "0" * (k + 1 - len(t)) + t
            return t[:-k] + "." + t[-k:]
    return ""


def pair_yuan_text(n: int, d: int) -> str:
    """An exact amount of fen (n/d) as yuan: two places when whole fen, more places or the exact fraction.

    >>> pair_yuan_text(12345, 1), pair_yuan_text(12346, 5), pair_yuan_text(10000000, 3)
    ('123.45', '24.692', '100000/3 (≈33333.33…)')
    """
    if d == 1:
        return fen_text(n) if n >= 0 else "-" + fen_text(-n)
    if n % d == 0:
        return fen_text(n // d)
    text = _decimal_text(n, d * 100, 2)
    if text:
        return text
    return f"{fraction_text(Fraction(n, d * 100))} (≈{fen_text(n // d)}…)"


def _num_text(n: int, d: int) -> str:
    if d == 1:
        return str(n)
    return _decimal_text(n, d, 0) or fraction_text(Fraction(n, d))


def rate_text(n: int, d: int) -> str:
    """A rate as a percentage when it is a whole or decimal percent, else as an exact fraction.

    >>> rate_text(1, 5), rate_text(1, 3), rate_text(61, 100), rate_text(6, 5)
    ('20%', '1/3', '61%', '120%')
    """
    frac = Fraction(n, d) * 100
    den = frac.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den == 1:
        return f"{fraction_text(frac)}%"
    return fraction_text(Fraction(n, d))


def round_pair(n: int, d: int, mode: Rounding) -> int:
    """Round a non-negative exact number of fen n/d to whole fen."""
    q, r = divmod(n, d)
    if r == 0 or mode is Rounding.DOWN or mode is Rounding.FLOOR:
        return q
    if mode is Rounding.UP or mode is Rounding.CEILING:
        return q + 1
    twice = 2 * r
    if twice > d:
        return q + 1
    if twice < d:
        return q
    return q + 1 if (mode is Rounding.HALF_UP or q % 2 == 1) else q


# --------------------------------------------------------------------------------------------------
# fact parsing (fast paths for the common shapes, exact always)


def _decimal_pair(text: str, name: str, scale: int) -> Pair:
    """'1234.567' → (1234567 × scale, 1000), exact; comma and underscore separators allowed."""
    s = text.strip()
    if "," in s or "_" in s:
        s = s.replace(",", "").replace("_", "")
    whole, dot, frac = s.partition(".")
    if whole.isdecimal() and (frac.isdecimal() or (not frac and not dot) or (dot and not frac and whole)):
        if not frac:
            return int(whole) * scale, 1
        k = len(frac)
        return int(whole + frac) * scale, 10**k
    if dot and not whole and frac.isdecimal():
        return int(frac) * scale, 10 ** len(frac)
    try:
        dec = Decimal(s)
    except ArithmeticError:
        dec = None
    if dec is None or not dec.is_finite():
        raise FactError(f"not a number: {text!r} (give a decimal string such as '1234.56')", field=name)
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
        return raw * scale, 1
    if isinstance(raw, bool):
        raise FactError(f"{what} expected, got a boolean", field=name)
    if isinstance(raw, Decimal):
        if not raw.is_finite() or raw < 0:
            raise FactError(f"{what} must be a finite number ≥ 0, got {raw}", field=name)
        n, d = raw.as_integer_ratio()
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
        if whole.isascii() and whole.isdigit():
            if not dot:
                return int(whole) * 100, 1
            if frac.isascii() and frac.isdigit():
                if len(frac) == 2:
                    return int(whole) * 100 + int(frac), 1
                if len(frac) == 1:
                    return int(whole) * 100 + int(frac) * 10, 1
    elif type(raw) is int and raw >= 0:
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
        if raw < 0:
            raise FactError(f"a count must not be negative, got {raw}", field=name)
        return raw, 1
    if isinstance(raw, str) and raw.strip().isdecimal():
        return int(raw.strip()), 1
    raise FactError(f"a whole number ≥ 0 expected, got {raw!r}", field=name)


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


def _parse_date(raw: object, name: str) -> dt.date:
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


def _parser_for(spec: FactSpec, region: str) -> Callable[[object, str], object]:
    parsers: dict[str, Callable[[object, str], object]] = {
        "money": _parse_money,
        "number": _parse_number,
        "rate": _parse_rate,
        "count": _parse_count,
        "bool": _parse_bool,
        "date": _parse_date,
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


# --------------------------------------------------------------------------------------------------
# compiled checks

CheckFn = Callable[[dict[str, object]], "tuple[bool | None, str]"]

_OP_TEXT: Final = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=", "!=": "≠"}
_NEG_TEXT: Final = {">=": "<", ">": "≤", "<=": ">", "<": "≥", "==": "≠", "!=": "="}


def _cmp(op: str) -> Callable[[object, object], bool]:
    ops: dict[str, Callable[[object, object], bool]] = {
        ">=": lambda a, b: a >= b,  # type: ignore[operator]
        ">": lambda a, b: a > b,  # type: ignore[operator]
        "<=": lambda a, b: a <= b,  # type: ignore[operator]
        "<": lambda a, b: a < b,  # type: ignore[operator]
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    return ops[op]


class _Compiled:
    """One article version with the parameters of one epoch bound: a fast ``run(facts)``."""

    def __init__(self, packs: PackSet, version: ArticleVersion, on: dt.date, region: str) -> None:
        self.v = version
        art = version.article
        self.art = art
        self.params = {name: p.at(on) for name, p in version.parameters.items()}
        self.mode = Rounding(str(self.params["rounding"]))
        self.specs = tuple((s.name, _parser_for(s, region), s.required) for s in version.facts)
        self.allowed = frozenset(s.name for s in version.facts)
        # every article also takes the claim's date, judged against the pack's claim window (position 13)
        if CLAIMED_ON not in self.allowed:
            self.specs += ((CLAIMED_ON, _parse_date, False),)
            self.allowed |= {CLAIMED_ON}
        window = self.params.get("claim_window_days")
        self.claim_window = window if isinstance(window, int) and not isinstance(window, bool) else None
        self.types = {s.name: s.type for s in version.facts}
        self.in_force_step = Step(art, "in_force", "effective", packs_period(packs, version), "true")
        self.award = tuple((a, tuple(self._check(c) for c in a.when)) for a in version.award)
        self.uplift_on = bool(self.params["uplift_enabled"])
        factor = self.params["uplift_factor"]
        assert isinstance(factor, Fraction)
        self.uplift: Pair = (factor.numerator, factor.denominator)
        self.uplift_text = fraction_text(factor)
        cities = self.params["uplift_cities"]
        assert isinstance(cities, tuple)
        self.uplift_cities = frozenset(str(c) for c in cities)
        self.round_step_value = self.mode.value
        self.payee = version.payee
        self.pack = version.pack_id
        self.eligible_reason = self._eligible_reason()
        self.loc = version.uplift_location
        self.cbc = version.case_by_case
        self.rule_runners = tuple(
            (self._rule_runner(rule), Reason(rule.fail_zh, rule.fail_en)) for rule in version.eligibility
        )
        self.plans = {rule.id: self._plan(rule) for rule in version.award}
        only = version.award[0] if len(version.award) == 1 and not version.award[0].when else None
        self.single_plan = self.plans[only.id] if only is not None else None
        self.uplift_off_step = Step(
            art, "northern_anhui_uplift", "uplift_enabled", "false", "not applied: switched off"
        )
        self.uplift_reason = Reason(
            f"皖北项目上浮 {self.uplift_text} 倍（金额与上限）",
            f"northern Anhui: amount and cap × {self.uplift_text}",
        )
        self.used_up_reason = Reason(
            "上限已用完：此前已获支持达到上限", "the cap is used up by amounts already awarded"
        )
        self.cbc_reason = Reason(
            "一事一议：金额由单独决定，不适用公式、上限和皖北上浮",
            "case-by-case: the amount is set by a recorded decision; no formula, cap or uplift",
        )

    # -- checks ----------------------------------------------------------------------------------
    def _param_pair(self, name: str, left_type: str) -> object:
        """A parameter in the unit of the fact it is compared with (money facts count fen)."""
        value = self.params[name]
        if isinstance(value, Fraction):
            scale = 100 if left_type == "money" else 1
            return (value.numerator * scale, value.denominator)
        if isinstance(value, int) and not isinstance(value, bool):
            return (value * (100 if left_type == "money" else 1), 1)
        return value

    def _check_value(self, c: Check) -> str:
        if c.any_of:
            return " | ".join(self._check_value(x) for x in c.any_of)
        if c.op in ("is_true", "is_false"):
            return "true" if c.op == "is_true" else "false"
        if c.op == "in_effect_period":
            return self.v.period_text()
        value = self.params[c.parameter] if c.parameter is not None else c.value
        if isinstance(value, Fraction) and (c.ratio is not None or self.types.get(c.fact or "") == "rate"):
            return rate_text(value.numerator, value.denominator)
        return dump_value(value)

    def _check_param(self, c: Check) -> str:
        if c.any_of:
            names = [self._check_param(x) for x in c.any_of]
            return "—" if all(n == "—" for n in names) else " | ".join(names)
        if c.parameter is not None:
            return c.parameter
        if c.op == "in_effect_period":
            return "effective"
        return "—"

    def _check(self, c: Check) -> CheckFn:
        if c.any_of:
            parts = tuple(self._check(x) for x in c.any_of)

            def any_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                shown = []
                seen_any = False
                for fn in parts:
                    ok, text = fn(vals)
                    shown.append(text)
                    if ok:
                        return True, text
                    if ok is not None:
                        seen_any = True
                return (False if seen_any else None), "; ".join(shown)

            return any_fn
        op = c.op
        if c.ratio is not None:
            a, b = c.ratio
            assert c.parameter is not None or c.value is not None
            right = self._param_pair(c.parameter, "rate") if c.parameter else c.value
            if isinstance(right, Fraction):
                right = (right.numerator, right.denominator)
            assert isinstance(right, tuple)
            rn, rd = right
            cmp = _cmp(op)
            sym, neg = _OP_TEXT[op], _NEG_TEXT[op]

            def ratio_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                an: int
                ad: int
                an, ad = vals[a]  # type: ignore[misc]
                bn: int
                bd: int
                bn, bd = vals[b]  # type: ignore[misc]
                if bn == 0:
                    raise FactError("must be greater than zero (it is a denominator)", field=b)
                ok = cmp(an * bd * rd, rn * ad * bn)
                shown = f"{a}/{b} = {an * bd}/{ad * bn} = {rate_text(an * bd, ad * bn)}"
                return ok, f"{shown} {sym if ok else neg} {rate_text(rn, rd)}"

            return ratio_fn
        fact = c.fact
        assert fact is not None
        ftype = self.types[fact]
        if op == "is_true" or op == "is_false":
            want = op == "is_true"

            def truth_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                v = vals.get(fact, _MISSING)
                if v is _MISSING:
                    return None, f"{fact} not given"
                return v is want, f"{fact} = {'true' if v else 'false'}"

            return truth_fn
        if op == "in_effect_period":
            lo = self.v.effective_from
            hi = self.v.effective_to

            def period_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                v = vals.get(fact, _MISSING)
                if v is _MISSING:
                    return None, f"{fact} not given"
                assert isinstance(v, dt.date)
                ok = lo <= v and (hi is None or v <= hi)
                return ok, f"{fact} = {v.isoformat()} {'within' if ok else 'outside'} {self.v.period_text()}"

            return period_fn
        if op == "in" or op == "not_in":
            members = self.params[c.parameter] if c.parameter else c.value
            assert isinstance(members, tuple)
            mset = frozenset(str(m) for m in members)
            inside = op == "in"

            def set_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                v = vals.get(fact, _MISSING)
                if v is _MISSING:
                    return None, f"{fact} not given"
                ok = (v in mset) is inside
                return ok, f"{fact} = {v} {'∈' if (v in mset) else '∉'} {{{', '.join(members)}}}"

            return set_fn
        # comparisons
        right = self._param_pair(c.parameter, ftype) if c.parameter else c.value
        if c.parameter is None and isinstance(right, Fraction):
            scale = 100 if ftype == "money" else 1
            right = (right.numerator * scale, right.denominator)
        cmp = _cmp(op)
        sym, neg = _OP_TEXT[op], _NEG_TEXT[op]
        if right is None:  # a null threshold: nothing to check

            def none_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                return True, "no limit set"

            return none_fn
        if isinstance(right, tuple) and ftype in ("money", "number", "count", "rate"):
            rn, rd = right
            rtext = pair_yuan_text(rn, rd) if ftype == "money" else _num_text(rn, rd)
            is_money = ftype == "money"

            def num_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
                v = vals.get(fact, _MISSING)
                if v is _MISSING:
                    return None, f"{fact} not given"
                n: int
                d: int
                n, d = v  # type: ignore[misc]
                ok = cmp(n * rd, rn * d)
                ltext = pair_yuan_text(n, d) if is_money else _num_text(n, d)
                return ok, f"{fact} = {ltext} {sym if ok else neg} {rtext}"

            return num_fn
        rtext = dump_value(right)

        def plain_fn(vals: dict[str, object]) -> tuple[bool | None, str]:
            v = vals.get(fact, _MISSING)
            if v is _MISSING:
                return None, f"{fact} not given"
            ok = cmp(v, right)
            ltext = v.isoformat() if isinstance(v, dt.date) else str(v)
            return ok, f"{fact} = {ltext} {sym if ok else neg} {rtext}"

        return plain_fn

    def _eligible_reason(self) -> Reason:
        v = self.v
        units = "、".join((v.lead_unit, *v.cooperating_units))
        if v.grants == "priority":
            return Reason(
                f"符合{v.name_zh}的优先条件（优先，不是当然授予）；受理单位：{v.lead_unit}",
                f"meets the priority condition of {v.article} ({v.name_en}): a priority, not an "
                f"entitlement; handled by {v.lead_unit}",
            )
        ev_zh = "；".join(e.split(" / ")[0] for e in v.evidence) or "—"
        ev_en = "; ".join(e.split(" / ")[-1] for e in v.evidence) or "—"
        return Reason(
            f"可申请{v.name_zh}；牵头单位：{units}；所需材料：{ev_zh}",
            f"may apply under {v.article} ({v.name_en}); handled by {v.lead_unit}; evidence: {ev_en}",
        )

    # -- running ---------------------------------------------------------------------------------
    def parse(self, facts: Mapping[str, object]) -> dict[str, object]:
        if not isinstance(facts, Mapping):
            raise FactError("facts must be a JSON object", field="facts")
        if not self.allowed.issuperset(facts):
            unknown = sorted(k for k in facts if k not in self.allowed)
            raise FactError(
                f"unknown fact for {self.art}; it takes: {', '.join(sorted(self.allowed))}",
                field=str(unknown[0]),
            )
        vals: dict[str, object] = {}
        for name, parse, required in self.specs:
            raw = facts.get(name, _MISSING)
            if raw is _MISSING or raw is None:
                if required:
                    raise FactError(f"missing fact (required by {self.art})", field=name)
                continue
            vals[name] = parse(raw, name)
        return vals

    def _rule_runner(self, rule: Rule) -> RuleRunner:
        """A closure that applies one eligibility rule and returns (passed?, its step)."""
        art, rid, c = self.art, rule.id, rule.check
        param, value = self._check_param(c), self._check_value(c)
        if c.op in ("is_true", "is_false") and c.fact is not None:
            fact, want = c.fact, c.op == "is_true"
            passed = _new_step((art, rid, param, value, f"pass: {fact} = {'true' if want else 'false'}"))
            failed = _new_step((art, rid, param, value, f"fail: {fact} = {'false' if want else 'true'}"))
            skipped = _new_step((art, rid, param, value, f"skipped: {fact} not given"))

            def truth(vals: dict[str, object]) -> tuple[bool | None, Step]:
                v = vals.get(fact, _MISSING)
                if v is _MISSING:
                    return None, skipped
                return (True, passed) if v is want else (False, failed)

            return truth
        fn = self._check(c)

        def general(vals: dict[str, object]) -> tuple[bool | None, Step]:
            ok, shown = fn(vals)
            if ok is None:
                return None, _new_step((art, rid, param, value, "skipped: " + shown))
            return ok, _new_step((art, rid, param, value, ("pass: " if ok else "fail: ") + shown))

        return general

    def run(self, facts: Mapping[str, object], on: dt.date) -> Decision:
        vals = self.parse(facts)
        art = self.art
        steps: list[Step] = [self.in_force_step]
        failed: list[Reason] = []
        for runner, reason in self.rule_runners:
            ok, step = runner(vals)
            steps.append(step)
            if ok is False:
                failed.append(reason)
        claimed = vals.get(CLAIMED_ON)
        if claimed is not None:
            self._claim_window(claimed, on, steps, failed)  # type: ignore[arg-type]
        cbc_raw = vals.get("case_by_case_amount") if self.cbc else None
        if failed:
            return _new_decision(
                (
                    art,
                    self.pack,
                    on,
                    True,
                    False,
                    0,
                    self.payee,
                    cbc_raw is not None,
                    tuple(steps),
                    tuple(failed),
                    self.v,
                )
            )
        if not self.plans:
            return _new_decision(
                (
                    art,
                    self.pack,
                    on,
                    True,
                    True,
                    0,
                    self.payee,
                    False,
                    tuple(steps),
                    (self.eligible_reason,),
                    self.v,
                )
            )
        reasons: list[Reason] = []
        if cbc_raw is not None:
            n: int
            d: int
            n, d = cbc_raw  # type: ignore[misc]
            text = pair_yuan_text(n, d)
            steps.append(
                _new_step(
                    (
                        art,
                        "case_by_case",
                        "case_by_case_amount",
                        text,
                        "replaces the formula: no cap, no uplift",
                    )
                )
            )
            reasons.append(self.cbc_reason)
        else:
            n, d, text = self._award(vals, steps, reasons)
        if d == 1:
            fen = n
        else:
            fen = round_pair(n, d, self.mode)
            if n % d:
                text = fen_text(fen)
        steps.append(_new_step((art, "round", "rounding", self.round_step_value, text)))
        reasons.insert(0, Reason(f"符合条件，最高可获 {text} 元", f"eligible: at most {text} yuan"))
        return _new_decision(
            (
                art,
                self.pack,
                on,
                True,
                True,
                fen,
                self.payee,
                cbc_raw is not None,
                tuple(steps),
                tuple(reasons),
                self.v,
            )
        )

    def _claim_window(self, claimed: dt.date, on: dt.date, steps: list[Step], failed: list[Reason]) -> None:
        """A claim made later than the event is still judged by the event's date, within the claim window."""
        if self.claim_window is None:
            steps.append(
                Step(
                    self.art,
                    "claim_window",
                    "claim_window_days",
                    "none",
                    f"pass: claimed_on = {claimed.isoformat()}, no claim window set",
                )
            )
            return
        deadline = on + dt.timedelta(days=self.claim_window)
        ok = claimed <= deadline
        steps.append(
            Step(
                self.art,
                "claim_window",
                "claim_window_days",
                str(self.claim_window),
                f"{'pass' if ok else 'fail'}: claimed_on = {claimed.isoformat()} "
                f"{'≤' if ok else '>'} {deadline.isoformat()}",
            )
        )
        if not ok:
            failed.append(
                Reason(
                    f"申请已超过申报期限（事项发生后 {self.claim_window} 天内）",
                    f"the claim window ({self.claim_window} days after the event) has passed",
                )
            )

    def _pick(self, vals: dict[str, object]) -> AwardRule:
        matching: list[AwardRule] = []
        for rule, checks in self.award:
            if all(fn(vals)[0] for fn in checks):
                matching.append(rule)
        if not matching:
            raise PolicyError(
                f"no award rule of {self.art} applies to this case; the pack must cover it", article=self.art
            )
        if len(matching) == 1:
            return matching[0]
        best = max(matching, key=lambda r: r.priority if r.priority is not None else -(10**9))
        rivals = [
            r
            for r in matching
            if r is not best and (r.priority == best.priority or best.priority is None or r.priority is None)
        ]
        if rivals:
            raise RuleConflictError(
                f"award rules {best.id!r} and {rivals[0].id!r} both claim this case and neither has priority",
                article=self.art,
            )
        return best

    def _plan(self, rule: AwardRule) -> _AwardPlan:
        """Everything about an award rule that does not depend on the case, worked out once."""
        plan = _AwardPlan()
        plan.rule_id = rule.id
        if rule.base.fact is not None:
            plan.base_fact, plan.base_name = rule.base.fact, rule.base.fact
        else:
            value = self.params[rule.base.parameter or ""]
            assert isinstance(value, Fraction)
            plan.base_const = (value.numerator * 100, value.denominator)
            plan.base_name = rule.base.parameter or ""
            plan.base_text = pair_yuan_text(*plan.base_const)
        if rule.rate is not None:
            plan.has_rate = True
            if rule.rate.fact is not None:
                plan.rate_fact, plan.rate_name = rule.rate.fact, rule.rate.fact
            else:
                rate = self.params[rule.rate.parameter or ""]
                assert isinstance(rate, Fraction)
                plan.rate_const = (rate.numerator, rate.denominator)
                plan.rate_name = rule.rate.parameter or ""
                plan.rate_text = rate_text(rate.numerator, rate.denominator)
        plan.cap_suffix = "; cap × " + self.uplift_text if rule.cap else ""
        if rule.cap is not None:
            plan.cap_name = rule.cap
            cap = self.params[rule.cap]
            if cap is None:
                plan.cap_kind = 1
                plan.cap_null_step = _new_step((self.art, "cap", rule.cap, "none", "no cap set"))
            else:
                assert isinstance(cap, Fraction)
                plan.cap_kind = 2
                cn, cd = cap.numerator * 100, cap.denominator
                un, ud = self.uplift
                plan.cap_plain = (cn, cd, pair_yuan_text(cn, cd))
                plan.cap_up = (cn * un, cd * ud, pair_yuan_text(cn * un, cd * ud))
                plan.cumulative = rule.cumulative
        return plan

    def _award(
        self, vals: dict[str, object], steps: list[Step], reasons: list[Reason]
    ) -> tuple[int, int, str]:
        """The formula, the 皖北 uplift and the cap: exact (n/d fen) and the amount's text."""
        art = self.art
        plan = self.single_plan if self.single_plan is not None else self.plans[self._pick(vals).id]
        if plan.base_fact is not None:
            got = vals.get(plan.base_fact)
            if got is None:
                raise FactError(f"missing fact (the award formula of {art} uses it)", field=plan.base_fact)
            bn: int
            bd: int
            bn, bd = got  # type: ignore[misc]
            btext = pair_yuan_text(bn, bd)
        else:
            bn, bd = plan.base_const
            btext = plan.base_text
        if plan.has_rate:
            if plan.rate_fact is not None:
                rn: int
                rd: int
                rn, rd = vals[plan.rate_fact]  # type: ignore[misc]
                rtext = rate_text(rn, rd)
            else:
                rn, rd = plan.rate_const
                rtext = plan.rate_text
            n, d = bn * rn, bd * rd
            text = pair_yuan_text(n, d)
            steps.append(
                _new_step(
                    (art, plan.rule_id, plan.rate_name, rtext, f"{plan.base_name} {btext} × {rtext} = {text}")
                )
            )
        else:
            n, d, text = bn, bd, btext
            steps.append(_new_step((art, plan.rule_id, plan.base_name, btext, btext)))
        uplifted = False
        if self.uplift_on:
            city = vals.get(self.loc) if self.loc else None
            if city is not None and city in self.uplift_cities:
                uplifted = True
                un, ud = self.uplift
                n, d = n * un, d * ud
                text = pair_yuan_text(n, d)
                steps.append(
                    _new_step(
                        (
                            art,
                            "northern_anhui_uplift",
                            "uplift_factor",
                            self.uplift_text,
                            f"applied: {self.loc} {city} is in 皖北; amount × {self.uplift_text} = "
                            f"{text}{plan.cap_suffix}",
                        )
                    )
                )
                reasons.append(self.uplift_reason)
            else:
                steps.append(
                    _new_step(
                        (
                            art,
                            "northern_anhui_uplift",
                            "uplift_factor",
                            self.uplift_text,
                            f"not applied: {self.loc} {city} is not in 皖北",
                        )
                    )
                )
        else:
            steps.append(self.uplift_off_step)
        if plan.cap_kind == 1:
            steps.append(plan.cap_null_step)  # type: ignore[arg-type]
        elif plan.cap_kind == 2:
            cn, cd, ctext = plan.cap_up if uplifted else plan.cap_plain
            got = vals.get(plan.cumulative) if plan.cumulative is not None else None
            if got is None:
                mn, md, already = cn, cd, ""
            else:
                an: int
                ad: int
                an, ad = got  # type: ignore[misc]
                # remaining = cap − already, never below zero
                mn, md = cn * ad - an * cd, cd * ad
                if mn < 0:
                    mn, md = 0, 1
                already = f"; already {pair_yuan_text(an, ad)}, remaining {pair_yuan_text(mn, md)}"
            if n * md > mn * d:
                n, d = mn, md
                text = pair_yuan_text(n, d)
                steps.append(_new_step((art, "cap", plan.cap_name, ctext, f"capped{already}: min = {text}")))
                reasons.append(
                    self.used_up_reason
                    if mn == 0
                    else Reason(f"受上限限制：最高 {text} 元", f"capped: at most {text} yuan")
                )
            else:
                steps.append(_new_step((art, "cap", plan.cap_name, ctext, f"within cap{already}: {text}")))
        return n, d, text


class _AwardPlan:
    """The case-independent parts of one award rule (see :meth:`_Compiled._plan`)."""

    __slots__ = (
        "base_const",
        "base_fact",
        "base_name",
        "base_text",
        "cap_kind",
        "cap_name",
        "cap_null_step",
        "cap_plain",
        "cap_suffix",
        "cap_up",
        "cumulative",
        "has_rate",
        "rate_const",
        "rate_fact",
        "rate_name",
        "rate_text",
        "rule_id",
    )

    def __init__(self) -> None:
        self.rule_id = ""
        self.base_fact: str | None = None
        self.base_const: Pair = (0, 1)
        self.base_name = ""
        self.base_text = ""
        self.has_rate = False
        self.rate_fact: str | None = None
        self.rate_const: Pair = (1, 1)
        self.rate_name = ""
        self.rate_text = ""
        self.cap_kind = 0  # 0: no cap rule, 1: cap parameter set to none, 2: a cap
        self.cap_name = ""
        self.cap_null_step: Step | None = None
        self.cap_plain: tuple[int, int, str] = (0, 1, "")
        self.cap_up: tuple[int, int, str] = (0, 1, "")
        self.cap_suffix = ""
        self.cumulative: str | None = None


RuleRunner = Callable[[dict[str, object]], "tuple[bool | None, Step]"]
# tuple.__new__ builds the named tuples without a Python-level __new__ frame (the hot path's biggest cost)
_new_step: Callable[[tuple[str, str, str, str, str]], Step] = functools.partial(tuple.__new__, Step)
_new_decision: Callable[[tuple[object, ...]], Decision] = functools.partial(tuple.__new__, Decision)


def packs_period(packs: PackSet, version: ArticleVersion) -> str:
    """'2023-11-08..2025-12-31' as the set applies it (a successor may end a version early)."""
    end = packs.in_force_until(version)
    return f"{version.effective_from.isoformat()}..{end.isoformat() if end else '…'}"


def _compiled(packs: PackSet, version: ArticleVersion, on: dt.date) -> _Compiled:
    """The version compiled for the parameter epoch containing ``on``; cached on the pack set.

    The cache lives on the :class:`PackSet` (which keeps its versions alive), because the compiled form
    depends on the set too: a successor pack can end a version early.
    """
    cache = packs.engine_cache
    key = ("compiled", id(version), on)
    found = cache.get(key)
    if found is not None:
        return found  # type: ignore[return-value]
    changes = sorted({d for p in version.parameters.values() for d in p.change_dates()})
    epoch_key = ("epoch", id(version), bisect_right(changes, on))
    compiled = cache.get(epoch_key)
    if compiled is None:
        compiled = _Compiled(packs, version, on, packs.pack(version.pack_id).region)
        cache[epoch_key] = compiled
    cache[key] = compiled
    return compiled  # type: ignore[return-value]


def _as_day(on: dt.date | str, field: str = "on") -> dt.date:
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


def not_in_force(program: str, on: dt.date, packs: PackSet, pack: str | None) -> Decision:
    """The answer for an event that no article version covers: never a silent zero."""
    key = ("not_in_force", program)
    cached = packs.engine_cache.get(key)
    if cached is None:
        versions = packs.versions(program)
        spans = "; ".join(f"{v.pack_id} {packs_period(packs, v)}" for v in versions) or "none"
        cached = (
            versions[-1].payee if versions else "applicant",
            Step(program, "in_force", "effective", spans, "false"),
        )
        packs.engine_cache[key] = cached
    payee: str
    step: Step
    payee, step = cached  # type: ignore[misc]
    day = on.isoformat()
    reason = Reason(
        f"{day} 无有效政策（{program} 在该日期不在任何政策包的有效期内）",
        f"no policy in force: no pack puts {program} in force on {day}",
    )
    return Decision(program, pack, on, False, False, 0, payee, False, (step,), (reason,), None)


def _lookup(
    program: object, on: object, packs: PackSet, pack: str | None
) -> tuple[_Compiled | None, dt.date]:
    day = _as_day(on)  # type: ignore[arg-type]
    if not isinstance(program, str) or not packs.knows(program):
        raise PolicyError(
            f"unknown program {program!r}; known: {', '.join(packs.programs())}", field="program"
        )
    if pack is not None:
        packs.pack(pack)
    version = packs.resolve(program, day, pack)
    return (None if version is None else _compiled(packs, version, day)), day


def evaluate(
    program: str, facts: Mapping[str, object], on: dt.date | str, packs: PackSet, pack: str | None = None
) -> Decision:
    """Evaluate one case: the article version in force on ``on`` (or that of ``pack``) judges ``facts``.

    Raises :class:`PolicyError` for an unknown program or pack, :class:`FactError` (naming the field)
    for missing, unknown or ill-typed facts, :class:`RuleConflictError` when two award rules claim the
    case without priority.
    """
    cache = packs.engine_cache
    key = (program, on, pack) if type(program) is str and type(on) in (str, dt.date) else None
    hit = cache.get(key) if key is not None else None
    if hit is None:
        hit = _lookup(program, on, packs, pack)
        if key is not None:
            if len(cache) > 50_000:
                cache.clear()
            cache[key] = hit
    compiled: _Compiled | None
    day: dt.date
    compiled, day = hit  # type: ignore[misc]
    if compiled is None:
        return not_in_force(program, day, packs, pack)
    return compiled.run(facts, day)


def error_object(exc: ZhisuanError) -> dict[str, object]:
    """The ``error`` object of a batch answer."""
    body: dict[str, object] = {"code": exc.code, "message": exc.message, "field": exc.field}
    if exc.article is not None:
        body["article"] = exc.article
    file = getattr(exc, "file", None)
    if file:
        body["file"] = file
        body["line"] = exc.row
    return body


def answer(
    case: object, packs: PackSet, pack: str | None = None, line: int | None = None, lang: str = "both"
) -> dict[str, object]:
    """One batch line ``{"id", "program", "on", "facts"}`` → its JSON answer, or an ``error`` object."""
    case_id: object = None
    program: object = None
    on_text: object = None
    try:
        if not isinstance(case, Mapping):
            raise PolicyError("a batch line is a JSON object {id, program, on, facts}", field="line")
        case_id = case.get("id")
        program = case.get("program")
        on_text = case.get("on")
        if program is None:
            raise PolicyError("missing 'program'", field="program")
        if on_text is None:
            raise PolicyError("missing 'on' (the event date, YYYY-MM-DD)", field="on")
        facts = case.get("facts", {})
        if not isinstance(facts, Mapping):
            raise FactError("facts must be a JSON object", field="facts")
        use_pack = case.get("pack", pack)
        if use_pack is not None and not isinstance(use_pack, str):
            raise PolicyError("pack is a pack id", field="pack")
        if not isinstance(program, str):
            raise PolicyError(f"program is text such as 'art5', got {program!r}", field="program")
        if not isinstance(on_text, str | dt.date):
            raise PolicyError(f"an ISO date YYYY-MM-DD expected, got {on_text!r}", field="on")
        decision = evaluate(program, facts, on_text, packs, use_pack)
        return decision.to_dict(case_id, lang)
    except ZhisuanError as exc:
        out: dict[str, object] = {"id": case_id, "program": program, "on": on_text}
        if line is not None:
            out["line"] = line
        out["error"] = error_object(exc)
        return out


def answer_json(
    case: object, packs: PackSet, pack: str | None = None, line: int | None = None, lang: str = "both"
) -> str:
    """:func:`answer` as one JSON line (the batch output), without building the intermediate dicts."""
    if isinstance(case, Mapping):
        program, on, facts = case.get("program"), case.get("on"), case.get("facts", {})
        use_pack = case.get("pack", pack)
        if (
            isinstance(program, str)
            and isinstance(on, str)
            and isinstance(facts, Mapping)
            and (use_pack is None or isinstance(use_pack, str))
        ):
            try:
                return evaluate(program, facts, on, packs, use_pack).to_json(case.get("id"), lang)
            except ZhisuanError:
                pass  # answer() below builds the error object with the same message
    return json.dumps(answer(case, packs, pack, line, lang), ensure_ascii=False, default=str)


def evaluate_many(
    cases: Iterable[tuple[str, Mapping[str, object], dt.date | str]], packs: PackSet, pack: str | None = None
) -> Iterator[Decision]:
    """Evaluate many (program, facts, on) cases with full explanations; errors propagate."""
    for program, facts, on in cases:
        yield evaluate(program, facts, on, packs, pack)
