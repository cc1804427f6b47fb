"""What the awards workflow publishes: the public notice, final awards by measure and year, the
case-by-case register, and a round's decisions as an Excel workbook with Chinese headers."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from sqlalchemy import select

from zhisuan.awards import _common as c
from zhisuan.awards import model as m
from zhisuan.awards.programs import PROGRAMS
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.errors import NotFoundError
from zhisuan.core.regions import city as city_of
from zhisuan.policy import fen_text
from zhisuan.store.models.awards import ApplicationRow, ApprovalRow, AwardCallRow, ObjectionRow
from zhisuan.store.uow import UnitOfWork


def _public(row: ApplicationRow, names: dict[int, str], state: m.State) -> dict[str, object]:
    """What the public sees of an award: no facts, no evidence, no reviewers' notes."""
    sp = PROGRAMS.get(row.program)
    return {
        "id": row.id,
        "program": row.program,
        "measure_zh": sp.name_zh if sp else row.program,
        "applicant": c.applicant_name(row, names),
        "city": row.city_code,
        "project_name": row.project_name,
        "amount": fen_text(row.approved_fen or 0),
        "case_by_case": row.case_by_case,
        "state": state.value,
        "state_zh": m.STATE_ZH[state],
        "decided_on": row.decided_at.date().isoformat() if row.decided_at else None,
        "notice_ends": row.notice_ends.isoformat() if row.notice_ends else None,
    }


def _approved(uow: UnitOfWork, now: dt.datetime, wanted: set[m.State]) -> list[dict[str, object]]:
    s = uow.session
    rows = list(
        s.execute(
            select(ApplicationRow)
            .where(ApplicationRow.state.in_([m.State.APPROVED.value, m.State.PAID.value]))
            .order_by(ApplicationRow.decided_at.desc(), ApplicationRow.id.desc())
        ).scalars()
    )
    held = c.open_objections(s, [r.id for r in rows])
    names = c.names(s, rows)
    out = []
    for r in rows:
        st = c.state_of(r, r.id in held, now)
        if st in wanted:
            out.append(_public(r, names, st))
    return out


def notices(uow: UnitOfWork, now: dt.datetime) -> list[dict[str, object]]:
    """Proposed awards in their public notice (公示), and those held by an objection."""
    return _approved(uow, now, {m.State.NOTICE, m.State.HELD})


def final_awards(
    uow: UnitOfWork, now: dt.datetime, program: str | None = None, year: int | None = None
) -> list[dict[str, object]]:
    """Final and paid awards, by measure and year of decision (public)."""
    out = _approved(uow, now, {m.State.FINAL, m.State.PAID})
    if program:
        out = [a for a in out if a["program"] == program]
    if year:
        out = [a for a in out if str(a["decided_on"] or "").startswith(str(year))]
    return out


def case_register(uow: UnitOfWork, who: Principal) -> list[dict[str, object]]:
    """Every case-by-case award with its reason and its two approvers (province and finance)."""
    require_role(who, Role.PROVINCE, Role.FINANCE)
    s = uow.session
    rows = list(
        s.execute(
            select(ApplicationRow).where(ApplicationRow.case_by_case.is_(True)).order_by(ApplicationRow.id)
        ).scalars()
    )
    names = c.names(s, rows)
    out = []
    for r in rows:
        out.append(
            {
                "id": r.id,
                "program": r.program,
                "applicant": c.applicant_name(r, names),
                "project_name": r.project_name,
                "formula_maximum": fen_text(r.max_fen or 0),
                "amount": fen_text(r.approved_fen or 0),
                "reason": r.case_reason,
                "state": r.state,
                "approvers": approvers(uow, r),
            }
        )
    return out


def approvers(uow: UnitOfWork, row: ApplicationRow) -> list[str]:
    q = select(ApprovalRow.username).where(
        ApprovalRow.application_id == row.id, ApprovalRow.round == row.round, ApprovalRow.stage == "province"
    )
    return list(uow.session.execute(q.order_by(ApprovalRow.id)).scalars())


_HEADER = (
    "申请编号",
    "条款",
    "申报主体",
    "所在市",
    "项目编号",
    "项目名称",
    "政策测算上限（元）",
    "核定金额（元）",
    "一事一议",
    "一事一议理由",
    "状态",
    "公示截止",
    "异议数",
    "拨付日期",
)


def round_workbook(uow: UnitOfWork, who: Principal, call_id: int, now: dt.datetime) -> bytes:
    """A call's decisions as .xlsx with Chinese headers (province, finance); case-by-case rows marked."""
    require_role(who, Role.PROVINCE, Role.FINANCE)
    s = uow.session
    call = s.get(AwardCallRow, call_id) if c.fits(call_id) else None
    if call is None:
        raise NotFoundError(f"no call {call_id}", field="call_id")
    rows = list(
        s.execute(
            select(ApplicationRow)
            .where(ApplicationRow.call_id == call.id, ApplicationRow.state != m.State.DRAFT.value)
            .order_by(ApplicationRow.id)
        ).scalars()
    )
    names = c.names(s, rows)
    held = c.open_objections(s, [r.id for r in rows])
    objections: dict[int, int] = {}
    for (app_id,) in s.execute(
        select(ObjectionRow.application_id).where(ObjectionRow.application_id.in_([r.id for r in rows]))
    ):
        objections[app_id] = objections.get(app_id, 0) + 1
    from openpyxl import Workbook  # imported on use: slow to import, and only Excel exports need it
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = f"批次{call.id}"
    ws.append([f"{call.title}（{call.program}，{call.opens_on} 至 {call.closes_on}）"])
    ws.append(list(_HEADER))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    mark = PatternFill("solid", fgColor="FFF2CC")
    for r in rows:
        st = c.state_of(r, r.id in held, now)
        ws.append(
            [
                r.id,
                r.program,
                c.applicant_name(r, names),
                city_of(r.city_code).name_zh,
                r.project_ref,
                r.project_name,
                Decimal(fen_text(r.max_fen or 0)),
                Decimal(fen_text(r.approved_fen)) if r.approved_fen is not None else None,
                "是" if r.case_by_case else "否",
                r.case_reason or "",
                m.STATE_ZH[st],
                r.notice_ends.date().isoformat() if r.notice_ends else "",
                objections.get(r.id, 0),
                r.paid_on.isoformat() if r.paid_on else "",
            ]
        )
        for cell in ws[ws.max_row][6:8]:
            cell.number_format = "#,##0.00"
        if r.case_by_case:
            for cell in ws[ws.max_row]:
                cell.fill = mark
    for col, width in zip(
        "ABCDEFGHIJKLMN", (8, 16, 28, 10, 18, 32, 16, 16, 8, 30, 10, 12, 8, 12), strict=True
    ):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


__all__ = ["case_register", "final_awards", "notices", "round_workbook"]
