"""Money over time, for operators' reports and dashboards: revenue per center, billed and vouchers."""

from __future__ import annotations

from sqlalchemy import func, select

from zhisuan.core.access import Scope
from zhisuan.core.money import Money
from zhisuan.metering._scope import apply_scope
from zhisuan.store.models.metering import BillRow, VoucherLineRow
from zhisuan.store.uow import UnitOfWork


def revenue_by_month(uow: UnitOfWork, operator_org_id: int | None = None) -> list[dict[str, object]]:
    """Billed (issued or paid) revenue per center and month, tax-inclusive and net."""
    q = (
        select(
            BillRow.center_id,
            BillRow.month,
            func.sum(BillRow.gross_fen),
            func.sum(BillRow.vat_fen),
            func.count(),
        )
        .where(BillRow.state.in_(("issued", "paid")))
        .group_by(BillRow.center_id, BillRow.month)
        .order_by(BillRow.month, BillRow.center_id)
    )
    if operator_org_id is not None:
        q = q.where(BillRow.operator_org_id == operator_org_id)
    return [
        {
            "center_id": c,
            "month": m,
            "total": str(Money.from_fen(int(g))),
            "vat": str(Money.from_fen(int(v))),
            "net": str(Money.from_fen(int(g) - int(v))),
            "bills": int(n),
        }
        for c, m, g, v, n in uow.session.execute(q)
    ]


def monthly_totals(
    uow: UnitOfWork, bill_scope: Scope | None, voucher_scope: Scope | None, months: int = 24
) -> list[dict[str, object]]:
    """Per usage month, what the caller may see: billed (issued or paid, tax-inclusive) and vouchers paid.

    ``bill_scope`` / ``voucher_scope`` come from :func:`zhisuan.core.access.visible_scope` (dashboards).
    """
    s = uow.session
    bq = select(BillRow.month, func.sum(BillRow.gross_fen)).where(BillRow.state.in_(("issued", "paid")))
    bq = apply_scope(bq, bill_scope, BillRow.org_id, operator_col=BillRow.operator_org_id)
    billed = {m: int(f or 0) for m, f in s.execute(bq.group_by(BillRow.month))}
    vq = select(VoucherLineRow.usage_month, func.sum(VoucherLineRow.amount_fen))
    vq = apply_scope(vq, voucher_scope, VoucherLineRow.org_id, city_col=VoucherLineRow.city)
    granted = {m: int(f or 0) for m, f in s.execute(vq.group_by(VoucherLineRow.usage_month))}
    keys = sorted(set(billed) | set(granted))[-months:]
    return [
        {
            "month": m,
            "billed": str(Money.from_fen(billed.get(m, 0))),
            "vouchers": str(Money.from_fen(granted.get(m, 0))),
        }
        for m in keys
    ]


__all__ = ["monthly_totals", "revenue_by_month"]
