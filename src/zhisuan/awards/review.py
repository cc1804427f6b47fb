"""Review: the city recommends, the province decides the amount (two distinct approvers for a
case-by-case amount), or either rejects or returns with a reason.

An approval commits the program's budget in the ledger in the same transaction; a budget that would go
below zero refuses the approval and nothing is written. The callers commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhisuan.awards import _common as c
from zhisuan.awards import model as m
from zhisuan.awards.applications import granted_on_project
from zhisuan.awards.calls import call_row
from zhisuan.awards.views import application_dict, application_row
from zhisuan.core.access import Action, Principal
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import ConflictError, PermissionDeniedError, ValidationError
from zhisuan.core.money import Money
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import Account, award_commit_posting
from zhisuan.policy import PackSet, fen_text
from zhisuan.store.models.awards import ApplicationRow, ApprovalRow, AwardCallRow
from zhisuan.store.uow import UnitOfWork


def _approvals(s: Session, row: ApplicationRow) -> list[m.Approval]:
    q = select(ApprovalRow).where(
        ApprovalRow.application_id == row.id, ApprovalRow.round == row.round, ApprovalRow.stage == "province"
    )
    return [m.Approval(a.user_id, a.amount_fen, a.case_by_case) for a in s.execute(q).scalars()]


def _approval(
    row: ApplicationRow,
    who: Principal,
    now: dt.datetime,
    stage: str,
    amount_fen: int | None = None,
    case_by_case: bool = False,
) -> ApprovalRow:
    """The caller's approval of ``row`` in its current round at ``stage`` (city: no amount)."""
    return ApprovalRow(
        application_id=row.id,
        round=row.round,
        stage=stage,
        user_id=who.user_id,
        username=who.username,
        amount_fen=amount_fen,
        case_by_case=case_by_case,
        at=now,
    )


def _frozen(row: ApplicationRow) -> m.Frozen:
    decision = json.loads(row.decision or "{}")
    return m.Frozen(
        eligible=bool(decision.get("eligible")),
        max_fen=row.max_fen or 0,
        max_plain_fen=row.max_plain_fen if row.max_plain_fen is not None else row.max_fen or 0,
        provisional=bool(decision.get("provisional")),
        case_by_case_allowed=bool(decision.get("case_by_case_allowed")),
    )


def _check_project_unchanged(s: Session, row: ApplicationRow) -> None:
    """One event, one award (POLICY positions 4 and 10): the awards on the project are what the frozen
    decision counted, and a measure without a cumulative cap pays a project once."""
    granted = granted_on_project(s, row.program, row.project_ref, row.id)
    facts = json.loads(row.decision or "{}").get("facts", {})
    if "already_awarded" in facts:
        counted = Money(str(facts["already_awarded"])).to_fen()
        if counted != granted:
            raise ConflictError(
                f"awards on project {row.project_ref} changed since submission ({fen_text(counted)} → "
                f"{fen_text(granted)} yuan): return the application so that it is judged again",
                field="already_awarded",
            )
    elif granted:
        raise ConflictError(
            f"project {row.project_ref} already has an award under {row.program}: one award per project",
            field="project_ref",
        )


def budget_account(call: AwardCallRow, row: ApplicationRow) -> Account:
    """The budget an award of this call spends: the province's per program and year, or the city's."""
    if call.payer == "city":
        return Account.city_budget(row.city_code, row.program, call.budget_year)
    return Account.program_budget(row.program, call.budget_year)


def payee_of(row: ApplicationRow) -> str:
    """Who is paid: the city for the matches (payee ``city``), else the applicant."""
    decision = json.loads(row.decision or "{}")
    if decision.get("payee") == "city":
        return f"city:{row.city_code}"
    return c.applicant(row).payee


def review(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    clock: Clock,
    app_id: int,
    data: Mapping[str, Any],
) -> dict[str, object]:
    """A reviewer's step: ``approve`` (the city recommends; the province decides the amount), ``reject``
    with a reason, or ``return`` for correction with a reason."""
    now = clock.now()
    row = application_row(uow, who, app_id, Action.WRITE)
    state = m.State(row.state)
    stage = m.check_may_review(who, state, c.applicant(row))
    action = data.get("action")
    if action not in {"approve", "reject", "return"}:
        raise ValidationError("action is approve, reject or return", field="action")
    before = row.state
    if action in {"reject", "return"}:
        reason = m.clean_reason(data.get("reason"))
        row.state = (m.State.REJECTED if action == "reject" else m.State.RETURNED).value
        row.updated_at = now
        c.log(uow, row, who, now, action, before, note=reason, detail={"stage": stage.value})
        return application_dict(uow, who, packs, row, now)
    if stage is m.Stage.CITY:
        note = c.text(data.get("reason"), "reason", 4000, required=False)
        uow.session.add(_approval(row, who, now, "city"))
        row.state = m.State.PROVINCE_REVIEW.value
        row.updated_at = now
        c.log(uow, row, who, now, "recommend", before, note=note, detail={"stage": "city"})
        return application_dict(uow, who, packs, row, now)
    return _province_approve(uow, who, packs, now, row, data)


def _province_approve(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    now: dt.datetime,
    row: ApplicationRow,
    data: Mapping[str, Any],
) -> dict[str, object]:
    s = uow.session
    if who.user_id is None:
        raise PermissionDeniedError("approvals are made by a named province user")
    frozen = _frozen(row)
    case_by_case = data.get("case_by_case") is True
    uplift_confirmed = data.get("uplift_confirmed") is True
    if data.get("amount") in (None, ""):
        amount_fen = m.limit(frozen, uplift_confirmed)
        if case_by_case or amount_fen <= 0:
            raise ValidationError("give the approved amount", field="amount")
    else:
        amount_fen = c.fen(data.get("amount"), "amount")
    reason = data.get("reason")
    m.check_amount(
        frozen, amount_fen, uplift_confirmed=uplift_confirmed, case_by_case=case_by_case, reason=reason
    )
    call = call_row(s, row.call_id)
    granted = s.execute(
        select(func.count()).where(
            ApplicationRow.call_id == call.id,
            ApplicationRow.state.in_(list(m.GRANTED)),
            ApplicationRow.id != row.id,
        )
    ).scalar_one()
    m.check_round_limit(int(granted), call.max_awards)
    _check_project_unchanged(s, row)
    approvals = _approvals(s, row)
    if case_by_case:
        m.check_second_approver(approvals, who.user_id, amount_fen)
    s.add(_approval(row, who, now, "province", amount_fen, case_by_case))
    s.flush()
    before = row.state
    note = (
        m.clean_reason(reason, "case_reason")
        if case_by_case
        else c.text(reason, "reason", 4000, required=False)
    )
    if not m.approvals_complete(
        [*approvals, m.Approval(who.user_id, amount_fen, case_by_case)], case_by_case
    ):
        c.log(
            uow,
            row,
            who,
            now,
            "approve_first",
            before,
            note=note,
            detail={"amount": fen_text(amount_fen), "case_by_case": True},
        )
        return application_dict(uow, who, packs, row, now)
    account = budget_account(call, row)
    payee = payee_of(row)
    try:
        ledger.post(
            s,
            [award_commit_posting(row.id, account, payee, amount_fen, shanghai_date(now))],
            c.FixedClock(now),
        )
    except ConflictError:
        left = ledger.balance(s, account)
        raise ConflictError(
            f"the budget {account} has {fen_text(left)} yuan left; "
            f"approving {fen_text(amount_fen)} would exceed it",
            field="amount",
        ) from None
    row.approved_fen = amount_fen
    row.case_by_case = case_by_case
    row.case_reason = note if case_by_case else None
    row.uplift_confirmed = uplift_confirmed if frozen.uplifted else None
    row.decided_at = now
    row.notice_ends = now + dt.timedelta(days=call.notice_days)
    row.budget_account = str(account)
    row.payee = payee
    row.state = m.State.APPROVED.value
    row.updated_at = now
    c.log(
        uow,
        row,
        who,
        now,
        "approve",
        before,
        note=note,
        detail={
            "amount": fen_text(amount_fen),
            "maximum": c.yuan(m.limit(frozen, uplift_confirmed)),
            "case_by_case": case_by_case,
            "uplift_confirmed": row.uplift_confirmed,
            "budget": str(account),
            "notice_ends": row.notice_ends.isoformat(),
        },
    )
    return application_dict(uow, who, packs, row, now)


__all__ = ["budget_account", "payee_of", "review"]
