"""Sharing requests for conditional data (art. 3): an in-province organization asks, stating its purpose;
the dataset's publisher or the data bureau grants (conditions, last day) or refuses (reason).

A request that is neither the caller's organization's nor for a dataset it manages is *not found*.
Requests, grants and refusals are audited in the caller's transaction. The callers commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, parse_date, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.core.text import clean_text
from zhisuan.opendata import _common as c
from zhisuan.opendata import model as m
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.opendata import DatasetRow, SharingRequestRow
from zhisuan.store.uow import UnitOfWork


def active_grant(s: Session, who: Principal, dataset_id: int, today: dt.date) -> SharingRequestRow | None:
    """The caller's organization's grant for a dataset that is in force today, if any."""
    if who.org_id is None:
        return None
    rows = s.execute(
        select(SharingRequestRow).where(
            SharingRequestRow.dataset_id == dataset_id,
            SharingRequestRow.org_id == who.org_id,
            SharingRequestRow.state == m.RequestState.GRANTED.value,
        )
    ).scalars()
    for r in rows:
        if m.request_state(r.state, r.expires_on, today) is m.RequestState.GRANTED:
            return r
    return None


def request_access(
    uow: UnitOfWork, who: Principal, clock: Clock, identifier: str, purpose: object
) -> dict[str, object]:
    """An in-province organization asks for a conditional dataset, stating its purpose."""
    now = clock.now()
    s = uow.session
    row = c.readable(s, who, identifier)
    if who.role not in {Role.USER, Role.ORG_ADMIN} or who.org_id is None:
        raise PermissionDeniedError("sharing requests are made by an organization's members")
    org = s.get(OrganizationRow, who.org_id)
    if org is None or not org.in_province:
        raise PermissionDeniedError("sharing is for organizations registered in Anhui (art. 3)")
    if row.openness != m.Openness.CONDITIONAL.value or row.state != m.DatasetState.PUBLISHED.value:
        raise ConflictError("requests are made for published conditional datasets", field="dataset")
    text = clean_text(str(purpose or "").strip(), "purpose", max_length=4000)
    if len(text) < 4:
        raise ValidationError("state the purpose the data is for", field="purpose")
    pending = s.execute(
        select(SharingRequestRow.id).where(
            SharingRequestRow.dataset_id == row.id,
            SharingRequestRow.org_id == org.id,
            SharingRequestRow.state == m.RequestState.PENDING.value,
        )
    ).first()
    if pending is not None:
        raise ConflictError(
            "your organization already has a request waiting for this dataset", field="dataset"
        )
    req = SharingRequestRow(
        dataset_id=row.id,
        org_id=org.id,
        purpose=text,
        state=m.RequestState.PENDING.value,
        requested_by=who.username,
        requested_at=now,
    )
    s.add(req)
    s.flush()
    audit.record(
        uow, now, who.username, "sharing.request", f"sharing_request:{req.id}", {"dataset": row.identifier}
    )
    return request_dict(s, req, shanghai_date(now))


def answer_request(
    uow: UnitOfWork, who: Principal, clock: Clock, request_id: int, data: Mapping[str, Any]
) -> dict[str, object]:
    """The publisher or the data bureau grants (conditions, last day) or refuses (reason) a request."""
    now = clock.now()
    today = shanghai_date(now)
    s = uow.session
    req = _visible_request(s, who, request_id)
    dataset = s.get(DatasetRow, req.dataset_id)
    assert dataset is not None
    if not m.may_manage(who, dataset.publisher_key):
        raise PermissionDeniedError("the dataset's publisher or the data bureau answers requests")
    if req.state != m.RequestState.PENDING.value:
        raise ConflictError(f"the request was already {req.state}", field="state")
    action = data.get("action")
    if action == "grant":
        expires = data.get("expires_on")
        if not isinstance(expires, str | dt.date):
            raise ValidationError("a grant has a last day, YYYY-MM-DD", field="expires_on")
        last = expires if isinstance(expires, dt.date) else parse_date(expires, "expires_on")
        if last < today:
            raise ValidationError("the last day cannot be in the past", field="expires_on")
        req.state, req.expires_on = m.RequestState.GRANTED.value, last
        req.grant_conditions = clean_text(
            str(data.get("conditions") or "").strip(), "conditions", max_length=4000
        )
        if not req.grant_conditions:
            raise ValidationError("state the conditions of use", field="conditions")
    elif action == "refuse":
        reason = clean_text(str(data.get("reason") or "").strip(), "reason", max_length=4000)
        if not reason:
            raise ValidationError("a refusal gives its reason", field="reason")
        req.state, req.refusal_reason = m.RequestState.REFUSED.value, reason
    else:
        raise ValidationError("grant or refuse", field="action")
    req.answered_by, req.answered_at = who.username, now
    s.flush()
    audit.record(
        uow,
        now,
        who.username,
        f"sharing.{action}",
        f"sharing_request:{req.id}",
        {
            "dataset": dataset.identifier,
            "org": req.org_id,
            "expires_on": req.expires_on.isoformat() if req.expires_on else None,
            "conditions": req.grant_conditions,
            "reason": req.refusal_reason,
        },
    )
    return request_dict(s, req, today)


def _visible_request(s: Session, who: Principal, request_id: int) -> SharingRequestRow:
    req = s.get(SharingRequestRow, request_id) if c.fits(request_id) else None
    if req is not None:
        dataset = s.get(DatasetRow, req.dataset_id)
        if dataset is not None and (
            m.may_manage(who, dataset.publisher_key) or (who.org_id is not None and who.org_id == req.org_id)
        ):
            return req
    raise NotFoundError("no such request", field="request")


def request_dict(s: Session, req: SharingRequestRow, today: dt.date) -> dict[str, object]:
    dataset = s.get(DatasetRow, req.dataset_id)
    org = s.get(OrganizationRow, req.org_id)
    state = m.request_state(req.state, req.expires_on, today)
    hours = (req.answered_at - req.requested_at).total_seconds() / 3600 if req.answered_at else None
    return {
        "id": req.id,
        "dataset": dataset.identifier if dataset else None,
        "dataset_title": dataset.title if dataset else None,
        "publisher": dataset.publisher_key if dataset else None,
        "org_id": req.org_id,
        "org_name": org.name if org else None,
        "purpose": req.purpose,
        "state": state.value,
        "state_zh": m.REQUEST_ZH[state],
        "requested_by": req.requested_by,
        "requested_at": req.requested_at.isoformat(),
        "answered_by": req.answered_by,
        "answered_at": req.answered_at.isoformat() if req.answered_at else None,
        "hours_to_answer": round(hours, 1) if hours is not None else None,
        "conditions": req.grant_conditions,
        "expires_on": req.expires_on.isoformat() if req.expires_on else None,
        "refusal_reason": req.refusal_reason,
    }


def get_request(uow: UnitOfWork, who: Principal, clock: Clock, request_id: int) -> dict[str, object]:
    return request_dict(
        uow.session, _visible_request(uow.session, who, request_id), shanghai_date(clock.now())
    )


def list_requests(
    uow: UnitOfWork, who: Principal, clock: Clock, state: str | None = None
) -> list[dict[str, object]]:
    """Requests the caller sees: its organization's, those for its publisher's datasets, or (data
    bureau) all; ``state`` filters (``expired`` is a granted request past its last day)."""
    if not who.authenticated:
        require_role(who, Role.DATA_BUREAU)
    s = uow.session
    q = select(SharingRequestRow).order_by(SharingRequestRow.requested_at.desc(), SharingRequestRow.id.desc())
    if not m.is_steward(who):
        key = m.own_publisher_key(who)
        mine = SharingRequestRow.org_id == who.org_id if who.org_id is not None else None
        theirs = (
            SharingRequestRow.dataset_id.in_(select(DatasetRow.id).where(DatasetRow.publisher_key == key))
            if key
            else None
        )
        conds = [c for c in (mine, theirs) if c is not None]
        if not conds:
            return []
        q = q.where(conds[0] if len(conds) == 1 else conds[0] | conds[1])
    today = shanghai_date(clock.now())
    out = [request_dict(s, r, today) for r in s.execute(q.limit(1000)).scalars()]
    return [r for r in out if state is None or r["state"] == state]


__all__ = ["active_grant", "answer_request", "get_request", "list_requests", "request_access", "request_dict"]
