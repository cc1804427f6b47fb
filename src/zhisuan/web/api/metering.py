"""API: usage, bills (and their Excel/CSV export), compute vouchers, revenue and budget burn.

Every listing is filtered by :func:`zhisuan.core.access.visible_scope`; every single bill is checked
with :func:`zhisuan.core.access.authorize` (another organization's bill is simply not found).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from zhisuan import metering
from zhisuan.core.access import Action, Kind, Resource, Role, authorize, require_role, visible_scope
from zhisuan.core.clock import Month
from zhisuan.core.ids import OrgId
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import BillRow
from zhisuan.store.uow import UnitOfWork
from zhisuan.web.deps import LoginDep, RowId, UowDep
from zhisuan.web.downloads import XLSX, attachment

router = APIRouter(tags=["metering"])

MonthQ = Query(None, pattern=r"^\d{4}-\d{2}$", description="Asia/Shanghai month, e.g. 2025-06")


def _month(text: str | None) -> Month | None:
    return Month.parse(text) if text else None


def _bill_resource(uow: UnitOfWork, bill_id: int) -> Resource:
    b = uow.session.get(BillRow, bill_id)
    if b is None:
        return Resource(Kind.BILL)  # unknown: nobody but the admin "finds" it, then 404 below
    org = uow.session.get(OrganizationRow, b.org_id)
    return Resource(
        Kind.BILL,
        org_id=OrgId(b.org_id),
        operator_org_id=OrgId(b.operator_org_id),
        city_code=org.city_code if org is not None else None,
    )


@router.get("/usage/summary")
def usage_summary(uow: UowDep, who: LoginDep) -> list[dict[str, Any]]:
    """Card-hours and amounts per organization, center and month (yours, or your centers')."""
    return metering.usage_summary(uow, scope=visible_scope(who, Kind.USAGE))


@router.get("/bills")
def list_bills(
    uow: UowDep,
    who: LoginDep,
    month: str | None = MonthQ,
    state: Literal["draft", "issued", "paid", "void"] | None = None,
    limit: int = Query(500, ge=1, le=5000),
) -> list[dict[str, Any]]:
    """Bills you may read: your organization's, your centers' (operators), or all (province, finance)."""
    return metering.list_bills(uow, _month(month), None, state, limit, scope=visible_scope(who, Kind.BILL))


@router.get("/bills/{bill_id}")
def get_bill(bill_id: RowId, uow: UowDep, who: LoginDep) -> dict[str, Any]:
    """One bill with its lines (tax-inclusive amounts as invoiced, VAT, net)."""
    authorize(who, Action.READ, _bill_resource(uow, bill_id))
    return metering.bill_detail(uow, bill_id)


@router.get("/bills/{bill_id}/export.{fmt}")
def export_bill(bill_id: RowId, fmt: Literal["xlsx", "csv"], uow: UowDep, who: LoginDep) -> Response:
    """The bill as an Excel workbook or a CSV file."""
    authorize(who, Action.READ, _bill_resource(uow, bill_id))
    with tempfile.TemporaryDirectory() as tmp:
        path = metering.export_bill(uow, bill_id, Path(tmp) / f"bill-{bill_id}.{fmt}")
        body = path.read_bytes()
    return attachment(body, f"bill-{bill_id}.{fmt}", XLSX if fmt == "xlsx" else "text/csv")


@router.get("/vouchers")
def list_vouchers(
    uow: UowDep, who: LoginDep, month: str | None = MonthQ, limit: int = Query(500, ge=1, le=5000)
) -> list[dict[str, Any]]:
    """Compute-voucher lines (art. 2) with status and explanation steps."""
    return metering.list_vouchers(uow, _month(month), None, limit, scope=visible_scope(who, Kind.VOUCHER))


@router.get("/revenue")
def revenue(uow: UowDep, who: LoginDep) -> list[dict[str, Any]]:
    """Billed revenue per center and month: an operator sees its own centers; staff see all."""
    if who.role is Role.OPERATOR:
        if who.org_id is None:
            return []
        return metering.revenue_by_month(uow, operator_org_id=who.org_id)
    require_role(who, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU)
    return metering.revenue_by_month(uow)


@router.get("/budget-burn")
def budget_burn(uow: UowDep, who: LoginDep) -> list[dict[str, Any]]:
    """Vouchers granted per article, year and city, with the program budget left (finance, province)."""
    scope = visible_scope(who, Kind.BUDGET)
    if scope.nothing:
        require_role(who, Role.FINANCE, Role.PROVINCE)
    rows = metering.budget_burn(uow)
    if scope.city_code:
        rows = [r for r in rows if r["city"] == scope.city_code]
    return rows
