"""A policy pack's values: the frozen schema (packs, article versions, dated parameters, facts, rules).

A pack is one YAML document (see ``packs/anhui-2023.yaml`` and ``docs/policy.md``);
:mod:`zhisuan.policy.loader` reads and validates it into these values, :mod:`zhisuan.policy.compile`
turns an :class:`ArticleVersion` into fast closures. Also the plain text of a value (``dump_value``).
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

#: ``art5``; a letter after the number names one of several programs an article holds (``art11a``)
ARTICLE_ID: Final = re.compile(r"^art[1-9][0-9]*[a-z]?$")
PACK_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
CITY_CODE: Final = re.compile(r"^[0-9]{6}$")

FACT_TYPES: Final = frozenset({"money", "number", "count", "bool", "date", "enum", "city", "rate", "text"})
PARAM_TYPES: Final = frozenset(
    {"money", "number", "count", "rate", "date", "bool", "text", "texts", "rounding", "cities", "choice"}
)
PAYEES: Final = frozenset({"applicant", "city"})
#: what an article (or one of its parts) gives: money, a priority, the right to apply for a non-cash
#: measure — or, for a part only, ``task``: a duty of a unit that no case applies for
GRANTS: Final = frozenset({"money", "priority", "eligibility"})
PART_GRANTS: Final = frozenset({"priority", "eligibility", "task"})
COMPARE_OPS: Final = frozenset({">=", ">", "<=", "<", "==", "!="})
UNARY_OPS: Final = frozenset({"is_true", "is_false"})
SET_OPS: Final = frozenset({"in", "not_in"})
PERIOD_OPS: Final = frozenset({"in_effect_period"})
ORDERED: Final = frozenset({"money", "number", "count", "rate", "date"})
#: what an article is for, whatever its number in its pack: code finds "the compute-voucher article in
#: force on a date" by its measure, not by an article number that a later pack may change
MEASURES: Final = frozenset({"compute_voucher"})
COMPUTE_VOUCHER: Final = "compute_voucher"


# --------------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True, slots=True)
class ParamVersion:
    """One value of a parameter, holding from ``start`` until the next version starts."""

    start: dt.date
    value: object  # Fraction (money yuan, number, rate), int, bool, date, str, tuple[str, ...], None
    #: a placeholder the sources do not give (POLICY position 16): estimates only, no money on it
    provisional: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Parameter:
    """A dated parameter: rates, caps, thresholds, dates, switches."""

    name: str
    type: str
    history: tuple[ParamVersion, ...]
    unit: str | None = None
    description_zh: str | None = None
    description_en: str | None = None
    choices: tuple[str, ...] = ()

    def version_at(self, on: dt.date) -> ParamVersion | None:
        """The version in force on ``on`` (None before the first one)."""
        starts = [v.start for v in self.history]
        i = bisect_right(starts, on)
        return self.history[i - 1] if i else None

    def at(self, on: dt.date) -> object:
        """The value in force on ``on``; before the first date, the first value (article dates gate use)."""
        found = self.version_at(on)
        return found.value if found is not None else self.history[0].value

    def change_dates(self) -> tuple[dt.date, ...]:
        return tuple(v.start for v in self.history)

    def provisional_at(self, on: dt.date) -> bool:
        """Whether the value in force on ``on`` is a provisional placeholder."""
        found = self.version_at(on) or self.history[0]
        return found.provisional

    def note_at(self, on: dt.date) -> str | None:
        """The note of the value in force on ``on`` (why it is provisional)."""
        found = self.version_at(on) or self.history[0]
        return found.note


@dataclass(frozen=True, slots=True)
class FactSpec:
    """A fact an article takes: name, type, unit, whether required."""

    name: str
    type: str
    required: bool = True
    unit: str | None = None
    values: tuple[str, ...] = ()  # enum values
    minimum: Fraction | None = None
    description_zh: str | None = None
    description_en: str | None = None


@dataclass(frozen=True, slots=True)
class Operand:
    """Where a number comes from: a fact of the case or a parameter of the article."""

    fact: str | None = None
    parameter: str | None = None

    def describe(self) -> str:
        return f"fact {self.fact}" if self.fact is not None else f"parameter {self.parameter}"


@dataclass(frozen=True, slots=True)
class Check:
    """A test on the facts: compare, truth, membership, ratio or any-of."""

    op: str
    fact: str | None = None
    ratio: tuple[str, str] | None = None
    parameter: str | None = None
    value: object = None
    any_of: tuple[Check, ...] = ()

    def facts(self) -> tuple[str, ...]:
        if self.any_of:
            return tuple(f for c in self.any_of for f in c.facts())
        if self.ratio is not None:
            return self.ratio
        return (self.fact,) if self.fact is not None else ()


@dataclass(frozen=True, slots=True)
class Rule:
    """An eligibility rule with its plain-language reasons when it fails."""

    id: str
    check: Check
    fail_zh: str
    fail_en: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class AwardRule:
    """One branch of the award formula: ``min(base × rate, cap − already)`` when its conditions hold."""

    id: str
    base: Operand
    rate: Operand | None = None
    cap: str | None = None  # parameter name; a null value means no cap
    cumulative: str | None = None  # fact holding the amount already awarded in the cap's scope
    when: tuple[Check, ...] = ()
    priority: int | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Label:
    """A short label in Chinese and English (a unit's measure, a use of funds): never a quoted sentence."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Part:
    """One part of an article as the text states it: its own units, conditions and what it gives.

    The ``main`` part is the article's own answer (its units, eligibility and award are the article's:
    the evaluation contract's ``eligible`` and ``amount``); the other parts answer beside it, without
    money, or are a unit's ``task`` that no case applies for.
    """

    id: str
    name_zh: str
    name_en: str
    main: bool
    grants: str  # money (the main part of a money article) | priority | eligibility | task
    lead_unit: str
    cooperating_units: tuple[str, ...]
    eligibility: tuple[Rule, ...] = ()
    gives: tuple[Label, ...] = ()
    use_of_funds: tuple[Label, ...] = ()
    evidence: tuple[str, ...] = ()

    @property
    def answers(self) -> bool:
        """Whether the part answers a case (a task does not)."""
        return self.grants != "task"


@dataclass(frozen=True, slots=True)
class ArticleVersion:
    """One article (program) of one pack, with its own effective dates."""

    pack_id: str
    article: str
    name_zh: str
    name_en: str
    effective_from: dt.date
    effective_to: dt.date | None
    lead_unit: str
    cooperating_units: tuple[str, ...]
    payee: str
    evidence: tuple[str, ...]
    facts: tuple[FactSpec, ...]
    parameters: Mapping[str, Parameter]
    eligibility: tuple[Rule, ...]
    award: tuple[AwardRule, ...]  # empty: the article grants no money (eligibility or priority only)
    case_by_case: bool
    uplift_location: str | None  # fact holding the city whose 皖北 status decides the uplift
    grants: str  # money | priority | eligibility
    measure: str | None = None  # one of MEASURES: what the article is for, across packs
    notes_zh: str = ""
    notes_en: str = ""
    source_file: str = ""
    line: int = 0
    #: the article's parts in the order of the text (empty: one part, the article itself)
    parts: tuple[Part, ...] = ()

    def in_effect(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def fact(self, name: str) -> FactSpec | None:
        for spec in self.facts:
            if spec.name == name:
                return spec
        return None

    def param(self, name: str, on: dt.date) -> object:
        return self.parameters[name].at(on)

    def provisional_parameters(self, on: dt.date) -> tuple[str, ...]:
        """Names of the parameters whose value on ``on`` is provisional."""
        return tuple(n for n, p in self.parameters.items() if p.provisional_at(on))

    def main_part(self) -> Part | None:
        """The part whose answer is the article's (None when the article has no parts)."""
        for part in self.parts:
            if part.main:
                return part
        return None

    def side_parts(self) -> tuple[Part, ...]:
        """The parts that answer a case beside the main one (no tasks)."""
        return tuple(p for p in self.parts if not p.main and p.answers)

    @property
    def qualified(self) -> str:
        """'anhui-2025/art3': the article named with its pack."""
        return f"{self.pack_id}/{self.article}"

    def period_text(self) -> str:
        end = self.effective_to.isoformat() if self.effective_to else "…"
        return f"{self.effective_from.isoformat()}..{end}"


@dataclass(frozen=True, slots=True)
class Pack:
    """A policy pack: id, title, region, source and its articles; may supersede articles of older packs."""

    id: str
    title_zh: str
    title_en: str
    region: str
    source: str
    articles: Mapping[str, ArticleVersion]
    supersedes: Mapping[str, Mapping[str, dt.date]]  # older pack id -> article -> from date
    source_file: str = ""
    published: dt.date | None = None
    #: older pack id -> its article -> this pack's article replacing it, when the numbers differ
    #: (a renumbered successor such as 2.0: anhui-2023 art2 → anhui-2025 art3); absent: the same number
    renumbers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: who funds the pack's money (``province``, or a city's budget: ``city``)
    payer: str = "province"
    #: programs (``pack/artN``) this pack's programs do not stack with: where one of them grants on
    #: the same usage, this pack grants nothing (POLICY position 19)
    not_with: tuple[str, ...] = ()
    #: the document's title as published, and who issued it (shown with ``published``)
    official_title: str | None = None
    issuer: str | None = None

    def city_scoped(self) -> bool:
        """Whether the pack covers one city (a region code not ending in 0000) rather than a province."""
        return not self.region.endswith("0000")

    def applies_to(self, city: str) -> bool:
        """Whether the pack covers usage of an organization in ``city`` (its province, or that city)."""
        return city == self.region if self.city_scoped() else city[:2] == self.region[:2]

    def renumbered(self) -> bool:
        """Whether this pack has its own numbering (it replaces some older article under another number)."""
        return any(old != new for arts in self.renumbers.values() for old, new in arts.items())


def article_key(article: str) -> tuple[int, str]:
    """Sort key of article ids in the order of the text: art2 < art11 < art11a < art11b < art12.

    >>> sorted(["art12", "art11b", "art2", "art11a"], key=article_key)
    ['art2', 'art11a', 'art11b', 'art12']
    """
    digits = article[3:].rstrip("abcdefghijklmnopqrstuvwxyz")
    return (int(digits) if digits.isdecimal() else 10**6, article[3 + len(digits) :])


# --------------------------------------------------------------------------------------------------
# values as text


def dump_value(value: object, ptype: str | None = None) -> str:
    """A parameter value as plain text ('none' for null; rates as percentages where exact).

    >>> dump_value(Fraction(1, 5), "rate"), dump_value(Fraction(1, 3), "rate"), dump_value(None)
    ('20%', '1/3', 'none')
    """
    if ptype == "rate" and isinstance(value, Fraction) and value <= 1:
        pct = value * 100
        den = pct.denominator
        while den % 2 == 0:
            den //= 2
        while den % 5 == 0:
            den //= 5
        return f"{fraction_text(pct)}%" if den == 1 else fraction_text(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return fraction_text(value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def fraction_text(value: Fraction) -> str:
    """An exact number as short text: '0.2', '1000000', '1/3'.

    >>> fraction_text(Fraction(1, 3)), fraction_text(Fraction(6, 5)), fraction_text(Fraction(10**6))
    ('1/3', '1.2', '1000000')
    """
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = value * 10**places
    text = str(abs(scaled.numerator)).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{text[:-places]}.{text[-places:]}".rstrip("0").rstrip(".")
