"""Pages: calls, applications and their review, the public notice, budgets, payment batches, city payouts.

Every page asks the awards services, which check the caller's role and scope (a page nobody may read
is the error page's 404, one the caller may read but not change a 403; an anonymous caller is sent to
the login page). A form that fails validation is shown again with what was typed and the message next
to the field the error names. Forms carry the session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from zhisuan.awards import model as awards_model
from zhisuan.awards import notice, payments, payouts, reports, services
from zhisuan.awards.evidence import ALLOWED, MAX_BYTES
from zhisuan.awards.programs import PROGRAMS, split
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import SHANGHAI, shanghai_date
from zhisuan.core.errors import AuthenticationError, ConflictError, ValidationError, ZhisuanError
from zhisuan.core.regions import all_cities
from zhisuan.core.regions import city as city_of
from zhisuan.policy import PackSet
from zhisuan.web import display, listing
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, checked_form, form_text
from zhisuan.web.i18n import gettext
from zhisuan.web.listing import Column, ListSpec, Row
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
APPLICANTS = ("user", "org_admin", "operator", "city")
add_nav(
    NavItem("/awards/calls", "Calls", order=55, group="Policy"),
    NavItem("/awards/notice", "Public notice", order=56, group="Policy"),
    NavItem("/awards/final", "Final awards", order=57, group="Policy"),
    NavItem(
        "/awards/applications",
        "Applications",
        roles=(*APPLICANTS, "province", "finance"),
        order=58,
        group="Policy",
    ),
    NavItem("/awards/budgets", "Budgets", roles=("province", "finance"), order=31, group="Funds"),
    NavItem("/awards/batches", "Payment batches", roles=("province", "finance"), order=32, group="Funds"),
    NavItem(
        "/awards/payouts", "City payouts", roles=("city", "province", "finance"), order=33, group="Funds"
    ),
)

PAGE_SIZE = 50
#: lines of other public funding offered on a form beyond those already declared
SPARE_FUNDING_LINES = 2
REVIEWERS = frozenset({Role.CITY, Role.PROVINCE, Role.ADMIN})
OFFICE = frozenset({Role.PROVINCE, Role.FINANCE, Role.ADMIN})
#: errors a form shows next to its field; anything else (401, 403, 404) goes to the error page
FORM_ERRORS = (ValidationError, ConflictError)


def _login(who: Principal, what: str = "log in to see applications") -> None:
    if not who.authenticated:
        raise AuthenticationError(what)


def _sh(value: object) -> str:
    """An ISO timestamp or datetime in Shanghai time, to the minute."""
    if value is None or value == "":
        return "—"
    at = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, dt.datetime):
        return str(value)
    return f"{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"


#: words the pages show for the services' codes: (Chinese, English)
WORDS: Mapping[str, tuple[str, str]] = {
    "call_open": ("申报中", "open"),
    "call_upcoming": ("未开始", "upcoming"),
    "call_closed": ("已截止", "closed"),
    "call_all": ("全部", "all"),
    "objection_open": ("待处理", "open"),
    "objection_dismissed": ("已驳回", "dismissed"),
    "objection_upheld": ("异议成立", "upheld"),
    "objection_all": ("全部", "all"),
    "stage_city": ("市级审核", "city review"),
    "stage_province": ("省级审核", "province review"),
    "step_create": ("创建草稿", "draft created"),
    "step_edit": ("修改", "edited"),
    "step_evidence": ("上传材料", "evidence added"),
    "step_submit": ("提交", "submitted"),
    "step_resubmit": ("重新提交", "resubmitted"),
    "step_recommend": ("市级推荐", "recommended by the city"),
    "step_approve_first": ("一事一议第一审批人", "first case-by-case approval"),
    "step_approve": ("批准", "approved"),
    "step_reject": ("不予支持", "rejected"),
    "step_return": ("退回修改", "returned for correction"),
    "step_objection": ("提出异议", "objection lodged"),
    "step_objection_dismissed": ("异议驳回", "objection dismissed"),
    "step_objection_upheld": ("异议成立，撤销", "objection upheld, withdrawn"),
    "step_paid": ("已拨付", "paid"),
    "step_match_use": ("报告配套资金使用", "use of the match reported"),
    "kind_awards": ("奖补资金", "awards"),
    "kind_vouchers": ("算力券", "compute vouchers"),
    "batch_draft": ("草稿", "draft"),
    "batch_paid": ("已拨付", "paid"),
    "batch_cancelled": ("已取消", "cancelled"),
    "payer_province": ("省级", "province"),
}


def _labels(lang: str) -> dict[str, Callable[[object], str]]:
    """Helpers the templates share: state, city and measure names in the page's language."""

    def state(value: object) -> str:
        try:
            st = awards_model.State(str(value))
        except ValueError:
            return str(value)
        return awards_model.STATE_ZH[st] if lang == "zh" else st.value.replace("_", " ")

    def city(code: object) -> str:
        try:
            return city_of(str(code)).name(lang)
        except ZhisuanError:
            return str(code or "—")

    def measure(program: object) -> str:
        sp = PROGRAMS.get(str(program))
        if sp is None or lang != "zh":
            return str(program)
        return f"{program} {sp.name_zh}"

    def word(key: object) -> str:
        zh, en = WORDS.get(str(key), (str(key), str(key).replace("_", " ")))
        return zh if lang == "zh" else en

    return {"state_label": state, "city_label": city, "measure": measure, "sh": _sh, "word": word}


def _page(request: Request, template: str, ctx: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    lang: str = getattr(request.state, "lang", "zh")
    base = {"programs": list(PROGRAMS), "cities": all_cities(), "Role": Role} | _labels(lang)
    return render(request, template, base | ctx, status_code)


def _err(exc: ZhisuanError) -> dict[str, object]:
    return {"error": exc.message, "error_field": exc.field or ""}


def _status(exc: ZhisuanError) -> int:
    return exc.http_status


async def _upload(form: FormData) -> tuple[bytes, str] | None:
    """The uploaded ``file`` (at most one byte over the limit is read), and the form's files closed."""
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return None
        return await upload.read(MAX_BYTES + 1), upload.filename
    finally:
        await form.close()


# calls ---------------------------------------------------------------------------------------------


def _call_link(r: Row) -> str:
    return f"/awards/calls/{r['id']}"


CALLS = ListSpec(
    "calls",
    "Calls for applications",
    (
        Column("id", "#", "num", link=_call_link),
        Column("program", "Measure", filter=True),
        Column("title", "Title", link=_call_link),
        Column("opens_on", "Opens"),
        Column("closes_on", "Closes"),
        Column("status", "Status", filter=True),
        Column("applicant", "Who applies", filter=True),
        Column("budget_year", "Budget year", "num", filter=True),
        Column("notice_days", "Notice (days)", "num"),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"call": r["id"], "program": r["program_value"], "status": r["status_value"]},
)


@router.get("/awards/calls", response_model=None)
def calls_page(
    request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep, status: str = "open"
) -> Response:
    """Calls open now (or upcoming, closed, all of them) on the shared list; province users also get the
    form that opens one."""
    return _calls(request, who, uow, platform, status)


def _calls(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    status: str,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    now = platform.clock.now()
    lang: str = getattr(request.state, "lang", "zh")
    labels = _labels(lang)
    calls = services.list_calls(uow, now)
    shown = calls if status == "all" else [c for c in calls if c["status"] == status]
    rows = [
        dict(c)
        | {
            "program": labels["measure"](c["program"]),
            "status": labels["word"](f"call_{c['status']}"),
            "applicant": gettext(lang, "a city" if c.get("applicant") == "city" else "an organization"),
            "program_value": c["program"],
            "status_value": c["status"],
        }
        for c in shown
    ]
    lv = listing.view(request, CALLS, rows)
    if isinstance(lv, Response):
        return lv
    lv.keep = {"status": status}
    ctx: dict[str, object] = {
        "lv": lv,
        "status": status,
        "may_create": who.role in {Role.PROVINCE, Role.ADMIN},
        "today": shanghai_date(now).isoformat(),
        "values": {},
    }
    return _page(request, "awards/calls.html", ctx | (extra or {}), status_code)


@router.post("/awards/calls", response_model=None)
async def create_call_form(
    request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Open a call (province)."""
    form = await checked_form(request)
    _login(who, "log in to open a call")
    values = {
        k: form_text(form, k)
        for k in ("program", "title", "opens_on", "closes_on", "budget_year", "max_awards")
    }
    try:
        out = services.create_call(
            uow,
            who,
            platform.packs.current(),
            platform.clock,
            program=values["program"],
            title=values["title"],
            opens_on=values["opens_on"],
            closes_on=values["closes_on"],
            budget_year=_int(values["budget_year"], "budget_year"),
            max_awards=_int(values["max_awards"], "max_awards"),
        )
        uow.commit()
    except FORM_ERRORS as exc:
        return _calls(request, who, uow, platform, "all", {"values": values, **_err(exc)}, _status(exc))
    return RedirectResponse(f"/awards/calls/{out['id']}", status_code=303)


def _int(text: str, field: str) -> int | None:
    if not text:
        return None
    if not text.isdecimal() or len(text) > 9:
        raise ValidationError("a whole number", field=field)
    return int(text)


def _may_apply(who: Principal, call: Mapping[str, object]) -> bool:
    if call.get("status") != "open" or not who.authenticated:
        return False
    if call.get("applicant") == "city":
        return who.role is Role.CITY
    return who.org_id is not None and who.role in {Role.USER, Role.ORG_ADMIN, Role.OPERATOR}


@router.get("/awards/calls/{call_id}", response_class=HTMLResponse)
def call_page(
    request: Request, call_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse:
    """A call: its measure, dates and evidence list, and the application form made from its facts."""
    return _call(request, call_id, who, uow, platform)


def _call(
    request: Request,
    call_id: int,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = platform.clock.now()
    call = services.get_call(uow, platform.packs.current(), call_id, now)
    ctx: dict[str, object] = {
        "call": call,
        "may_apply": _may_apply(who, call),
        "may_export": who.role in OFFICE,
        "may_list": who.authenticated,
        "recorded_city": _home_city(uow, who),
        "values": {"event_on": shanghai_date(now).isoformat()},
        "facts": {},
        "funding": _funding_rows([]),
        "allowed": ALLOWED,
        "form_fields": _form_fields(call.get("form"), SPARE_FUNDING_LINES),
    }
    return _page(request, "awards/call.html", ctx | (extra or {}), status_code)


def _home_city(uow: UowDep, who: Principal) -> str | None:
    if who.role is Role.CITY:
        return who.city_code
    if who.org_id is None:
        return None
    from zhisuan.store.models.core import OrganizationRow

    org = uow.session.get(OrganizationRow, who.org_id)
    return org.city_code if org else None


def _form_fields(fields: object, funding_lines: int) -> list[str]:
    """The names a form shows an error next to; an error naming anything else is shown above it."""
    names = ["project_ref", "project_name", "event_on"]
    names += [str(f["name"]) for f in _dicts(fields)]
    for i in range(funding_lines):
        names += [f"other_funding[{i}].{k}" for k in ("source", "amount", "year")]
    return names


def _funding_rows(declared: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = [
        {"source": d.get("source", ""), "amount": d.get("amount", ""), "year": d.get("year") or ""}
        for d in declared
    ]
    return rows + [{"source": "", "amount": "", "year": ""} for _ in range(SPARE_FUNDING_LINES)]


def _typed_facts(form: FormData, fields: list[Mapping[str, object]]) -> dict[str, object]:
    """The facts typed on the form, as the engine reads them: yes/no as booleans, numbers as text."""
    out: dict[str, object] = {}
    for f in fields:
        if f.get("recorded"):
            continue
        raw = form_text(form, f"fact_{f['name']}")
        if f.get("type") == "bool" and raw in {"true", "false"}:
            out[str(f["name"])] = raw == "true"
        else:
            out[str(f["name"])] = raw
    return out


def _funding(form: FormData) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(lines for the service, lines as typed) of the declared other public funding; blanks dropped."""
    lines: list[dict[str, object]] = []
    typed: list[dict[str, object]] = []
    i = 0  # the form numbers its lines from 0
    while f"funding_source_{i}" in form and i < 40:
        row: dict[str, str] = {k: form_text(form, f"funding_{k}_{i}") for k in ("source", "amount", "year")}
        i += 1
        if not any(row.values()):
            continue
        typed.append(dict(row))
        year: object = (
            int(row["year"]) if row["year"].isdecimal() and len(row["year"]) <= 4 else row["year"] or None
        )
        lines.append({"source": row["source"], "amount": row["amount"], "year": year})
    return lines, typed


def _application_data(
    form: FormData, fields: list[Mapping[str, object]]
) -> tuple[dict[str, Any], dict[str, object]]:
    lines, typed = _funding(form)
    data: dict[str, Any] = {
        "project_ref": form_text(form, "project_ref"),
        "project_name": form_text(form, "project_name"),
        "event_on": form_text(form, "event_on"),
        "facts": _typed_facts(form, fields),
        "other_funding": lines,
    }
    shown: dict[str, object] = {
        "values": {k: data[k] for k in ("project_ref", "project_name", "event_on")},
        "facts": {
            k: ("true" if v is True else "false" if v is False else v) for k, v in data["facts"].items()
        },
        "funding": typed + [{"source": "", "amount": "", "year": ""} for _ in range(SPARE_FUNDING_LINES)],
    }
    return data, shown


@router.post("/awards/calls/{call_id}/apply", response_model=None)
async def apply_form(
    request: Request, call_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse | RedirectResponse:
    """Start a draft in a call, and submit it at once when asked to."""
    form = await checked_form(request)
    _login(who, "log in to apply")
    packs = platform.packs.current()
    call = services.get_call(uow, packs, call_id, platform.clock.now())
    fields = call.get("form") or []
    assert isinstance(fields, list)
    data, shown = _application_data(form, fields)
    try:
        out = services.create_application(uow, who, packs, platform.clock, call_id, data)
        if form_text(form, "action") == "submit":
            out = services.submit(uow, who, packs, platform.clock, int(str(out["id"])))
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _call(request, call_id, who, uow, platform, shown | _err(exc), _status(exc))
    return RedirectResponse(f"/awards/applications/{out['id']}", status_code=303)


@router.get("/awards/calls/{call_id}/decisions.xlsx")
def round_export(call_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """A round's decisions as Excel with Chinese headers (province, finance)."""
    _login(who, "log in to export a round")
    body = reports.round_workbook(uow, who, call_id, platform.clock.now())
    name = f"申报批次{call_id}-评审结果.xlsx"
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "content-disposition": (
                f"attachment; filename=\"call-{call_id}.xlsx\"; filename*=UTF-8''{quote(name)}"
            )
        },
    )


# applications ------------------------------------------------------------------------------------


#: the most applications one Excel export holds
EXPORT_ROWS = 10_000
EXPORT_CHUNK = 1000


def _app_attrs(r: Mapping[str, Any]) -> dict[str, object]:
    return {"app": r["id"], "state": r["state_value"], "program": r["program_value"]}


APPLICATIONS = ListSpec(
    "applications",
    "Applications",
    (
        Column("id", "#", "num", link=lambda r: f"/awards/applications/{r['id']}"),
        Column("program", "Measure", filter=True),
        Column("applicant", "Applicant", sortable=False),
        Column("city", "City", "city", filter=True),
        Column("project_name", "Project", link=lambda r: f"/awards/applications/{r['id']}"),
        Column("project_ref", "Project reference"),
        Column("state", "State", filter=True),
        Column("lead_unit", "Lead unit", filter=True, sortable=False),
        Column("maximum", "Maximum", "money"),
        Column("approved", "Approved", "money"),
        Column("submitted_at", "Submitted", "date"),
        Column("notice_ends", "Notice ends", "date"),
        Column("paid_on", "Paid on", sortable=False),
    ),
    sort="id",
    desc=True,
    attrs=_app_attrs,
)
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


def _app_rows(apps: object, lang: str) -> list[dict[str, object]]:
    """Applications as the list reads them: measure and state in words, raw values kept for data-*."""
    labels = _labels(lang)
    return [
        dict(a)
        | {
            "program": labels["measure"](a["program"]),
            "state": labels["state_label"](a["state"])
            + (f" · {gettext(lang, 'case by case')}" if a.get("case_by_case") else ""),
            "program_value": a["program"],
            "state_value": a["state"],
        }
        for a in (apps if isinstance(apps, list) else [])
    ]


@router.get("/awards/applications", response_model=None)
def applications_page(
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    call_id: str = "",
    queue: str = "",
) -> Response:
    """The applications the caller may see (an applicant's own, a city's, all for the province), filtered,
    ordered and paged by the database; ``queue=1`` keeps those awaiting the caller's review. Older links'
    ``program``, ``state``, ``city`` and ``lead_unit`` read as the list's filters."""
    _login(who)
    lang: str = getattr(request.state, "lang", "zh")
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    asked = listing.query(APPLICATIONS, params, {k: k for k in ("program", "state", "city", "lead_unit")})
    want_queue = queue == "1" and who.role in REVIEWERS
    export = params.get("export") == "xlsx"
    f = asked.filters

    def fetch(limit: int, offset: int) -> dict[str, object]:
        return services.list_applications(
            uow,
            who,
            platform.clock.now(),
            program=f.get("program"),
            state=f.get("state"),
            city=f.get("city"),
            call_id=_int(call_id, "call_id"),
            lead_unit=f.get("lead_unit"),
            queue=want_queue,
            limit=limit,
            offset=offset,
            search=asked.q,
            sort=asked.sort if asked.sort in services.SORTS else "id",
            desc=asked.desc,
        )

    found = fetch(EXPORT_CHUNK, 0) if export else fetch(asked.per_page, (asked.page - 1) * asked.per_page)
    if export:  # the whole filtered list, a thousand at a time (the service's most per call)
        got = list(_list(found["applications"]))
        while len(got) < min(int(str(found["total"])), EXPORT_ROWS):
            got += _list(fetch(EXPORT_CHUNK, len(got))["applications"])
        found = {"applications": got[:EXPORT_ROWS], "total": len(got)}
    rows = _app_rows(found["applications"], lang)
    if export:  # the whole filtered list as Excel, headers in the page's language, names not codes
        return listing.export_response(APPLICATIONS, rows, lang)
    labels = _labels(lang)
    options = {
        "program": [(p, labels["measure"](p)) for p in PROGRAMS],
        "state": [(s.value, labels["state_label"](s.value)) for s in awards_model.State],
        "lead_unit": [(u, u) for u in _lead_units(platform.packs.current())],
    }
    if who.role in {Role.PROVINCE, Role.FINANCE, Role.ADMIN}:
        options["city"] = [(c.code, c.name(lang)) for c in all_cities()]
    lv = listing.paged(
        request,
        APPLICATIONS,
        asked,
        rows,
        int(str(found["total"])),
        options,
        keep={"queue": "1" if want_queue else "", "call_id": call_id},
    )
    heading = (
        "Review queue"
        if want_queue
        else "My applications"
        if who.role in {Role.USER, Role.ORG_ADMIN, Role.OPERATOR}
        else "Applications"
    )
    links = (
        [("/awards/applications?queue=1", "Awaiting my review"), ("/awards/applications", "all I may see")]
        if who.role in REVIEWERS
        else []
    )
    return _page(
        request, "awards/list.html", {"lists": [lv], "heading": heading, "links": links, "sum": None}
    )


def _lead_units(packs: PackSet) -> list[str]:
    """The lead units the packs name for the measures that take applications (a reviewer's filter)."""
    units = set()
    for program in PROGRAMS:
        art, pack = split(program)
        units |= {
            v.lead_unit for v in packs.versions(art) if v.lead_unit and (pack is None or v.pack_id == pack)
        }
    return sorted(units)


@router.get("/awards/applications/{app_id}", response_class=HTMLResponse)
def application_page(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse:
    """One application: facts, what is missing, the frozen decision and its steps, evidence, duplicate
    funding, history, payment — and the form the caller may use on it (edit, review, report a use)."""
    _login(who)
    return _application(request, app_id, who, uow, platform)


def _application(
    request: Request,
    app_id: int,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = platform.clock.now()
    app = services.get_application(uow, who, platform.packs.current(), app_id, now)
    state = awards_model.State(str(app["state"]))
    applicant = awards_model.Applicant(str(app["applicant_kind"]), str(app["city"]), _opt_int(app["org_id"]))
    editable = state in awards_model.EDITABLE and awards_model.may_edit(who, applicant)
    stage = _review_stage(who, state, applicant)
    fields = app.get("form") or []
    assert isinstance(fields, list)
    # the call's form names the facts when the application's own form is gone (after submission)
    named = fields or services.get_call(uow, platform.packs.current(), int(str(app["call_id"])), now)["form"]
    labels = {
        str(f["name"]): (f["label_zh"] if request.state.lang == "zh" else f["label_en"])
        for f in _dicts(named)
    }
    approvals = [
        a for a in _dicts(app["approvals"]) if a["round"] == app["round"] and a["stage"] == "province"
    ]
    first_case = next((a for a in approvals if a["case_by_case"]), None)
    decision = _dict(app.get("decision"))
    version = (
        platform.packs.current().resolve(
            str(decision["program"]),
            dt.date.fromisoformat(str(decision["on"])),
            _opt_str(decision.get("pack")),
        )
        if decision.get("program") and decision.get("on")
        else None
    )
    uses = (
        payouts.match_uses(uow, app_id)
        if app["program"] == "art8" and state is awards_model.State.PAID
        else None
    )
    declared = app["other_funding"]
    assert isinstance(declared, list)
    ctx: dict[str, object] = {
        "app": app,
        "decision": decision,
        "words": display.pack_words(version, request.state.lang) | labels,
        "editable": editable,
        "stage": stage.value if stage else None,
        "fields": fields,
        "labels": labels,
        "missing": [labels.get(str(n), str(n)) for n in _list(app.get("missing"))],
        "values": {
            "project_ref": app["project_ref"],
            "project_name": app["project_name"],
            "event_on": app["event_on"],
        },
        "facts": {
            k: ("true" if v is True else "false" if v is False else v) for k, v in _dict(app["facts"]).items()
        },
        "funding": _funding_rows(declared),
        "first_case": first_case,
        "uplifted": app.get("maximum_without_uplift") not in (None, app.get("maximum")),
        "case_allowed": bool(decision.get("case_by_case_allowed")) if decision else False,
        "uses": uses,
        "may_report_use": uses is not None and who.role is Role.CITY and who.city_code == app["city"],
        "match_uses": payouts.MATCH_USES,
        "allowed": ALLOWED,
        "max_mib": MAX_BYTES // 1024 // 1024,
        "review": {},
        "form_fields": _form_fields(fields, len(declared) + SPARE_FUNDING_LINES),
    }
    return _page(request, "awards/application.html", ctx | (extra or {}), status_code)


def _opt_str(value: object) -> str | None:
    return str(value) if value is not None else None


def _opt_int(value: object) -> int | None:
    return int(str(value)) if value is not None else None


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _review_stage(
    who: Principal, state: awards_model.State, applicant: awards_model.Applicant
) -> awards_model.Stage | None:
    if state not in awards_model.IN_REVIEW:
        return None
    try:
        return awards_model.check_may_review(who, state, applicant)
    except ZhisuanError:
        return None


@router.post("/awards/applications/{app_id}", response_model=None)
async def edit_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse | RedirectResponse:
    """Save a draft or returned application, and submit (or resubmit) it when asked to."""
    form = await checked_form(request)
    _login(who)
    packs = platform.packs.current()
    app = services.get_application(uow, who, packs, app_id, platform.clock.now())
    fields = app.get("form") or []
    assert isinstance(fields, list)
    data, shown = _application_data(form, fields)
    try:
        services.update_application(uow, who, packs, platform.clock, app_id, data)
        if form_text(form, "action") == "submit":
            services.submit(uow, who, packs, platform.clock, app_id)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _application(request, app_id, who, uow, platform, shown | _err(exc), _status(exc))
    return RedirectResponse(f"/awards/applications/{app_id}", status_code=303)


@router.post("/awards/applications/{app_id}/evidence", response_model=None)
async def evidence_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse | RedirectResponse:
    """Attach an evidence file (multipart): PDF, images or Excel, size-limited; a clear message otherwise."""
    form = await checked_form(request)
    upload = await _upload(form)
    _login(who)
    try:
        if upload is None:
            raise ValidationError("choose a file to upload", field="file")
        data, name = upload
        services.add_evidence(uow, who, platform.clock, platform.settings.data_dir, app_id, data, name)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _application(
            request, app_id, who, uow, platform, {"evidence_error": exc.message}, _status(exc)
        )
    return RedirectResponse(f"/awards/applications/{app_id}#evidence", status_code=303)


@router.get("/awards/evidence/{evidence_id}")
def evidence_download(
    evidence_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """An evidence file, for those who may read its application."""
    _login(who)
    name, content_type, body = services.evidence_file(uow, who, platform.settings.data_dir, evidence_id)
    return Response(
        body,
        media_type=content_type,
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "x-content-type-options": "nosniff",
        },
    )


@router.post("/awards/applications/{app_id}/review", response_model=None)
async def review_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse | RedirectResponse:
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
    try:
        services.review(uow, who, platform.packs.current(), platform.clock, app_id, data)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        shown = {
            "review": typed
            | {"uplift_confirmed": data["uplift_confirmed"], "case_by_case": data["case_by_case"]}
        }
        return _application(request, app_id, who, uow, platform, shown | _err(exc), _status(exc))
    return RedirectResponse(f"/awards/applications/{app_id}", status_code=303)


@router.post("/awards/applications/{app_id}/match-use", response_model=None)
async def match_use_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse | RedirectResponse:
    """The city reports how it used a paid art. 8 match."""
    form = await checked_form(request)
    _login(who)
    data = {k: form_text(form, k) for k in ("used_for", "amount", "description")}
    try:
        payouts.report_match_use(uow, who, platform.clock, app_id, data)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _application(request, app_id, who, uow, platform, {"use": data, **_err(exc)}, _status(exc))
    return RedirectResponse(f"/awards/applications/{app_id}#uses", status_code=303)


# public notice, objections, final awards ----------------------------------------------------------


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
    try:
        notice.lodge_objection(uow, who, platform.clock, app_id, reason)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        ctx = {"objected": app_id, "reason": reason, **_err(exc)}
        return _notice(request, who, uow, platform, ctx, _status(exc))
    return RedirectResponse(f"/awards/notice?objected={app_id}#notice-{app_id}", status_code=303)


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
    try:
        notice.resolve_objection(uow, who, platform.clock, objection_id, outcome, note)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        ctx = {"resolving": objection_id, "note": note, **_err(exc)}
        return _objections(request, who, uow, "open", ctx, _status(exc))
    return RedirectResponse("/awards/objections?state=all", status_code=303)


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


# budgets and payment -----------------------------------------------------------------------------


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


def _payer(payer: object, labels: Mapping[str, Callable[[object], str]]) -> str:
    """Who pays, as people read it: the province, or a city's name."""
    return labels["word"]("payer_province") if payer == payments.PROVINCE else labels["city_label"](payer)


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
    try:
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
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _budgets(request, who, uow, platform, "", {"values": values, **_err(exc)}, _status(exc))
    return RedirectResponse("/awards/budgets", status_code=303)


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
    try:
        out = payments.create_batch(
            uow,
            who,
            platform.clock,
            platform.packs.current(),
            kind=values["kind"],
            payer=values["payer"] or payments.PROVINCE,
            month=values["month"] or None,
        )
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _batches(request, who, uow, platform, {"values": values, **_err(exc)}, _status(exc))
    return RedirectResponse(f"/awards/batches/{out['id']}", status_code=303)


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
    try:
        payments.pay_batch(
            uow, who, platform.clock, batch_id, reference=values["reference"], paid_on=values["paid_on"]
        )
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _batch(request, batch_id, who, uow, platform, {"values": values, **_err(exc)}, _status(exc))
    return RedirectResponse(f"/awards/batches/{batch_id}", status_code=303)


@router.post("/awards/batches/{batch_id}/cancel", response_model=None)
async def cancel_form(
    request: Request, batch_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Cancel a draft batch with a reason; what it held is free for the next batch."""
    form = await checked_form(request)
    _login(who)
    reason = form_text(form, "reason")
    try:
        payments.cancel_batch(uow, who, platform.clock, batch_id, reason)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        ctx = {"values": {"reason": reason}, "cancel_error": True, **_err(exc)}
        return _batch(request, batch_id, who, uow, platform, ctx, _status(exc))
    return RedirectResponse(f"/awards/batches/{batch_id}", status_code=303)


def _app_link(app_id: object) -> str:
    return f"/awards/applications/{app_id}"


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


# the city's side ---------------------------------------------------------------------------------


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
    try:
        payouts.record_payout(uow, who, platform.clock, platform.settings.data_dir, values, evidence)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _payouts(request, who, uow, platform, "", "", {"values": values, **_err(exc)}, _status(exc))
    return RedirectResponse("/awards/payouts", status_code=303)


__all__ = ["router"]
