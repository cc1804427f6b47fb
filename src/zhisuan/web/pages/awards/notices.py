"""Public pages and their follow-up: the public notice (公示) with objections, the objections a province
resolves, and final awards."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhisuan.awards import notice, reports
from zhisuan.core.access import Principal, Role
from zhisuan.web import listing
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, checked_form, form_text
from zhisuan.web.forms import commit_or_show, form_error
from zhisuan.web.i18n import gettext
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.pages.awards._common import (
    _app_link,
    _int,
    _labels,
    _login,
    _page,
)

router = APIRouter(include_in_schema=False)


#: what the public lists (notice, final awards) show of an award, before their own columns
PUBLIC_COLUMNS = (
    Column("id", "#", "num"),
    Column("program", "Measure", filter=True),
    Column("applicant", "Applicant"),
    Column("city", "City", "city", filter=True),
    Column("project_name", "Project"),
    Column("amount", "Amount (yuan)", "money"),
    Column("case", "Case by case"),
    Column("decided_on", "Decided on"),
)


FINAL = ListSpec(
    "final",
    "Final awards",
    (
        *PUBLIC_COLUMNS,
        Column("year", "Year of decision", filter=True),
        Column("state", "State", filter=True),
    ),
    sort="id",
    attrs=lambda r: {"app": r["id"], "state": r["state_value"]},
)


@router.get("/awards/notice", response_model=None)
def notice_page(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Proposed awards in their public notice (公示) on the shared list, with the day it ends; logged-in
    users may object on the row."""
    return _notice(request, who, uow, platform)


NOTICE = ListSpec(
    "notice",
    "Public notice",
    (
        *PUBLIC_COLUMNS,
        Column("notice_ends", "Notice ends", "date"),
        Column("state", "State", filter=True),
    ),
    sort="notice_ends",
    attrs=lambda r: {"app": r["id"], "state": r["state_value"]},
    row_id=lambda r: f"notice-{r['id']}",
)


def _public_rows(items: list[dict[str, object]], lang: str) -> list[dict[str, object]]:
    """Awards as the public lists read them: measure, state and case-by-case in words."""
    labels = _labels(lang)
    return [
        dict(a)
        | {
            "program": labels["measure"](a["program"]),
            "state": labels["state_label"](a["state"]),
            "state_value": a["state"],
            "case": gettext(lang, "case by case") if a.get("case_by_case") else "",
        }
        for a in items
    ]


def _notice(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    lang: str = getattr(request.state, "lang", "zh")
    lv = listing.view(request, NOTICE, _public_rows(reports.notices(uow, platform.clock.now()), lang))
    if isinstance(lv, Response):
        return lv
    return _page(request, "awards/notice.html", {"lv": lv, "objected": None} | (extra or {}), status_code)


@router.post("/awards/notice/{app_id}/objection", response_model=None)
async def objection_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Lodge an objection with a reason (logged-in users); it holds the award until the province decides."""
    form = await checked_form(request)
    _login(who, "log in to lodge an objection")
    reason = form_text(form, "reason")
    return commit_or_show(
        uow,
        lambda: notice.lodge_objection(uow, who, platform.clock, app_id, reason),
        f"/awards/notice?objected={app_id}#notice-{app_id}",
        lambda exc: _notice(
            request,
            who,
            uow,
            platform,
            {"objected": app_id, "reason": reason, **form_error(exc)},
            exc.http_status,
        ),
    )


@router.get("/awards/final", response_model=None)
def final_page(
    request: Request,
    uow: UowDep,
    platform: PlatformDep,
    program: str = "",
    year: str = "",
) -> Response:
    """Final and paid awards by measure and year of decision (public) on the shared list; older links'
    ``program`` and ``year`` narrow it first."""
    lang: str = getattr(request.state, "lang", "zh")
    items = reports.final_awards(uow, platform.clock.now(), program or None, _int(year, "year"))
    rows = [r | {"year": str(r.get("decided_on") or "")[:4]} for r in _public_rows(items, lang)]
    lv = listing.view(request, FINAL, rows)
    if isinstance(lv, Response):
        return lv
    lv.keep = {k: v for k, v in {"program": program, "year": year}.items() if v}
    total = sum((Decimal(str(a["amount"])) for a in items), Decimal(0))
    return _page(
        request, "awards/list.html", {"lists": [lv], "heading": "Final awards", "links": [], "sum": total}
    )


OBJECTIONS = ListSpec(
    "objections",
    "Objections",
    (
        Column("id", "#", "num"),
        Column("application_id", "Application", "num", link=lambda r: _app_link(r["application_id"])),
        Column("by", "By", filter=True),
        Column("at", "Lodged", "date"),
        Column("reason", "Reason"),
        Column("state", "State", filter=True),
        Column("resolution", "Resolution"),
        Column("resolved_by", "Resolved by"),
        Column("resolved_at", "Resolved at", "date"),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"objection": r["id"], "state": r["state_value"]},
)


@router.get("/awards/objections", response_model=None)
def objections_page(request: Request, who: PrincipalDep, uow: UowDep, state: str = "open") -> Response:
    """Objections on the shared list: all of them for the province, with the form that resolves one on
    its row; one's own for others."""
    _login(who)
    return _objections(request, who, uow, state)


def _objections(
    request: Request,
    who: Principal,
    uow: UowDep,
    state: str,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    items = notice.list_objections(uow, who, state if state in {"open", "dismissed", "upheld"} else None)
    word = _labels(getattr(request.state, "lang", "zh"))["word"]
    rows = [dict(o) | {"state": word(f"objection_{o['state']}"), "state_value": o["state"]} for o in items]
    lv = listing.view(request, OBJECTIONS, rows)
    if isinstance(lv, Response):
        return lv
    lv.keep = {"state": state}
    ctx = {
        "lv": lv,
        "state": state,
        "may_resolve": who.role in {Role.PROVINCE, Role.ADMIN},
        "resolving": None,
    }
    return _page(request, "awards/objections.html", ctx | (extra or {}), status_code)


@router.post("/awards/objections/{objection_id}", response_model=None)
async def resolve_form(
    request: Request, objection_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Resolve an objection (province): dismissed, or upheld (the award is withdrawn), with a note."""
    form = await checked_form(request)
    _login(who)
    outcome, note = form_text(form, "outcome"), form_text(form, "note")
    return commit_or_show(
        uow,
        lambda: notice.resolve_objection(uow, who, platform.clock, objection_id, outcome, note),
        "/awards/objections?state=all",
        lambda exc: _objections(
            request,
            who,
            uow,
            "open",
            {"resolving": objection_id, "note": note, **form_error(exc)},
            exc.http_status,
        ),
    )


__all__ = ["router"]
