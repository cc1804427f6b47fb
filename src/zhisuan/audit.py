"""The append-only, hash-chained audit log (DESIGN.md, Audit)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select

from zhisuan.store.models.core import AuditEventRow
from zhisuan.store.uow import UnitOfWork

GENESIS = "0" * 64


def _digest(prev: str, at: dt.datetime, actor: str, action: str, subject: str, detail: str) -> str:
    payload = "\x1f".join([prev, at.isoformat(), actor, action, subject, detail])
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    uow: UnitOfWork, at: dt.datetime, actor: str, action: str, subject: str, detail: dict[str, object]
) -> None:
    """Append one event to the chain (inside the caller's unit of work, committed with it)."""
    session = uow.session
    last = session.execute(select(AuditEventRow.hash).order_by(AuditEventRow.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    body = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    at = at.replace(microsecond=0)
    session.add(
        AuditEventRow(
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            detail=body,
            prev_hash=prev,
            hash=_digest(prev, at, actor, action, subject, body),
        )
    )
    session.flush()


def verify(uow: UnitOfWork) -> tuple[int, int | None]:
    """Recompute the chain; return (events checked, id of the first broken event or None)."""
    prev = GENESIS
    count = 0
    for row in uow.session.execute(select(AuditEventRow).order_by(AuditEventRow.id)).scalars():
        count += 1
        expected = _digest(prev, row.at, row.actor, row.action, row.subject, row.detail)
        if row.prev_hash != prev or row.hash != expected:
            return count, row.id
        prev = row.hash
    return count, None
