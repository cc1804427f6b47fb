"""Checks compiled into closures: each returns (passed?, what it saw in English, in Chinese); None when an
optional fact is absent.

An eligibility rule becomes a :data:`RuleRunner` that returns its explained :class:`Step`; award rules'
``when`` conditions use the bare checks. What a check saw reads the same in both languages where it is
only names, numbers and symbols (``rd_cost = 1000.00 ≥ 400``); the Chinese text is '' then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Final

from zhisuan.policy.decision import Step, new_step, num_text, pair_yuan_text, rate_text
from zhisuan.policy.errors import FactError
from zhisuan.policy.schema import ArticleVersion, Check, Rule, dump_value

MISSING: Final = object()
CheckFn = Callable[[dict[str, object]], "tuple[bool | None, str, str]"]

_OP_TEXT: Final = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=", "!=": "≠"}
_NEG_TEXT: Final = {">=": "<", ">": "≤", "<=": ">", "<": "≥", "==": "≠", "!=": "="}
#: a step's verdict in English and Chinese
PASS: Final = ("pass: ", "通过：")
FAIL: Final = ("fail: ", "不通过：")
SKIP: Final = ("skipped: ", "跳过：")


def _truth(value: bool) -> tuple[str, str]:
    return ("true", "是") if value else ("false", "否")


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


RuleRunner = Callable[[dict[str, object]], "tuple[bool | None, Step]"]


class CheckCompiler:
    """Compiles the checks of one article version with the parameters of one epoch bound."""

    def __init__(self, version: ArticleVersion, params: Mapping[str, object]) -> None:
        self.v = version
        self.art = version.article
        self.params = params
        self.types = {s.name: s.type for s in version.facts}

    def _param_pair(self, name: str, left_type: str) -> object:
        """A parameter in the unit of the fact it is compared with (money facts count fen)."""
        value = self.params[name]
        if isinstance(value, Fraction):
            scale = 100 if left_type == "money" else 1
            return (value.numerator * scale, value.denominator)
        if isinstance(value, int) and not isinstance(value, bool):
            return (value * (100 if left_type == "money" else 1), 1)
        return value

    def value_text(self, c: Check) -> str:
        """The value a check compares with, as shown in a step."""
        if c.any_of:
            return " | ".join(self.value_text(x) for x in c.any_of)
        if c.op in ("is_true", "is_false"):
            return "true" if c.op == "is_true" else "false"
        if c.op == "in_effect_period":
            return self.v.period_text()
        value = self.params[c.parameter] if c.parameter is not None else c.value
        if isinstance(value, Fraction) and (c.ratio is not None or self.types.get(c.fact or "") == "rate"):
            return rate_text(value.numerator, value.denominator)
        return dump_value(value)

    def param_text(self, c: Check) -> str:
        """The parameter a check uses, as shown in a step ('—' for none)."""
        if c.any_of:
            names = [self.param_text(x) for x in c.any_of]
            return "—" if all(n == "—" for n in names) else " | ".join(names)
        if c.parameter is not None:
            return c.parameter
        if c.op == "in_effect_period":
            return "effective"
        return "—"

    def check(self, c: Check) -> CheckFn:
        """The check as a closure over parsed facts: (passed? or None when skipped, what it saw)."""
        if c.any_of:
            parts = tuple(self.check(x) for x in c.any_of)

            def any_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
                shown: list[str] = []
                shown_zh: list[str] = []
                seen_any = False
                for fn in parts:
                    ok, text, text_zh = fn(vals)
                    shown.append(text)
                    shown_zh.append(text_zh or text)
                    if ok:
                        return True, text, text_zh
                    if ok is not None:
                        seen_any = True
                return (False if seen_any else None), "; ".join(shown), "；".join(shown_zh)

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

            def ratio_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
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
                return ok, f"{shown} {sym if ok else neg} {rate_text(rn, rd)}", ""

            return ratio_fn
        fact = c.fact
        assert fact is not None
        ftype = self.types[fact]
        if op == "is_true" or op == "is_false":
            want = op == "is_true"

            not_given = (f"{fact} not given", f"未提供 {fact}")
            seen = {True: (f"{fact} = true", f"{fact} = 是"), False: (f"{fact} = false", f"{fact} = 否")}

            def truth_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
                v = vals.get(fact, MISSING)
                if v is MISSING:
                    return None, *not_given
                return v is want, *seen[bool(v)]

            return truth_fn
        if op == "in_effect_period":
            lo = self.v.effective_from
            hi = self.v.effective_to

            period = self.v.period_text()

            def period_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
                v = vals.get(fact, MISSING)
                if v is MISSING:
                    return None, f"{fact} not given", f"未提供 {fact}"
                assert isinstance(v, dt.date)
                ok = lo <= v and (hi is None or v <= hi)
                day = v.isoformat()
                return (
                    ok,
                    f"{fact} = {day} {'within' if ok else 'outside'} {period}",
                    f"{fact} = {day} {'在' if ok else '不在'}有效期 {period} 内",
                )

            return period_fn
        if op == "in" or op == "not_in":
            members = self.params[c.parameter] if c.parameter else c.value
            assert isinstance(members, tuple)
            mset = frozenset(str(m) for m in members)
            inside = op == "in"

            def set_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
                v = vals.get(fact, MISSING)
                if v is MISSING:
                    return None, f"{fact} not given", f"未提供 {fact}"
                ok = (v in mset) is inside
                return ok, f"{fact} = {v} {'∈' if (v in mset) else '∉'} {{{', '.join(members)}}}", ""

            return set_fn
        # comparisons
        right = self._param_pair(c.parameter, ftype) if c.parameter else c.value
        if c.parameter is None and isinstance(right, Fraction):
            scale = 100 if ftype == "money" else 1
            right = (right.numerator * scale, right.denominator)
        cmp = _cmp(op)
        sym, neg = _OP_TEXT[op], _NEG_TEXT[op]
        if right is None:  # a null threshold: nothing to check

            def none_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
                return True, "no limit set", "未设限"

            return none_fn
        if isinstance(right, tuple) and ftype in ("money", "number", "count", "rate"):
            rn, rd = right
            rtext = pair_yuan_text(rn, rd) if ftype == "money" else num_text(rn, rd)
            is_money = ftype == "money"

            def num_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
                v = vals.get(fact, MISSING)
                if v is MISSING:
                    return None, f"{fact} not given", f"未提供 {fact}"
                n: int
                d: int
                n, d = v  # type: ignore[misc]
                ok = cmp(n * rd, rn * d)
                ltext = pair_yuan_text(n, d) if is_money else num_text(n, d)
                return ok, f"{fact} = {ltext} {sym if ok else neg} {rtext}", ""

            return num_fn
        rtext = dump_value(right)

        def plain_fn(vals: dict[str, object]) -> tuple[bool | None, str, str]:
            v = vals.get(fact, MISSING)
            if v is MISSING:
                return None, f"{fact} not given", f"未提供 {fact}"
            ok = cmp(v, right)
            ltext = v.isoformat() if isinstance(v, dt.date) else str(v)
            return ok, f"{fact} = {ltext} {sym if ok else neg} {rtext}", ""

        return plain_fn

    def rule_runner(self, rule: Rule) -> RuleRunner:
        """A closure that applies one eligibility rule and returns (passed?, its step)."""
        art, rid, c = self.art, rule.id, rule.check
        param, value = self.param_text(c), self.value_text(c)
        if c.op in ("is_true", "is_false") and c.fact is not None:
            fact, want = c.fact, c.op == "is_true"
            (yes, yes_zh), (no, no_zh) = _truth(want), _truth(not want)
            passed = new_step((art, rid, param, value, f"pass: {fact} = {yes}", f"通过：{fact} = {yes_zh}"))
            failed = new_step((art, rid, param, value, f"fail: {fact} = {no}", f"不通过：{fact} = {no_zh}"))
            skipped = new_step((art, rid, param, value, f"skipped: {fact} not given", f"跳过：未提供 {fact}"))

            def truth(vals: dict[str, object]) -> tuple[bool | None, Step]:
                v = vals.get(fact, MISSING)
                if v is MISSING:
                    return None, skipped
                return (True, passed) if v is want else (False, failed)

            return truth
        fn = self.check(c)

        def general(vals: dict[str, object]) -> tuple[bool | None, Step]:
            ok, shown, shown_zh = fn(vals)
            en, zh = SKIP if ok is None else PASS if ok else FAIL
            return ok, new_step((art, rid, param, value, en + shown, zh + (shown_zh or shown)))

        return general
