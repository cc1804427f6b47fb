"""The scenario bulletins of art. 6: a quarterly bulletin and an annual ranking of cities and departments.

Each counts, per city and per department, the scenarios opened, matched and completed inside the period
(by the day of each step, Asia/Shanghai). A draft is counted afresh whenever it is read; publishing
stores its figures, and a published bulletin never changes again — later edits of the scenarios show in
the next period's bulletin, not in this one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping

from sqlalchemy import select

from zhisuan import audit
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.core.regions import city as city_of
from zhisuan.registries.services import entries
from zhisuan.store.models.registries import ScenarioBulletinRow
from zhisuan.store.uow import UnitOfWork

STEPS = (("opened", "opened_on"), ("matched", "matched_on"), ("completed", "completed_on"))
KINDS = {"quarterly": "季度通报", "annual": "年度排名"}
STAFF = (Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU, Role.CITY)


def period_days(kind: str, period: str) -> tuple[dt.date, dt.date]:
    """The half-open days ``[start, end)`` of ``2025Q3`` (quarterly) or ``2025`` (annual).

    >>> period_days("quarterly", "2025Q4")
    (datetime.date(2025, 10, 1), datetime.date(2026, 1, 1))
    """
    if kind == "quarterly":
        found = re.fullmatch(r"(\d{4})Q([1-4])", period)
        if not found:
            raise ValidationError("a quarter is written 2025Q3", field="period")
        year, quarter = int(found[1]), int(found[2])
        start = dt.date(year, 3 * quarter - 2, 1)
        end = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
        return start, end
    if kind == "annual":
        if not re.fullmatch(r"\d{4}", period):
            raise ValidationError("a year is written 2025", field="period")
        return dt.date(int(period), 1, 1), dt.date(int(period) + 1, 1, 1)
    raise ValidationError("a bulletin is quarterly or annual", field="kind")


def _ranked(counts: Mapping[str, Counter[str]], names: Mapping[str, str]) -> list[dict[str, object]]:
    """Rows ranked by completed, then matched, then opened (equal figures share a rank)."""
    rows = sorted(
        counts.items(), key=lambda kv: (-kv[1]["completed"], -kv[1]["matched"], -kv[1]["opened"], kv[0])
    )
    out: list[dict[str, object]] = []
    previous: tuple[int, int, int] | None = None
    rank = 0
    for n, (key, c) in enumerate(rows, start=1):
        figures = (c["completed"], c["matched"], c["opened"])
        if figures != previous:
            rank, previous = n, figures
        out.append(
            {
                "rank": rank,
                "key": key,
                "name": names.get(key, key),
                "opened": c["opened"],
                "matched": c["matched"],
                "completed": c["completed"],
            }
        )
    return out


def tally(scenarios: Iterable[Mapping[str, object]], start: dt.date, end: dt.date) -> dict[str, object]:
    """Per city and per department: scenarios opened, matched and completed in ``[start, end)``."""
    cities: dict[str, Counter[str]] = {}
    departments: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for values in scenarios:
        for step, day_field in STEPS:
            raw = values.get(day_field)
            if not isinstance(raw, str) or not start <= dt.date.fromisoformat(raw) < end:
                continue
            totals[step] += 1
            city = values.get("city")
            if isinstance(city, str):
                cities.setdefault(city, Counter())[step] += 1
            departments.setdefault(str(values.get("department")), Counter())[step] += 1
    names = {code: city_of(code).name_zh for code in cities}
    return {
        "cities": _ranked(cities, names),
        "departments": _ranked(departments, {}),
        "totals": {step: totals[step] for step, _ in STEPS},
    }


def _row(uow: UnitOfWork, bulletin_id: int) -> ScenarioBulletinRow:
    row = uow.session.get(ScenarioBulletinRow, bulletin_id) if 1 <= bulletin_id <= 2**31 - 1 else None
    if row is None:
        raise NotFoundError("no such bulletin", field="bulletin_id")
    return row


def _figures(uow: UnitOfWork, row: ScenarioBulletinRow) -> dict[str, object]:
    if row.figures is not None:
        frozen: dict[str, object] = json.loads(row.figures)
        return frozen
    start, end = period_days(row.kind, row.period)
    return tally((v for _, v in entries(uow, "scenarios")), start, end)


def bulletin_dict(uow: UnitOfWork, row: ScenarioBulletinRow) -> dict[str, object]:
    start, end = period_days(row.kind, row.period)
    return {
        "id": row.id,
        "kind": row.kind,
        "kind_zh": KINDS[row.kind],
        "period": row.period,
        "from": start.isoformat(),
        "to": (end - dt.timedelta(days=1)).isoformat(),
        "state": row.state,
        "published_by": row.published_by,
        "published_at": row.published_at.isoformat() if row.published_at else None,
        **_figures(uow, row),
    }


def _may_see_drafts(who: Principal) -> bool:
    return who.role is Role.ADMIN or who.role in STAFF


def list_bulletins(uow: UnitOfWork, who: Principal) -> list[dict[str, object]]:
    """Published bulletins (everybody), and drafts too for officials."""
    q = select(ScenarioBulletinRow).order_by(ScenarioBulletinRow.period.desc(), ScenarioBulletinRow.kind)
    if not _may_see_drafts(who):
        q = q.where(ScenarioBulletinRow.state == "published")
    return [
        {"id": r.id, "kind": r.kind, "kind_zh": KINDS[r.kind], "period": r.period, "state": r.state}
        for r in uow.session.execute(q).scalars()
    ]


def get_bulletin(uow: UnitOfWork, who: Principal, bulletin_id: int) -> dict[str, object]:
    row = _row(uow, bulletin_id)
    if row.state != "published" and not _may_see_drafts(who):
        raise NotFoundError("no such bulletin", field="bulletin_id")
    return bulletin_dict(uow, row)


def draft_bulletin(
    uow: UnitOfWork, who: Principal, clock: Clock, kind: str, period: str
) -> dict[str, object]:
    """Start a bulletin or ranking for a period (province users); its figures follow the scenarios until
    it is published."""
    require_role(who, Role.PROVINCE)
    period_days(kind, period)
    found = uow.session.execute(
        select(ScenarioBulletinRow).where(
            ScenarioBulletinRow.kind == kind, ScenarioBulletinRow.period == period
        )
    ).scalar_one_or_none()
    if found is not None:
        raise ConflictError(f"the {kind} bulletin for {period} exists (id {found.id})", field="period")
    row = ScenarioBulletinRow(
        kind=kind, period=period, state="draft", created_by=who.username, created_at=clock.now()
    )
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow,
        clock.now(),
        who.username,
        "bulletin.draft",
        f"bulletin:{row.id}",
        {"kind": kind, "period": period},
    )
    return bulletin_dict(uow, row)


def publish_bulletin(uow: UnitOfWork, who: Principal, clock: Clock, bulletin_id: int) -> dict[str, object]:
    """Publish a draft: its figures are counted now and frozen (province users)."""
    require_role(who, Role.PROVINCE)
    row = _row(uow, bulletin_id)
    if row.state == "published":
        raise ConflictError("this bulletin is published: its figures are frozen", field="bulletin_id")
    _, end = period_days(row.kind, row.period)
    if shanghai_date(clock.now()) < end:
        raise ConflictError(
            f"the period {row.period} has not ended yet; publish it afterwards", field="period"
        )
    figures = _figures(uow, row)
    row.figures = json.dumps(figures, ensure_ascii=False, sort_keys=True)
    row.state = "published"
    row.published_by = who.username
    row.published_at = clock.now()
    audit.record(
        uow,
        clock.now(),
        who.username,
        "bulletin.publish",
        f"bulletin:{row.id}",
        {"totals": figures["totals"]},
    )
    return bulletin_dict(uow, row)


__all__ = [
    "draft_bulletin",
    "get_bulletin",
    "list_bulletins",
    "period_days",
    "publish_bulletin",
    "tally",
]
