"""Opening bulletins (定期通报, art. 3): per quarter, each city's and department's datasets opened,
requests received, answered and refused, the median hours to answer, and a ranking.

Generating reads the records into values and lets :func:`zhisuan.opendata.model.bulletin_lines` count;
the figures are stored as JSON with the bulletin. Publishing freezes them: a published bulletin is read
from its stored figures, so later edits of datasets or requests never change it. The data bureau
generates (again, while a draft) and publishes; the public reads published bulletins.
"""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from zhisuan import audit
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError
from zhisuan.opendata import model as m
from zhisuan.store.models.opendata import BulletinRow, DatasetRow, SharingRequestRow
from zhisuan.store.uow import UnitOfWork

HEADERS_ZH = (
    "名次",
    "发布单位",
    "类型",
    "本季度新开放数据集",
    "累计开放数据集",
    "收到申请",
    "已答复",
    "其中拒绝",
    "答复用时中位数（小时）",
)


def compute(uow: UnitOfWork, quarter: m.Quarter) -> list[m.BulletinLine]:
    """The quarter's figures from the records as they are now."""
    s = uow.session
    publishers: dict[str, str] = {}
    opened: list[m.OpenedFact] = []
    by_id: dict[int, str] = {}
    for row in s.execute(
        select(DatasetRow.id, DatasetRow.publisher_key, DatasetRow.publisher_name, DatasetRow.issued_on)
    ):
        publishers.setdefault(row.publisher_key, row.publisher_name)
        by_id[row.id] = row.publisher_key
        opened.append(m.OpenedFact(row.publisher_key, row.issued_on))
    requests = [
        m.RequestFact(
            publisher_key=by_id[r.dataset_id],
            requested_on=shanghai_date(r.requested_at),
            answered_on=shanghai_date(r.answered_at) if r.answered_at else None,
            refused=r.state == m.RequestState.REFUSED.value,
            hours_to_answer=(r.answered_at - r.requested_at).total_seconds() / 3600
            if r.answered_at
            else None,
        )
        for r in s.execute(select(SharingRequestRow)).scalars()
        if r.dataset_id in by_id
    ]
    return m.bulletin_lines(quarter, publishers, opened, requests)


def _figures(quarter: m.Quarter, lines: list[m.BulletinLine]) -> dict[str, object]:
    return {
        "period": str(quarter),
        "from": quarter.start.isoformat(),
        "to": quarter.end.isoformat(),
        "lines": [line.to_dict() for line in lines],
        "totals": {
            "opened": sum(x.opened for x in lines),
            "received": sum(x.received for x in lines),
            "answered": sum(x.answered for x in lines),
            "refused": sum(x.refused for x in lines),
        },
    }


def generate(uow: UnitOfWork, who: Principal, clock: Clock, period: str) -> dict[str, object]:
    """Compute a quarter's bulletin as a draft (again, if a draft exists); a published one is refused."""
    require_role(who, Role.DATA_BUREAU)
    now = clock.now()
    quarter = m.Quarter.parse(period)
    if quarter.start > shanghai_date(now):
        raise ConflictError("the quarter has not begun", field="period")
    row = uow.session.execute(
        select(BulletinRow).where(BulletinRow.period == str(quarter))
    ).scalar_one_or_none()
    if row is not None and row.state == "published":
        raise ConflictError(f"the bulletin of {quarter} is published and frozen", field="period")
    figures = json.dumps(_figures(quarter, compute(uow, quarter)), ensure_ascii=False)
    if row is None:
        row = BulletinRow(
            period=str(quarter), state="draft", figures=figures, generated_by=who.username, generated_at=now
        )
        uow.session.add(row)
    else:
        row.figures, row.generated_by, row.generated_at = figures, who.username, now
    uow.session.flush()
    return bulletin_dict(row)


def publish(uow: UnitOfWork, who: Principal, clock: Clock, period: str) -> dict[str, object]:
    """Publish a draft bulletin: its figures are frozen from now on (audited)."""
    require_role(who, Role.DATA_BUREAU)
    now = clock.now()
    row = _get(uow, str(m.Quarter.parse(period)), who)
    if row.state == "published":
        raise ConflictError("the bulletin is already published", field="period")
    row.state, row.published_by, row.published_at = "published", who.username, now
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "bulletin.publish",
        f"bulletin:{row.period}",
        json.loads(row.figures)["totals"],
    )
    return bulletin_dict(row)


def _get(uow: UnitOfWork, period: str, who: Principal) -> BulletinRow:
    row = uow.session.execute(select(BulletinRow).where(BulletinRow.period == period)).scalar_one_or_none()
    if row is None or (row.state != "published" and not m.is_steward(who)):
        raise NotFoundError("no such bulletin", field="period")
    return row


def get(uow: UnitOfWork, who: Principal, period: str) -> dict[str, object]:
    """A bulletin: published ones for everyone, drafts for the data bureau."""
    return bulletin_dict(_get(uow, str(m.Quarter.parse(period)), who))


def list_bulletins(uow: UnitOfWork, who: Principal) -> list[dict[str, object]]:
    q = select(BulletinRow).order_by(BulletinRow.period.desc())
    if not m.is_steward(who):
        q = q.where(BulletinRow.state == "published")
    return [bulletin_dict(r) for r in uow.session.execute(q).scalars()]


def bulletin_dict(row: BulletinRow) -> dict[str, object]:
    return {
        "period": row.period,
        "state": row.state,
        "generated_at": row.generated_at.isoformat(),
        "published_at": row.published_at.isoformat() if row.published_at else None,
        "published_by": row.published_by,
        **json.loads(row.figures),
    }


def _rows(bulletin: dict[str, object]) -> list[list[object]]:
    lines = bulletin["lines"]
    assert isinstance(lines, list)
    return [
        [
            x["rank"],
            x["publisher"],
            "市" if x["kind"] == "city" else "省直部门",
            x["opened"],
            x["opened_total"],
            x["received"],
            x["answered"],
            x["refused"],
            "" if x["median_hours_to_answer"] is None else x["median_hours_to_answer"],
        ]
        for x in lines
    ]


def as_csv(bulletin: dict[str, object]) -> bytes:
    """The bulletin as CSV with Chinese headers (UTF-8 with BOM, so that Excel opens it right)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HEADERS_ZH)
    writer.writerows(_rows(bulletin))
    return ("\ufeff" + buf.getvalue()).encode()


def as_xlsx(bulletin: dict[str, object]) -> bytes:
    """The bulletin as an Excel workbook with Chinese headers."""
    from openpyxl import Workbook  # imported on use: slow to import

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"{bulletin['period']} 开放通报"
    ws.append(list(HEADERS_ZH))
    for r in _rows(bulletin):
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


__all__ = ["as_csv", "as_xlsx", "bulletin_dict", "compute", "generate", "get", "list_bulletins", "publish"]
