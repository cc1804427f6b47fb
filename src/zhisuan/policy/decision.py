"""What the engine answers: a :class:`Decision`, its :class:`Step` trace and plain-language :class:`Reason` s.

Also the exact text of amounts and rates used in explanations, and the one rounding of an exact amount.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from fractions import Fraction
from json.encoder import encode_basestring as _encode  # the C encoder for one string
from typing import Final, NamedTuple

from zhisuan.core.money import Money, Rounding
from zhisuan.policy.schema import ArticleVersion, fraction_text

Pair = tuple[int, int]  # exact rational n/d, d > 0; money pairs count fen


class Step(NamedTuple):
    """One rule applied: the article, the rule, the parameter and value used, and the result.

    ``result`` is English; ``result_zh`` the same in Chinese ('' when the text is the same in both,
    e.g. a formula ``rd_cost 1000000.00 × 20% = 200000.00``).
    """

    article: str
    rule: str
    parameter: str
    value: str
    result: str
    result_zh: str = ""

    def text(self, lang: str = "en") -> str:
        """The result in ``lang``: Chinese for ``zh``, English otherwise (the contract's default)."""
        return (self[5] or self[4]) if lang == "zh" else self[4]

    def to_dict(self, lang: str = "en") -> dict[str, str]:
        return {
            "article": self.article,
            "rule": self.rule,
            "parameter": self.parameter,
            "value": self.value,
            "result": self.text(lang),
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


class PartAnswer(NamedTuple):
    """How one part of an article answers a case: its units, eligibility and whether it carries money.

    ``eligible`` is None when the facts the part's conditions read were not given (not assessed);
    ``amount_fen`` is None for a part without money.
    """

    part: str
    main: bool
    name: Reason
    grants: str
    lead_unit: str
    cooperating_units: tuple[str, ...]
    eligible: bool | None
    amount_fen: int | None
    gives: tuple[Reason, ...] = ()
    use_of_funds: tuple[Reason, ...] = ()
    reasons: tuple[Reason, ...] = ()

    @property
    def money(self) -> bool:
        return self.amount_fen is not None

    def to_dict(self, lang: str = "both") -> dict[str, object]:
        """The part as JSON (``parts`` of the contract object)."""
        return {
            "part": self.part,
            "main": self.main,
            "name": self.name.text(lang),
            "grants": self.grants,
            "money": self.amount_fen is not None,
            "lead_unit": self.lead_unit,
            "cooperating_units": list(self.cooperating_units),
            "eligible": self.eligible,
            "amount": None if self.amount_fen is None else fen_text(self.amount_fen),
            "gives": [g.text(lang) for g in self.gives],
            "use_of_funds": [u.text(lang) for u in self.use_of_funds],
            "reasons": [r.text(lang) for r in self.reasons],
        }

    def to_json(self, lang: str = "both") -> str:
        """``json.dumps(self.to_dict(lang), ensure_ascii=False)``, built directly."""
        head, tail = _part_static_json(
            self.part,
            self.main,
            self.name,
            self.grants,
            self.amount_fen is not None,
            self.lead_unit,
            self.cooperating_units,
            self.gives,
            self.use_of_funds,
            lang,
        )
        amount = "null" if self.amount_fen is None else f'"{fen_text(self.amount_fen)}"'
        eligible = "null" if self.eligible is None else "true" if self.eligible else "false"
        reasons = ", ".join(_encode(r.text(lang)) for r in self.reasons)
        return f'{head}, "eligible": {eligible}, "amount": {amount}, {tail}, "reasons": [{reasons}]}}'


@functools.lru_cache(maxsize=4096)
def _part_static_json(
    part: str,
    main: bool,
    name: Reason,
    grants: str,
    money: bool,
    lead_unit: str,
    cooperating_units: tuple[str, ...],
    gives: tuple[Reason, ...],
    use_of_funds: tuple[Reason, ...],
    lang: str,
) -> tuple[str, str]:
    """The JSON of what a part's answer holds whatever the case (before and after the verdict), once."""
    e = _encode
    flag = {True: "true", False: "false"}
    head = (
        f'{{"part": {e(part)}, "main": {flag[main]}, "name": {e(name.text(lang))}, "grants": {e(grants)}, '
        f'"money": {flag[money]}, "lead_unit": {e(lead_unit)}, '
        f'"cooperating_units": [{", ".join(e(u) for u in cooperating_units)}]'
    )
    tail = (
        f'"gives": [{", ".join(e(g.text(lang)) for g in gives)}], '
        f'"use_of_funds": [{", ".join(e(u.text(lang)) for u in use_of_funds)}]'
    )
    return head, tail


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
    #: the provisional parameters this decision used (POLICY position 16): no money rests on them
    provisional_parameters: tuple[str, ...] = ()
    #: 'anhui-2025/art3' when the article was replaced under another number before ``on``
    superseded_by: str | None = None
    #: each part's answer when the article answers in several parts (art. 1, 6, 8); the main part's is
    #: the decision's own ``eligible`` and ``amount``
    parts: tuple[PartAnswer, ...] = ()

    @property
    def provisional(self) -> bool:
        """Whether the answer rests on a provisional parameter (an estimate: no money until confirmed)."""
        return bool(self.provisional_parameters)

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
        """The evaluation contract's JSON object (POLICY.md), key order as documented.

        ``lang`` picks the reasons' language (``both``: ``中文 / English``) and the steps' (Chinese for
        ``zh``, English otherwise).
        """
        zh = lang == "zh"
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
            **self._flags(lang),
            "steps": [
                {
                    "article": s[0],
                    "rule": s[1],
                    "parameter": s[2],
                    "value": s[3],
                    "result": (s[5] or s[4]) if zh else s[4],
                }
                for s in self.steps
            ],
            "reasons": [r.text(lang) for r in self.reasons],
        }

    def _flags(self, lang: str, parts: bool = True) -> dict[str, object]:
        """The contract's additions: ``provisional`` always, the rest when they apply."""
        out: dict[str, object] = {"provisional": bool(self.provisional_parameters)}
        if self.provisional_parameters:
            out["provisional_parameters"] = list(self.provisional_parameters)
        if self.superseded_by is not None:
            out["superseded_by"] = self.superseded_by
        if self.parts and parts:
            out["parts"] = [p.to_dict(lang) for p in self.parts]
        return out

    def to_json(self, case_id: object = None, lang: str = "both") -> str:
        """``json.dumps(self.to_dict(case_id, lang), ensure_ascii=False)``, built directly (3× faster)."""
        e = _encode
        r = 5 if lang == "zh" else 4  # a step's result in Chinese (``result_zh``, or the shared text)
        steps = ", ".join(
            f'{{"article": {e(s[0])}, "rule": {e(s[1])}, "parameter": {e(s[2])}, "value": {e(s[3])}, '
            f'"result": {e(s[r] or s[4])}}}'
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
        extra = '"provisional": false'
        if self.provisional_parameters or self.superseded_by is not None:
            extra = json.dumps(self._flags(lang, parts=False), ensure_ascii=False)[1:-1]
        if self.parts:
            extra += f', "parts": [{", ".join(p.to_json(lang) for p in self.parts)}]'
        return (
            f'{{"id": {ident}, "program": {e(self.program)}, "pack": {pack}, "on": "{self.on.isoformat()}", '
            f'"in_force": {flags[self.in_force]}, "eligible": {flags[self.eligible]}, '
            f'"amount": "{fen_text(self.amount_fen)}", "payee": {e(self.payee)}, '
            f'"case_by_case": {flags[self.case_by_case]}, {extra}, '
            f'"steps": [{steps}], "reasons": [{reasons}]}}'
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


def num_text(n: int, d: int) -> str:
    """An exact number n/d as a decimal when it has one, else as a fraction."""
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


# tuple.__new__ builds the named tuples without a Python-level __new__ frame (the hot path's biggest cost);
# a step is given all six fields (``result_zh`` '' when the result reads the same in Chinese)
new_step: Callable[[tuple[str, str, str, str, str, str]], Step] = functools.partial(tuple.__new__, Step)
new_decision: Callable[[tuple[object, ...]], Decision] = functools.partial(tuple.__new__, Decision)
new_part: Callable[[tuple[object, ...]], PartAnswer] = functools.partial(tuple.__new__, PartAnswer)
