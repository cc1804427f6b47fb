"""Policy packs: the schema, the loader with located errors, dated parameters and successor packs.

A pack is one YAML document (see ``packs/anhui-2023.yaml`` and ``docs/policy.md``). Loading validates
every key and reports the first problem as ``file:line: key: message``. Nothing here evaluates a
case; :mod:`zhisuan.policy.engine` compiles an :class:`ArticleVersion` into fast closures.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

from zhisuan.core.errors import PolicyError
from zhisuan.core.money import Rounding
from zhisuan.core.regions import is_city
from zhisuan.policy._yaml import MarkedDict, MarkedList, load_marked
from zhisuan.policy.errors import PackError

ARTICLE_ID: Final = re.compile(r"^art[1-9][0-9]*$")
PACK_ID: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
CITY_CODE: Final = re.compile(r"^[0-9]{6}$")

FACT_TYPES: Final = frozenset({"money", "number", "count", "bool", "date", "enum", "city", "rate", "text"})
PARAM_TYPES: Final = frozenset(
    {"money", "number", "count", "rate", "date", "bool", "text", "texts", "rounding", "cities", "choice"}
)
PAYEES: Final = frozenset({"applicant", "city"})
COMPARE_OPS: Final = frozenset({">=", ">", "<=", "<", "==", "!="})
UNARY_OPS: Final = frozenset({"is_true", "is_false"})
SET_OPS: Final = frozenset({"in", "not_in"})
PERIOD_OPS: Final = frozenset({"in_effect_period"})
ORDERED: Final = frozenset({"money", "number", "count", "rate", "date"})


# --------------------------------------------------------------------------------------------------
# values


@dataclass(frozen=True, slots=True)
class ParamVersion:
    """One value of a parameter, holding from ``start`` until the next version starts."""

    start: dt.date
    value: object  # Fraction (money yuan, number, rate), int, bool, date, str, tuple[str, ...], None


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
    notes_zh: str = ""
    notes_en: str = ""
    source_file: str = ""
    line: int = 0

    def in_effect(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def fact(self, name: str) -> FactSpec | None:
        for spec in self.facts:
            if spec.name == name:
                return spec
        return None

    def param(self, name: str, on: dt.date) -> object:
        return self.parameters[name].at(on)

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


# --------------------------------------------------------------------------------------------------
# loading


class _Ctx:
    """Keeps the file name so that every error says where it is."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(
        self, node: MarkedDict | MarkedList | None, key: str | int | None, path: str, msg: str
    ) -> PackError:
        line: int | None = None
        if isinstance(node, MarkedDict):
            line = node.line_of(str(key)) if key is not None else node.line
        elif isinstance(node, MarkedList):
            line = node.line_of(key) if isinstance(key, int) else node.line
        return PackError(msg, file=self.file, line=line, key=path)

    def mapping(self, node: MarkedDict, key: str, path: str, *, required: bool = True) -> MarkedDict | None:
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None if key not in node else key, path, "required mapping is missing")
            return None
        if not isinstance(value, MarkedDict):
            raise self.fail(node, key, path, f"must be a mapping, got {type(value).__name__}")
        return value

    def text(self, node: MarkedDict, key: str, path: str, *, required: bool = True, default: str = "") -> str:
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None if key not in node else key, path, "required text is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(node, key, path, f"must be text, got {type(value).__name__}")
        return str(value)

    def texts(self, node: MarkedDict, key: str, path: str) -> tuple[str, ...]:
        value = node.get(key)
        if value is None:
            return ()
        if not isinstance(value, MarkedList) or not all(isinstance(v, str | int) for v in value):
            raise self.fail(node, key, path, "must be a list of text")
        return tuple(str(v) for v in value)

    def date(self, node: MarkedDict, key: str, path: str, *, required: bool = True) -> dt.date | None:
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None if key not in node else key, path, "required date is missing")
            return None
        parsed = _as_date(value)
        if parsed is None:
            raise self.fail(node, key, path, f"must be an ISO date YYYY-MM-DD, got {value!r}")
        return parsed

    def only(self, node: MarkedDict, allowed: Iterable[str], path: str) -> None:
        allowed_set = set(allowed)
        for key in node:
            if key not in allowed_set:
                raise self.fail(
                    node,
                    key,
                    f"{path}.{key}" if path else key,
                    f"unknown key; expected one of: {', '.join(sorted(allowed_set))}",
                )


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def parse_fraction(value: object, *, percent: bool = True) -> Fraction | None:
    """Exact number from int, Decimal, Fraction or text ('20%', '1/3', '0.2', '1,000'); None if not a number.

    >>> parse_fraction("20%"), parse_fraction("1/3"), parse_fraction("1.2")
    (Fraction(1, 5), Fraction(1, 3), Fraction(6, 5))
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Fraction):
        return Fraction(value)
    if isinstance(value, Decimal):
        return Fraction(value) if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        scale = Fraction(1)
        if percent and text.endswith("%"):
            text, scale = text[:-1].strip(), Fraction(1, 100)
        try:
            if "/" in text:
                num, _, den = text.partition("/")
                frac = Fraction(Decimal(num.strip())) / Fraction(Decimal(den.strip()))
            else:
                dec = Decimal(text)
                if not dec.is_finite():
                    return None
                frac = Fraction(dec)
        except (ArithmeticError, ValueError):
            return None
        return frac * scale
    return None


def _param_value(
    ctx: _Ctx, ptype: str, raw: object, node: MarkedDict, key: str, path: str, choices: tuple[str, ...]
) -> object:
    """Check and convert one parameter value; None (YAML null) means 'none' (e.g. no cap)."""
    if raw is None:
        if ptype in {"money", "number", "count", "date", "text", "choice"}:
            return None
        raise ctx.fail(node, key, path, f"a {ptype} parameter cannot be null")
    if ptype in {"money", "number", "rate"}:
        frac = parse_fraction(raw, percent=ptype == "rate")
        if frac is None:
            raise ctx.fail(
                node, key, path, f"not an exact number: {raw!r} (write money as '1000000' or '12.34')"
            )
        if frac < 0:
            raise ctx.fail(node, key, path, f"must not be negative, got {raw!r}")
        return frac
    if ptype == "count":
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ctx.fail(node, key, path, f"must be a whole number ≥ 0, got {raw!r}")
        return raw
    if ptype == "date":
        day = _as_date(raw)
        if day is None:
            raise ctx.fail(node, key, path, f"must be an ISO date YYYY-MM-DD, got {raw!r}")
        return day
    if ptype == "bool":
        if not isinstance(raw, bool):
            raise ctx.fail(node, key, path, f"must be true or false, got {raw!r}")
        return raw
    if ptype == "text":
        if not isinstance(raw, str):
            raise ctx.fail(node, key, path, f"must be text, got {raw!r}")
        return raw
    if ptype == "choice":
        if not isinstance(raw, str) or raw not in choices:
            raise ctx.fail(node, key, path, f"must be one of {', '.join(choices)}, got {raw!r}")
        return raw
    if ptype == "rounding":
        try:
            return Rounding(str(raw))
        except ValueError:
            raise ctx.fail(
                node, key, path, f"unknown rounding {raw!r}; one of {', '.join(r.value for r in Rounding)}"
            ) from None
    if ptype in {"texts", "cities"}:
        if not isinstance(raw, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in raw
        ):
            raise ctx.fail(node, key, path, "must be a list of text")
        items = tuple(str(v) for v in raw)
        if ptype == "cities":
            for code in items:
                if not CITY_CODE.match(code) or not is_city(code):
                    raise ctx.fail(node, key, path, f"unknown city division code {code!r}")
        return items
    raise ctx.fail(node, key, path, f"unknown parameter type {ptype!r}")


def _parameter(
    ctx: _Ctx, name: str, node: object, parent: MarkedDict, path: str, default_start: dt.date
) -> Parameter:
    if not isinstance(node, MarkedDict):
        raise ctx.fail(parent, name, path, "a parameter is a mapping with 'type' and 'value' or 'history'")
    ctx.only(node, {"type", "value", "history", "unit", "description_zh", "description_en", "choices"}, path)
    ptype = ctx.text(node, "type", f"{path}.type")
    if ptype not in PARAM_TYPES:
        raise ctx.fail(
            node, "type", f"{path}.type", f"unknown type {ptype!r}; one of {', '.join(sorted(PARAM_TYPES))}"
        )
    choices = ctx.texts(node, "choices", f"{path}.choices")
    if ptype == "choice" and not choices:
        raise ctx.fail(node, "type", f"{path}.choices", "a choice parameter lists its 'choices'")
    has_value, has_history = "value" in node, "history" in node
    if has_value == has_history:
        raise ctx.fail(node, None, path, "give exactly one of 'value' or 'history'")
    versions: list[ParamVersion] = []
    if has_value:
        versions.append(
            ParamVersion(
                default_start,
                _param_value(ctx, ptype, node["value"], node, "value", f"{path}.value", choices),
            )
        )
    else:
        hist = node["history"]
        if not isinstance(hist, MarkedList) or not hist:
            raise ctx.fail(node, "history", f"{path}.history", "must be a non-empty list of {from, value}")
        for i, item in enumerate(hist):
            ipath = f"{path}.history[{i}]"
            if not isinstance(item, MarkedDict):
                raise ctx.fail(hist, i, ipath, "each version is a mapping {from: DATE, value: ...}")
            ctx.only(item, {"from", "value", "note"}, ipath)
            start = ctx.date(item, "from", f"{ipath}.from")
            assert start is not None
            if "value" not in item:
                raise ctx.fail(item, None, f"{ipath}.value", "required value is missing")
            if versions and start <= versions[-1].start:
                raise ctx.fail(item, "from", f"{ipath}.from", "versions must be in increasing date order")
            versions.append(
                ParamVersion(
                    start, _param_value(ctx, ptype, item["value"], item, "value", f"{ipath}.value", choices)
                )
            )
    return Parameter(
        name=name,
        type=ptype,
        history=tuple(versions),
        unit=ctx.text(node, "unit", f"{path}.unit", required=False) or None,
        description_zh=ctx.text(node, "description_zh", f"{path}.description_zh", required=False) or None,
        description_en=ctx.text(node, "description_en", f"{path}.description_en", required=False) or None,
        choices=choices,
    )


def _fact(ctx: _Ctx, name: str, node: object, parent: MarkedDict, path: str) -> FactSpec:
    if not isinstance(node, MarkedDict):
        raise ctx.fail(parent, name, path, "a fact is a mapping with at least 'type'")
    ctx.only(node, {"type", "required", "unit", "values", "min", "description_zh", "description_en"}, path)
    ftype = ctx.text(node, "type", f"{path}.type")
    if ftype not in FACT_TYPES:
        raise ctx.fail(
            node,
            "type",
            f"{path}.type",
            f"unknown fact type {ftype!r}; one of {', '.join(sorted(FACT_TYPES))}",
        )
    required = node.get("required", True)
    if not isinstance(required, bool):
        raise ctx.fail(node, "required", f"{path}.required", "must be true or false")
    values = ctx.texts(node, "values", f"{path}.values")
    if ftype == "enum" and not values:
        raise ctx.fail(node, "type", f"{path}.values", "an enum fact lists its 'values'")
    minimum = None
    if "min" in node:
        minimum = parse_fraction(node["min"], percent=False)
        if minimum is None:
            raise ctx.fail(node, "min", f"{path}.min", f"not a number: {node['min']!r}")
    return FactSpec(
        name=name,
        type=ftype,
        required=required,
        unit=ctx.text(node, "unit", f"{path}.unit", required=False) or None,
        values=values,
        minimum=minimum,
        description_zh=ctx.text(node, "description_zh", f"{path}.description_zh", required=False) or None,
        description_en=ctx.text(node, "description_en", f"{path}.description_en", required=False) or None,
    )


def _check(
    ctx: _Ctx,
    node: object,
    parent: MarkedDict | MarkedList,
    key: str | int,
    path: str,
    facts: Mapping[str, FactSpec],
    params: Mapping[str, Parameter],
) -> Check:
    if not isinstance(node, MarkedDict):
        raise ctx.fail(parent, key, path, "a check is a mapping such as {fact: x, op: '>=', parameter: p}")
    if "any" in node:
        ctx.only(node, {"any"}, path)
        items = node["any"]
        if not isinstance(items, MarkedList) or len(items) < 2:
            raise ctx.fail(node, "any", f"{path}.any", "'any' lists at least two checks")
        return Check(
            op="any",
            any_of=tuple(
                _check(ctx, item, items, i, f"{path}.any[{i}]", facts, params) for i, item in enumerate(items)
            ),
        )
    ctx.only(node, {"fact", "ratio", "op", "parameter", "value"}, path)
    op = ctx.text(node, "op", f"{path}.op")
    known = COMPARE_OPS | UNARY_OPS | SET_OPS | PERIOD_OPS
    if op not in known:
        raise ctx.fail(node, "op", f"{path}.op", f"unknown op {op!r}; one of {', '.join(sorted(known))}")
    fact_name: str | None = None
    ratio: tuple[str, str] | None = None
    left_type: str
    if "ratio" in node:
        raw = node["ratio"]
        if not isinstance(raw, MarkedList) or len(raw) != 2 or not all(isinstance(x, str) for x in raw):
            raise ctx.fail(node, "ratio", f"{path}.ratio", "ratio is [numerator_fact, denominator_fact]")
        for x in raw:
            spec = facts.get(x)
            if spec is None or spec.type not in {"money", "number", "count"}:
                raise ctx.fail(node, "ratio", f"{path}.ratio", f"{x!r} is not a declared numeric fact")
        ratio = (raw[0], raw[1])
        left_type = "rate"
    else:
        fact_name = ctx.text(node, "fact", f"{path}.fact")
        spec = facts.get(fact_name)
        if spec is None:
            raise ctx.fail(node, "fact", f"{path}.fact", f"fact {fact_name!r} is not declared in 'facts'")
        left_type = spec.type
    param = ctx.text(node, "parameter", f"{path}.parameter", required=False) or None
    if param is not None and param not in params:
        raise ctx.fail(node, "parameter", f"{path}.parameter", f"parameter {param!r} is not declared")
    value: object = node.get("value")
    if op in UNARY_OPS:
        if left_type != "bool":
            raise ctx.fail(node, "op", f"{path}.op", f"{op} needs a bool fact, {fact_name!r} is {left_type}")
    elif op in PERIOD_OPS:
        if left_type != "date":
            raise ctx.fail(node, "op", f"{path}.op", f"{op} needs a date fact")
    elif op in SET_OPS:
        if param is None:
            if not isinstance(value, list) or not value:
                raise ctx.fail(node, "value", f"{path}.value", f"{op} needs a 'value' list or a 'parameter'")
            value = tuple(str(v) for v in value)
            if fact_name is not None and facts[fact_name].type == "enum":
                for v in value:
                    if v not in facts[fact_name].values:
                        raise ctx.fail(node, "value", f"{path}.value", f"{v!r} is not a value of {fact_name}")
        elif params[param].type not in {"texts", "cities"}:
            raise ctx.fail(node, "parameter", f"{path}.parameter", f"{op} needs a list parameter")
    else:
        if (param is None) == ("value" not in node):
            raise ctx.fail(node, "op", path, f"{op} compares with exactly one of 'parameter' or 'value'")
        right_type = params[param].type if param is not None else None
        if op not in {"==", "!="} and left_type not in ORDERED:
            raise ctx.fail(
                node, "op", f"{path}.op", f"{op} needs an ordered fact (number, money, date), got {left_type}"
            )
        if right_type is not None:
            numeric = {"money", "number", "count", "rate"}
            ok = (
                (left_type in numeric and right_type in numeric)
                or left_type == right_type
                or (left_type in {"enum", "text", "city"} and right_type in {"text", "choice"})
            )
            if not ok:
                raise ctx.fail(
                    node,
                    "parameter",
                    f"{path}.parameter",
                    f"cannot compare a {left_type} fact with a {right_type} parameter",
                )
        else:
            if left_type in {"money", "number", "count", "rate"}:
                frac = parse_fraction(value, percent=True)
                if frac is None:
                    raise ctx.fail(node, "value", f"{path}.value", f"not an exact number: {value!r}")
                value = frac
            elif left_type == "date":
                value = _as_date(value)
                if value is None:
                    raise ctx.fail(node, "value", f"{path}.value", "not an ISO date")
    return Check(op=op, fact=fact_name, ratio=ratio, parameter=param, value=value)


def _operand(
    ctx: _Ctx,
    node: MarkedDict,
    key: str,
    path: str,
    facts: Mapping[str, FactSpec],
    params: Mapping[str, Parameter],
    kinds: set[str],
) -> Operand:
    raw = node.get(key)
    if not isinstance(raw, MarkedDict) or len(raw) != 1 or not ({"fact", "parameter"} & set(raw)):
        raise ctx.fail(node, key, path, "an operand is {fact: NAME} or {parameter: NAME}")
    if "fact" in raw:
        name = str(raw["fact"])
        spec = facts.get(name)
        if spec is None or spec.type not in kinds:
            raise ctx.fail(
                raw,
                "fact",
                f"{path}.fact",
                f"{name!r} is not a declared fact of type {'/'.join(sorted(kinds))}",
            )
        return Operand(fact=name)
    name = str(raw["parameter"])
    p = params.get(name)
    if p is None or p.type not in kinds:
        raise ctx.fail(
            raw,
            "parameter",
            f"{path}.parameter",
            f"{name!r} is not a declared parameter of type {'/'.join(sorted(kinds))}",
        )
    return Operand(parameter=name)


def _sets_of(checks: tuple[Check, ...]) -> dict[str, frozenset[str]] | None:
    """For conflict detection: fact -> allowed values, when every check is a literal 'in' / '=='."""
    out: dict[str, frozenset[str]] = {}
    for c in checks:
        if c.fact is None:
            return None
        if c.op == "in" and c.parameter is None and isinstance(c.value, tuple):
            vals = frozenset(str(v) for v in c.value)
        elif c.op == "==" and c.parameter is None:
            vals = frozenset({str(c.value)})
        elif c.op == "is_true":
            vals = frozenset({"True"})
        elif c.op == "is_false":
            vals = frozenset({"False"})
        else:
            return None
        out[c.fact] = out[c.fact] & vals if c.fact in out else vals
    return out


def overlapping_rules(award: Sequence[AwardRule]) -> list[tuple[str, str]]:
    """Pairs of award rules without distinct priorities that can both claim one case (statically provable)."""
    pairs: list[tuple[str, str]] = []
    for i, a in enumerate(award):
        for b in award[i + 1 :]:
            if a.priority is not None and b.priority is not None and a.priority != b.priority:
                continue
            sa, sb = _sets_of(a.when), _sets_of(b.when)
            if sa is None or sb is None:
                continue  # not provable statically: the engine refuses the case at run time
            if all(sa[f] & sb[f] for f in set(sa) & set(sb)):
                pairs.append((a.id, b.id))
    return pairs


_ARTICLE_KEYS: Final = {
    "name_zh",
    "name_en",
    "effective",
    "lead_unit",
    "cooperating_units",
    "payee",
    "evidence",
    "facts",
    "parameters",
    "eligibility",
    "award",
    "case_by_case",
    "uplift_location",
    "grants",
    "notes_zh",
    "notes_en",
}
_PACK_KEYS: Final = {
    "id",
    "title_zh",
    "title_en",
    "region",
    "source",
    "published",
    "defaults",
    "articles",
    "supersedes",
    "schema",
}


def _article(
    ctx: _Ctx, pack_id: str, art: str, node: object, parent: MarkedDict, defaults: Mapping[str, MarkedDict]
) -> ArticleVersion:
    path = f"articles.{art}"
    if not ARTICLE_ID.match(art):
        raise ctx.fail(parent, art, path, "article ids look like art1, art2, …")
    if not isinstance(node, MarkedDict):
        raise ctx.fail(parent, art, path, "an article is a mapping")
    ctx.only(node, _ARTICLE_KEYS, path)
    eff = ctx.mapping(node, "effective", f"{path}.effective")
    assert eff is not None
    ctx.only(eff, {"from", "to"}, f"{path}.effective")
    start = ctx.date(eff, "from", f"{path}.effective.from")
    assert start is not None
    end = ctx.date(eff, "to", f"{path}.effective.to", required=False)
    if end is not None and end < start:
        raise ctx.fail(eff, "to", f"{path}.effective.to", "ends before it starts")
    payee = ctx.text(node, "payee", f"{path}.payee")
    if payee not in PAYEES:
        raise ctx.fail(node, "payee", f"{path}.payee", f"payee is one of {', '.join(sorted(PAYEES))}")

    facts: dict[str, FactSpec] = {}
    fnode = ctx.mapping(node, "facts", f"{path}.facts", required=False) or MarkedDict()
    for name, spec in fnode.items():
        facts[name] = _fact(ctx, name, spec, fnode, f"{path}.facts.{name}")

    params: dict[str, Parameter] = {}
    for name, spec in defaults.items():
        params[name] = _parameter(ctx, name, spec, spec, f"defaults.{name}", start)
    pnode = ctx.mapping(node, "parameters", f"{path}.parameters", required=False) or MarkedDict()
    for name, spec in pnode.items():
        params[name] = _parameter(ctx, name, spec, pnode, f"{path}.parameters.{name}", start)
    for name in ("rounding", "uplift_enabled", "uplift_factor", "uplift_cities"):
        if name not in params:
            raise ctx.fail(
                node,
                None,
                f"{path}.parameters.{name}",
                f"parameter {name!r} is needed (set it in 'defaults' or in the article)",
            )
    want = {
        "rounding": "rounding",
        "uplift_enabled": "bool",
        "uplift_factor": "rate",
        "uplift_cities": "cities",
    }
    for name, ptype in want.items():
        if params[name].type != ptype:
            raise ctx.fail(
                pnode if name in pnode else node,
                name if name in pnode else None,
                f"{path}.parameters.{name}",
                f"must have type {ptype}",
            )

    rules: list[Rule] = []
    enode = node.get("eligibility") or MarkedList()
    if not isinstance(enode, MarkedList):
        raise ctx.fail(node, "eligibility", f"{path}.eligibility", "must be a list of rules")
    seen: set[str] = set()
    for i, item in enumerate(enode):
        rpath = f"{path}.eligibility[{i}]"
        if not isinstance(item, MarkedDict):
            raise ctx.fail(enode, i, rpath, "a rule is a mapping {id, check, fail_zh, fail_en}")
        ctx.only(item, {"id", "check", "fail_zh", "fail_en"}, rpath)
        rid = ctx.text(item, "id", f"{rpath}.id")
        if rid in seen:
            raise ctx.fail(item, "id", f"{rpath}.id", f"duplicate rule id {rid!r}")
        seen.add(rid)
        rules.append(
            Rule(
                id=rid,
                check=_check(ctx, item.get("check"), item, "check", f"{rpath}.check", facts, params),
                fail_zh=ctx.text(item, "fail_zh", f"{rpath}.fail_zh"),
                fail_en=ctx.text(item, "fail_en", f"{rpath}.fail_en"),
                line=item.line,
            )
        )

    award: list[AwardRule] = []
    anode = node.get("award") or MarkedList()
    if not isinstance(anode, MarkedList):
        raise ctx.fail(node, "award", f"{path}.award", "must be a list of award rules")
    money_kinds = {"money"}
    for i, item in enumerate(anode):
        apath = f"{path}.award[{i}]"
        if not isinstance(item, MarkedDict):
            raise ctx.fail(
                anode, i, apath, "an award rule is a mapping {id, base, rate?, cap?, cumulative?, when?}"
            )
        ctx.only(item, {"id", "base", "rate", "cap", "cumulative", "when", "priority"}, apath)
        aid = ctx.text(item, "id", f"{apath}.id")
        if aid in seen:
            raise ctx.fail(item, "id", f"{apath}.id", f"duplicate rule id {aid!r}")
        seen.add(aid)
        base = _operand(ctx, item, "base", f"{apath}.base", facts, params, money_kinds)
        rate = (
            _operand(ctx, item, "rate", f"{apath}.rate", facts, params, {"rate"}) if "rate" in item else None
        )
        cap = ctx.text(item, "cap", f"{apath}.cap", required=False) or None
        if cap is not None and (cap not in params or params[cap].type != "money"):
            raise ctx.fail(item, "cap", f"{apath}.cap", f"cap {cap!r} is not a declared money parameter")
        cum = ctx.text(item, "cumulative", f"{apath}.cumulative", required=False) or None
        if cum is not None and (cum not in facts or facts[cum].type != "money"):
            raise ctx.fail(item, "cumulative", f"{apath}.cumulative", f"{cum!r} is not a declared money fact")
        if cum is not None and cap is None:
            raise ctx.fail(item, "cumulative", f"{apath}.cumulative", "a cumulative fact needs a cap")
        when_node = item.get("when") or MarkedList()
        if not isinstance(when_node, MarkedList):
            raise ctx.fail(item, "when", f"{apath}.when", "must be a list of checks")
        when = tuple(
            _check(ctx, c, when_node, j, f"{apath}.when[{j}]", facts, params) for j, c in enumerate(when_node)
        )
        prio = item.get("priority")
        if prio is not None and (isinstance(prio, bool) or not isinstance(prio, int)):
            raise ctx.fail(item, "priority", f"{apath}.priority", "priority is a whole number (higher wins)")
        award.append(
            AwardRule(
                id=aid,
                base=base,
                rate=rate,
                cap=cap,
                cumulative=cum,
                when=when,
                priority=prio,
                line=item.line,
            )
        )
    for a, b in overlapping_rules(award):
        raise ctx.fail(
            anode,
            None,
            f"{path}.award",
            f"rules {a!r} and {b!r} can both claim the same case and have no distinct priority",
        )

    grants = ctx.text(node, "grants", f"{path}.grants", required=False) or (
        "money" if award else "eligibility"
    )
    if grants not in {"money", "priority", "eligibility"}:
        raise ctx.fail(node, "grants", f"{path}.grants", "grants is money, priority or eligibility")
    if grants == "money" and not award:
        raise ctx.fail(
            node, "grants", f"{path}.award", "an article that grants money needs an 'award' formula"
        )
    cbc = node.get("case_by_case", False)
    if not isinstance(cbc, bool):
        raise ctx.fail(node, "case_by_case", f"{path}.case_by_case", "must be true or false")
    if cbc and (
        facts.get("case_by_case_amount") is None
        or facts["case_by_case_amount"].type != "money"
        or facts["case_by_case_amount"].required
    ):
        raise ctx.fail(
            node,
            "case_by_case",
            f"{path}.facts.case_by_case_amount",
            "case_by_case needs an optional money fact 'case_by_case_amount'",
        )
    loc = ctx.text(node, "uplift_location", f"{path}.uplift_location", required=False) or None
    if loc is not None and (loc not in facts or facts[loc].type != "city"):
        raise ctx.fail(
            node, "uplift_location", f"{path}.uplift_location", f"{loc!r} is not a declared city fact"
        )
    return ArticleVersion(
        pack_id=pack_id,
        article=art,
        name_zh=ctx.text(node, "name_zh", f"{path}.name_zh"),
        name_en=ctx.text(node, "name_en", f"{path}.name_en"),
        effective_from=start,
        effective_to=end,
        lead_unit=ctx.text(node, "lead_unit", f"{path}.lead_unit"),
        cooperating_units=ctx.texts(node, "cooperating_units", f"{path}.cooperating_units"),
        payee=payee,
        evidence=ctx.texts(node, "evidence", f"{path}.evidence"),
        facts=tuple(facts.values()),
        parameters=params,
        eligibility=tuple(rules),
        award=tuple(award),
        case_by_case=cbc,
        uplift_location=loc,
        grants=grants,
        notes_zh=ctx.text(node, "notes_zh", f"{path}.notes_zh", required=False),
        notes_en=ctx.text(node, "notes_en", f"{path}.notes_en", required=False),
        source_file=ctx.file,
        line=node.line,
    )


def parse_pack(text: str, filename: str = "<pack>") -> Pack:
    """Parse and validate one pack document; the first problem raises :class:`PackError`."""
    ctx = _Ctx(filename)
    root = load_marked(text, filename)
    if not isinstance(root, MarkedDict):
        raise PackError("a pack is a YAML mapping", file=filename, line=1, key=None)
    ctx.only(root, _PACK_KEYS, "")
    pack_id = ctx.text(root, "id", "id")
    if not PACK_ID.match(pack_id):
        raise ctx.fail(root, "id", "id", "pack ids are lower-case letters, digits, '.', '-', '_'")
    defaults_node = ctx.mapping(root, "defaults", "defaults", required=False) or MarkedDict()
    defaults: dict[str, MarkedDict] = {}
    for name, spec in defaults_node.items():
        if not isinstance(spec, MarkedDict):
            raise ctx.fail(defaults_node, name, f"defaults.{name}", "a parameter is a mapping")
        defaults[name] = spec
    arts_node = ctx.mapping(root, "articles", "articles")
    assert arts_node is not None
    articles = {
        art: _article(ctx, pack_id, art, node, arts_node, defaults) for art, node in arts_node.items()
    }
    supersedes: dict[str, dict[str, dt.date]] = {}
    sup = ctx.mapping(root, "supersedes", "supersedes", required=False) or MarkedDict()
    for older, arts in sup.items():
        spath = f"supersedes.{older}"
        if not isinstance(arts, MarkedDict):
            raise ctx.fail(
                sup, older, spath, "maps article ids to the date from which this pack replaces them"
            )
        supersedes[older] = {}
        for art in arts:
            day = ctx.date(arts, art, f"{spath}.{art}")
            assert day is not None
            if art not in articles:
                raise ctx.fail(arts, art, f"{spath}.{art}", f"this pack has no {art} to replace it with")
            if articles[art].effective_from > day:
                raise ctx.fail(
                    arts,
                    art,
                    f"{spath}.{art}",
                    f"{art} of this pack starts on {articles[art].effective_from}, after {day}: a gap",
                )
            supersedes[older][art] = day
    return Pack(
        id=pack_id,
        title_zh=ctx.text(root, "title_zh", "title_zh"),
        title_en=ctx.text(root, "title_en", "title_en"),
        region=ctx.text(root, "region", "region"),
        source=ctx.text(root, "source", "source"),
        articles=articles,
        supersedes=supersedes,
        source_file=filename,
        published=ctx.date(root, "published", "published", required=False),
    )


def load_pack(path: str | Path) -> Pack:
    """Read and validate one pack file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"cannot read pack: {exc.strerror}", file=str(p), line=None, key=None) from None
    return parse_pack(text, p.name)


def builtin_pack_dir() -> Path:
    """The directory of the packs shipped inside the package."""
    return Path(__file__).with_name("packs")


# --------------------------------------------------------------------------------------------------
# a set of packs


class PackSet:
    """Packs that together decide which article version is in force on a date.

    An article version applies on ``on`` when ``on`` is within its effective dates and no other pack in
    the set supersedes that article of its pack from a date ≤ ``on``. Two versions still applying on
    one date is an error (an ambiguous set), never a silent pick.
    """

    def __init__(self, packs: Iterable[Pack]) -> None:
        self._packs: dict[str, Pack] = {}
        for pack in packs:
            if pack.id in self._packs:
                raise PolicyError(
                    f"two packs have the id {pack.id!r} "
                    f"({self._packs[pack.id].source_file}, {pack.source_file})",
                    field="id",
                )
            self._packs[pack.id] = pack
        # (older pack, article) -> (date, successor pack)
        self._cut: dict[tuple[str, str], tuple[dt.date, str]] = {}
        for pack in self._packs.values():
            for older, arts in pack.supersedes.items():
                for art, day in arts.items():
                    prev = self._cut.get((older, art))
                    if prev is None or day < prev[0]:
                        self._cut[(older, art)] = (day, pack.id)
        self._resolved: dict[tuple[str, dt.date, str | None], ArticleVersion | None] = {}
        #: the engine's per-(program, date, pack) cache of compiled article versions
        self.engine_cache: dict[object, object] = {}

    def __iter__(self) -> Iterator[Pack]:
        return iter(self._packs.values())

    def __len__(self) -> int:
        return len(self._packs)

    def pack(self, pack_id: str) -> Pack:
        found = self._packs.get(pack_id)
        if found is None:
            raise PolicyError(
                f"no pack {pack_id!r}; known: {', '.join(sorted(self._packs)) or 'none'}", field="pack"
            )
        return found

    def programs(self) -> tuple[str, ...]:
        """Every article id any pack defines, in numeric order."""
        arts = {a for p in self._packs.values() for a in p.articles}
        return tuple(sorted(arts, key=lambda a: int(a[3:])))

    def versions(self, article: str) -> list[ArticleVersion]:
        """Every version of an article across the set, oldest first."""
        out = [p.articles[article] for p in self._packs.values() if article in p.articles]
        return sorted(out, key=lambda v: v.effective_from)

    def superseded_from(self, version: ArticleVersion) -> tuple[dt.date, str] | None:
        return self._cut.get((version.pack_id, version.article))

    def in_force_until(self, version: ArticleVersion) -> dt.date | None:
        """Last day the version judges events, taking successors into account."""
        cut = self.superseded_from(version)
        if cut is None:
            return version.effective_to
        last = cut[0] - dt.timedelta(days=1)
        return last if version.effective_to is None else min(last, version.effective_to)

    def resolve(self, article: str, on: dt.date, pack_id: str | None = None) -> ArticleVersion | None:
        """The article version that judges an event on ``on`` (None: no policy in force)."""
        key = (article, on, pack_id)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        if pack_id is not None:
            version = self.pack(pack_id).articles.get(article)
            found = version if version is not None and version.in_effect(on) else None
        else:
            candidates = []
            for pack in self._packs.values():
                version = pack.articles.get(article)
                if version is None or not version.in_effect(on):
                    continue
                cut = self._cut.get((pack.id, article))
                if cut is not None and cut[0] <= on:
                    continue
                candidates.append(version)
            if len(candidates) > 1:
                names = ", ".join(v.pack_id for v in candidates)
                raise PolicyError(
                    f"packs {names} all put {article} in force on {on} and none supersedes the others; "
                    "add a 'supersedes' entry or choose one with --pack",
                    field="pack",
                    article=article,
                )
            found = candidates[0] if candidates else None
        if len(self._resolved) > 100_000:
            self._resolved.clear()
        self._resolved[key] = found
        return found

    def knows(self, article: str) -> bool:
        return any(article in p.articles for p in self._packs.values())


def load_pack_set(
    *dirs: str | Path, include_builtin: bool = True, files: Sequence[str | Path] = ()
) -> PackSet:
    """The shipped packs plus every ``*.yaml`` in ``dirs`` (missing directories are skipped) and ``files``."""
    paths: list[Path] = []
    if include_builtin:
        paths.extend(sorted(builtin_pack_dir().glob("*.yaml")))
    for d in dirs:
        p = Path(d)
        if p.is_dir():
            paths.extend(sorted(p.glob("*.yaml")))
    paths.extend(Path(f) for f in files)
    return PackSet(load_pack(p) for p in paths)


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


def as_params(version: ArticleVersion, on: dt.date) -> dict[str, Any]:
    """Every parameter value in force on ``on``."""
    return {name: p.at(on) for name, p in version.parameters.items()}
