"""The open-data catalog as values (art. 3): openness, themes, publishers and who manages what, a
dataset's fields checked one by one, grants, quarters, and the opening bulletin's figures and ranking.

Pure: no database, no clock. The service layer reads rows into these values and writes the results.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import ValidationError
from zhisuan.core.regions import is_city
from zhisuan.core.text import clean_name, clean_text

#: the province's own departments publish under this division code (a city code otherwise)
PROVINCE_CODE = "340000"
MAX_TITLE = 200
MAX_DESCRIPTION = 8000


class Openness(StrEnum):
    UNCONDITIONAL = "unconditional"  # 无条件开放
    CONDITIONAL = "conditional"  # 有条件开放: a grant is needed to download
    NOT_OPEN = "not_open"  # 不予开放: listed, never downloaded


OPENNESS_ZH = {
    Openness.UNCONDITIONAL: "无条件开放",
    Openness.CONDITIONAL: "有条件开放",
    Openness.NOT_OPEN: "不予开放",
}


class DatasetState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class RequestState(StrEnum):
    PENDING = "pending"
    GRANTED = "granted"
    REFUSED = "refused"
    EXPIRED = "expired"  # granted, and the grant's last day has passed (read, never stored)


REQUEST_ZH = {
    RequestState.PENDING: "待答复",
    RequestState.GRANTED: "已同意",
    RequestState.REFUSED: "已拒绝",
    RequestState.EXPIRED: "已到期",
}

#: themes of the catalog (art. 3 names the first three); code → (zh, en)
THEMES: Mapping[str, tuple[str, str]] = {
    "egov_documents": ("政务文件", "e-government documents"),
    "archives": ("档案", "archives"),
    "local_chronicles": ("地方志", "local chronicles"),
    "transport": ("交通运输", "transport"),
    "health": ("医疗卫生", "health"),
    "education": ("教育科研", "education and research"),
    "economy": ("经济运行", "economy"),
    "environment": ("生态环境", "environment"),
    "agriculture": ("农业农村", "agriculture"),
    "culture_tourism": ("文化旅游", "culture and tourism"),
    "geography": ("地理空间", "geography"),
    "society": ("社会民生", "society"),
}

FORMATS = ("CSV", "XLSX", "JSON", "XML", "PDF", "TXT", "API", "SHP", "ZIP")

#: update frequency → (zh, the EU frequency vocabulary's code used in DCAT-AP)
FREQUENCIES: Mapping[str, tuple[str, str]] = {
    "realtime": ("实时", "CONT"),
    "daily": ("每日", "DAILY"),
    "weekly": ("每周", "WEEKLY"),
    "monthly": ("每月", "MONTHLY"),
    "quarterly": ("每季度", "QUARTERLY"),
    "yearly": ("每年", "ANNUAL"),
    "irregular": ("不定期", "IRREG"),
    "never": ("不更新", "NEVER"),
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# publishers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who publishes an entry: a city (``city:340100``) or a provincial department (``org:12``)."""

    key: str
    name: str
    city_code: str

    @property
    def is_city(self) -> bool:
        return self.key.startswith("city:")


def city_publisher(code: str, name: str) -> Publisher:
    return Publisher(f"city:{code}", name, code)


def org_publisher(org_id: int, name: str, city_code: str | None) -> Publisher:
    return Publisher(f"org:{org_id}", name, city_code or PROVINCE_CODE)


def is_steward(who: Principal) -> bool:
    """The data bureau (and administrators) manage every entry and answer every request."""
    return who.role in {Role.DATA_BUREAU, Role.ADMIN}


def own_publisher_key(who: Principal) -> str | None:
    """The publisher a caller publishes as: a city's users for their city, a department's members
    (an organization's users) for their organization; None for everyone else."""
    if who.role is Role.CITY and who.city_code:
        return f"city:{who.city_code}"
    if who.role in {Role.USER, Role.ORG_ADMIN} and who.org_id is not None:
        return f"org:{who.org_id}"
    return None


def may_manage(who: Principal, publisher_key: str) -> bool:
    """Whether ``who`` may edit entries of ``publisher_key`` and answer requests for them.

    >>> may_manage(Principal(None, "hf", Role.CITY, city_code="340100"), "city:340100")
    True
    >>> may_manage(Principal(None, "hf", Role.CITY, city_code="340100"), "city:340200")
    False
    """
    return is_steward(who) or (own_publisher_key(who) == publisher_key)


# a dataset's fields -------------------------------------------------------------------------------


def _text(data: Mapping[str, object], name: str, limit: int, *, required: bool = True) -> str:
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise ValidationError("is required", field=name)
        return ""
    if not isinstance(raw, str):
        raise ValidationError("must be text", field=name)
    if limit <= MAX_TITLE:
        return clean_name(raw, name, max_length=limit)
    return clean_text(raw.strip(), name, max_length=limit)


def _choices(raw: object, name: str, allowed: Iterable[str], *, upper: bool = False) -> list[str]:
    if isinstance(raw, str):
        raw = [p for p in re.split(r"[;,；，、\s]+", raw) if p]
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationError("give at least one value", field=name)
    known = list(allowed)
    out: list[str] = []
    for item in raw:
        value = str(item).strip()
        value = value.upper() if upper else value
        if value not in known:
            raise ValidationError(f"{value!r} is not one of {', '.join(known)}", field=name)
        if value not in out:
            out.append(value)
    return out


def _count(raw: object, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValidationError("must be a whole number", field=name)
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError("must be a whole number", field=name) from None
    if not 0 <= value <= 10**15:
        raise ValidationError("must be between 0 and 10^15", field=name)
    return value


def theme_code(value: str) -> str:
    """A theme given by its code or its Chinese name."""
    for code, (zh, en) in THEMES.items():
        if value in {code, zh, en}:
            return code
    return value


@dataclass(frozen=True, slots=True)
class DatasetFields:
    """A dataset's fields as a publisher gave them, each checked (the first bad one is named)."""

    title: str
    description: str
    themes: tuple[str, ...]
    keywords: tuple[str, ...]
    openness: Openness
    conditions: str
    formats: tuple[str, ...]
    update_frequency: str
    records: int | None
    byte_size: int | None
    contact_name: str
    contact_email: str

    @classmethod
    def check(cls, data: Mapping[str, object]) -> DatasetFields:
        """Check every field; a conditional dataset states its conditions."""
        title = _text(data, "title", MAX_TITLE)
        description = _text(data, "description", MAX_DESCRIPTION)
        raw_themes = data.get("themes")
        if isinstance(raw_themes, str):
            raw_themes = [p for p in re.split(r"[;,；，、\s]+", raw_themes) if p]
        themes = _choices(
            [theme_code(str(t)) for t in raw_themes] if isinstance(raw_themes, list | tuple) else raw_themes,
            "themes",
            THEMES,
        )
        raw_kw = data.get("keywords") or []
        if isinstance(raw_kw, str):
            raw_kw = [p for p in re.split(r"[;,；，、]+", raw_kw) if p.strip()]
        if not isinstance(raw_kw, list | tuple) or len(raw_kw) > 20:
            raise ValidationError("at most 20 keywords", field="keywords")
        keywords = tuple(clean_name(str(k), "keywords", max_length=40) for k in raw_kw)
        try:
            openness = Openness(str(data.get("openness")))
        except ValueError:
            by_zh = {zh: o for o, zh in OPENNESS_ZH.items()}
            if str(data.get("openness")) not in by_zh:
                raise ValidationError(
                    f"one of {', '.join(o.value for o in Openness)}", field="openness"
                ) from None
            openness = by_zh[str(data.get("openness"))]
        conditions = _text(data, "conditions", 2000, required=openness is Openness.CONDITIONAL)
        formats = _choices(data.get("formats"), "formats", FORMATS, upper=True)
        freq = str(data.get("update_frequency") or "")
        by_zh_freq = {zh: code for code, (zh, _) in FREQUENCIES.items()}
        freq = by_zh_freq.get(freq, freq)
        if freq not in FREQUENCIES:
            raise ValidationError(f"one of {', '.join(FREQUENCIES)}", field="update_frequency")
        contact_email = _text(data, "contact_email", 200)
        if not _EMAIL.match(contact_email):
            raise ValidationError("an e-mail address such as data@example.gov.cn", field="contact_email")
        return cls(
            title=title,
            description=description,
            themes=tuple(themes),
            keywords=keywords,
            openness=openness,
            conditions=conditions,
            formats=tuple(formats),
            update_frequency=freq,
            records=_count(data.get("records"), "records"),
            byte_size=_count(data.get("byte_size"), "byte_size"),
            contact_name=_text(data, "contact_name", 100),
            contact_email=contact_email,
        )


# grants -------------------------------------------------------------------------------------------


def request_state(stored: str, expires_on: dt.date | None, today: dt.date) -> RequestState:
    """A request's state today: a grant past its last day (Asia/Shanghai) reads as expired.

    >>> request_state("granted", dt.date(2025, 6, 30), dt.date(2025, 6, 30)).value
    'granted'
    >>> request_state("granted", dt.date(2025, 6, 30), dt.date(2025, 7, 1)).value
    'expired'
    """
    state = RequestState(stored)
    if state is RequestState.GRANTED and expires_on is not None and today > expires_on:
        return RequestState.EXPIRED
    return state


def grant_covers(states: Iterable[RequestState]) -> bool:
    """Whether any of a requester's requests for a dataset is an active grant."""
    return any(s is RequestState.GRANTED for s in states)


# quarters and bulletins ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Quarter:
    """A calendar quarter of Asia/Shanghai days, half-open ``[start, end)``.

    >>> q = Quarter.parse("2025Q2"); (q.start.isoformat(), q.end.isoformat(), str(q))
    ('2025-04-01', '2025-07-01', '2025Q2')
    """

    year: int
    number: int

    @classmethod
    def parse(cls, text: object, field: str = "period") -> Quarter:
        match = re.fullmatch(r"(\d{4})\s*-?\s*Q([1-4])", str(text).strip().upper())
        if not match or not 2000 <= int(match.group(1)) <= 2100:
            raise ValidationError("a quarter such as 2025Q2", field=field)
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> dt.date:
        return (
            dt.date(self.year + 1, 1, 1) if self.number == 4 else dt.date(self.year, 3 * self.number + 1, 1)
        )

    def holds(self, day: dt.date | None) -> bool:
        return day is not None and self.start <= day < self.end

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


@dataclass(frozen=True, slots=True)
class OpenedFact:
    """A dataset as the bulletin counts it: whose, and the Shanghai day it was first published."""

    publisher_key: str
    issued_on: dt.date | None


@dataclass(frozen=True, slots=True)
class RequestFact:
    """A sharing request as the bulletin counts it (Shanghai days; hours to answer, if answered)."""

    publisher_key: str
    requested_on: dt.date
    answered_on: dt.date | None
    refused: bool
    hours_to_answer: float | None


@dataclass(frozen=True, slots=True)
class BulletinLine:
    """One publisher's figures of a quarter and its rank."""

    publisher_key: str
    publisher_name: str
    kind: str  # "city" or "department"
    opened: int
    opened_total: int
    received: int
    answered: int
    refused: int
    median_hours: float | None
    rank: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "publisher_key": self.publisher_key,
            "publisher": self.publisher_name,
            "kind": self.kind,
            "opened": self.opened,
            "opened_total": self.opened_total,
            "received": self.received,
            "answered": self.answered,
            "refused": self.refused,
            "median_hours_to_answer": self.median_hours,
            "rank": self.rank,
        }


def bulletin_lines(
    quarter: Quarter,
    publishers: Mapping[str, str],
    opened: Sequence[OpenedFact],
    requests: Sequence[RequestFact],
) -> list[BulletinLine]:
    """Per publisher: datasets first published in the quarter (and to its end), requests received in
    it, requests answered in it (of which refused) and the median hours to answer those; ranked.

    Ranking: more datasets opened in the quarter, then a higher share of the quarter's requests
    answered, then a shorter median time to answer, then the name.
    """
    lines: list[BulletinLine] = []
    for key, name in publishers.items():
        mine_open = [o for o in opened if o.publisher_key == key]
        mine_req = [r for r in requests if r.publisher_key == key]
        answered = [r for r in mine_req if quarter.holds(r.answered_on)]
        hours = [r.hours_to_answer for r in answered if r.hours_to_answer is not None]
        lines.append(
            BulletinLine(
                publisher_key=key,
                publisher_name=name,
                kind="city" if key.startswith("city:") else "department",
                opened=sum(1 for o in mine_open if quarter.holds(o.issued_on)),
                opened_total=sum(
                    1 for o in mine_open if o.issued_on is not None and o.issued_on < quarter.end
                ),
                received=sum(1 for r in mine_req if quarter.holds(r.requested_on)),
                answered=len(answered),
                refused=sum(1 for r in answered if r.refused),
                median_hours=round(statistics.median(hours), 1) if hours else None,
            )
        )

    def order(line: BulletinLine) -> tuple[float, float, float, str]:
        rate = line.answered / line.received if line.received else 1.0
        median = line.median_hours if line.median_hours is not None else float("inf")
        return (-line.opened, -rate, median, line.publisher_key)

    ranked = sorted(lines, key=order)
    return [replace(line, rank=i) for i, line in enumerate(ranked, start=1)]


def check_city(code: object, field: str = "city") -> str:
    text = str(code or "").strip()
    if not is_city(text):
        raise ValidationError("a city's 6-digit division code in Anhui, such as 340100", field=field)
    return text


__all__ = [
    "FORMATS",
    "FREQUENCIES",
    "MAX_DESCRIPTION",
    "MAX_TITLE",
    "OPENNESS_ZH",
    "PROVINCE_CODE",
    "REQUEST_ZH",
    "THEMES",
    "BulletinLine",
    "DatasetFields",
    "DatasetState",
    "OpenedFact",
    "Openness",
    "Publisher",
    "Quarter",
    "RequestFact",
    "RequestState",
    "bulletin_lines",
    "check_city",
    "city_publisher",
    "grant_covers",
    "is_steward",
    "may_manage",
    "org_publisher",
    "own_publisher_key",
    "request_state",
    "theme_code",
]
