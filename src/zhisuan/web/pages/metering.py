"""Pages: usage, bills and compute vouchers for an organization; revenue for operators; budget burn."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from zhisuan import compute, metering
from zhisuan.accounts.services import org_names
from zhisuan.core.access import Action, Kind, Role, authorize, visible_scope
from zhisuan.core.errors import AuthenticationError
from zhisuan.store.uow import UnitOfWork
from zhisuan.web.api.metering import _bill_resource
from zhisuan.web.deps import PrincipalDep, RowId, UowDep
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(
    NavItem(
        "/billing", "Bills and vouchers", roles=tuple(r.value for r in Role if r is not Role.CITY), order=30
    )
)

STAFF = frozenset({Role.ADMIN, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU})


@router.get("/billing", response_class=HTMLResponse)
def billing_page(request: Request, uow: UowDep, who: PrincipalDep) -> HTMLResponse:
    if not who.authenticated:
        raise AuthenticationError("log in to see bills and vouchers")
    usage = metering.usage_summary(uow, scope=visible_scope(who, Kind.USAGE))
    bills = metering.list_bills(uow, limit=300, scope=visible_scope(who, Kind.BILL))
    vouchers = metering.list_vouchers(uow, limit=300, scope=visible_scope(who, Kind.VOUCHER))
    revenue: list[dict[str, object]] = []
    if who.role is Role.OPERATOR and who.org_id is not None:
        revenue = metering.revenue_by_month(uow, operator_org_id=who.org_id)
    elif who.role in STAFF:
        revenue = metering.revenue_by_month(uow)
    burn = metering.budget_burn(uow) if who.role in {Role.ADMIN, Role.FINANCE, Role.PROVINCE} else []
    rows: list[dict[str, object]] = [*usage, *bills, *vouchers, *revenue]
    return render(
        request,
        "metering/billing.html",
        {"usage": usage, "bills": bills, "vouchers": vouchers, "revenue": revenue, "burn": burn}
        | _names(uow, rows, request.state.lang),
    )


def _names(uow: UnitOfWork, rows: list[dict[str, object]], lang: str) -> dict[str, dict[int, str]]:
    """Organization and center names for the rows on a page (the rows hold ids)."""
    orgs = org_names(uow, (int(str(r["org_id"])) for r in rows if "org_id" in r), lang)
    centers = {int(c.id): c.display_name(lang) for c in compute.list_centers(uow)}
    return {"org_name": orgs, "center_name": centers}


@router.get("/billing/bills/{bill_id}", response_class=HTMLResponse)
def bill_page(bill_id: RowId, request: Request, uow: UowDep, who: PrincipalDep) -> HTMLResponse:
    authorize(who, Action.READ, _bill_resource(uow, bill_id))
    bill = metering.bill_detail(uow, bill_id)
    lines = bill["lines"]
    line_ids = {ln["id"] for ln in lines} if isinstance(lines, list) else set()
    vouchers = [
        v
        for v in metering.list_vouchers(uow, limit=5000, scope=visible_scope(who, Kind.VOUCHER))
        if v["bill_line_id"] in line_ids
    ]
    return render(
        request,
        "metering/bill.html",
        {"bill": bill, "vouchers": vouchers} | _names(uow, [bill], request.state.lang),
    )
