"""What a registry is: a spec of typed fields with Chinese and English labels, a scope and a public flag.

One spec drives everything a registry does — checking a write, reading an import's rows, the columns
of an export and of a page — so the ten registries share one machinery. Values are checked here and
stored as JSON-safe values: money as integer fen, dates as ISO text, the rest as themselves.

>>> from zhisuan.registries.specs import SPECS
>>> parse_value(SPECS["funds"].field("committed"), "1234.5")
123450
>>> parse_value(SPECS["parks"].field("total_enterprises"), " 12 ")
12
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from zhisuan.core.clock import parse_date
from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Money
from zhisuan.core.regions import all_cities, is_city
from zhisuan.core.text import clean_name, clean_text
from zhisuan.policy import fen_text

#: the most a money field may hold: 10^15 yuan, in fen (fits a 64-bit integer with room)
MAX_FEN = 10**17
MAX_COUNT = 10**9
MAX_TEXT = 200
MAX_LONG_TEXT = 4000


class FieldType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    COUNT = "count"  # a whole number ≥ 0
    MONEY = "money"  # yuan, at most two decimals; stored as fen
    DATE = "date"  # YYYY-MM-DD, an Asia/Shanghai day
    BOOL = "bool"
    CHOICE = "choice"
    CITY = "city"  # a 6-digit division code (or the city's Chinese name in an import)
    REF = "ref"  # the id of another entry of the same registry (a sub-fund's fund)
    ORG = "org"  # the id of a platform organization


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its name (the API's and the CSV's English header), labels, type and whether required."""

    name: str
    zh: str
    en: str
    type: FieldType = FieldType.TEXT
    required: bool = False
    choices: tuple[Choice, ...] = ()
    #: shown to everybody when the registry is public (False: staff and the entry's scope only)
    public: bool = True

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)


#: the fields every registry has, kept in columns of their own (they decide scope and order)
TITLE, CITY, ORG, PARENT = "title", "city", "org_id", "parent_id"
COLUMNS = frozenset({TITLE, CITY, ORG, PARENT})


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    """A registry: its name in URLs, the article it serves, labels, scope, public flag and fields.

    ``scope`` names what an entry belongs to: ``city`` (a city official edits its own city's entries)
    or ``org`` (an entry also names a platform organization, which may read it).
    """

    name: str
    article: str
    zh: str
    en: str
    scope: str
    public: bool
    fields: tuple[FieldSpec, ...]
    #: the default order of a listing: a field name, "-" first for newest / largest first
    order: str = "-id"

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise ValidationError(
            f"registry {self.name} has no field {name!r} (it has: {', '.join(self.names())})", field=name
        )

    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def header(self, header: str) -> FieldSpec | None:
        """The field a file's column header names: its English name or its Chinese label."""
        key = header.strip()
        return next((f for f in self.fields if key in {f.name, f.zh}), None)

    def describe(self, lang: str = "zh") -> dict[str, object]:
        """The spec as the API shows it (labels in both languages)."""
        return {
            "name": self.name,
            "article": self.article,
            "label": self.label(lang),
            "zh": self.zh,
            "en": self.en,
            "scope": self.scope,
            "public": self.public,
            "fields": [
                {
                    "name": f.name,
                    "zh": f.zh,
                    "en": f.en,
                    "type": str(f.type),
                    "required": f.required,
                    "public": f.public,
                    "choices": [{"value": c.value, "zh": c.zh, "en": c.en} for c in f.choices],
                }
                for f in self.fields
            ],
        }


# values ----------------------------------------------------------------------------------------


def _city_code(raw: str, field: str) -> str:
    text = raw.strip()
    if is_city(text):
        return text
    for c in all_cities():
        if text in {c.name_zh, c.name_zh.removesuffix("市"), c.name_en}:
            return str(c.code)
    raise ValidationError(f"no city {text!r} (a division code such as 340100, or 合肥市)", field=field)


def _whole(raw: object, field: str, low: int, high: int) -> int:
    if isinstance(raw, (bool, float)):
        raise ValidationError("a whole number", field=field)
    if isinstance(raw, str):
        text = raw.strip()
        if not text.isdigit():
            raise ValidationError(f"a whole number, not {text!r}", field=field)
        raw = int(text)
    if not isinstance(raw, int) or not low <= raw <= high:
        raise ValidationError(f"a whole number from {low} to {high}", field=field)
    return raw


def _money(raw: object, field: str) -> int:
    if isinstance(raw, float):
        raise ValidationError("send amounts as decimal strings such as '12.34'", field=field)
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise ValidationError("an amount of yuan such as '12.34'", field=field)
    money = Money.parse(raw.replace(",", "").strip() if isinstance(raw, str) else raw, field=field)
    if not money.is_whole_fen():
        raise ValidationError("an amount has at most two decimals (fen)", field=field)
    fen = money.to_fen()
    if not 0 <= fen <= MAX_FEN:
        raise ValidationError("an amount from 0 to 10^15 yuan", field=field)
    return fen


_TRUE = {"true", "1", "yes", "y", "是", "√"}
_FALSE = {"false", "0", "no", "n", "否", "×"}


def _bool(raw: object, field: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValidationError("yes or no (是/否, true/false)", field=field)


def _choice(spec: FieldSpec, raw: object) -> str:
    if isinstance(raw, str):
        text = raw.strip()
        for c in spec.choices:
            if text in {c.value, c.zh, c.en}:
                return c.value
    allowed = ", ".join(f"{c.value} ({c.zh})" for c in spec.choices)
    raise ValidationError(f"one of: {allowed}", field=spec.name)


def is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse_value(spec: FieldSpec, raw: object) -> object:
    """``raw`` (JSON or a file's cell) as the stored value of ``spec``; blank is None."""
    name = spec.name
    if is_blank(raw):
        if spec.required:
            raise ValidationError("required", field=name)
        return None
    kind = spec.type
    if kind in {FieldType.TEXT, FieldType.LONG_TEXT}:
        if not isinstance(raw, str):
            raw = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else None
        if raw is None:
            raise ValidationError("text", field=name)
        if kind is FieldType.TEXT:
            return clean_name(raw, name, max_length=MAX_TEXT)
        return clean_text(raw.strip(), name, max_length=MAX_LONG_TEXT)
    if kind is FieldType.COUNT:
        return _whole(raw, name, 0, MAX_COUNT)
    if kind in {FieldType.REF, FieldType.ORG}:
        return _whole(raw, name, 1, 2**31 - 1)
    if kind is FieldType.MONEY:
        return _money(raw, name)
    if kind is FieldType.DATE:
        if isinstance(raw, dt.datetime):  # an Excel cell
            return raw.date().isoformat()
        if isinstance(raw, dt.date):
            return raw.isoformat()
        if not isinstance(raw, str):
            raise ValidationError("a date is YYYY-MM-DD", field=name)
        return parse_date(raw.strip(), name).isoformat()
    if kind is FieldType.BOOL:
        return _bool(raw, name)
    if kind is FieldType.CHOICE:
        return _choice(spec, raw)
    if not isinstance(raw, str):
        raise ValidationError("a division code such as 340100", field=name)
    return _city_code(raw, name)


def parse_entry(
    spec: RegistrySpec, raw: Mapping[str, object], *, current: Mapping[str, object] | None = None
) -> dict[str, object]:
    """Every field of an entry from ``raw`` (over ``current`` for a change): unknown fields are refused."""
    for key in raw:
        if not spec.has(key):
            raise ValidationError(
                f"registry {spec.name} has no field {key!r} (it has: {', '.join(spec.names())})", field=key
            )
    out: dict[str, object] = {}
    for f in spec.fields:
        if f.name in raw:
            out[f.name] = parse_value(f, raw[f.name])
        elif current is not None:
            out[f.name] = current.get(f.name)
        else:
            out[f.name] = parse_value(f, None)
    return out


def show_value(spec: FieldSpec, value: object, lang: str | None = None) -> object:
    """A stored value as the API shows it (money as yuan text); with ``lang``, as a person reads it."""
    if value is None:
        return None if lang is None else ""
    if spec.type is FieldType.MONEY and isinstance(value, int):
        return fen_text(value)
    if lang is None:
        return value
    if spec.type is FieldType.BOOL:
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if spec.type is FieldType.CHOICE:
        found = spec.choice(str(value))
        return found.zh if found and lang == "zh" else (found.en if found else value)
    return value


__all__ = [
    "CITY",
    "COLUMNS",
    "ORG",
    "PARENT",
    "TITLE",
    "Choice",
    "FieldSpec",
    "FieldType",
    "RegistrySpec",
    "is_blank",
    "parse_entry",
    "parse_value",
    "show_value",
]
