"""Calls, applications, review, public notice and objections — through the unit of work.

Every state change writes an :class:`ApplicationEventRow` (the application's history, with facts and
amounts before and after) and an audit event, in the caller's transaction. An approval commits the
program's budget in the ledger in the same transaction; a budget that would go below zero refuses the
approval and nothing is written. The callers commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from zhisuan import audit
from zhisuan.awards import _common as c
from zhisuan.awards import evidence as files
from zhisuan.awards import model as m
from zhisuan.awards.notice import objection_dict
from zhisuan.awards.programs import PROGRAMS, check_typed, form, missing, spec, split
from zhisuan.core.access import (
    Action,
    Kind,
    Principal,
    Resource,
    Role,
    authorize,
    require_role,
    visible_scope,
)
from zhisuan.core.clock import Clock, parse_date, shanghai_date
from zhisuan.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    ZhisuanError,
)
from zhisuan.core.money import Money
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import Account, award_commit_posting
from zhisuan.policy import ArticleVersion, PackSet, evaluate, fen_text, parameters
from zhisuan.store.models.awards import (
    ApplicationEventRow,
    ApplicationRow,
    ApprovalRow,
    AwardCallRow,
    CityPayoutRow,
    EvidenceRow,
    ObjectionRow,
    PaymentItemRow,
)
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

MAX_TITLE = 200
MAX_FUNDING_LINES = 20
#: roles that review or oversee applications but do not write them
REVIEWERS = frozenset({Role.CITY, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU})


def _call(s: Session, call_id: int) -> AwardCallRow:
    row = s.get(AwardCallRow, call_id) if c.fits(call_id) else None
    if row is None:
        raise NotFoundError(f"no call {call_id}", field="call_id")
    return row


def _get(uow: UnitOfWork, who: Principal, app_id: int, action: Action = Action.READ) -> ApplicationRow:
    row = uow.session.get(ApplicationRow, app_id) if c.fits(app_id) else None
    if row is None:
        raise NotFoundError("no such application", field="application_id")
    authorize(who, action, c.resource(row))
    if row.state == m.State.DRAFT.value and who.role in REVIEWERS and not m.may_edit(who, c.applicant(row)):
        # as in the lists: a reviewer sees an application once it is submitted, not the applicant's draft
        raise NotFoundError("no such application", field="application_id")
    return row


# calls ------------------------------------------------------------------------------------------


def create_call(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    clock: Clock,
    *,
    program: str,
    title: str,
    opens_on: object,
    closes_on: object,
    budget_year: int | None = None,
    max_awards: int | None = None,
) -> dict[str, object]:
    """Open a call for a measure (province users): its dates, budget year, notice period and round size."""
    require_role(who, Role.PROVINCE)
    sp = spec(program)
    title = c.text(title, "title")
    opens, closes = c.day(opens_on, "opens_on"), c.day(closes_on, "closes_on")
    if closes < opens:
        raise ValidationError("a call closes on or after the day it opens", field="closes_on")
    if (closes - opens).days > 366:
        raise ValidationError("a call is open for at most a year", field="closes_on")
    art, pack = split(program)
    if packs.resolve(art, opens, pack) is None and packs.resolve(art, closes, pack) is None:
        raise ValidationError(
            f"no article of {program} is in force between the call's dates", field="program"
        )
    params = parameters(packs, art, opens, pack) or parameters(packs, art, closes, pack) or {}
    notice = params.get("notice_days")
    notice_days = (
        notice if isinstance(notice, int) and not isinstance(notice, bool) else m.DEFAULT_NOTICE_DAYS
    )
    if max_awards is not None and (isinstance(max_awards, bool) or not 1 <= max_awards <= 1000):
        raise ValidationError("max_awards is a whole number from 1", field="max_awards")
    if sp.benchmark:
        max_awards = min(max_awards or m.TOP_TEN, m.TOP_TEN)
    year = budget_year if budget_year is not None else opens.year
    if isinstance(year, bool) or not 2000 <= year <= 2100:
        raise ValidationError("budget_year is a year", field="budget_year")
    row = AwardCallRow(
        program=program,
        title=title,
        opens_on=opens,
        closes_on=closes,
        budget_year=year,
        payer=sp.payer,
        notice_days=notice_days,
        max_awards=max_awards,
        created_by=who.username,
        created_at=clock.now(),
    )
    uow.session.add(row)
    uow.session.flush()
    audit.record(uow, clock.now(), who.username, "call.create", f"call:{row.id}", call_dict(row, clock.now()))
    return call_dict(row, clock.now())


def call_dict(row: AwardCallRow, now: dt.datetime) -> dict[str, object]:
    today = shanghai_date(now)
    status = "upcoming" if today < row.opens_on else "closed" if today > row.closes_on else "open"
    sp = PROGRAMS.get(row.program)
    return {
        "id": row.id,
        "program": row.program,
        "name_zh": sp.name_zh if sp else row.program,
        "title": row.title,
        "opens_on": row.opens_on.isoformat(),
        "closes_on": row.closes_on.isoformat(),
        "status": status,
        "budget_year": row.budget_year,
        "payer": row.payer,
        "applicant": sp.applicant if sp else None,
        "notice_days": row.notice_days,
        "max_awards": row.max_awards,
    }


def list_calls(uow: UnitOfWork, now: dt.datetime, program: str | None = None) -> list[dict[str, object]]:
    q = select(AwardCallRow).order_by(AwardCallRow.opens_on.desc(), AwardCallRow.id.desc())
    if program:
        q = q.where(AwardCallRow.program == program)
    return [call_dict(r, now) for r in uow.session.execute(q).scalars()]


def get_call(uow: UnitOfWork, packs: PackSet, call_id: int, now: dt.datetime) -> dict[str, object]:
    """A call with the form of its article (as in force on its opening day, or today within the call)."""
    row = _call(uow.session, call_id)
    out = call_dict(row, now)
    on = min(max(shanghai_date(now), row.opens_on), row.closes_on)
    art, pack = split(row.program)
    version = packs.resolve(art, on, pack) or packs.resolve(art, row.opens_on, pack)
    if version is not None:
        out["article"] = version.qualified
        out["lead_unit"] = version.lead_unit
        out["evidence"] = list(version.evidence)
        out["form"] = [f.to_dict() for f in form(version)]
    granted = uow.session.execute(
        select(func.count()).where(
            ApplicationRow.call_id == row.id, ApplicationRow.state.in_(list(m.GRANTED))
        )
    ).scalar_one()
    out["granted"] = int(granted)
    return out


# applications: the applicant's side ----------------------------------------------------------


def _funding(raw: object) -> list[dict[str, object]]:
    """The declaration of other public funding for the same project: [{source, amount, year}]."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationError("other_funding is a list of {source, amount, year}", field="other_funding")
    if len(raw) > MAX_FUNDING_LINES:
        raise ValidationError(f"at most {MAX_FUNDING_LINES} lines", field="other_funding")
    out: list[dict[str, object]] = []
    for i, item in enumerate(raw):
        where = f"other_funding[{i}]"
        if not isinstance(item, Mapping):
            raise ValidationError("each line is {source, amount, year}", field=where)
        year = item.get("year")
        if year is not None and (
            isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100
        ):
            raise ValidationError("year is a year", field=f"{where}.year")
        out.append(
            {
                "source": c.text(item.get("source"), f"{where}.source"),
                "amount": fen_text(c.fen(item.get("amount"), f"{where}.amount")),
                "year": year,
            }
        )
    return out


def _org_city(s: Session, who: Principal) -> str | None:
    if who.org_id is None:
        return None
    org = s.get(OrganizationRow, who.org_id)
    return org.city_code if org else None


def create_application(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    clock: Clock,
    call_id: int,
    data: Mapping[str, Any],
) -> dict[str, object]:
    """Start a draft in an open call: project, event date, the facts typed so far, other public funding."""
    now = clock.now()
    call = _call(uow.session, call_id)
    today = shanghai_date(now)
    if not call.opens_on <= today <= call.closes_on:
        raise ConflictError(
            f"the call is open from {call.opens_on} to {call.closes_on}; today is {today}", field="call_id"
        )
    sp = spec(call.program)
    applicant = m.applicant_of(who, _org_city(uow.session, who), sp.applicant)
    event_on = c.day(data.get("event_on", today.isoformat()), "event_on")
    if event_on > today:
        raise ValidationError("the qualifying event cannot be in the future", field="event_on")
    version = c.version_of(packs, call.program, event_on)
    row = ApplicationRow(
        call_id=call.id,
        program=call.program,
        applicant_kind=applicant.kind,
        org_id=applicant.org_id,
        city_code=applicant.city_code,
        project_ref=m.clean_ref(data.get("project_ref")),
        project_name=c.text(data.get("project_name"), "project_name"),
        event_on=event_on,
        facts=json.dumps(check_typed(packs, version, data.get("facts") or {}), ensure_ascii=False),
        other_funding=json.dumps(_funding(data.get("other_funding")), ensure_ascii=False),
        state=m.State.DRAFT.value,
        round=0,
        created_by=who.username,
        created_at=now,
        updated_at=now,
        lead_unit=version.lead_unit,
    )
    uow.session.add(row)
    uow.session.flush()
    c.log(uow, row, who, now, "create", None, detail={"facts": json.loads(row.facts)})
    return application_dict(uow, who, packs, row, now)


def update_application(
    uow: UnitOfWork, who: Principal, packs: PackSet, clock: Clock, app_id: int, data: Mapping[str, Any]
) -> dict[str, object]:
    """Edit a draft or a returned application (the applicant's people); the history keeps before and after."""
    now = clock.now()
    row = _get(uow, who, app_id, Action.WRITE)
    state = m.State(row.state)
    if not m.may_edit(who, c.applicant(row)):
        raise PermissionDeniedError("only the applicant edits its application")
    if state not in m.EDITABLE:
        raise ConflictError(
            f"the application is {state.value}; only drafts and returned ones change", field="state"
        )
    before = {
        "facts": json.loads(row.facts),
        "event_on": row.event_on.isoformat(),
        "project_ref": row.project_ref,
    }
    if "event_on" in data:
        event_on = c.day(data["event_on"], "event_on")
        if event_on > shanghai_date(now):
            raise ValidationError("the qualifying event cannot be in the future", field="event_on")
        row.event_on = event_on
    version = c.version_of(packs, row.program, row.event_on)
    if "project_ref" in data:
        row.project_ref = m.clean_ref(data["project_ref"])
    if "project_name" in data:
        row.project_name = c.text(data["project_name"], "project_name")
    if "facts" in data:
        merged = {**json.loads(row.facts), **(data["facts"] if isinstance(data["facts"], Mapping) else {})}
        if not isinstance(data["facts"], Mapping):
            raise ValidationError("facts are a JSON object {name: value}", field="facts")
        row.facts = json.dumps(check_typed(packs, version, merged), ensure_ascii=False)
    else:  # the version may have changed with the event date: the typed facts must still fit it
        check_typed(packs, version, json.loads(row.facts))
    if "other_funding" in data:
        row.other_funding = json.dumps(_funding(data["other_funding"]), ensure_ascii=False)
    row.updated_at = now
    row.lead_unit = version.lead_unit
    after = {
        "facts": json.loads(row.facts),
        "event_on": row.event_on.isoformat(),
        "project_ref": row.project_ref,
    }
    c.log(uow, row, who, now, "edit", row.state, detail={"before": before, "after": after})
    return application_dict(uow, who, packs, row, now)


def add_evidence(
    uow: UnitOfWork, who: Principal, clock: Clock, root: Path, app_id: int, data: bytes, name: str | None
) -> dict[str, object]:
    """Attach an evidence file (PDF, image, Excel; size-limited) to a draft or returned application."""
    now = clock.now()
    row = _get(uow, who, app_id, Action.WRITE)
    if not m.may_edit(who, c.applicant(row)):
        raise PermissionDeniedError("only the applicant adds evidence")
    if m.State(row.state) not in m.EDITABLE:
        raise ConflictError("evidence is added to drafts and returned applications", field="state")
    stored = files.check(data, name)
    count = uow.session.execute(select(func.count()).where(EvidenceRow.application_id == row.id)).scalar_one()
    if count >= 50:
        raise ValidationError("an application holds at most 50 evidence files", field="file")
    files.store(root, data, stored)
    ev = EvidenceRow(
        application_id=row.id,
        name=stored.name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        uploaded_by=who.username,
        at=now,
    )
    uow.session.add(ev)
    uow.session.flush()
    c.log(uow, row, who, now, "evidence", row.state, detail={"file": stored.name, "sha256": stored.sha256})
    return {
        "id": ev.id,
        "name": ev.name,
        "content_type": ev.content_type,
        "size": ev.size,
        "sha256": ev.sha256,
    }


def evidence_file(uow: UnitOfWork, who: Principal, root: Path, evidence_id: int) -> tuple[str, str, bytes]:
    """(name, content type, bytes) of an evidence file the caller may read."""
    ev = uow.session.get(EvidenceRow, evidence_id) if c.fits(evidence_id) else None
    if ev is None:
        raise NotFoundError("no such evidence file", field="evidence_id")
    _get(uow, who, ev.application_id)
    return ev.name, ev.content_type, files.read(root, ev.sha256)


def _granted_on_project(s: Session, program: str, project_ref: str, exclude: int) -> int:
    q = select(func.coalesce(func.sum(ApplicationRow.approved_fen), 0)).where(
        ApplicationRow.program == program,
        ApplicationRow.project_ref == project_ref,
        ApplicationRow.state.in_(list(m.GRANTED)),
        ApplicationRow.id != exclude,
    )
    return int(s.execute(q).scalar_one() or 0)


def recorded_facts(
    s: Session, row: ApplicationRow, version: ArticleVersion, today: dt.date
) -> dict[str, object]:
    """The facts the platform knows from its records, for the facts this article takes."""
    takes = {f.name for f in version.facts}
    out: dict[str, object] = {"claimed_on": today.isoformat()}
    if "city" in takes:
        out["city"] = row.city_code
    if "already_awarded" in takes:
        out["already_awarded"] = fen_text(_granted_on_project(s, row.program, row.project_ref, row.id))
    if "standard_already_awarded" in takes:
        out["standard_already_awarded"] = bool(_granted_on_project(s, row.program, row.project_ref, row.id))
    if "in_province" in takes and row.org_id is not None:
        org = s.get(OrganizationRow, row.org_id)
        out["in_province"] = bool(org and org.in_province)
    if "city_actual_payout" in takes:
        art, _ = split(row.program)
        total, last = s.execute(
            select(
                func.coalesce(func.sum(CityPayoutRow.amount_fen), 0), func.max(CityPayoutRow.paid_on)
            ).where(
                CityPayoutRow.city_code == row.city_code,
                CityPayoutRow.program == row.program,
                CityPayoutRow.project_ref == row.project_ref,
            )
        ).one()
        if not total:
            raise ConflictError(
                f"the city has recorded no payouts under {art} for project {row.project_ref}; "
                "record them first",
                field="city_actual_payout",
            )
        out["city_actual_payout"] = fen_text(int(total))
        if "payout_date" in takes and last is not None:
            out["payout_date"] = (last if isinstance(last, dt.date) else parse_date(str(last))).isoformat()
    if "funded_under_art1" in takes:
        funded = s.execute(
            select(func.count()).where(
                ApplicationRow.program == m.NO_REFUND_AFTER.get(row.program, ""),
                ApplicationRow.project_ref == row.project_ref,
                ApplicationRow.state.in_(list(m.GRANTED)),
            )
        ).scalar_one()
        out["funded_under_art1"] = bool(funded)
    return out


def submit(uow: UnitOfWork, who: Principal, packs: PackSet, clock: Clock, app_id: int) -> dict[str, object]:
    """Submit (or resubmit) an application: the facts are frozen with the engine's decision and it goes
    to review — the city's for an organization, the province's for a city."""
    now = clock.now()
    today = shanghai_date(now)
    row = _get(uow, who, app_id, Action.WRITE)
    state = m.State(row.state)
    if not m.may_edit(who, c.applicant(row)):
        raise PermissionDeniedError("only the applicant submits its application")
    if state not in m.EDITABLE:
        raise ConflictError(f"the application is {state.value}; it was already submitted", field="state")
    call = _call(uow.session, row.call_id)
    if state is m.State.DRAFT and not call.opens_on <= today <= call.closes_on:
        raise ConflictError(f"the call closed on {call.closes_on}", field="call_id")
    version = c.version_of(packs, row.program, row.event_on)
    typed = json.loads(row.facts)
    check_typed(packs, version, typed)
    lacking = missing(version, typed)
    if lacking:
        raise ValidationError(f"give these facts before submitting: {', '.join(lacking)}", field=lacking[0])
    facts = {**typed, **recorded_facts(uow.session, row, version, today)}
    art, pack = split(row.program)
    decision = evaluate(art, facts, row.event_on, packs, pack)
    plain = evaluate(art, facts, row.event_on, packs, pack, uplift=False)
    frozen = {
        **decision.to_dict(row.id),
        "article": version.qualified,
        "lead_unit": version.lead_unit,
        "case_by_case_allowed": version.case_by_case,
        "facts": facts,
        "amount_without_uplift": plain.amount_text,
        "source": f"{version.source_file}:{version.line}" if version.source_file else version.pack_id,
    }
    # each step keeps its Chinese beside its English, as settlement's do, so the pages read in either
    shown: list[dict[str, object]] = frozen["steps"]  # type: ignore[assignment]
    frozen["steps"] = [
        {**s, "result_zh": step.result_zh or step.result}
        for s, step in zip(shown, decision.steps, strict=True)
    ]
    row.decision = json.dumps(frozen, ensure_ascii=False, default=str)
    row.max_fen = decision.amount_fen
    row.max_plain_fen = plain.amount_fen
    row.lead_unit = version.lead_unit
    row.round = row.round + 1
    row.submitted_at = now
    row.updated_at = now
    before = row.state
    row.state = m.first_review(c.applicant(row)).value
    c.log(
        uow,
        row,
        who,
        now,
        "submit" if before == m.State.DRAFT.value else "resubmit",
        before,
        detail={"facts": facts, "eligible": decision.eligible, "maximum": decision.amount_text},
    )
    return application_dict(uow, who, packs, row, now)


# review ------------------------------------------------------------------------------------------


def _approvals(s: Session, row: ApplicationRow) -> list[m.Approval]:
    q = select(ApprovalRow).where(
        ApprovalRow.application_id == row.id, ApprovalRow.round == row.round, ApprovalRow.stage == "province"
    )
    return [m.Approval(a.user_id, a.amount_fen, a.case_by_case) for a in s.execute(q).scalars()]


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
    granted = _granted_on_project(s, row.program, row.project_ref, row.id)
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
    row = _get(uow, who, app_id, Action.WRITE)
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
        uow.session.add(
            ApprovalRow(
                application_id=row.id,
                round=row.round,
                stage="city",
                user_id=who.user_id,
                username=who.username,
                amount_fen=None,
                case_by_case=False,
                at=now,
            )
        )
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
    call = _call(s, row.call_id)
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
    s.add(
        ApprovalRow(
            application_id=row.id,
            round=row.round,
            stage="province",
            user_id=who.user_id,
            username=who.username,
            amount_fen=amount_fen,
            case_by_case=case_by_case,
            at=now,
        )
    )
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


# reading -----------------------------------------------------------------------------------------


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
    return application_dict(uow, who, packs, _get(uow, who, app_id), now)


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
    "SORTS",
    "add_evidence",
    "application_dict",
    "budget_account",
    "call_dict",
    "create_application",
    "create_call",
    "evidence_file",
    "get_application",
    "get_call",
    "list_applications",
    "list_calls",
    "payee_of",
    "recorded_facts",
    "review",
    "submit",
    "summary",
    "update_application",
]
