"""Pages: usage, bills and compute vouchers for an organization; revenue for operators; budget burn."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from zhisuan import compute, metering
from zhisuan.accounts.services import org_names
from zhisuan.core.access import Action, Kind, Principal, Role, authorize, require_role, visible_scope
from zhisuan.core.clock import Month
from zhisuan.core.errors import AuthenticationError, PermissionDeniedError, PolicyError, ValidationError
from zhisuan.store.uow import UnitOfWork
from zhisuan.web import display, listing
from zhisuan.web.api.metering import _bill_resource
from zhisuan.web.deps import PlatformDep, PrincipalDep, RowId, UowDep, check_csrf
from zhisuan.web.forms import commit_or_show
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(
    NavItem(
        "/billing",
        "Bills and vouchers",
        roles=tuple(r.value for r in Role if r is not Role.CITY),
        order=30,
        group="Funds",
    )
)

STAFF = frozenset({Role.ADMIN, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU})
#: how many of the newest rows a list pages through
LISTED = 20000


INTRO = (
    "Usage is metered per job, pool and Asia/Shanghai month; bills are tax-inclusive as invoiced; compute "
    "vouchers (art. 2) are settled monthly on paid bills."
)

BILLS = ListSpec(
    "bills",
    "Bills",
    (
        Column("id", "#", "num", link=lambda r: f"/billing/bills/{r['id']}"),
        Column("month", "Month", filter=True),
        Column("org", "Organization", filter=True),
        Column("center", "Center", filter=True),
        Column("state", "State", "word", filter=True),
        Column("total", "Total (tax incl.)", "money"),
        Column("vat", "VAT", "money"),
        Column("issued_on", "Issued"),
        Column("paid_on", "Paid"),
    ),
    sort="id",
    desc=True,
)
VOUCHERS = ListSpec(
    "vouchers",
    "Compute vouchers",
    (
        Column("id", "#", "num"),
        Column("bill_line_id", "Bill line", "num"),
        Column("org", "Organization", filter=True),
        Column("city", "City", "city", filter=True),
        Column("usage_month", "Usage month", filter=True),
        Column("settlement_month", "Settled", filter=True),
        Column("program", "Measure", filter=True),
        Column("spend", "Spend", "money"),
        Column("amount", "Voucher", "money"),
        Column("status", "Status", "word", filter=True),
        Column("why", "Why"),
    ),
    sort="id",
    desc=True,
)
USAGE = ListSpec(
    "usage",
    "Usage per month",
    (
        Column("month", "Month", filter=True),
        Column("org", "Organization", filter=True),
        Column("center", "Center", filter=True),
        Column("card_hours", "Card-hours", "num"),
        Column("amount", "Amount", "money"),
        Column("records", "Records", "num"),
    ),
    sort="month",
    desc=True,
)
REVENUE = ListSpec(
    "revenue",
    "Revenue per month",
    (
        Column("month", "Month", filter=True),
        Column("center", "Center", filter=True),
        Column("total", "Total (tax incl.)", "money"),
        Column("vat", "VAT", "money"),
        Column("net", "Net", "money"),
        Column("bills", "Bills", "num"),
    ),
    sort="month",
    desc=True,
)
BURN = ListSpec(
    "burn",
    "Budget burn",
    (
        Column("article", "Article", filter=True),
        Column("year", "Year", "num", filter=True),
        Column("city", "City", "city", filter=True),
        Column("granted", "Granted", "money"),
        Column("lines", "Lines", "num"),
        Column("budget_left", "Budget left", "money"),
    ),
    sort="year",
    desc=True,
)
BURN_READERS = frozenset({Role.ADMIN, Role.FINANCE, Role.PROVINCE})


def _subnav(who: Principal) -> list[tuple[str, str]]:
    links = [
        ("/billing", "Bills"),
        ("/billing/vouchers", "Compute vouchers"),
        ("/billing/usage", "Usage per month"),
    ]
    if who.role in STAFF or who.role is Role.OPERATOR:
        links.append(("/billing/revenue", "Revenue per month"))
    if who.role in BURN_READERS:
        links.append(("/billing/burn", "Budget burn"))
    return links


def _page(
    request: Request,
    who: Principal,
    spec: ListSpec,
    rows: list[dict[str, object]],
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    lv = listing.view(request, spec, rows)
    if isinstance(lv, Response):
        return lv
    context = {"lv": lv, "subnav": _subnav(who), "intro": INTRO} | (extra or {})
    return render(request, "list_page.html", context, status_code)


def _login(who: Principal) -> None:
    if not who.authenticated:
        raise AuthenticationError("log in to see bills and vouchers")


def _named(uow: UnitOfWork, rows: list[dict[str, object]], lang: str) -> list[dict[str, object]]:
    """Rows with organization and center names beside their ids."""
    names = _names(uow, rows, lang)
    return [
        r
        | {
            "org": names["org_name"].get(int(str(r["org_id"])), r["org_id"]) if "org_id" in r else "",
            "center": names["center_name"].get(int(str(r["center_id"])), r["center_id"])
            if "center_id" in r
            else "",
        }
        for r in rows
    ]


@router.get("/billing", response_model=None)
def billing_page(request: Request, uow: UowDep, who: PrincipalDep) -> Response:
    _login(who)
    bills = metering.list_bills(uow, limit=LISTED, scope=visible_scope(who, Kind.BILL))
    return _page(request, who, BILLS, _named(uow, bills, request.state.lang))


#: who settles compute vouchers for a month (finance; administrators pass every role check)
SETTLERS = (Role.FINANCE,)


@router.get("/billing/vouchers", response_model=None)
def vouchers_page(
    request: Request, uow: UowDep, who: PrincipalDep, settled: int | None = None, settled_month: str = ""
) -> Response:
    _login(who)
    return _vouchers(request, uow, who, {"settled": settled, "settled_month": settled_month[:7]})


def _vouchers(
    request: Request, uow: UnitOfWork, who: Principal, form: dict[str, object], status_code: int = 200
) -> Response:
    vouchers = metering.list_vouchers(uow, limit=LISTED, scope=visible_scope(who, Kind.VOUCHER))
    lang = request.state.lang
    rows = [
        r | {"why": "; ".join(_reason(str(x), lang) for x in _texts(r.get("reasons")))}
        for r in _named(uow, vouchers, lang)
    ]
    can_settle = who.role is Role.ADMIN or who.role in SETTLERS
    extra = {"actions": "metering/_settle.html" if can_settle else None} | form
    return _page(request, who, VOUCHERS, rows, extra, status_code)


@router.post("/billing/vouchers/settle", response_model=None)
def settle_form(
    request: Request,
    uow: UowDep,
    who: PrincipalDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
    month: Annotated[str, Form()],
) -> Response:
    """Settle compute vouchers for the paid bill lines up to a month (finance); twice changes nothing."""
    check_csrf(request, csrf_token)
    require_role(who, *SETTLERS)

    def settled(result: metering.SettlementResult) -> str:
        query = {"f_settlement_month": result.month, "settled": result.lines, "settled_month": result.month}
        return f"/billing/vouchers?{urlencode(query)}"

    return commit_or_show(
        uow,
        lambda: metering.settle_vouchers(
            uow, Month.parse(month[:16]), platform.clock, platform.packs.current(), actor=who.username
        ),
        settled,
        lambda exc: _vouchers(
            request,
            uow,
            who,
            {"error": exc.message, "error_field": exc.field or "month", "month": month[:16]},
            422,
        ),
        errors=(ValidationError,),
    )


@router.get("/billing/usage", response_model=None)
def usage_page(request: Request, uow: UowDep, who: PrincipalDep) -> Response:
    _login(who)
    usage = metering.usage_summary(uow, scope=visible_scope(who, Kind.USAGE))
    return _page(request, who, USAGE, _named(uow, usage, request.state.lang))


@router.get("/billing/revenue", response_model=None)
def revenue_page(request: Request, uow: UowDep, who: PrincipalDep) -> Response:
    _login(who)
    if who.role is Role.OPERATOR and who.org_id is not None:
        revenue = metering.revenue_by_month(uow, operator_org_id=who.org_id)
    elif who.role in STAFF:
        revenue = metering.revenue_by_month(uow)
    else:
        raise PermissionDeniedError("revenue is for operators and staff")
    return _page(request, who, REVENUE, _named(uow, revenue, request.state.lang))


@router.get("/billing/burn", response_model=None)
def burn_page(request: Request, uow: UowDep, who: PrincipalDep) -> Response:
    _login(who)
    require_role(who, *BURN_READERS)
    return _page(request, who, BURN, metering.budget_burn(uow))


def _texts(value: object) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list | tuple) else []


def _reason(text: str, lang: str) -> str:
    """A voucher reason is written 'Chinese / English': the page's half."""
    zh, sep, en = text.partition(" / ")
    if not sep:
        return text
    return zh if lang == "zh" else en


def _pack_words(platform: PlatformDep, vouchers: list[dict[str, object]], lang: str) -> dict[str, str]:
    """The names in the vouchers' steps as the packs that judged them describe them."""
    packs = platform.packs.current()
    words: dict[str, str] = {}
    for pack_id in sorted({str(v.get("pack") or "") for v in vouchers} - {""}):
        try:
            pack = packs.pack(pack_id)
        except PolicyError:  # a pack no longer loaded: the catalogs' words do
            continue
        for version in pack.articles.values():
            words |= display.pack_words(version, lang)
    return words


def _dicts(value: object) -> list[dict[str, object]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _names(uow: UnitOfWork, rows: list[dict[str, object]], lang: str) -> dict[str, dict[int, str]]:
    """Organization and center names for the rows on a page (the rows hold ids)."""
    orgs = org_names(uow, (int(str(r["org_id"])) for r in rows if "org_id" in r), lang)
    centers = {int(c.id): c.display_name(lang) for c in compute.list_centers(uow)}
    return {"org_name": orgs, "center_name": centers}


BILL_LINES = ListSpec(
    "bill-lines",
    "Bill lines",
    (
        Column("id", "#", "num"),
        Column("usage_month", "Usage month", filter=True),
        Column("pool", "Pool", filter=True),
        Column("accelerator", "Accelerator", filter=True),
        Column("card_hours", "Card-hours", "num"),
        Column("unit_price", "Unit price", "num"),
        Column("discount", "Discount"),
        Column("amount", "Amount", "money"),
        Column("vat", "VAT", "money"),
        Column("kind", "Type", "word", filter=True),
    ),
    sort="id",
)


@router.get("/billing/bills/{bill_id}", response_model=None)
def bill_page(
    bill_id: RowId, request: Request, uow: UowDep, who: PrincipalDep, platform: PlatformDep
) -> Response:
    """A bill: totals, its lines as a list (sorted, filtered, exported) and the vouchers on them."""
    authorize(who, Action.READ, _bill_resource(uow, bill_id))
    bill = metering.bill_detail(uow, bill_id)
    lines = _dicts(bill["lines"])
    line_ids = {ln["id"] for ln in lines}
    pools = {int(p.id): p.key for c in compute.list_centers(uow) for p in c.pools}
    rows = [
        ln
        | {
            "pool": pools.get(int(str(ln["pool_id"])), str(ln["pool_id"])),
            "kind": "adjustment" if ln["adjustment"] else "",
        }
        for ln in lines
    ]
    lv = listing.view(request, BILL_LINES, rows)
    if isinstance(lv, Response):
        return lv
    vouchers = [
        v
        for v in metering.list_vouchers(uow, limit=5000, scope=visible_scope(who, Kind.VOUCHER))
        if v["bill_line_id"] in line_ids
    ]
    return render(
        request,
        "metering/bill.html",
        {
            "bill": bill,
            "lines": lv,
            "vouchers": vouchers,
            "half": lambda text: _reason(str(text), request.state.lang),
            "step_words": _pack_words(platform, vouchers, request.state.lang),
            "step_orgs": org_names(
                uow, display.step_org_ids(s for v in vouchers for s in _dicts(v["steps"])), request.state.lang
            ),
        }
        | _names(uow, [bill], request.state.lang),
    )
