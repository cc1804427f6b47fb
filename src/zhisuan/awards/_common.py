"""What the awards modules share: reading typed values, an application's history, who holds what."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.awards import model as m
from zhisuan.awards.programs import split
from zhisuan.core.access import Kind, Principal, Resource
from zhisuan.core.clock import parse_date
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import MAX_INT_ID
from zhisuan.core.money import Money
from zhisuan.core.regions import city as city_of
from zhisuan.policy import ArticleVersion, PackSet, fen_text
from zhisuan.store.models.awards import ApplicationEventRow, ApplicationRow, ObjectionRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

MAX_TITLE = 200

# helpers --------------------------------------------------------------------------------------


def fits(row_id: object) -> bool:
    """Whether an id can name a row of the awards tables (32-bit ids): a larger one names nothing."""
    return isinstance(row_id, int) and not isinstance(row_id, bool) and 1 <= row_id <= MAX_INT_ID


def yuan(fen: int | None) -> str | None:
    return None if fen is None else fen_text(fen)


def fen(raw: object, field: str) -> int:
    """A positive amount of yuan typed by a person, as fen (exact; at most two decimals)."""
    if isinstance(raw, float):
        raise ValidationError("send amounts as decimal strings such as '12.34'", field=field)
    money = Money(raw, field=field)  # type: ignore[arg-type]
    if not money.is_whole_fen():
        raise ValidationError("an amount has at most two decimals (fen)", field=field)
    fen = money.to_fen()
    if fen <= 0:
        raise ValidationError("the amount must be positive", field=field)
    if fen > m.MAX_FEN:
        raise ValidationError("the amount is at most 10^15 yuan", field=field)
    return fen


def day(raw: object, field: str) -> dt.date:
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        raise ValidationError("a date is YYYY-MM-DD", field=field)
    return parse_date(raw, field)


def text(raw: object, field: str, limit: int = MAX_TITLE, *, required: bool = True) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or (required and not raw.strip()):
        raise ValidationError("required text", field=field)
    out = raw.strip()
    if len(out) > limit:
        raise ValidationError(f"at most {limit} characters", field=field)
    if any(ord(c) < 32 and c not in "\n\t" for c in out):
        raise ValidationError("control characters are not allowed", field=field)
    return out


def resource(row: ApplicationRow) -> Resource:
    return Resource(Kind.APPLICATION, org_id=row.org_id, city_code=row.city_code)  # type: ignore[arg-type]


def applicant(row: ApplicationRow) -> m.Applicant:
    return m.Applicant(row.applicant_kind, row.city_code, row.org_id)


def version_of(packs: PackSet, program: str, on: dt.date, field: str = "event_on") -> ArticleVersion:
    art, pack = split(program)
    version = packs.resolve(art, on, pack)
    if version is None:
        raise ValidationError(f"no article of {program} is in force on {on.isoformat()}", field=field)
    return version


def log(
    uow: UnitOfWork,
    row: ApplicationRow,
    who: Principal,
    now: dt.datetime,
    action: str,
    before: str | None,
    note: str = "",
    detail: Mapping[str, object] | None = None,
) -> None:
    """One step in the application's history and in the audit chain, with before and after."""
    body = dict(detail or {})
    uow.session.add(
        ApplicationEventRow(
            application_id=row.id,
            at=now,
            actor=who.username,
            action=action,
            from_state=before,
            to_state=row.state,
            note=note,
            detail=json.dumps(body, ensure_ascii=False, sort_keys=True, default=str),
        )
    )
    audit.record(
        uow,
        now,
        who.username,
        f"application.{action}",
        f"application:{row.id}",
        {"program": row.program, "from": before, "to": row.state, "note": note, **body},
    )


def open_objections(s: Session, app_ids: Sequence[int]) -> set[int]:
    if not app_ids:
        return set()
    q = select(ObjectionRow.application_id).where(
        ObjectionRow.application_id.in_(app_ids), ObjectionRow.state == "open"
    )
    return set(s.execute(q).scalars())


def state_of(row: ApplicationRow, held: bool, now: dt.datetime) -> m.State:
    return m.effective_state(m.State(row.state), row.notice_ends, held, now)


class FixedClock:
    """The clock of one step: everything it posts carries the same instant."""

    def __init__(self, now: dt.datetime) -> None:
        self._now = now

    def now(self) -> dt.datetime:
        return self._now


def names(s: Session, rows: Sequence[ApplicationRow]) -> dict[int, str]:
    ids = {r.org_id for r in rows if r.org_id is not None}
    if not ids:
        return {}
    return dict(
        s.execute(select(OrganizationRow.id, OrganizationRow.name).where(OrganizationRow.id.in_(ids))).all()
    )


def applicant_name(row: ApplicationRow, names: Mapping[int, str]) -> str:
    if row.org_id is not None:
        return names.get(row.org_id, f"org {row.org_id}")
    try:
        return city_of(row.city_code).name_zh
    except ValidationError:
        return row.city_code
