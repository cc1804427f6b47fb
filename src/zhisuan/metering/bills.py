"""Bills after drafting: issue, pay, void (each posted to the ledger), and what callers read of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from fractions import Fraction

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Kind, Scope, not_found
from zhisuan.core.clock import Clock, Month, shanghai_date
from zhisuan.core.errors import ValidationError
from zhisuan.core.money import Money
from zhisuan.metering._scope import CHUNK, apply_scope
from zhisuan.metering.bill_lines import BillState, check_transition
from zhisuan.metering.model import BP
from zhisuan.metering.postings import post_bill_lines, post_issued, post_paid, post_payments
from zhisuan.store.models.metering import BillLineRow, BillRow
from zhisuan.store.uow import UnitOfWork


def _bill(s: Session, bill_id: int) -> BillRow:
    row = s.get(BillRow, bill_id)
    if row is None:
        raise not_found(Kind.BILL)
    return row


def _ids(bills: Sequence[BillRow] | Sequence[int]) -> dict[str, object]:
    """Which bills an audit event covers: every id for a few, the range and count for many."""
    ids = sorted(b if isinstance(b, int) else b.id for b in bills)
    if len(ids) <= 100:
        return {"bills": ids}
    return {"bills": len(ids), "first": ids[0], "last": ids[-1]}


def issue_bills(
    uow: UnitOfWork,
    clock: Clock,
    bill_ids: Sequence[int] = (),
    month: Month | None = None,
    *,
    actor: str = "system",
) -> int:
    """Issue draft bills (by id, or every draft of a month) and post their lines to the ledger
    (set-wise: one ``UPDATE … RETURNING`` and ``INSERT … SELECT`` per ledger table)."""
    s = uow.session
    on = shanghai_date(clock.now())
    if month is not None:
        got = s.execute(
            update(BillRow)
            .where(BillRow.month == str(month), BillRow.state == BillState.DRAFT.value)
            .values(state=BillState.ISSUED.value, issued_on=on)
            .returning(BillRow.id, BillRow.gross_fen)
            .execution_options(synchronize_session=False)
        ).all()
        ids, gross = [i for i, _ in got], sum(int(g) for _, g in got)
    else:
        bills = [_bill(s, b) for b in bill_ids]
        for b in bills:
            check_transition(BillState(b.state), BillState.ISSUED)
        ids, gross = [b.id for b in bills], sum(b.gross_fen for b in bills)
        for i in range(0, len(ids), CHUNK):
            s.execute(
                update(BillRow)
                .where(BillRow.id.in_(ids[i : i + CHUNK]))
                .values(state=BillState.ISSUED.value, issued_on=on)
                .execution_options(synchronize_session=False)
            )
    if not ids:
        return 0
    post_issued(s, ids, on, clock)
    audit.record(
        uow,
        clock.now(),
        actor,
        "bill.issue",
        f"month:{month}" if month else "bills",
        _ids(ids) | {"gross_fen": gross},
    )
    s.expire_all()
    return len(ids)


def pay_bill(
    uow: UnitOfWork, bill_id: int, reference: str, paid_on: dt.date, clock: Clock, *, actor: str = "system"
) -> dict[str, object]:
    """Mark an issued bill paid (payment reference and date) and post the payment."""
    s = uow.session
    b = _bill(s, bill_id)
    if b.state == BillState.PAID.value and b.payment_ref == reference and b.paid_on == paid_on:
        return bill_detail(uow, bill_id)  # the same payment again changes nothing
    check_transition(BillState(b.state), BillState.PAID)
    if not reference.strip():
        raise ValidationError("a payment needs its reference", field="reference")
    b.state, b.payment_ref, b.paid_on = BillState.PAID.value, reference.strip(), paid_on
    post_payments(s, [b], paid_on, clock)
    s.flush()
    audit.record(
        uow,
        clock.now(),
        actor,
        "bill.pay",
        f"bill:{b.id}",
        {"reference": b.payment_ref, "paid_on": paid_on.isoformat(), "gross_fen": b.gross_fen},
    )
    return bill_detail(uow, bill_id)


def pay_all(
    uow: UnitOfWork, month: Month, reference: str, paid_on: dt.date, clock: Clock, *, actor: str = "system"
) -> int:
    """Mark every issued bill of a month paid with one reference (demo payments, bulk bank files)."""
    s = uow.session
    got = s.execute(
        update(BillRow)
        .where(BillRow.month == str(month), BillRow.state == BillState.ISSUED.value)
        .values(state=BillState.PAID.value, payment_ref=reference, paid_on=paid_on)
        .returning(BillRow.id, BillRow.gross_fen)
        .execution_options(synchronize_session=False)
    ).all()
    ids, gross = [i for i, _ in got], sum(int(g) for _, g in got)
    if not ids:
        return 0
    post_paid(s, ids, paid_on, clock)
    audit.record(
        uow,
        clock.now(),
        actor,
        "bill.pay",
        f"month:{month}",
        _ids(ids) | {"reference": reference, "paid_on": paid_on.isoformat(), "gross_fen": gross},
    )
    s.expire_all()
    return len(ids)


def void_bill(
    uow: UnitOfWork, bill_id: int, reason: str, clock: Clock, *, actor: str = "system"
) -> dict[str, object]:
    """Void a draft or issued bill; an issued one is reversed in the ledger. Its usage is billed again."""
    s = uow.session
    b = _bill(s, bill_id)
    check_transition(BillState(b.state), BillState.VOID)
    if not reason.strip():
        raise ValidationError("say why the bill is voided", field="reason")
    was_issued = b.state == BillState.ISSUED.value
    b.state, b.void_reason = BillState.VOID.value, reason.strip()
    if was_issued:
        post_bill_lines(s, [b], shanghai_date(clock.now()), clock, void=True)
    s.flush()
    audit.record(
        uow,
        clock.now(),
        actor,
        "bill.void",
        f"bill:{b.id}",
        {"reason": b.void_reason, "was_issued": was_issued, "gross_fen": b.gross_fen},
    )
    return bill_detail(uow, bill_id)


def _bill_dict(b: BillRow) -> dict[str, object]:
    return {
        "id": b.id,
        "org_id": b.org_id,
        "center_id": b.center_id,
        "operator_org_id": b.operator_org_id,
        "month": b.month,
        "state": b.state,
        "vat_rate": str(Fraction(b.vat_rate_ppm, 1_000_000) * 100) + "%",
        "total": str(Money.from_fen(b.gross_fen)),
        "vat": str(Money.from_fen(b.vat_fen)),
        "net": str(Money.from_fen(b.gross_fen - b.vat_fen)),
        "issued_on": b.issued_on,
        "paid_on": b.paid_on,
        "payment_ref": b.payment_ref,
        "void_reason": b.void_reason,
    }


def list_bills(
    uow: UnitOfWork,
    month: Month | None = None,
    org_id: int | None = None,
    state: str | None = None,
    limit: int = 500,
    scope: Scope | None = None,
) -> list[dict[str, object]]:
    """Bills by month, organization and center (of a month, an organization, a state) the caller may see."""
    q = select(BillRow).order_by(BillRow.month, BillRow.org_id, BillRow.center_id, BillRow.id).limit(limit)
    q = apply_scope(q, scope, BillRow.org_id, operator_col=BillRow.operator_org_id)
    if month is not None:
        q = q.where(BillRow.month == str(month))
    if org_id is not None:
        q = q.where(BillRow.org_id == org_id)
    if state is not None:
        q = q.where(BillRow.state == state)
    return [_bill_dict(b) for b in uow.session.execute(q).scalars()]


def bill_detail(uow: UnitOfWork, bill_id: int) -> dict[str, object]:
    """A bill with its lines: card-hours, list and unit prices, discount, amount, VAT and net."""
    s = uow.session
    b = _bill(s, bill_id)
    lines = s.execute(
        select(BillLineRow).where(BillLineRow.bill_id == bill_id).order_by(BillLineRow.id)
    ).scalars()
    out = _bill_dict(b)
    out["lines"] = [
        {
            "id": ln.id,
            "usage_month": ln.usage_month,
            "pool_id": ln.pool_id,
            "accelerator": ln.accelerator,
            "card_hours": str((Money(ln.card_seconds) / 3600).round())
            if ln.card_seconds % 36 == 0
            else str(Money(ln.card_seconds) / 3600),
            "card_seconds": ln.card_seconds,
            "unit_price": str(Money.from_fen(ln.price_fen_per_card_hour) * Fraction(BP - ln.discount_bp, BP)),
            "list_price": str(Money.from_fen(ln.price_fen_per_card_hour)),
            "discount": f"{ln.discount_bp / 100:g}%",
            "adjustment": ln.adjustment,
            "amount": str(Money.from_fen(ln.gross_fen)),
            "vat": str(Money.from_fen(ln.vat_fen)),
            "net": str(Money.from_fen(ln.gross_fen - ln.vat_fen)),
        }
        for ln in lines
    ]
    return out


__all__ = ["bill_detail", "issue_bills", "list_bills", "pay_all", "pay_bill", "void_bill"]
