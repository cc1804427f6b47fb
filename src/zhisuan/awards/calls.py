"""Calls for applications: a measure's call with its dates, budget year, notice period and round size.

The callers commit.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.awards import _common as c
from zhisuan.awards import model as m
from zhisuan.awards.programs import PROGRAMS, form, spec, split
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import NotFoundError, ValidationError
from zhisuan.policy import PackSet, parameters
from zhisuan.store.models.awards import ApplicationRow, AwardCallRow
from zhisuan.store.uow import UnitOfWork


def call_row(s: Session, call_id: int) -> AwardCallRow:
    """The call ``call_id``, or a not-found error naming the field."""
    row = s.get(AwardCallRow, call_id) if c.fits(call_id) else None
    if row is None:
        raise NotFoundError(f"no call {call_id}", field="call_id")
    return row


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
    row = call_row(uow.session, call_id)
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


__all__ = ["call_dict", "call_row", "create_call", "get_call", "list_calls"]
