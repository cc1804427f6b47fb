"""How values read on the pages and in exports: city names for codes, ¥ amounts, Shanghai times, steps.

One place for every page and every Excel export, so that 340100 reads 合肥市 everywhere and an
explanation step on a Chinese page is Chinese.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from zhisuan.core.clock import SHANGHAI
from zhisuan.core.regions import all_cities
from zhisuan.policy.decision import Step
from zhisuan.web.i18n import gettext

_CODE = re.compile(r"\b(3[0-9]{5})\b")
#: fact and parameter names inside a step's result ('spend 960.00 × 20%', 'in_province = 是'): snake_case
#: words, and a few plain ones formulas use; each is replaced when the catalog has it
_NAME = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+|spend|down|up|none|true|false)\b")


def city_name(code: object, lang: str = "zh") -> str:
    """A division code as the city's name in ``lang`` ('—' for none; an unknown code as it is)."""
    if code is None or code == "":
        return "—"
    for c in all_cities():
        if c.code == str(code):
            return c.name(lang)
    return str(code)


def with_city_names(text: str, lang: str = "zh") -> str:
    """Division codes in a sentence as city names: 'city 341300 属皖北' → 'city 宿州市 属皖北'."""
    names: dict[str, str] = {str(c.code): c.name(lang) for c in all_cities()}
    return _CODE.sub(lambda m: names.get(m.group(1), m.group(1)), text)


def _names_in(text: str, lang: str) -> str:
    """Fact and parameter names inside a sentence in ``lang``'s words (those the catalogs know)."""
    if lang == "en":
        return text
    return _NAME.sub(lambda m: gettext(lang, m.group(1)), text)


def yuan(amount: object, sign: bool = True) -> str:
    """An amount in yuan as ``¥1,234,567.80`` (two places, thousands separators); '—' for none.

    >>> yuan("1234567.8"), yuan(0), yuan(None), yuan("-5.5", sign=False)
    ('¥1,234,567.80', '¥0.00', '—', '-5.50')
    """
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    text = f"{value:,.2f}"
    if not sign:
        return text
    return f"-¥{text[1:]}" if text.startswith("-") else f"¥{text}"


def shanghai(when: object, seconds: bool = False) -> str:
    """A timestamp (aware UTC inside) as a Shanghai wall-clock time; a date as ISO; '—' for none."""
    if when is None or when == "":
        return "—"
    if isinstance(when, str):
        text = when
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return f"{when.astimezone(SHANGHAI):%Y-%m-%d %H:%M{':%S' if seconds else ''}}"
    if isinstance(when, dt.date):
        return when.isoformat()
    return str(when)


def step_text(step: Mapping[str, object] | Step, lang: str = "zh") -> dict[str, str]:
    """An explanation step for a page in ``lang``: its Chinese result when it has one, words for its rule
    and parameter from the catalogs, and city names for division codes. ``step`` is the policy engine's
    :class:`Step` or a stored step (settlement keeps them as dicts)."""
    if isinstance(step, Step):
        step = step._asdict()
    result = (
        str(step.get("result_zh") or step.get("result") or "")
        if lang == "zh"
        else str(step.get("result", ""))
    )
    return {
        "article": str(step.get("article", "")),
        "rule": gettext(lang, str(step.get("rule", ""))),
        "parameter": gettext(lang, str(step.get("parameter", ""))),
        "value": with_city_names(gettext(lang, str(step.get("value", ""))), lang),
        "result": with_city_names(_names_in(gettext(lang, result), lang), lang),
    }


__all__ = ["city_name", "shanghai", "step_text", "with_city_names", "yuan"]
