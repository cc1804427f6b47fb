"""Money pages: budgets and their burn, payment batches and their lines, payments by payee, and the
payouts a city records."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhisuan.awards import payments, payouts
from zhisuan.awards.evidence import ALLOWED
from zhisuan.awards.programs import PROGRAMS
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import shanghai_date
from zhisuan.web import listing
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, checked_form, form_text
from zhisuan.web.forms import commit_or_show, form_error
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.pages.awards._common import (
    _app_link,
    _dicts,
    _int,
    _labels,
    _login,
    _page,
    _payer,
    _upload,
)

router = APIRouter(include_in_schema=False)


BUDGETS = ListSpec(
    "budgets",
    "Budgets and their burn",
    (
        Column("program", "Measure", filter=True),
        Column("payer", "Payer", filter=True),
        Column("year", "Year", "num", filter=True),
        Column("funded", "Funded", "money"),
        Column("committed", "Committed", "money"),
        Column("paid", "Paid", "money"),
        Column("left", "Left", "money"),
        Column("burn", "Burn", "bar"),
    ),
    sort="year",
    desc=True,
    attrs=lambda r: {"account": r["account"]},
)


@router.get("/awards/budgets", response_model=None)
def budgets_page(
    request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep, year: str = ""
) -> Response:
    """Budgets per measure, payer and year on the shared list: funded, committed, paid, left and the burn
    as a bar (province, finance); older links' ``year`` narrows it first."""
    _login(who)
    return _budgets(request, who, uow, platform, year)


def _budgets(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    year: str,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    labels = _labels(getattr(request.state, "lang", "zh"))
    rows = [
        dict(b) | {"program": labels["measure"](b["program"]), "payer": _payer(b["payer"], labels)}
        for b in payments.budgets(uow, who, _int(year, "year"))
    ]
    lv = listing.view(request, BUDGETS, rows)
    if isinstance(lv, Response):
        return lv
    lv.keep = {"year": year} if year else {}
    today = shanghai_date(platform.clock.now())
    ctx = {
        "lv": lv,
        "year": year,
        "may_fund": who.role in {Role.FINANCE, Role.ADMIN},
        "values": {"year": str(today.year), "payer": payments.PROVINCE},
        "budget_programs": ["art2", *PROGRAMS],
    }
    return _page(request, "awards/budgets.html", ctx | (extra or {}), status_code)


@router.post("/awards/budgets", response_model=None)
async def fund_form(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Fund a budget (finance), once per reference."""
    form = await checked_form(request)
    _login(who)
    values = {k: form_text(form, k) for k in ("program", "year", "amount", "payer", "reference")}

    def fund() -> None:
        payments.fund_budget(
            uow,
            who,
            platform.clock,
            program=values["program"],
            year=_int(values["year"], "year") or 0,
            amount=values["amount"],
            payer=values["payer"] or payments.PROVINCE,
            reference=values["reference"],
        )

    return commit_or_show(
        uow,
        fund,
        "/awards/budgets",
        lambda exc: _budgets(
            request, who, uow, platform, "", {"values": values, **form_error(exc)}, exc.http_status
        ),
    )


BATCHES = ListSpec(
    "batches",
    "Payment batches",
    (
        Column("id", "#", "num", link=lambda r: f"/awards/batches/{r['id']}"),
        Column("kind", "Kind", filter=True),
        Column("payer", "Payer", filter=True),
        Column("period", "Period", filter=True),
        Column("state", "State", filter=True),
        Column("items", "Lines", "num"),
        Column("total", "Total (yuan)", "money"),
        Column("reference", "Reference"),
        Column("paid_on", "Paid on"),
        Column("created_by", "Made by", filter=True),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"batch": r["id"], "state": r["state_value"]},
)


@router.get("/awards/batches", response_model=None)
def batches_page(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Payment batches on the shared list, and the form that makes one (finance)."""
    _login(who)
    return _batches(request, who, uow, platform)


def _batches(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    labels = _labels(getattr(request.state, "lang", "zh"))
    rows = [
        dict(b)
        | {
            "kind": labels["word"](f"kind_{b['kind']}"),
            "payer": _payer(b["payer"], labels),
            "state": labels["word"](f"batch_{b['state']}"),
            "state_value": b["state"],
        }
        for b in payments.list_batches(uow, who)
    ]
    lv = listing.view(request, BATCHES, rows)
    if isinstance(lv, Response):
        return lv
    month = shanghai_date(platform.clock.now()).strftime("%Y-%m")
    ctx = {
        "lv": lv,
        "may_pay": who.role in {Role.FINANCE, Role.ADMIN},
        "values": {"kind": "awards", "payer": payments.PROVINCE, "month": month},
    }
    return _page(request, "awards/batches.html", ctx | (extra or {}), status_code)


@router.post("/awards/batches", response_model=None)
async def batch_form(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """A draft batch of final awards, or of granted vouchers up to a month, for one payer."""
    form = await checked_form(request)
    _login(who)
    values = {k: form_text(form, k) for k in ("kind", "payer", "month")}

    def create() -> dict[str, object]:
        return payments.create_batch(
            uow,
            who,
            platform.clock,
            platform.packs.current(),
            kind=values["kind"],
            payer=values["payer"] or payments.PROVINCE,
            month=values["month"] or None,
        )

    return commit_or_show(
        uow,
        create,
        lambda out: f"/awards/batches/{out['id']}",
        lambda exc: _batches(
            request, who, uow, platform, {"values": values, **form_error(exc)}, exc.http_status
        ),
    )


AWARD_LINES = ListSpec(
    "lines",
    "Lines of the batch",
    (
        Column("application_id", "Application", "num", link=lambda r: _app_link(r["application_id"])),
        Column("program", "Measure", filter=True),
        Column("payee_name", "Payee", filter=True),
        Column("project_name", "Project"),
        Column("amount", "Amount (yuan)", "money"),
    ),
    sort="application_id",
)


VOUCHER_LINES = ListSpec(
    "lines",
    "Lines of the batch",
    (
        Column("payee_name", "Payee"),
        Column("voucher_lines", "Voucher lines", "num"),
        Column("amount", "Amount (yuan)", "money"),
    ),
    sort="payee_name",
)


@router.get("/awards/batches/{batch_id}", response_model=None)
def batch_page(
    request: Request, batch_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """A batch with its lines on the shared list (exported, they are the bank's payment list); a draft is
    paid (reference and date) or cancelled (reason) here."""
    _login(who)
    return _batch(request, batch_id, who, uow, platform)


def _batch(
    request: Request,
    batch_id: int,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    batch = payments.get_batch(uow, who, batch_id)
    measure = _labels(getattr(request.state, "lang", "zh"))["measure"]
    lines = [
        dict(line) | ({"program": measure(line["program"])} if "program" in line else {})
        for line in _dicts(batch.get("lines"))
    ]
    lv = listing.view(request, AWARD_LINES if batch["kind"] == "awards" else VOUCHER_LINES, lines)
    if isinstance(lv, Response):
        return lv
    ctx = {
        "batch": batch,
        "lv": lv,
        "may_pay": who.role in {Role.FINANCE, Role.ADMIN},
        "today": shanghai_date(platform.clock.now()).isoformat(),
        "values": {},
    }
    return _page(request, "awards/batch.html", ctx | (extra or {}), status_code)


@router.post("/awards/batches/{batch_id}/pay", response_model=None)
async def pay_form(
    request: Request, batch_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Record that a draft batch was paid: the payment reference and date."""
    form = await checked_form(request)
    _login(who)
    values = {k: form_text(form, k) for k in ("reference", "paid_on")}
    return commit_or_show(
        uow,
        lambda: payments.pay_batch(
            uow, who, platform.clock, batch_id, reference=values["reference"], paid_on=values["paid_on"]
        ),
        f"/awards/batches/{batch_id}",
        lambda exc: _batch(
            request, batch_id, who, uow, platform, {"values": values, **form_error(exc)}, exc.http_status
        ),
    )


@router.post("/awards/batches/{batch_id}/cancel", response_model=None)
async def cancel_form(
    request: Request, batch_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Cancel a draft batch with a reason; what it held is free for the next batch."""
    form = await checked_form(request)
    _login(who)
    reason = form_text(form, "reason")
    ctx = {"values": {"reason": reason}, "cancel_error": True}
    return commit_or_show(
        uow,
        lambda: payments.cancel_batch(uow, who, platform.clock, batch_id, reason),
        f"/awards/batches/{batch_id}",
        lambda exc: _batch(request, batch_id, who, uow, platform, ctx | form_error(exc), exc.http_status),
    )


VOUCHER_PAYMENTS = ListSpec(
    "voucher-payments",
    "Compute vouchers granted and paid",
    (
        Column("organization", "Organization"),
        Column("granted", "Granted (yuan)", "money"),
        Column("paid", "Paid (yuan)", "money"),
        Column("owed", "Still owed (yuan)", "money"),
    ),
    sort="organization",
    attrs=lambda r: {"org": r["org_id"]},
)


AWARD_PAYMENTS = ListSpec(
    "award-payments",
    "Awards and their payment",
    (
        Column(
            "application_id",
            "Application",
            "num",
            link=lambda r: f"/awards/applications/{r['application_id']}",
        ),
        Column("program", "Measure", filter=True),
        Column("payee", "Payee", filter=True),
        Column("approved", "Approved", "money"),
        Column("state", "State", filter=True),
        Column("paid_on", "Paid on"),
    ),
    sort="application_id",
    desc=True,
)


@router.get("/awards/payments", response_model=None)
def payments_page(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Compute vouchers granted and paid, and awards with their payment: one's own, or all for the office;
    two lists on one page (``?export=xlsx&list=`` names the one to export)."""
    _login(who, "log in to see payments")
    labels = _labels(getattr(request.state, "lang", "zh"))
    lists: list[listing.ListView] = []
    if who.role is not Role.CITY:
        vouchers = listing.view(request, VOUCHER_PAYMENTS, payments.voucher_payments(uow, who))
        if isinstance(vouchers, Response):
            return vouchers
        lists.append(vouchers)
    rows = [
        dict(a) | {"program": labels["measure"](a["program"]), "state": labels["state_label"](a["state"])}
        for a in payments.award_payments(uow, who, platform.clock.now())
    ]
    awards = listing.view(request, AWARD_PAYMENTS, rows)
    if isinstance(awards, Response):
        return awards
    lists.append(awards)
    ctx = {"lists": lists, "heading": "Payments", "links": [], "sum": None}
    return _page(request, "awards/list.html", ctx)


PAYOUTS = ListSpec(
    "payouts",
    "The city's recorded payouts",
    (
        Column("id", "#", "num"),
        Column("city", "City", "city", filter=True),
        Column("program", "Measure", filter=True),
        Column("kind", "Kind", filter=True),
        Column("project_name", "Project"),
        Column("project_ref", "Project reference"),
        Column("recipient", "Recipient", filter=True),
        Column("amount", "Amount (yuan)", "money"),
        Column("paid_on", "Paid on"),
        Column("evidence", "Evidence"),
        Column("recorded_by", "Recorded by"),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"payout": r["id"]},
)


@router.get("/awards/payouts", response_model=None)
def payouts_page(
    request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep, city: str = "", program: str = ""
) -> Response:
    """A city's recorded payouts (the base of the art. 1, 4 and 8 matches) on the shared list, and the form
    that records one; older links' ``city`` and ``program`` narrow it first."""
    _login(who)
    return _payouts(request, who, uow, platform, city, program)


def _payouts(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    city: str,
    program: str,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    lang: str = getattr(request.state, "lang", "zh")
    measure = _labels(lang)["measure"]
    rows = [
        dict(p)
        | {
            "program": measure(p["program"]),
            "kind": p["kind_zh"] if lang == "zh" else str(p["kind"]).replace("_", " "),
        }
        for p in payouts.list_payouts(uow, who, city=city or None, program=program or None)
    ]
    lv = listing.view(request, PAYOUTS, rows)
    if isinstance(lv, Response):
        return lv
    lv.keep = {k: v for k, v in {"city": city, "program": program}.items() if v}
    ctx = {
        "lv": lv,
        "filters": {"city": city, "program": program},
        "may_record": who.role is Role.CITY,
        "kinds": payouts.PAYOUT_KINDS,
        "kind_zh": payouts.KIND_ZH,
        "values": {"paid_on": shanghai_date(platform.clock.now()).isoformat()},
        "allowed": ALLOWED,
    }
    return _page(request, "awards/payouts.html", ctx | (extra or {}), status_code)


@router.post("/awards/payouts", response_model=None)
async def payout_form(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Record a payout the city made, with its evidence file (multipart)."""
    form = await checked_form(request)
    _login(who)
    names = ("program", "kind", "project_ref", "project_name", "recipient", "amount", "paid_on", "note")
    values = {k: form_text(form, k) for k in names}
    evidence = await _upload(form)
    return commit_or_show(
        uow,
        lambda: payouts.record_payout(uow, who, platform.clock, platform.settings.data_dir, values, evidence),
        "/awards/payouts",
        lambda exc: _payouts(
            request, who, uow, platform, "", "", {"values": values, **form_error(exc)}, exc.http_status
        ),
    )


__all__ = ["router"]
