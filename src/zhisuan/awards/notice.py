"""Public notice (公示) and objections: a logged-in user objects to a proposed award during its notice,
which holds it; a province user dismisses the objection (the award goes on) or upholds it (withdrawn,
its budget released in the ledger). Every step is written to the application's history and audited."""

from __future__ import annotations

from sqlalchemy import func, select

from zhisuan.awards import _common as c
from zhisuan.awards import model as m
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import Account, award_release_posting
from zhisuan.store.models.awards import ApplicationRow, ObjectionRow
from zhisuan.store.uow import UnitOfWork


def lodge_objection(
    uow: UnitOfWork, who: Principal, clock: Clock, app_id: int, reason: object
) -> dict[str, object]:
    """A logged-in user objects to a proposed award during its notice; it is held until resolved."""
    now = clock.now()
    if not who.authenticated or who.user_id is None:
        raise PermissionDeniedError("log in to lodge an objection")
    row = uow.session.get(ApplicationRow, app_id) if c.fits(app_id) else None
    if row is None:
        raise NotFoundError("no such application", field="application_id")
    held = bool(c.open_objections(uow.session, [row.id]))
    state = c.state_of(row, held, now)
    if state not in {m.State.NOTICE, m.State.HELD}:
        raise ConflictError(
            "objections are lodged while an award is in public notice", field="application_id"
        )
    text = m.clean_reason(reason)
    mine = uow.session.execute(
        select(func.count()).where(
            ObjectionRow.application_id == row.id,
            ObjectionRow.by_user_id == who.user_id,
            ObjectionRow.state == "open",
        )
    ).scalar_one()
    if mine:
        raise ConflictError("you already have an open objection to this award", field="application_id")
    obj = ObjectionRow(
        application_id=row.id,
        by_user_id=who.user_id,
        by_username=who.username,
        reason=text,
        at=now,
        state="open",
    )
    uow.session.add(obj)
    uow.session.flush()
    c.log(uow, row, who, now, "objection", row.state, note=text, detail={"objection": obj.id})
    return objection_dict(obj)


def resolve_objection(
    uow: UnitOfWork, who: Principal, clock: Clock, objection_id: int, outcome: object, note: object
) -> dict[str, object]:
    """A province user resolves an objection: ``dismissed`` (the award goes on) or ``upheld`` (withdrawn,
    its budget released)."""
    require_role(who, Role.PROVINCE)
    now = clock.now()
    obj = uow.session.get(ObjectionRow, objection_id) if c.fits(objection_id) else None
    if obj is None:
        raise NotFoundError("no such objection", field="objection_id")
    if obj.state != "open":
        raise ConflictError(f"the objection was already {obj.state}", field="objection_id")
    if outcome not in {"dismissed", "upheld"}:
        raise ValidationError("outcome is dismissed or upheld", field="outcome")
    text = m.clean_reason(note, "note")
    row = uow.session.get(ApplicationRow, obj.application_id)
    assert row is not None
    obj.state = str(outcome)
    obj.resolved_by = who.username
    obj.resolved_at = now
    obj.resolution = text
    before = row.state
    if outcome == "upheld" and row.state == m.State.APPROVED.value:
        account = Account.parse(row.budget_account or "")
        ledger.post(
            uow.session,
            [
                award_release_posting(
                    row.id, account, row.payee or "", row.approved_fen or 0, shanghai_date(now)
                )
            ],
            c.FixedClock(now),
        )
        row.state = m.State.WITHDRAWN.value
        row.updated_at = now
        # other open objections to a withdrawn award have nothing left to hold
        for other in uow.session.execute(
            select(ObjectionRow).where(ObjectionRow.application_id == row.id, ObjectionRow.state == "open")
        ).scalars():
            other.state, other.resolved_by, other.resolved_at = "dismissed", who.username, now
            other.resolution = f"award withdrawn on objection {obj.id}"
    c.log(uow, row, who, now, f"objection_{outcome}", before, note=text, detail={"objection": obj.id})
    return objection_dict(obj)


def objection_dict(o: ObjectionRow) -> dict[str, object]:
    return {
        "id": o.id,
        "application_id": o.application_id,
        "by": o.by_username,
        "reason": o.reason,
        "at": o.at.isoformat(),
        "state": o.state,
        "resolved_by": o.resolved_by,
        "resolved_at": o.resolved_at.isoformat() if o.resolved_at else None,
        "resolution": o.resolution,
    }


def list_objections(uow: UnitOfWork, who: Principal, state: str | None = None) -> list[dict[str, object]]:
    """Objections: all for province users, one's own for others."""
    require_role(
        who,
        Role.PROVINCE,
        Role.FINANCE,
        Role.USER,
        Role.ORG_ADMIN,
        Role.OPERATOR,
        Role.CITY,
        Role.DATA_BUREAU,
    )
    q = select(ObjectionRow).order_by(ObjectionRow.id.desc())
    if who.role not in {Role.PROVINCE, Role.ADMIN}:
        q = q.where(ObjectionRow.by_user_id == who.user_id)
    if state:
        q = q.where(ObjectionRow.state == state)
    return [objection_dict(o) for o in uow.session.execute(q.limit(500)).scalars()]


__all__ = ["list_objections", "lodge_objection", "objection_dict", "resolve_objection"]
