"""Amounts-only vectorised evaluation: integer fen in numpy arrays, the same rules, exact to the fen.

No floats anywhere: an amount is ``round(base_fen × rate_num × uplift_num / (rate_den × uplift_den))``
computed with integer arrays, the cap as ``round(cap_fen × uplift − already_fen)`` and the answer is the
smaller of the two. Every rounding mode is monotone, so rounding each side and taking the minimum gives
exactly the explained mode's "minimum, then round once". When a product could overflow int64 the
computation switches to Python integers (object arrays): slower, still exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from fractions import Fraction
from typing import Final

import numpy as np
import numpy.typing as npt

from zhisuan.core.clock import Month
from zhisuan.core.errors import PolicyError
from zhisuan.core.money import Rounding
from zhisuan.policy.compile import Compiled, compiled
from zhisuan.policy.errors import FactError, RuleConflictError
from zhisuan.policy.facts import as_day
from zhisuan.policy.packset import PackSet
from zhisuan.policy.schema import COMPUTE_VOUCHER, ArticleVersion, AwardRule, Check

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_LIMIT: Final = 2**62
#: default scale of rate facts in vectorised mode: parts per million (``city_ratio`` 50_000 = 5%)
RATE_SCALE: Final = 1_000_000


def round_div(num: npt.NDArray[np.int64] | npt.NDArray[np.object_], den: int, mode: Rounding) -> IntArray:
    """Round the non-negative exact values ``num / den`` to whole fen, element-wise."""
    if den == 1:
        return num.astype(np.int64)
    q = num // den
    if mode is Rounding.DOWN or mode is Rounding.FLOOR:  # non-negative values: both are the floor
        return q.astype(np.int64, copy=False)
    r = num - q * den
    if mode is Rounding.UP or mode is Rounding.CEILING:
        out = q + (r > 0)
    else:
        twice = 2 * r
        up = twice > den
        tie = twice == den
        out = q + (up | (tie & (True if mode is Rounding.HALF_UP else (q % 2 == 1))))
    return np.asarray(out).astype(np.int64, copy=False)


def _int(col: npt.ArrayLike, name: str) -> IntArray:
    arr = np.asarray(col)
    if arr.dtype.kind not in "iu":
        raise FactError(f"an integer array is expected in vectorised mode, got dtype {arr.dtype}", field=name)
    if arr.size and int(arr.min()) < 0:
        raise FactError("must not be negative", field=name)
    return arr.astype(np.int64, copy=False)


def _bool(col: npt.ArrayLike, name: str) -> BoolArray:
    arr = np.asarray(col)
    if arr.dtype != np.bool_:
        raise FactError(f"a boolean array is expected, got dtype {arr.dtype}", field=name)
    return arr


def _mul(a: IntArray | npt.NDArray[np.object_], k: int) -> IntArray | npt.NDArray[np.object_]:
    """a × k without overflow: int64 when safe, Python integers otherwise."""
    if k == 1:
        return a
    if a.dtype == np.int64 and (a.size == 0 or int(np.abs(a).max()) < _LIMIT // max(abs(k), 1)):
        return a * k
    return a.astype(object) * k


class _Columns:
    """Typed access to the fact columns of one vectorised evaluation."""

    def __init__(
        self, version: ArticleVersion, columns: Mapping[str, npt.ArrayLike], n: int, scales: Mapping[str, int]
    ) -> None:
        self.v = version
        self.cols = columns
        self.n = n
        self.scales = scales
        self.types = {f.name: f.type for f in version.facts}
        unknown = [k for k in columns if k not in self.types]
        if unknown:
            raise FactError(f"unknown fact for {version.article}", field=unknown[0])
        for spec in version.facts:
            if spec.required and spec.name not in columns:
                raise FactError(f"missing fact column (required by {version.article})", field=spec.name)
            if spec.name in columns and np.shape(columns[spec.name]) != (n,):
                raise FactError(
                    f"column has shape {np.shape(columns[spec.name])}, expected ({n},)", field=spec.name
                )

    def has(self, name: str) -> bool:
        return name in self.cols

    def scale(self, name: str) -> int:
        default = RATE_SCALE if self.types[name] == "rate" else 1
        return int(self.scales.get(name, default))

    def number(self, name: str) -> tuple[IntArray, int]:
        """A numeric fact as (integer array, denominator); money counts fen."""
        return _int(self.cols[name], name), (
            1 if self.types[name] in ("money", "count") else self.scale(name)
        )


def _mask(c: Check, cols: _Columns, comp: Compiled) -> BoolArray | None:
    """The rows that pass a check; None when an optional fact is absent (the check is skipped)."""
    if c.any_of:
        parts = [m for m in (_mask(x, cols, comp) for x in c.any_of) if m is not None]
        if not parts:
            return None
        out = parts[0].copy()
        for m in parts[1:]:
            out |= m
        return out
    if c.ratio is not None:
        a, b = c.ratio
        an, ad = cols.number(a)
        bn, bd = cols.number(b)
        if bn.size and int(bn.min()) == 0:
            raise FactError("must be greater than zero (it is a denominator)", field=b)
        right = comp.params[c.parameter] if c.parameter else c.value
        assert isinstance(right, Fraction)
        # an/ad OP (bn/bd) × r  ⇔  an × bd × r_den OP bn × ad × r_num   (all denominators > 0)
        return _compare_arrays(c.op, _mul(an, bd * right.denominator), _mul(bn, ad * right.numerator))
    fact = c.fact
    assert fact is not None
    if not cols.has(fact):
        return None
    ftype = cols.types[fact]
    raw = cols.cols[fact]
    if c.op in ("is_true", "is_false"):
        arr = _bool(raw, fact)
        return arr.copy() if c.op == "is_true" else ~arr
    if c.op == "in_effect_period":
        days = np.asarray(raw).astype("datetime64[D]")
        lo = np.datetime64(cols.v.effective_from, "D")
        ok = days >= lo
        if cols.v.effective_to is not None:
            ok &= days <= np.datetime64(cols.v.effective_to, "D")
        return np.asarray(ok)
    if c.op in ("in", "not_in"):
        members = comp.params[c.parameter] if c.parameter else c.value
        assert isinstance(members, tuple)
        inside = np.isin(np.asarray(raw).astype(str), np.array([str(m) for m in members]))
        return np.asarray(inside if c.op == "in" else ~inside)
    right = comp.params[c.parameter] if c.parameter else c.value
    if right is None:
        return np.ones(cols.n, dtype=bool)
    if ftype == "date":
        assert isinstance(right, dt.date)
        days = np.asarray(raw).astype("datetime64[D]")
        return np.asarray(_compare(c.op, days, np.datetime64(right, "D")))
    if ftype in ("money", "number", "count", "rate"):
        frac = right if isinstance(right, Fraction) else Fraction(int(right))  # type: ignore[call-overload]
        num, den = cols.number(fact)
        rn, rd = frac.numerator * (100 if ftype == "money" else 1), frac.denominator
        # num/den OP rn/rd  ⇔  num × rd OP rn × den
        return _compare_scalar(c.op, _mul(num, rd), rn * den)
    arr = np.asarray(raw).astype(str)
    return np.asarray(_compare(c.op, arr, np.str_(str(right))))


def _compare_scalar(op: str, arr: IntArray | npt.NDArray[np.object_], k: int) -> BoolArray:
    if arr.dtype != np.int64 or abs(k) >= 2**63:
        arr = arr.astype(object)
    return np.asarray(_compare(op, arr, k), dtype=bool)


def _compare_arrays(
    op: str, a: IntArray | npt.NDArray[np.object_], b: IntArray | npt.NDArray[np.object_]
) -> BoolArray:
    if a.dtype != b.dtype:
        a, b = a.astype(object), b.astype(object)
    return np.asarray(_compare(op, a, b), dtype=bool)


def _compare(op: str, a: object, b: object) -> object:
    if op == ">=":
        return a >= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "==":
        return a == b
    return a != b


def amounts(
    packs: PackSet,
    program: str,
    on: dt.date | str,
    columns: Mapping[str, npt.ArrayLike],
    *,
    pack: str | None = None,
    scales: Mapping[str, int] | None = None,
) -> IntArray:
    """Maximum amounts in fen for many cases of one program on one event date (0 where not eligible).

    ``columns`` maps each fact to an array of equal length: money as int64 **fen**, bools as bool,
    dates as ``datetime64[D]``, cities and enums as strings, numbers and rates as integers scaled by
    ``scales[name]`` (numbers default to 1, rates to :data:`RATE_SCALE`). An optional
    ``case_by_case_amount`` column uses −1 for "none". Gives the same fen as the explained mode.
    """
    day = as_day(on)
    if not packs.knows(program, pack):
        raise PolicyError(f"unknown program {program!r}", field="program")
    lengths = {int(np.shape(c)[0]) for c in columns.values()}
    if len(lengths) > 1:
        raise FactError("all fact columns must have the same length", field="columns")
    n = lengths.pop() if lengths else 0
    version = packs.resolve(program, day, pack)
    if version is None:
        return np.zeros(n, dtype=np.int64)
    comp = compiled(packs, version, day)
    cols = _Columns(version, columns, n, scales or {})
    eligible = np.ones(n, dtype=bool)
    for rule in version.eligibility:
        m = _mask(rule.check, cols, comp)
        if m is not None:
            eligible &= m
    if not version.award:
        return np.zeros(n, dtype=np.int64)
    # choose the award rule per row; two claims without priority are an error, as in the explained mode
    chosen: list[tuple[BoolArray, IntArray]] = []
    claimed = np.zeros(n, dtype=np.int64)
    masks = []
    for award_rule in version.award:
        m = np.ones(n, dtype=bool)
        for c in award_rule.when:
            cm = _mask(c, cols, comp)
            if cm is not None:
                m &= cm
        masks.append((award_rule, m & eligible))
        claimed += m & eligible
    if len(version.award) > 1 and np.any(claimed > 1):
        for i, (ra, ma) in enumerate(masks):
            for rb, mb in masks[i + 1 :]:
                if (ra.priority is None or rb.priority is None or ra.priority == rb.priority) and np.any(
                    ma & mb
                ):
                    raise RuleConflictError(
                        f"award rules {ra.id!r} and {rb.id!r} both claim some cases and neither has priority",
                        article=program,
                    )
        masks.sort(key=lambda rm: -(rm[0].priority if rm[0].priority is not None else -(10**9)))
    if np.any(eligible & (claimed == 0)):
        raise PolicyError(f"no award rule of {program} applies to some eligible cases", article=program)
    taken = np.zeros(n, dtype=bool)
    for award_rule, m in masks:
        m = m & ~taken
        taken |= m
        chosen.append((m, _formula(award_rule, cols, comp)))
    out = np.zeros(n, dtype=np.int64)
    for m, fen in chosen:
        np.copyto(out, fen, where=m)
    if version.case_by_case and cols.has("case_by_case_amount"):
        cbc = np.asarray(cols.cols["case_by_case_amount"]).astype(np.int64)
        given = (cbc >= 0) & eligible
        np.copyto(out, cbc, where=given)
    return out


def _formula(rule: AwardRule, cols: _Columns, comp: Compiled) -> IntArray:
    n = cols.n
    base_den = 1
    if rule.base.fact is not None:
        base: IntArray | npt.NDArray[np.object_] = _int(cols.cols[rule.base.fact], rule.base.fact)
    else:
        value = comp.params[rule.base.parameter or ""]
        assert isinstance(value, Fraction)
        v = value * 100
        base = np.full(n, v.numerator, dtype=np.int64 if abs(v.numerator) < _LIMIT else object)
        base_den = v.denominator
    num = base
    den = base_den
    if rule.rate is not None:
        if rule.rate.fact is not None:
            rcol, rscale = cols.number(rule.rate.fact)
            if rcol.size and int(rcol.max()) > rscale:
                raise FactError("a rate is between 0 and 1", field=rule.rate.fact)
            top = int(rcol.max()) if rcol.size else 1
            if num.dtype == np.int64 and (n == 0 or int(num.max()) < _LIMIT // max(top, 1)):
                num = num * rcol
            else:
                num = num.astype(object) * rcol.astype(object)
            den *= rscale
        else:
            rate = comp.params[rule.rate.parameter or ""]
            assert isinstance(rate, Fraction)
            num = _mul(num, rate.numerator)
            den *= rate.denominator
    un, ud = 1, 1
    if (
        comp.awards.uplift_on
        and comp.version.uplift_location is not None
        and cols.has(comp.version.uplift_location)
    ):
        city = np.asarray(cols.cols[comp.version.uplift_location]).astype(str)
        up = np.isin(city, np.array(sorted(comp.awards.uplift_cities)))
        if np.any(up):
            un, ud = comp.awards.uplift
            lifted = _mul(num, un)
            plain = _mul(num, ud)
            # bring both to the common denominator den × ud
            num = np.where(up, lifted, plain)
            den *= ud
    else:
        up = np.zeros(n, dtype=bool)
    fen = round_div(num, den, comp.mode)
    if rule.cap is None or comp.params[rule.cap] is None:
        return fen
    cap = comp.params[rule.cap]
    assert isinstance(cap, Fraction)
    already = (
        _int(cols.cols[rule.cumulative], rule.cumulative)
        if rule.cumulative is not None and cols.has(rule.cumulative)
        else np.zeros(n, dtype=np.int64)
    )
    cn, cd = cap.numerator * 100, cap.denominator
    if un != 1 or ud != 1:
        # per row: cap × uplift only where the uplift applies
        cap_num_up, cap_den_up = cn * un, cd * ud
        rem_up = cap_num_up - _mul(already, cap_den_up)
        rem_plain = cn * ud - _mul(already, cap_den_up)
        rem = np.where(up, rem_up, rem_plain)
        rem_den = cap_den_up
    else:
        rem = cn - _mul(already, cd)
        rem_den = cd
    rem = np.maximum(rem, 0)
    return np.minimum(fen, round_div(rem, rem_den, comp.mode))


def art2_amounts(
    packs: PackSet,
    month_or_date: Month | dt.date | str,
    spend_fen: npt.ArrayLike,
    in_province: npt.ArrayLike,
    self_use: npt.ArrayLike,
    subsidy_this_year_fen: npt.ArrayLike | None = None,
    *,
    city: npt.ArrayLike | None = None,
    pack: str | None = None,
) -> IntArray:
    """Compute-voucher (art. 2) maxima in fen for one usage month, one row per organization and bill.

    The usage month decides the article version (a 2025 month settled in 2026 is still judged by the
    pack in force in that month); a :class:`Month` or ``"2025-06"`` means its first day. Each row earns
    ``rate × spend`` (default 20%) when ``in_province`` and not ``self_use``; with an annual cap per
    organization set in the pack, at most ``cap − subsidy_this_year`` (never below zero). ``city`` is
    needed only if a pack switches the 皖北 uplift on for art. 2. The budget per program year is not
    applied here: call :func:`apply_budget` on the result with the pack's ``budget_exhausted`` mode.
    Exact to the fen and equal to :func:`zhisuan.policy.evaluate` case by case; rows outside any pack
    in force get 0 (check :func:`art2_in_force` to tell "no policy" from "not eligible").

    >>> from zhisuan.policy import load_pack_set
    >>> import numpy as np
    >>> art2_amounts(load_pack_set(), "2025-06", np.array([100_000, 99], dtype=np.int64),
    ...              np.array([True, True]), np.array([False, False])).tolist()
    [20000, 19]
    """
    day = _month_day(month_or_date)
    spend = _int(spend_fen, "spend")
    n = spend.shape[0]
    columns: dict[str, npt.ArrayLike] = {
        "spend": spend,
        "in_province": _bool(in_province, "in_province"),
        "self_use": _bool(self_use, "self_use"),
    }
    if subsidy_this_year_fen is not None:
        columns["subsidy_this_year"] = _int(subsidy_this_year_fen, "subsidy_this_year")
    version = voucher_version(packs, day, pack)
    if version is None:
        return np.zeros(n, dtype=np.int64)
    comp = compiled(packs, version, day)
    if comp.awards.uplift_on and version.uplift_location is not None:
        if city is None:
            raise FactError("this pack applies the 皖北 uplift to art2: pass the city column", field="city")
        columns[version.uplift_location] = city
    elif city is not None and version.uplift_location is not None:
        columns[version.uplift_location] = city
    rule = version.award[0] if len(version.award) == 1 and not version.award[0].when else None
    simple = (
        rule is not None
        and rule.base.fact == "spend"
        and rule.rate is not None
        and rule.rate.parameter is not None
        and not comp.awards.uplift_on
        and [r.check.op for r in version.eligibility] == ["is_true", "is_false"]
        and [r.check.fact for r in version.eligibility] == ["in_province", "self_use"]
    )
    if not simple:
        if version.uplift_location is not None and version.uplift_location not in columns:
            # the city decides nothing here (the uplift is off): the pack's region stands in for it
            region = packs.pack(version.pack_id).region
            columns[version.uplift_location] = np.full(n, region)
        return amounts(packs, version.article, day, columns, pack=version.pack_id)
    assert rule is not None
    assert rule.rate is not None
    # the fast path: the shipped shape of art. 2 (pure integer arithmetic on whole arrays)
    rate = comp.params[rule.rate.parameter or ""]
    assert isinstance(rate, Fraction)
    eligible = columns["in_province"] & ~columns["self_use"]  # type: ignore[operator]
    fen = round_div(_mul(spend, rate.numerator), rate.denominator, comp.mode)
    cap = comp.params[rule.cap] if rule.cap else None
    if cap is not None:
        assert isinstance(cap, Fraction)
        already = columns.get("subsidy_this_year", np.zeros(n, dtype=np.int64))
        rem = np.maximum(cap.numerator * 100 - _mul(np.asarray(already, dtype=np.int64), cap.denominator), 0)
        fen = np.minimum(fen, round_div(rem, cap.denominator, comp.mode))
    fen *= eligible  # zero where not eligible, in place (fen is a fresh array)
    return fen


def _month_day(value: Month | dt.date | str) -> dt.date:
    if isinstance(value, Month):
        return value.first_day
    if isinstance(value, str) and len(value.strip()) == 7:
        return Month.parse(value).first_day
    return as_day(value, "month")


def voucher_version(packs: PackSet, on: dt.date, pack: str | None = None) -> ArticleVersion | None:
    """The compute-voucher article judging usage on ``on``: by its measure, whatever its pack and number.

    With ``pack``, that pack's compute-voucher article (and its same-number successors).
    """
    if pack is None:
        return packs.for_measure(COMPUTE_VOUCHER, on)
    own = next((v for v in packs.pack(pack).articles.values() if v.measure == COMPUTE_VOUCHER), None)
    return None if own is None else packs.resolve(own.article, on, pack)


def art2_in_force(packs: PackSet, month_or_date: Month | dt.date | str, pack: str | None = None) -> bool:
    """Whether a compute-voucher article (2023 art. 2, 2.0 art. 3, …) is in force for that usage month."""
    return voucher_version(packs, _month_day(month_or_date), pack) is not None


def apply_budget(claims_fen: npt.ArrayLike, remaining_fen: int, mode: str) -> tuple[IntArray, IntArray]:
    """Split claims into (paid, deferred) when a program budget is limited, per the pack's mode.

    ``queued``: claims are paid in array order until the budget is spent; a claim that no longer fits
    is paid in part and the rest waits. ``pro_rated``: when the claims exceed the budget each is scaled
    by remaining/total, down to the fen (the sum never exceeds the budget). Exact integers.

    >>> import numpy as np
    >>> [a.tolist() for a in apply_budget(np.array([500, 300, 400]), 1000, "queued")]
    [[500, 300, 200], [0, 0, 200]]
    >>> [a.tolist() for a in apply_budget(np.array([500, 300, 400]), 1000, "pro_rated")]
    [[416, 250, 333], [84, 50, 67]]
    """
    claims = _int(claims_fen, "claims")
    if remaining_fen < 0:
        raise PolicyError("the remaining budget cannot be negative", field="remaining")
    total = int(claims.sum(dtype=object)) if claims.size else 0
    if total <= remaining_fen:
        return claims.copy(), np.zeros_like(claims)
    if mode == "queued":
        before = np.concatenate(([0], np.cumsum(claims.astype(object))[:-1])) if claims.size else claims
        room = np.maximum(remaining_fen - before, 0)
        paid = np.minimum(claims.astype(object), room).astype(np.int64)
    elif mode == "pro_rated":
        paid = (claims.astype(object) * remaining_fen // total).astype(np.int64)
    else:
        raise PolicyError(f"unknown budget mode {mode!r}; queued or pro_rated", field="budget_exhausted")
    return paid, claims - paid
