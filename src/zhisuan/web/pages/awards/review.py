"""Pages a reviewer uses: the city's and the province's review of an application, a city's report of a
match's use, a round's decisions as Excel and the case-by-case register."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhisuan.awards import payouts, reports
from zhisuan.awards import review as award_review
from zhisuan.web import listing
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, checked_form, form_text
from zhisuan.web.downloads import XLSX, attachment
from zhisuan.web.forms import commit_or_show, form_error
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.pages.awards._common import (
    _app_link,
    _labels,
    _list,
    _login,
    _page,
)
from zhisuan.web.pages.awards.applications import _application

router = APIRouter(include_in_schema=False)


@router.get("/awards/calls/{call_id}/decisions.xlsx")
def round_export(call_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """A round's decisions as Excel with Chinese headers (province, finance)."""
    _login(who, "log in to export a round")
    body = reports.round_workbook(uow, who, call_id, platform.clock.now())
    return attachment(body, f"申报批次{call_id}-评审结果.xlsx", XLSX, fallback=f"call-{call_id}.xlsx")


@router.post("/awards/applications/{app_id}/review", response_model=None)
async def review_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """A reviewer's step: recommend or approve (amount, uplift, case by case), reject or return (reason)."""
    form = await checked_form(request)
    _login(who)
    typed = {k: form_text(form, k) for k in ("action", "amount", "reason")}
    data: dict[str, object] = {
        "action": typed["action"],
        "amount": typed["amount"] or None,
        "reason": typed["reason"] or None,
        "uplift_confirmed": form.get("uplift_confirmed") == "true",
        "case_by_case": form.get("case_by_case") == "true",
    }
    shown = {
        "review": typed | {"uplift_confirmed": data["uplift_confirmed"], "case_by_case": data["case_by_case"]}
    }
    return commit_or_show(
        uow,
        lambda: award_review.review(uow, who, platform.packs.current(), platform.clock, app_id, data),
        f"/awards/applications/{app_id}",
        lambda exc: _application(
            request, app_id, who, uow, platform, shown | form_error(exc), exc.http_status
        ),
    )


@router.post("/awards/applications/{app_id}/match-use", response_model=None)
async def match_use_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """The city reports how it used a paid art. 8 match."""
    form = await checked_form(request)
    _login(who)
    data = {k: form_text(form, k) for k in ("used_for", "amount", "description")}
    return commit_or_show(
        uow,
        lambda: payouts.report_match_use(uow, who, platform.clock, app_id, data),
        f"/awards/applications/{app_id}#uses",
        lambda exc: _application(
            request, app_id, who, uow, platform, {"use": data, **form_error(exc)}, exc.http_status
        ),
    )


REGISTER = ListSpec(
    "register",
    "Case-by-case register",
    (
        Column("id", "#", "num", link=lambda r: _app_link(r["id"])),
        Column("program", "Measure", filter=True),
        Column("applicant", "Applicant", filter=True),
        Column("project_name", "Project"),
        Column("formula_maximum", "Formula maximum", "money"),
        Column("amount", "Amount (yuan)", "money"),
        Column("reason", "Reason"),
        Column("approvers", "Approvers"),
        Column("state", "State", filter=True),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"app": r["id"]},
)


@router.get("/awards/case-by-case", response_model=None)
def register_page(request: Request, who: PrincipalDep, uow: UowDep) -> Response:
    """The case-by-case register: amount, formula maximum, reason and both approvers (province, finance)."""
    _login(who)
    labels = _labels(getattr(request.state, "lang", "zh"))
    rows = [
        dict(r)
        | {
            "program": labels["measure"](r["program"]),
            "state": labels["state_label"](r["state"]),
            "approvers": ", ".join(str(a) for a in _list(r.get("approvers"))),
        }
        for r in reports.case_register(uow, who)
    ]
    lv = listing.view(request, REGISTER, rows)
    if isinstance(lv, Response):
        return lv
    return _page(request, "awards/register.html", {"lv": lv})


__all__ = ["router"]
