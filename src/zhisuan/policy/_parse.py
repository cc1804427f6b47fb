"""The loader's field parsers: every key of a pack checked, every error located (file, line, key)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction

from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Rounding, bounded_decimal
from zhisuan.core.regions import is_city
from zhisuan.policy._yaml import MarkedDict, MarkedList
from zhisuan.policy.errors import PackError
from zhisuan.policy.schema import (
    CITY_CODE,
    COMPARE_OPS,
    FACT_TYPES,
    ORDERED,
    PARAM_TYPES,
    PERIOD_OPS,
    SET_OPS,
    UNARY_OPS,
    Check,
    FactSpec,
    Operand,
    Parameter,
    ParamVersion,
)


class Ctx:
    """Keeps the file name so that every error says where it is."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(
        self, node: MarkedDict | MarkedList | None, key: str | int | None, path: str, msg: str
    ) -> PackError:
        """A :class:`PackError` located at ``node[key]`` (or the node itself)."""
        line: int | None = None
        if isinstance(node, MarkedDict):
            line = node.line_of(str(key)) if key is not None else node.line
        elif isinstance(node, MarkedList):
            line = node.line_of(key) if isinstance(key, int) else node.line
        return PackError(msg, file=self.file, line=line, key=path)

    def mapping(self, node: MarkedDict, key: str, path: str, *, required: bool = True) -> MarkedDict | None:
        """A mapping under ``key`` (None when optional and absent)."""
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None if key not in node else key, path, "required mapping is missing")
            return None
        if not isinstance(value, MarkedDict):
            raise self.fail(node, key, path, f"must be a mapping, got {type(value).__name__}")
        return value

    def text(self, node: MarkedDict, key: str, path: str, *, required: bool = True, default: str = "") -> str:
        """Text under ``key`` (numbers are read as their text)."""
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None if key not in node else key, path, "required text is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(node, key, path, f"must be text, got {type(value).__name__}")
        return str(value)

    def texts(self, node: MarkedDict, key: str, path: str) -> tuple[str, ...]:
        """A list of text under ``key`` (empty when absent)."""
        value = node.get(key)
        if value is None:
            return ()
        if not isinstance(value, MarkedList) or not all(isinstance(v, str | int) for v in value):
            raise self.fail(node, key, path, "must be a list of text")
        return tuple(str(v) for v in value)

    def date(self, node: MarkedDict, key: str, path: str, *, required: bool = True) -> dt.date | None:
        """An ISO date under ``key`` (None when optional and absent)."""
        value = node.get(key)
        if value is None:
            if required:
                raise self.fail(node, None if key not in node else key, path, "required date is missing")
            return None
        parsed = as_date(value)
        if parsed is None:
            raise self.fail(node, key, path, f"must be an ISO date YYYY-MM-DD, got {value!r}")
        return parsed

    def only(self, node: MarkedDict, allowed: Iterable[str], path: str) -> None:
        """Refuse any key not in ``allowed`` (typos are errors, not ignored)."""
        allowed_set = set(allowed)
        for key in node:
            if key not in allowed_set:
                raise self.fail(
                    node,
                    key,
                    f"{path}.{key}" if path else key,
                    f"unknown key; expected one of: {', '.join(sorted(allowed_set))}",
                )


def as_date(value: object) -> dt.date | None:
    """A calendar date from a YAML date or ISO text (None for anything else, timestamps too)."""
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
        try:
            return Fraction(bounded_decimal(value, None))
        except ValidationError:
            return None
    if isinstance(value, str):
        text = value.strip().replace(",", "").replace("_", "")
        scale = Fraction(1)
        if percent and text.endswith("%"):
            text, scale = text[:-1].strip(), Fraction(1, 100)
        try:
            # bounded before any arithmetic: '1E+999999999' is refused, not expanded
            if "/" in text:
                num, _, den = text.partition("/")
                frac = Fraction(bounded_decimal(num, None)) / Fraction(bounded_decimal(den, None))
            else:
                frac = Fraction(bounded_decimal(text, None))
        except (ArithmeticError, ValueError, ValidationError):
            return None
        return frac * scale
    return None


def _param_value(
    ctx: Ctx, ptype: str, raw: object, node: MarkedDict, key: str, path: str, choices: tuple[str, ...]
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
        day = as_date(raw)
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


def _provisional(ctx: Ctx, node: MarkedDict, path: str) -> tuple[bool, str | None]:
    """``provisional: true`` with its ``note`` (required then: say what is not known and why)."""
    flag = node.get("provisional", False)
    if not isinstance(flag, bool):
        raise ctx.fail(node, "provisional", f"{path}.provisional", "must be true or false")
    note = ctx.text(node, "note", f"{path}.note", required=False) or None
    if flag and note is None:
        raise ctx.fail(
            node, "provisional", f"{path}.note", "a provisional value needs a 'note' saying what is not known"
        )
    return flag, note


def parse_parameter(
    ctx: Ctx, name: str, node: object, parent: MarkedDict, path: str, default_start: dt.date
) -> Parameter:
    """One dated parameter (``value`` or ``history``), every version checked against its type."""
    if not isinstance(node, MarkedDict):
        raise ctx.fail(parent, name, path, "a parameter is a mapping with 'type' and 'value' or 'history'")
    ctx.only(
        node,
        {
            "type",
            "value",
            "history",
            "unit",
            "description_zh",
            "description_en",
            "choices",
            "provisional",
            "note",
            "min",
        },
        path,
    )
    ptype = ctx.text(node, "type", f"{path}.type")
    if ptype not in PARAM_TYPES:
        raise ctx.fail(
            node, "type", f"{path}.type", f"unknown type {ptype!r}; one of {', '.join(sorted(PARAM_TYPES))}"
        )
    choices = ctx.texts(node, "choices", f"{path}.choices")
    if ptype == "choice" and not choices:
        raise ctx.fail(node, "type", f"{path}.choices", "a choice parameter lists its 'choices'")
    minimum: Fraction | None = None
    if "min" in node:
        if ptype in {"money", "number", "count", "rate"}:
            minimum = parse_fraction(node["min"], percent=ptype == "rate")
        if minimum is None:
            raise ctx.fail(
                node,
                "min",
                f"{path}.min",
                "a lower bound is a number, for a money, number, count or rate parameter",
            )

    def value(holder: MarkedDict, vpath: str) -> object:
        found = _param_value(ctx, ptype, holder["value"], holder, "value", vpath, choices)
        if minimum is not None and found is not None and found < minimum:  # type: ignore[operator]
            raise ctx.fail(holder, "value", vpath, f"must be at least {node['min']}, got {holder['value']}")
        return found

    has_value, has_history = "value" in node, "history" in node
    if has_value == has_history:
        raise ctx.fail(node, None, path, "give exactly one of 'value' or 'history'")
    # a whole parameter may be provisional (every version), or one dated version of it
    all_provisional, all_note = _provisional(ctx, node, path)
    versions: list[ParamVersion] = []
    if has_value:
        versions.append(
            ParamVersion(
                default_start,
                value(node, f"{path}.value"),
                all_provisional,
                all_note,
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
            ctx.only(item, {"from", "value", "note", "provisional"}, ipath)
            provisional, note = _provisional(ctx, item, ipath)
            start = ctx.date(item, "from", f"{ipath}.from")
            assert start is not None
            if "value" not in item:
                raise ctx.fail(item, None, f"{ipath}.value", "required value is missing")
            if versions and start <= versions[-1].start:
                raise ctx.fail(item, "from", f"{ipath}.from", "versions must be in increasing date order")
            versions.append(
                ParamVersion(
                    start,
                    value(item, f"{ipath}.value"),
                    provisional or all_provisional,
                    note or all_note,
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


def parse_fact(ctx: Ctx, name: str, node: object, parent: MarkedDict, path: str) -> FactSpec:
    """One fact an article takes: its type, whether required, enum values, minimum."""
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


def parse_check(
    ctx: Ctx,
    node: object,
    parent: MarkedDict | MarkedList,
    key: str | int,
    path: str,
    facts: Mapping[str, FactSpec],
    params: Mapping[str, Parameter],
) -> Check:
    """One check (compare, truth, membership, ratio, period or ``any``) on declared facts and parameters."""
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
                parse_check(ctx, item, items, i, f"{path}.any[{i}]", facts, params)
                for i, item in enumerate(items)
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
                value = as_date(value)
                if value is None:
                    raise ctx.fail(node, "value", f"{path}.value", "not an ISO date")
    return Check(op=op, fact=fact_name, ratio=ratio, parameter=param, value=value)


def parse_operand(
    ctx: Ctx,
    node: MarkedDict,
    key: str,
    path: str,
    facts: Mapping[str, FactSpec],
    params: Mapping[str, Parameter],
    kinds: set[str],
) -> Operand:
    """A formula operand: ``{fact: NAME}`` or ``{parameter: NAME}`` of one of ``kinds``."""
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
