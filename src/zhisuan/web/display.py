"""How values read on the pages and in exports: city names for codes, ¥ amounts, Shanghai times, steps.

One place for every page and every Excel export, so that 340100 reads 合肥市 everywhere and an
explanation step on a Chinese page is Chinese.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from zhisuan.core.clock import SHANGHAI
from zhisuan.core.regions import all_cities
from zhisuan.policy.decision import Step
from zhisuan.policy.schema import ArticleVersion
from zhisuan.web.i18n import gettext

_CODE = re.compile(r"\b(3[0-9]{5})\b")
#: settlement's self-use step names the two organizations by id ('user 7, operator 3'); pages show names
_ORG_PAIR = re.compile(r"^user (\d+), operator (\d+)$")
#: any lowercase word in a Chinese result ('spend 960.00 × 20%', 'in_province = 是'): a fact's,
#: parameter's or value's name, replaced when the pack or the catalogs know it
_ARTICLE = re.compile(r"art(\d+)([a-z]?)")
_WORD = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\b")


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


#: names made of parts that steps carry (a budget account, a re-evaluated line): read as a sentence
_PATTERNS = (
    (re.compile(r"program_budget:(\w+):(\d{4})"), "program budget {1} of {0}"),
    (re.compile(r"provisional voucher line (\d+)"), "provisional voucher line {0}"),
)


def _word(name: str, lang: str, words: Mapping[str, str]) -> str:
    """A name in ``lang``: the catalogs' word, the pack's, a known pattern's, or a list of them
    ('a, b' and 'a | b' word by word)."""
    for sep, joined in ((" | ", " | "), (", ", "、" if lang == "zh" else ", ")):
        if sep in name:
            return joined.join(_word(part, lang, words) for part in name.split(sep))
    for pattern, msgid in _PATTERNS:
        m = pattern.fullmatch(name)
        if m:
            return gettext(lang, msgid).format(*(article_name(g, lang) for g in m.groups()))
    said = gettext(lang, name)  # the catalogs' short words first; the pack's descriptions fill the gaps
    return said if said != name else words.get(name, name)


def _names_in(text: str, lang: str, words: Mapping[str, str]) -> str:
    """Fact and parameter names inside a sentence in ``lang``'s words (the catalogs', or the pack's)."""
    if lang == "en":
        return text
    return _WORD.sub(lambda m: _word(m.group(1), lang, words), text)


def pack_words(version: ArticleVersion | None, lang: str = "zh") -> dict[str, str]:
    """An article's fact, parameter and part names in ``lang`` as its pack describes them, for
    :func:`step_text` (English pages keep the names)."""
    if version is None or lang == "en":
        return {}
    words = {p.id: p.name_zh for p in version.parts}
    words |= {n: p.description_zh for n, p in version.parameters.items() if p.description_zh}
    words |= {f.name: f.description_zh for f in version.facts if f.description_zh}
    return words


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


def one_language(text: str, lang: str = "zh") -> str:
    """A text stored in both languages (``中文 / English``, as a decision's reasons are frozen) in
    ``lang`` alone; a text in one language as it is.

    >>> one_language("不符合条件 / not eligible", "en")
    'not eligible'
    >>> one_language("不符合条件 / not eligible")
    '不符合条件'
    """
    zh, sep, en = text.partition(" / ")
    if not sep:
        return text
    return zh if lang == "zh" else en


def article_name(article: str, lang: str = "zh") -> str:
    """An article id as people read it: 'art11a' → '第 11 条（a）' in Chinese; as it is otherwise."""
    m = _ARTICLE.fullmatch(article)
    if m is None or lang == "en":
        return article
    return f"第 {m[1]} 条" + (f"（{m[2]}）" if m[2] else "")


def step_org_ids(steps: Iterable[Mapping[str, object]]) -> set[int]:
    """The organizations a list of stored steps names by id (for :func:`step_text`'s ``orgs``)."""
    ids: set[int] = set()
    for step in steps:
        pair = _ORG_PAIR.match(str(step.get("value", "")))
        if pair:
            ids |= {int(pair[1]), int(pair[2])}
    return ids


def _value(step: Mapping[str, object], lang: str, orgs: Mapping[int, str], words: Mapping[str, str]) -> str:
    value = str(step.get("value", ""))
    pair = _ORG_PAIR.match(value)
    if pair:
        user, operator = (orgs.get(int(pair[i]), f"#{pair[i]}") for i in (1, 2))
        return gettext(lang, "user {user}, operator {operator}").format(user=user, operator=operator)
    return with_city_names(_word(value, lang, words), lang)


def step_text(
    step: Mapping[str, object] | Step,
    lang: str = "zh",
    orgs: Mapping[int, str] | None = None,
    words: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """An explanation step for a page in ``lang``: its Chinese result when it has one, words for its rule
    and parameter (the pack's, ``words`` from :func:`pack_words`, or the catalogs'), city names for
    division codes and organizations' names (``orgs``, by id) for their ids. ``step`` is the policy
    engine's :class:`Step` or a stored step (settlement keeps them as dicts)."""
    if isinstance(step, Step):
        step = step._asdict()
    result = (
        str(step.get("result_zh") or step.get("result") or "")
        if lang == "zh"
        else str(step.get("result", ""))
    )
    return {
        "article": article_name(str(step.get("article", "")), lang),
        "rule": _word(str(step.get("rule", "")), lang, words or {}),
        "parameter": _word(str(step.get("parameter", "")), lang, words or {}),
        "value": _value(step, lang, orgs or {}, words or {}),
        "result": with_city_names(_names_in(gettext(lang, result), lang, words or {}), lang),
    }


__all__ = [
    "article_name",
    "city_name",
    "one_language",
    "pack_words",
    "shanghai",
    "step_org_ids",
    "step_text",
    "with_city_names",
    "yuan",
]
