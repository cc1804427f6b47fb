"""The read side of applications: one in full (facts, decision, history, evidence, approvals,
objections, duplicate-funding flags, payment) and the lists a caller may see."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from zhisuan.awards import _common as c
from zhisuan.awards import model as m
from zhisuan.awards.notice import objection_dict
from zhisuan.awards.programs import form, missing
from zhisuan.core.access import Action, Kind, Principal, Resource, Role, authorize, visible_scope
from zhisuan.core.errors import NotFoundError, ValidationError, ZhisuanError
from zhisuan.policy import PackSet, evaluate
from zhisuan.store.models.awards import (
    ApplicationEventRow,
    ApplicationRow,
    ApprovalRow,
    EvidenceRow,
    ObjectionRow,
    PaymentItemRow,
)
from zhisuan.store.uow import UnitOfWork

#: roles that review or oversee applications but do not write them
REVIEWERS = frozenset({Role.CITY, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU})


def application_row(
    uow: UnitOfWork, who: Principal, app_id: int, action: Action = Action.READ
) -> ApplicationRow:
    """The application ``app_id`` if the caller may take ``action`` on it; else not found or denied."""
    row = uow.session.get(ApplicationRow, app_id) if c.fits(app_id) else None
    if row is None:
        raise NotFoundError("no such application", field="application_id")
    authorize(who, action, c.resource(row))
    if row.state == m.State.DRAFT.value and who.role in REVIEWERS and not m.may_edit(who, c.applicant(row)):
        # as in the lists: a reviewer sees an application once it is submitted, not the applicant's draft
        raise NotFoundError("no such application", field="application_id")
    return row


def summary(row: ApplicationRow, names: Mapping[int, str], held: bool, now: dt.datetime) -> dict[str, object]:
    state = c.state_of(row, held, now)
    return {
        "id": row.id,
        "call_id": row.call_id,
        "program": row.program,
        "applicant": c.applicant_name(row, names),
        "applicant_kind": row.applicant_kind,
        "org_id": row.org_id,
        "city": row.city_code,
        "project_ref": row.project_ref,
        "project_name": row.project_name,
        "state": state.value,
        "state_zh": m.STATE_ZH[state],
        "maximum": c.yuan(row.max_fen),
        "approved": c.yuan(row.approved_fen),
        "case_by_case": row.case_by_case,
        "lead_unit": row.lead_unit,
        "submitted_at": row.submitted_at.isoformat() if row.submitted_at else None,
        "notice_ends": row.notice_ends.isoformat() if row.notice_ends else None,
        "paid_on": row.paid_on.isoformat() if row.paid_on else None,
    }


def claims_on_project(s: Session, row: ApplicationRow) -> list[m.Claim]:
    q = select(ApplicationRow).where(
        ApplicationRow.project_ref == row.project_ref, ApplicationRow.id != row.id
    )
    return [m.Claim(o.id, o.program, o.state, o.approved_fen) for o in s.execute(q).scalars()]


def application_dict(
    uow: UnitOfWork, who: Principal, packs: PackSet, row: ApplicationRow, now: dt.datetime
) -> dict[str, object]:
    """One application in full: facts, decision, history, evidence, approvals, objections, flags, payment."""
    s = uow.session
    s.flush()
    held = bool(c.open_objections(s, [row.id]))
    out = summary(row, c.names(s, [row]), held, now)
    typed = json.loads(row.facts)
    out["event_on"] = row.event_on.isoformat()
    out["facts"] = typed
    out["other_funding"] = json.loads(row.other_funding)
    out["round"] = row.round
    out["decision"] = with_chinese_steps(json.loads(row.decision), packs) if row.decision else None
    out["maximum_without_uplift"] = c.yuan(row.max_plain_fen)
    out["uplift_confirmed"] = row.uplift_confirmed
    out["case_reason"] = row.case_reason
    out["payee"] = row.payee
    out["budget"] = row.budget_account
    if m.State(row.state) in m.EDITABLE:
        try:
            version = c.version_of(packs, row.program, row.event_on)
            out["missing"] = missing(version, typed)
            out["form"] = [f.to_dict() for f in form(version)]
        except ValidationError as e:
            out["missing"] = []
            out["form_error"] = e.message
    events = s.execute(
        select(ApplicationEventRow)
        .where(ApplicationEventRow.application_id == row.id)
        .order_by(ApplicationEventRow.id)
    ).scalars()
    out["history"] = [
        {
            "at": e.at.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "from": e.from_state,
            "to": e.to_state,
            "note": e.note,
            "detail": json.loads(e.detail),
        }
        for e in events
    ]
    out["evidence"] = [
        {"id": e.id, "name": e.name, "content_type": e.content_type, "size": e.size, "sha256": e.sha256}
        for e in s.execute(select(EvidenceRow).where(EvidenceRow.application_id == row.id)).scalars()
    ]
    out["approvals"] = [
        {
            "round": a.round,
            "stage": a.stage,
            "by": a.username,
            "amount": c.yuan(a.amount_fen),
            "case_by_case": a.case_by_case,
            "at": a.at.isoformat(),
        }
        for a in s.execute(
            select(ApprovalRow).where(ApprovalRow.application_id == row.id).order_by(ApprovalRow.id)
        ).scalars()
    ]
    out["objections"] = [
        objection_dict(o)
        for o in s.execute(select(ObjectionRow).where(ObjectionRow.application_id == row.id)).scalars()
    ]
    if who.role in {Role.CITY, Role.PROVINCE, Role.FINANCE, Role.ADMIN}:
        flags = m.duplicates(row.program, row.id, claims_on_project(s, row))
        out["duplicates"] = [
            {
                "kind": d.kind,
                "text_zh": d.text_zh(),
                "application_id": d.other.application_id,
                "program": d.other.program,
                "state": d.other.state,
                "approved": c.yuan(d.other.amount_fen),
            }
            for d in flags
        ]
    item = s.execute(select(PaymentItemRow.batch_id).where(PaymentItemRow.application_id == row.id)).scalar()
    out["payment_batch"] = item
    return out


def with_chinese_steps(decision: dict[str, Any], packs: PackSet) -> dict[str, Any]:
    """A decision frozen before its steps kept their Chinese (``result_zh``) gets it at reading: its
    frozen facts are judged again under the same measure, date and pack, and each step takes the Chinese
    of the step that reads the same (article, rule, parameter, value and English result); a step that no
    longer matches, or a decision that cannot be judged again, keeps its English. Nothing is written."""
    steps = decision.get("steps")
    if not isinstance(steps, list) or all(isinstance(s, dict) and "result_zh" in s for s in steps):
        return decision
    facts = decision.get("facts")
    try:
        again = evaluate(
            str(decision["program"]),
            facts if isinstance(facts, dict) else {},
            str(decision["on"]),
            packs,
            decision.get("pack") or None,
        )
    except (KeyError, ZhisuanError):
        return decision
    chinese: dict[tuple[object, ...], str] = {
        tuple(step[:5]): step.result_zh or step.result for step in again.steps
    }
    key = ("article", "rule", "parameter", "value", "result")
    return decision | {
        "steps": [
            s
            if not isinstance(s, dict) or "result_zh" in s
            else s | _zh(chinese, tuple(s.get(k) for k in key))
            for s in steps
        ]
    }


def _zh(chinese: Mapping[tuple[object, ...], str], step: tuple[object, ...]) -> dict[str, str]:
    found = chinese.get(step)
    return {"result_zh": found} if found is not None else {}


def get_application(
    uow: UnitOfWork, who: Principal, packs: PackSet, app_id: int, now: dt.datetime
) -> dict[str, object]:
    return application_dict(uow, who, packs, application_row(uow, who, app_id), now)


#: the orders a list of applications may take (the database sorts, then pages)
SORTS: dict[str, InstrumentedAttribute[Any]] = {
    "id": ApplicationRow.id,
    "program": ApplicationRow.program,
    "city": ApplicationRow.city_code,
    "project_name": ApplicationRow.project_name,
    "project_ref": ApplicationRow.project_ref,
    "state": ApplicationRow.state,
    "maximum": ApplicationRow.max_fen,
    "approved": ApplicationRow.approved_fen,
    "submitted_at": ApplicationRow.submitted_at,
    "notice_ends": ApplicationRow.notice_ends,
}


def list_applications(
    uow: UnitOfWork,
    who: Principal,
    now: dt.datetime,
    *,
    program: str | None = None,
    state: str | None = None,
    call_id: int | None = None,
    city: str | None = None,
    lead_unit: str | None = None,
    queue: bool = False,
    limit: int = 100,
    offset: int = 0,
    search: str = "",
    sort: str = "id",
    desc: bool = True,
) -> dict[str, object]:
    """The applications the caller may see, newest first (or by ``sort``: one of :data:`SORTS`);
    ``queue``: those awaiting the caller's review; ``search``: a word in the project's name or reference."""
    scope = visible_scope(who, Kind.APPLICATION)
    if scope.nothing:
        if not who.authenticated:
            authorize(who, Action.READ, Resource(Kind.APPLICATION))
        return {"applications": [], "total": 0}
    q = select(ApplicationRow)
    if not scope.everything:
        if scope.city_code:
            q = q.where(ApplicationRow.city_code == scope.city_code)
        else:
            q = q.where(ApplicationRow.org_id.in_(list(scope.org_ids)))
    if who.role in {Role.CITY, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU}:
        # reviewers do not see other applicants' drafts
        q = (
            q.where(ApplicationRow.state != m.State.DRAFT.value)
            if who.role is not Role.CITY
            else q.where(
                (ApplicationRow.state != m.State.DRAFT.value) | (ApplicationRow.applicant_kind == "city")
            )
        )
    if queue:
        if who.role is Role.CITY:
            q = q.where(ApplicationRow.state == m.State.CITY_REVIEW.value)
        elif who.role in {Role.PROVINCE, Role.ADMIN}:
            q = q.where(ApplicationRow.state == m.State.PROVINCE_REVIEW.value)
        else:
            q = q.where(ApplicationRow.id < 0)  # nothing awaits a non-reviewer
    if program:
        q = q.where(ApplicationRow.program == program)
    if call_id is not None:
        q = q.where(ApplicationRow.call_id == call_id if c.fits(call_id) else ApplicationRow.id < 0)
    if city:
        q = q.where(ApplicationRow.city_code == city)
    if lead_unit:
        q = q.where(ApplicationRow.lead_unit == lead_unit)
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(
            ApplicationRow.project_name.like(like, escape="\\")
            | ApplicationRow.project_ref.like(like, escape="\\")
        )
    stored_state = None
    if state:
        wanted = m.parse_state(state)
        stored_state = wanted
        q = q.where(
            ApplicationRow.state
            == (
                m.State.APPROVED.value
                if wanted in {m.State.NOTICE, m.State.HELD, m.State.FINAL}
                else wanted.value
            )
        )
    if not 1 <= limit <= 1000 or not 0 <= offset <= 10**9:
        raise ValidationError("limit is 1 to 1000, offset 0 or more", field="limit")
    if sort not in SORTS:
        raise ValidationError(f"sort is one of {', '.join(SORTS)}", field="sort")
    key = SORTS[sort]
    order = [key.desc().nulls_last() if desc else key.asc().nulls_last(), ApplicationRow.id.desc()]
    rows = list(uow.session.execute(q.order_by(*order)).scalars())
    held = c.open_objections(uow.session, [r.id for r in rows if r.state == m.State.APPROVED.value])
    items = [(r, c.state_of(r, r.id in held, now)) for r in rows]
    if stored_state is not None:
        items = [(r, st) for r, st in items if st is stored_state]
    names = c.names(uow.session, [r for r, _ in items[offset : offset + limit]])
    page = [summary(r, names, r.id in held, now) for r, _ in items[offset : offset + limit]]
    return {"applications": page, "total": len(items)}


__all__ = [
    "REVIEWERS",
    "SORTS",
    "application_dict",
    "application_row",
    "claims_on_project",
    "get_application",
    "list_applications",
    "summary",
]
