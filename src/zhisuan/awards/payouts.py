"""The city's side: the payouts a city actually made, the base of the art. 1, 4 and 8 matches, and how it
used an art. 8 match (POLICY position 8: matches come from recorded payouts, never promises)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from zhisuan import audit
from zhisuan.awards import _common as c
from zhisuan.awards import evidence as files
from zhisuan.awards import model as m
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.core.regions import city as city_of
from zhisuan.policy import fen_text
from zhisuan.store.models.awards import ApplicationRow, CityPayoutRow, MatchUseRow
from zhisuan.store.uow import UnitOfWork

#: what a city may record under each measure
PAYOUT_KINDS: Mapping[str, tuple[str, ...]] = {
    "art1": ("loan_interest", "operating"),
    "art4": ("supplier_subsidy",),
    "art8": ("project",),
}
KIND_ZH = {
    "loan_interest": "贷款贴息",
    "operating": "运营补贴",
    "supplier_subsidy": "数据供应商补贴",
    "project": "项目兑付",
}
#: what an art. 8 match may be used for
MATCH_USES = {"compute_buildout": "算力建设", "key_firms": "引育重点企业"}


def record_payout(
    uow: UnitOfWork,
    who: Principal,
    clock: Clock,
    root: Path,
    data: Mapping[str, Any],
    evidence: tuple[bytes, str | None] | None = None,
) -> dict[str, object]:
    """A city user records a payout the city made (with optional evidence); audited."""
    if who.role is not Role.CITY or not who.city_code:
        raise PermissionDeniedError("a city's payouts are recorded by that city's users")
    now = clock.now()
    program = str(data.get("program"))
    if program not in PAYOUT_KINDS:
        raise ValidationError("program is art1, art4 or art8", field="program")
    kind = data.get("kind")
    if kind not in PAYOUT_KINDS[program]:
        raise ValidationError(
            f"kind under {program} is one of {', '.join(PAYOUT_KINDS[program])}", field="kind"
        )
    paid_on = c.day(data.get("paid_on"), "paid_on")
    if paid_on > shanghai_date(now):
        raise ValidationError(
            "a payout is recorded once made; the date cannot be in the future", field="paid_on"
        )
    row = CityPayoutRow(
        city_code=who.city_code,
        program=program,
        kind=kind,
        project_ref=m.clean_ref(data.get("project_ref")),
        project_name=c.text(data.get("project_name"), "project_name"),
        recipient=c.text(data.get("recipient"), "recipient"),
        amount_fen=c.fen(data.get("amount"), "amount"),
        paid_on=paid_on,
        note=c.text(data.get("note"), "note", 2000, required=False),
        recorded_by=who.username,
        recorded_at=now,
    )
    if evidence is not None:
        stored = files.check(*evidence)
        files.store(root, evidence[0], stored)
        row.evidence_sha256, row.evidence_name = stored.sha256, stored.name
    uow.session.add(row)
    uow.session.flush()
    audit.record(uow, now, who.username, "payout.record", f"city_payout:{row.id}", payout_dict(row))
    return payout_dict(row)


def payout_dict(r: CityPayoutRow) -> dict[str, object]:
    return {
        "id": r.id,
        "city": r.city_code,
        "city_name": city_of(r.city_code).name_zh,
        "program": r.program,
        "kind": r.kind,
        "kind_zh": KIND_ZH.get(r.kind, r.kind),
        "project_ref": r.project_ref,
        "project_name": r.project_name,
        "recipient": r.recipient,
        "amount": fen_text(r.amount_fen),
        "paid_on": r.paid_on.isoformat(),
        "note": r.note,
        "evidence": r.evidence_name,
        "recorded_by": r.recorded_by,
    }


def list_payouts(
    uow: UnitOfWork, who: Principal, *, city: str | None = None, program: str | None = None
) -> list[dict[str, object]]:
    """Recorded payouts: a city's own for its users; all for the province and finance."""
    if who.role is Role.CITY:
        city = who.city_code
    else:
        require_role(who, Role.PROVINCE, Role.FINANCE)
    q = select(CityPayoutRow).order_by(CityPayoutRow.paid_on.desc(), CityPayoutRow.id.desc())
    if city:
        q = q.where(CityPayoutRow.city_code == city)
    if program:
        q = q.where(CityPayoutRow.program == program)
    return [payout_dict(r) for r in uow.session.execute(q.limit(1000)).scalars()]


def report_match_use(
    uow: UnitOfWork, who: Principal, clock: Clock, app_id: int, data: Mapping[str, Any]
) -> dict[str, object]:
    """The city reports how it used a paid art. 8 match; the uses never exceed the match."""
    now = clock.now()
    row = uow.session.get(ApplicationRow, app_id) if c.fits(app_id) else None
    if row is None or who.role is not Role.CITY or row.city_code != who.city_code:
        raise NotFoundError("no such application", field="application_id")
    if row.program != "art8" or row.state != m.State.PAID.value:
        raise ConflictError("uses are reported for an art. 8 match once it is paid", field="application_id")
    used_for = data.get("used_for")
    if used_for not in MATCH_USES:
        raise ValidationError(f"used_for is one of {', '.join(MATCH_USES)}", field="used_for")
    fen = c.fen(data.get("amount"), "amount")
    so_far = uow.session.execute(
        select(func.coalesce(func.sum(MatchUseRow.amount_fen), 0)).where(MatchUseRow.application_id == row.id)
    ).scalar_one()
    if int(so_far) + fen > (row.approved_fen or 0):
        raise ValidationError(
            f"the uses would total {fen_text(int(so_far) + fen)}, more than the match "
            f"{fen_text(row.approved_fen or 0)}",
            field="amount",
        )
    use = MatchUseRow(
        application_id=row.id,
        used_for=str(used_for),
        amount_fen=fen,
        description=c.text(data.get("description"), "description", 4000),
        reported_by=who.username,
        at=now,
    )
    uow.session.add(use)
    uow.session.flush()
    c.log(
        uow,
        row,
        who,
        now,
        "match_use",
        row.state,
        note=use.description,
        detail={"used_for": used_for, "amount": fen_text(fen)},
    )
    return match_uses(uow, row.id)


def match_uses(uow: UnitOfWork, app_id: int) -> dict[str, object]:
    rows = list(
        uow.session.execute(
            select(MatchUseRow).where(MatchUseRow.application_id == app_id).order_by(MatchUseRow.id)
        ).scalars()
    )
    return {
        "application_id": app_id,
        "uses": [
            {
                "used_for": u.used_for,
                "used_for_zh": MATCH_USES[u.used_for],
                "amount": fen_text(u.amount_fen),
                "description": u.description,
                "at": u.at.isoformat(),
                "by": u.reported_by,
            }
            for u in rows
        ],
        "total": fen_text(sum(u.amount_fen for u in rows)),
    }


def today(clock: Clock) -> dt.date:
    return shanghai_date(clock.now())


__all__ = [
    "KIND_ZH",
    "MATCH_USES",
    "PAYOUT_KINDS",
    "list_payouts",
    "match_uses",
    "payout_dict",
    "record_payout",
    "report_match_use",
]
