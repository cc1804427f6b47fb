"""Budgets and payment: finance funds budgets, batches final awards and granted vouchers, and pays them.

Money moves budget → payable → paid in the ledger (:mod:`zhisuan.ledger.model`): funding credits a
program's budget (the province's per program and year, or a city's); an approved award or a settled
voucher line spends it into the payee's payable; a paid batch moves payables into paid, once — an
award or a voucher line is in at most one live batch (a unique key), and its ledger posting is keyed
by what it pays. A draft batch may be cancelled; its items are then free for the next batch.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.awards import _common as c
from zhisuan.awards import model as m
from zhisuan.awards.programs import PROGRAMS
from zhisuan.core.access import Principal, Role, require_role
from zhisuan.core.clock import Clock, Month, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError
from zhisuan.core.regions import is_city
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import (
    Account,
    AccountKind,
    award_payment_posting,
    budget_posting,
    city_budget_posting,
    voucher_payment_posting,
)
from zhisuan.policy import PackSet, fen_text
from zhisuan.store.models.awards import ApplicationRow, AwardCallRow, PaymentBatchRow, PaymentItemRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import VoucherLineRow
from zhisuan.store.uow import UnitOfWork

#: the province's compute-voucher program in the ledger (metering's BUDGET_PROGRAM)
PROVINCE = "province"


def _payer(raw: object) -> str:
    if raw == PROVINCE:
        return PROVINCE
    if isinstance(raw, str) and is_city(raw):
        return raw
    raise ValidationError("payer is 'province' or a city's 6-digit code", field="payer")


# budgets ----------------------------------------------------------------------------------------


def fund_budget(
    uow: UnitOfWork,
    who: Principal,
    clock: Clock,
    *,
    program: str,
    year: int,
    amount: object,
    payer: object = PROVINCE,
    reference: object,
) -> dict[str, object]:
    """Fund a budget (finance): a program's for a year, the province's or a city's. Once per reference."""
    require_role(who, Role.FINANCE)
    payer_code = _payer(payer)
    if program not in PROGRAMS and program != "art2" and not program.replace("-", "").isalnum():
        raise ValidationError(f"unknown program {program!r}", field="program")
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationError("year is a year", field="year")
    fen = c.fen(amount, "amount")
    ref = c.text(reference, "reference", 64)
    if any(c.isspace() for c in ref):
        raise ValidationError("the reference has no spaces", field="reference")
    now = clock.now()
    on = shanghai_date(now)
    if payer_code == PROVINCE:
        posting = budget_posting(program, year, fen, on, ref)
        account = Account.program_budget(program, year)
    else:
        posting = city_budget_posting(payer_code, program, year, fen, on, ref)
        account = Account.city_budget(payer_code, program, year)
    if not ledger.post(uow.session, [posting], clock):
        raise ConflictError(f"the funding {ref} of {account} is already recorded", field="reference")
    audit.record(
        uow, now, who.username, "budget.fund", str(account), {"amount": fen_text(fen), "reference": ref}
    )
    return {
        "account": str(account),
        "funded": fen_text(fen),
        "left": fen_text(ledger.balance(uow.session, account)),
    }


def budgets(uow: UnitOfWork, who: Principal, year: int | None = None) -> list[dict[str, object]]:
    """Award budgets: funded, committed (approved, not paid), paid and left — per program, payer, year."""
    require_role(who, Role.PROVINCE, Role.FINANCE)
    s = uow.session
    left: dict[str, int] = {}
    for account, bal in ledger.balances(s).items():
        if account.kind in {AccountKind.PROGRAM_BUDGET, AccountKind.CITY_BUDGET}:
            left[str(account)] = bal
    committed: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    q = select(
        ApplicationRow.budget_account, ApplicationRow.state, func.sum(ApplicationRow.approved_fen)
    ).where(
        ApplicationRow.budget_account.is_not(None),
        ApplicationRow.state.in_([m.State.APPROVED.value, m.State.PAID.value]),
    )
    for account_text, state, total in s.execute(
        q.group_by(ApplicationRow.budget_account, ApplicationRow.state)
    ):
        (paid if state == m.State.PAID.value else committed)[str(account_text)] += int(total or 0)
    out = []
    for key in sorted(set(left) | set(committed) | set(paid)):
        account = Account.parse(key)
        parts = account.key.split(":")
        if account.kind is AccountKind.CITY_BUDGET:
            payer, program, yr = parts[0], ":".join(parts[1:-1]), int(parts[-1])
        else:
            payer, program, yr = PROVINCE, ":".join(parts[:-1]), int(parts[-1])
        if year is not None and yr != year:
            continue
        lft, com, pd = left.get(key, 0), committed.get(key, 0), paid.get(key, 0)
        funded = lft + com + pd
        out.append(
            {
                "account": key,
                "program": program,
                "payer": payer,
                "year": yr,
                "funded": fen_text(funded),
                "committed": fen_text(com),
                "paid": fen_text(pd),
                "left": fen_text(lft),
                "burn": f"{(com + pd) * 100 / funded:.1f}%" if funded else None,
            }
        )
    return out


# batches ----------------------------------------------------------------------------------------


def _final_awards(s: Session, payer: str, now: dt.datetime) -> list[ApplicationRow]:
    """Approved awards whose notice is over with no open objection, not yet in a live batch, of ``payer``."""
    in_batch = select(PaymentItemRow.application_id).where(PaymentItemRow.application_id.is_not(None))
    q = (
        select(ApplicationRow)
        .join(AwardCallRow, AwardCallRow.id == ApplicationRow.call_id)
        .where(ApplicationRow.state == m.State.APPROVED.value, ApplicationRow.id.not_in(in_batch))
    )
    if payer == PROVINCE:
        q = q.where(AwardCallRow.payer == PROVINCE)
    else:
        q = q.where(AwardCallRow.payer == "city", ApplicationRow.city_code == payer)
    rows = list(s.execute(q.order_by(ApplicationRow.id)).scalars())
    held = c.open_objections(s, [r.id for r in rows])
    return [r for r in rows if c.state_of(r, r.id in held, now) is m.State.FINAL]


def voucher_payer(packs: PackSet, program: str) -> str:
    """Who pays a compute-voucher program: the province for ``art2``, else the city of the city's pack."""
    if program == "art2":
        return PROVINCE
    try:
        return packs.pack(program).region
    except Exception:
        return PROVINCE


def _granted_vouchers(
    s: Session, packs: PackSet, payer: str, month: Month
) -> list[tuple[int, int, int, str]]:
    """(voucher line, org, fen, program) granted up to ``month``'s settlement and in no live batch."""
    in_batch = select(PaymentItemRow.voucher_line_id).where(PaymentItemRow.voucher_line_id.is_not(None))
    q = select(
        VoucherLineRow.id, VoucherLineRow.org_id, VoucherLineRow.amount_fen, VoucherLineRow.program
    ).where(
        VoucherLineRow.amount_fen != 0,
        VoucherLineRow.settlement_month <= str(month),
        VoucherLineRow.id.not_in(in_batch),
    )
    return [
        (i, org, fen, program)
        for i, org, fen, program in s.execute(q.order_by(VoucherLineRow.id))
        if voucher_payer(packs, program) == payer
    ]


def create_batch(
    uow: UnitOfWork,
    who: Principal,
    clock: Clock,
    packs: PackSet,
    *,
    kind: object,
    payer: object = PROVINCE,
    month: object = None,
) -> dict[str, object]:
    """A draft batch (finance): every final award of ``payer``, or its vouchers granted up to ``month``.

    Vouchers are paid per organization, net of claw-backs; an organization whose net is not positive
    waits for the next batch.
    """
    require_role(who, Role.FINANCE)
    payer_code = _payer(payer)
    now = clock.now()
    s = uow.session
    period = Month.parse(month) if isinstance(month, str) and month else Month.of(now)
    items: list[PaymentItemRow] = []
    if kind == "awards":
        for r in _final_awards(s, payer_code, now):
            items.append(PaymentItemRow(application_id=r.id, payee=r.payee or "", fen=r.approved_fen or 0))
    elif kind == "vouchers":
        by_org: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for line_id, org, fen, _program in _granted_vouchers(s, packs, payer_code, period):
            by_org[org].append((line_id, fen))
        for org, lines in sorted(by_org.items()):
            if sum(f for _, f in lines) <= 0:
                continue
            items += [PaymentItemRow(voucher_line_id=i, payee=f"org:{org}", fen=f) for i, f in lines]
    else:
        raise ValidationError("kind is awards or vouchers", field="kind")
    if not items:
        raise ConflictError(f"nothing to pay: no {kind} of {payer_code} are due", field="kind")
    batch = PaymentBatchRow(
        kind=str(kind),
        payer=payer_code,
        period=str(period),
        state="draft",
        total_fen=sum(i.fen for i in items),
        items=len(items),
        created_by=who.username,
        created_at=now,
    )
    s.add(batch)
    s.flush()
    for item in items:
        item.batch_id = batch.id
    s.add_all(items)
    s.flush()
    audit.record(
        uow,
        now,
        who.username,
        "batch.create",
        f"batch:{batch.id}",
        {
            "kind": kind,
            "payer": payer_code,
            "period": str(period),
            "total": fen_text(batch.total_fen),
            "items": len(items),
        },
    )
    return batch_dict(uow, batch)


def _batch(s: Session, batch_id: int) -> PaymentBatchRow:
    row = s.get(PaymentBatchRow, batch_id) if c.fits(batch_id) else None
    if row is None:
        raise NotFoundError(f"no payment batch {batch_id}", field="batch_id")
    return row


def pay_batch(
    uow: UnitOfWork, who: Principal, clock: Clock, batch_id: int, *, reference: object, paid_on: object
) -> dict[str, object]:
    """Record a draft batch as paid (finance): reference and date; the ledger posts payable → paid."""
    require_role(who, Role.FINANCE)
    s = uow.session
    now = clock.now()
    batch = _batch(s, batch_id)
    if batch.state != "draft":
        raise ConflictError(
            f"batch {batch.id} is {batch.state}; only a draft batch is paid", field="batch_id"
        )
    ref = c.text(reference, "reference", 100)
    day = c.day(paid_on, "paid_on")
    if day > shanghai_date(now):
        raise ValidationError("the payment date cannot be in the future", field="paid_on")
    items = list(s.execute(select(PaymentItemRow).where(PaymentItemRow.batch_id == batch.id)).scalars())
    fixed = c.FixedClock(now)
    if batch.kind == "awards":
        ids = [i.application_id for i in items if i.application_id is not None]
        apps = {
            a.id: a for a in s.execute(select(ApplicationRow).where(ApplicationRow.id.in_(ids))).scalars()
        }
        held = c.open_objections(s, ids)
        for i in items:
            app = apps[i.application_id or 0]
            if c.state_of(app, app.id in held, now) is not m.State.FINAL:
                raise ConflictError(
                    f"application {app.id} is no longer final "
                    f"({c.state_of(app, app.id in held, now).value}); "
                    "cancel this batch and make a new one",
                    field="batch_id",
                )
        ledger.post(
            s, [award_payment_posting(i.application_id or 0, i.payee, i.fen, day) for i in items], fixed
        )
        for i in items:
            app = apps[i.application_id or 0]
            app.state = m.State.PAID.value
            app.paid_on = day
            app.updated_at = now
            _paid_event(uow, who, app, now, batch.id, ref)
    else:
        per_org: dict[int, int] = defaultdict(int)
        for i in items:
            per_org[int(i.payee.split(":")[1])] += i.fen
        ledger.post(
            s,
            [voucher_payment_posting(batch.id, org, fen, day) for org, fen in sorted(per_org.items())],
            fixed,
        )
    batch.state = "paid"
    batch.reference = ref
    batch.paid_on = day
    batch.paid_by = who.username
    audit.record(
        uow,
        now,
        who.username,
        "batch.pay",
        f"batch:{batch.id}",
        {
            "reference": ref,
            "paid_on": day.isoformat(),
            "total": fen_text(batch.total_fen),
            "kind": batch.kind,
        },
    )
    return batch_dict(uow, batch)


def _paid_event(
    uow: UnitOfWork, who: Principal, app: ApplicationRow, now: dt.datetime, batch: int, ref: str
) -> None:

    c.log(uow, app, who, now, "paid", m.State.APPROVED.value, note=ref, detail={"batch": batch})


def cancel_batch(
    uow: UnitOfWork, who: Principal, clock: Clock, batch_id: int, reason: object
) -> dict[str, object]:
    """Cancel a draft batch (finance) with a reason; what it held is free for the next batch."""
    require_role(who, Role.FINANCE)
    s = uow.session
    batch = _batch(s, batch_id)
    if batch.state != "draft":
        raise ConflictError(
            f"batch {batch.id} is {batch.state}; only a draft batch is cancelled", field="batch_id"
        )
    text = m.clean_reason(reason)
    s.execute(delete(PaymentItemRow).where(PaymentItemRow.batch_id == batch.id))
    batch.state = "cancelled"
    batch.reference = text[:100]
    audit.record(uow, clock.now(), who.username, "batch.cancel", f"batch:{batch.id}", {"reason": text})
    return batch_dict(uow, batch)


def batch_dict(uow: UnitOfWork, batch: PaymentBatchRow, *, items: bool = False) -> dict[str, object]:
    out: dict[str, Any] = {
        "id": batch.id,
        "kind": batch.kind,
        "payer": batch.payer,
        "period": batch.period,
        "state": batch.state,
        "total": fen_text(batch.total_fen),
        "items": batch.items,
        "created_by": batch.created_by,
        "created_at": batch.created_at.isoformat(),
        "reference": batch.reference,
        "paid_on": batch.paid_on.isoformat() if batch.paid_on else None,
        "paid_by": batch.paid_by,
    }
    if items:
        s = uow.session
        rows = list(s.execute(select(PaymentItemRow).where(PaymentItemRow.batch_id == batch.id)).scalars())
        if batch.kind == "awards":
            apps = {
                a.id: a
                for a in s.execute(
                    select(ApplicationRow).where(ApplicationRow.id.in_([r.application_id for r in rows]))
                ).scalars()
            }
            names = c.names(s, list(apps.values()))
            out["lines"] = [
                {
                    "application_id": r.application_id,
                    "program": apps[r.application_id or 0].program,
                    "payee": r.payee,
                    "payee_name": c.applicant_name(apps[r.application_id or 0], names),
                    "project_name": apps[r.application_id or 0].project_name,
                    "amount": fen_text(r.fen),
                }
                for r in rows
            ]
        else:
            per_org: dict[str, int] = defaultdict(int)
            count: dict[str, int] = defaultdict(int)
            for r in rows:
                per_org[r.payee] += r.fen
                count[r.payee] += 1
            org_ids = [int(p.split(":")[1]) for p in per_org]
            names = dict(
                s.execute(
                    select(OrganizationRow.id, OrganizationRow.name).where(OrganizationRow.id.in_(org_ids))
                ).all()
            )
            out["lines"] = [
                {
                    "payee": p,
                    "payee_name": names.get(int(p.split(":")[1]), p),
                    "voucher_lines": count[p],
                    "amount": fen_text(f),
                }
                for p, f in sorted(per_org.items())
            ]
    return out


def list_batches(uow: UnitOfWork, who: Principal, state: str | None = None) -> list[dict[str, object]]:
    require_role(who, Role.FINANCE, Role.PROVINCE)
    q = select(PaymentBatchRow).order_by(PaymentBatchRow.id.desc())
    if state:
        q = q.where(PaymentBatchRow.state == state)
    return [batch_dict(uow, b) for b in uow.session.execute(q.limit(500)).scalars()]


def get_batch(uow: UnitOfWork, who: Principal, batch_id: int) -> dict[str, object]:
    require_role(who, Role.FINANCE, Role.PROVINCE)
    return batch_dict(uow, _batch(uow.session, batch_id), items=True)


def voucher_payments(uow: UnitOfWork, who: Principal, org_id: int | None = None) -> list[dict[str, object]]:
    """Per organization: vouchers granted, paid and still owed (its own for an organization's member)."""
    if who.role in {Role.USER, Role.ORG_ADMIN, Role.OPERATOR}:
        org_id = who.org_id
    elif who.role not in {Role.PROVINCE, Role.FINANCE, Role.ADMIN, Role.DATA_BUREAU}:
        require_role(who, Role.PROVINCE, Role.FINANCE)
    s = uow.session
    granted_q = select(VoucherLineRow.org_id, func.sum(VoucherLineRow.amount_fen)).where(
        VoucherLineRow.amount_fen != 0
    )
    paid_q = (
        select(VoucherLineRow.org_id, func.sum(PaymentItemRow.fen))
        .join(PaymentItemRow, PaymentItemRow.voucher_line_id == VoucherLineRow.id)
        .join(PaymentBatchRow, PaymentBatchRow.id == PaymentItemRow.batch_id)
        .where(PaymentBatchRow.state == "paid")
    )
    if org_id is not None:
        granted_q = granted_q.where(VoucherLineRow.org_id == org_id)
        paid_q = paid_q.where(VoucherLineRow.org_id == org_id)
    granted = {o: int(f) for o, f in s.execute(granted_q.group_by(VoucherLineRow.org_id))}
    paid = {o: int(f) for o, f in s.execute(paid_q.group_by(VoucherLineRow.org_id))}
    names = dict(
        s.execute(
            select(OrganizationRow.id, OrganizationRow.name).where(OrganizationRow.id.in_(list(granted)))
        ).all()
    )
    return [
        {
            "org_id": o,
            "organization": names.get(o, str(o)),
            "granted": fen_text(g),
            "paid": fen_text(paid.get(o, 0)),
            "owed": fen_text(g - paid.get(o, 0)),
        }
        for o, g in sorted(granted.items())
    ]


def award_payments(uow: UnitOfWork, who: Principal, now: dt.datetime) -> list[dict[str, object]]:
    """The caller's awards with their payment (its organization's, or its city's)."""
    s = uow.session
    q = select(ApplicationRow).where(ApplicationRow.state.in_([m.State.APPROVED.value, m.State.PAID.value]))
    if who.role is Role.CITY:
        q = q.where(ApplicationRow.city_code == who.city_code)
    elif who.role in {Role.USER, Role.ORG_ADMIN, Role.OPERATOR}:
        q = q.where(ApplicationRow.org_id == who.org_id)
    else:
        require_role(who, Role.PROVINCE, Role.FINANCE)
    rows = list(s.execute(q.order_by(ApplicationRow.id)).scalars())
    held = c.open_objections(s, [r.id for r in rows])
    names = c.names(s, rows)
    return [
        {
            "application_id": r.id,
            "program": r.program,
            "payee": c.applicant_name(r, names),
            "approved": fen_text(r.approved_fen or 0),
            "state": c.state_of(r, r.id in held, now).value,
            "paid_on": r.paid_on.isoformat() if r.paid_on else None,
        }
        for r in rows
    ]


__all__ = [
    "PROVINCE",
    "award_payments",
    "batch_dict",
    "budgets",
    "cancel_batch",
    "create_batch",
    "fund_budget",
    "get_batch",
    "list_batches",
    "pay_batch",
    "voucher_payer",
    "voucher_payments",
]
