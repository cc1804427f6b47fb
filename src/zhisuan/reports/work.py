"""Work-queue figures for the role homes: what waits for the caller, one grouped query each.

Every function takes the scope it counts in (an organization, an operator, a city, or the province as
``None``) and answers counts or integer fen; the web's role homes (``web/homes.py``) decide which figure a
role sees and check that the caller may see it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from zhisuan.core.clock import SHANGHAI, shanghai_date
from zhisuan.store.models.awards import ApplicationRow, CityPayoutRow, PaymentBatchRow
from zhisuan.store.models.compute import CenterRow, JobRow, PoolRow
from zhisuan.store.models.core import AuditEventRow, UserRow
from zhisuan.store.models.metering import BillRow, UsageRecordRow, VoucherLineRow
from zhisuan.store.models.opendata import DatasetRow, SharingRequestRow
from zhisuan.store.models.publishing import PolicyVersionRow
from zhisuan.store.uow import UnitOfWork

#: voucher lines that carry money granted (the rest wait or were replaced)
GRANTED = ("granted", "pro_rated", "clawback")


def jobs_by_state(
    uow: UnitOfWork, *, org_id: int | None = None, operator_org_id: int | None = None
) -> dict[str, int]:
    """Jobs per state: of an organization, on an operator's centers, or everywhere (both None)."""
    q = select(JobRow.state, func.count()).group_by(JobRow.state)
    if org_id is not None:
        q = q.where(JobRow.org_id == org_id)
    if operator_org_id is not None:
        q = (
            q.join(PoolRow, PoolRow.id == JobRow.pool_id)
            .join(CenterRow, CenterRow.id == PoolRow.center_id)
            .where(CenterRow.operator_org_id == operator_org_id)
        )
    return {str(s): int(n) for s, n in uow.session.execute(q)}


def bills_by_state(
    uow: UnitOfWork, *, org_id: int | None = None, operator_org_id: int | None = None
) -> dict[str, tuple[int, int]]:
    """(count, gross fen) of bills per state, for a payer, an operator or everyone."""
    q = select(BillRow.state, func.count(), func.sum(BillRow.gross_fen)).group_by(BillRow.state)
    if org_id is not None:
        q = q.where(BillRow.org_id == org_id)
    if operator_org_id is not None:
        q = q.where(BillRow.operator_org_id == operator_org_id)
    return {str(s): (int(n), int(f or 0)) for s, n, f in uow.session.execute(q)}


def vouchers_granted(
    uow: UnitOfWork, year: int, *, org_id: int | None = None, city: str | None = None
) -> int:
    """Compute vouchers granted (fen) on usage of ``year``, for an organization, a city or the province."""
    q = select(func.sum(VoucherLineRow.amount_fen)).where(
        VoucherLineRow.usage_year == year, VoucherLineRow.status.in_(GRANTED)
    )
    if org_id is not None:
        q = q.where(VoucherLineRow.org_id == org_id)
    if city is not None:
        q = q.where(VoucherLineRow.city == city)
    return int(uow.session.execute(q).scalar() or 0)


def vouchers_queued(uow: UnitOfWork) -> tuple[int, int]:
    """(lines, fen entitled) of compute vouchers queued until their budget is funded."""
    q = select(func.count(), func.sum(VoucherLineRow.entitled_fen - VoucherLineRow.amount_fen)).where(
        VoucherLineRow.status == "queued"
    )
    n, fen = uow.session.execute(q).one()
    return int(n), int(fen or 0)


def applications_by_state(
    uow: UnitOfWork, *, org_id: int | None = None, city: str | None = None
) -> dict[str, int]:
    """Applications per stored state, of an organization, a city or the province."""
    q = select(ApplicationRow.state, func.count()).group_by(ApplicationRow.state)
    if org_id is not None:
        q = q.where(ApplicationRow.org_id == org_id)
    if city is not None:
        q = q.where(ApplicationRow.city_code == city)
    return {str(s): int(n) for s, n in uow.session.execute(q)}


def payouts_recorded(uow: UnitOfWork, city: str | None = None) -> tuple[int, int]:
    """(count, fen) of the cities' recorded payouts (one city's, or all)."""
    q = select(func.count(), func.sum(CityPayoutRow.amount_fen))
    if city is not None:
        q = q.where(CityPayoutRow.city_code == city)
    n, fen = uow.session.execute(q).one()
    return int(n), int(fen or 0)


def payment_batches_by_state(uow: UnitOfWork) -> dict[str, tuple[int, int]]:
    """(count, fen) of payment batches per state (draft, paid, cancelled)."""
    q = select(PaymentBatchRow.state, func.count(), func.sum(PaymentBatchRow.total_fen)).group_by(
        PaymentBatchRow.state
    )
    return {str(s): (int(n), int(f or 0)) for s, n, f in uow.session.execute(q)}


def versions_waiting(uow: UnitOfWork) -> int:
    """Policy pack versions submitted and not yet decided."""
    q = select(func.count()).where(PolicyVersionRow.state == "submitted")
    return int(uow.session.execute(q).scalar() or 0)


def operator_capacity(uow: UnitOfWork, operator_org_id: int) -> tuple[int, int, int]:
    """(centers, pools, cards) an operator runs."""
    q = (
        select(
            func.count(func.distinct(CenterRow.id)),
            func.count(PoolRow.id),
            func.sum(PoolRow.nodes * PoolRow.cards_per_node),
        )
        .select_from(CenterRow)
        .outerjoin(PoolRow, PoolRow.center_id == CenterRow.id)
        .where(CenterRow.operator_org_id == operator_org_id)
    )
    centers, pools, cards = uow.session.execute(q).one()
    return int(centers), int(pools), int(cards or 0)


def month_revenue(uow: UnitOfWork, month: str, operator_org_id: int | None = None) -> int:
    """Metered usage (fen, before bills) of a Shanghai month on an operator's centers (or all)."""
    q = select(func.sum(UsageRecordRow.amount_fen)).where(UsageRecordRow.usage_month == month)
    if operator_org_id is not None:
        q = q.join(CenterRow, CenterRow.id == UsageRecordRow.center_id).where(
            CenterRow.operator_org_id == operator_org_id
        )
    return int(uow.session.execute(q).scalar() or 0)


def users_by_role(uow: UnitOfWork) -> dict[str, int]:
    """Active accounts per role."""
    q = select(UserRow.role, func.count()).where(UserRow.active.is_(True)).group_by(UserRow.role)
    return {str(r): int(n) for r, n in uow.session.execute(q)}


def audit_events_today(uow: UnitOfWork, now: dt.datetime) -> int:
    """Audit events since Shanghai midnight."""
    midnight = dt.datetime.combine(shanghai_date(now), dt.time(), tzinfo=SHANGHAI)
    q = select(func.count()).where(AuditEventRow.at >= midnight)
    return int(uow.session.execute(q).scalar() or 0)


def datasets_published(uow: UnitOfWork) -> int:
    """Datasets published in the open-data catalog."""
    q = select(func.count()).where(DatasetRow.state == "published")
    return int(uow.session.execute(q).scalar() or 0)


def sharing_requests_pending(uow: UnitOfWork) -> int:
    """Sharing requests for conditionally open data still waiting for an answer."""
    q = select(func.count()).where(SharingRequestRow.state == "pending")
    return int(uow.session.execute(q).scalar() or 0)


__all__ = [
    "applications_by_state",
    "audit_events_today",
    "bills_by_state",
    "datasets_published",
    "jobs_by_state",
    "month_revenue",
    "operator_capacity",
    "payment_batches_by_state",
    "payouts_recorded",
    "sharing_requests_pending",
    "users_by_role",
    "versions_waiting",
    "vouchers_granted",
    "vouchers_queued",
]
