"""Applications, the applicant's side: a draft in an open call, edits, evidence files, and submission
with the facts frozen beside the engine's decision.

Every state change writes the application's history and an audit event in the caller's transaction.
The callers commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhisuan.awards import _common as c
from zhisuan.awards import evidence as files
from zhisuan.awards import model as m
from zhisuan.awards.calls import call_row
from zhisuan.awards.programs import check_typed, missing, spec, split
from zhisuan.awards.views import application_dict, application_row
from zhisuan.core.access import Action, Principal
from zhisuan.core.clock import Clock, parse_date, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.policy import ArticleVersion, PackSet, evaluate, fen_text
from zhisuan.store.models.awards import ApplicationRow, CityPayoutRow, EvidenceRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

MAX_FUNDING_LINES = 20


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
    call = call_row(uow.session, call_id)
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
    row = application_row(uow, who, app_id, Action.WRITE)
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
    row = application_row(uow, who, app_id, Action.WRITE)
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
    application_row(uow, who, ev.application_id)
    return ev.name, ev.content_type, files.read(root, ev.sha256)


def granted_on_project(s: Session, program: str, project_ref: str, exclude: int) -> int:
    """The fen already granted to a project under a program, leaving out application ``exclude``."""
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
        out["already_awarded"] = fen_text(granted_on_project(s, row.program, row.project_ref, row.id))
    if "standard_already_awarded" in takes:
        out["standard_already_awarded"] = bool(granted_on_project(s, row.program, row.project_ref, row.id))
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
    row = application_row(uow, who, app_id, Action.WRITE)
    state = m.State(row.state)
    if not m.may_edit(who, c.applicant(row)):
        raise PermissionDeniedError("only the applicant submits its application")
    if state not in m.EDITABLE:
        raise ConflictError(f"the application is {state.value}; it was already submitted", field="state")
    call = call_row(uow.session, row.call_id)
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


__all__ = [
    "add_evidence",
    "create_application",
    "evidence_file",
    "granted_on_project",
    "recorded_facts",
    "submit",
    "update_application",
]
