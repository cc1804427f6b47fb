"""Pages an applicant walks: calls and the form made from a measure's facts, the list of applications,
one application with its edit and evidence forms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from zhisuan.awards import applications as award_applications
from zhisuan.awards import calls as award_calls
from zhisuan.awards import model as awards_model
from zhisuan.awards import payouts
from zhisuan.awards import views as award_views
from zhisuan.awards.evidence import ALLOWED, MAX_BYTES
from zhisuan.awards.programs import PROGRAMS, split
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import shanghai_date
from zhisuan.core.errors import ValidationError, ZhisuanError
from zhisuan.core.regions import all_cities
from zhisuan.policy import PackSet
from zhisuan.web import display, listing
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, checked_form, form_text
from zhisuan.web.downloads import attachment
from zhisuan.web.forms import commit_or_show, form_error
from zhisuan.web.i18n import gettext
from zhisuan.web.listing import Column, ListSpec, Row
from zhisuan.web.pages.awards._common import (
    OFFICE,
    REVIEWERS,
    SPARE_FUNDING_LINES,
    _dict,
    _dicts,
    _int,
    _labels,
    _list,
    _login,
    _opt_int,
    _opt_str,
    _page,
    _upload,
)

router = APIRouter(include_in_schema=False)


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
    calls = award_calls.list_calls(uow, now)
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

    def create() -> dict[str, object]:
        return award_calls.create_call(
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

    return commit_or_show(
        uow,
        create,
        lambda out: f"/awards/calls/{out['id']}",
        lambda exc: _calls(
            request, who, uow, platform, "all", {"values": values, **form_error(exc)}, exc.http_status
        ),
    )


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
    call = award_calls.get_call(uow, platform.packs.current(), call_id, now)
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
) -> Response:
    """Start a draft in a call, and submit it at once when asked to."""
    form = await checked_form(request)
    _login(who, "log in to apply")
    packs = platform.packs.current()
    call = award_calls.get_call(uow, packs, call_id, platform.clock.now())
    fields = call.get("form") or []
    assert isinstance(fields, list)
    data, shown = _application_data(form, fields)

    def apply() -> dict[str, object]:
        out = award_applications.create_application(uow, who, packs, platform.clock, call_id, data)
        if form_text(form, "action") == "submit":
            out = award_applications.submit(uow, who, packs, platform.clock, int(str(out["id"])))
        return out

    return commit_or_show(
        uow,
        apply,
        lambda out: f"/awards/applications/{out['id']}",
        lambda exc: _call(request, call_id, who, uow, platform, shown | form_error(exc), exc.http_status),
    )


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
        return award_views.list_applications(
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
            sort=asked.sort if asked.sort in award_views.SORTS else "id",
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
    app = award_views.get_application(uow, who, platform.packs.current(), app_id, now)
    state = awards_model.State(str(app["state"]))
    applicant = awards_model.Applicant(str(app["applicant_kind"]), str(app["city"]), _opt_int(app["org_id"]))
    editable = state in awards_model.EDITABLE and awards_model.may_edit(who, applicant)
    stage = _review_stage(who, state, applicant)
    fields = app.get("form") or []
    assert isinstance(fields, list)
    # the call's form names the facts when the application's own form is gone (after submission)
    named = (
        fields or award_calls.get_call(uow, platform.packs.current(), int(str(app["call_id"])), now)["form"]
    )
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


@router.post("/awards/applications/{app_id}", response_model=None)
async def edit_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Save a draft or returned application, and submit (or resubmit) it when asked to."""
    form = await checked_form(request)
    _login(who)
    packs = platform.packs.current()
    app = award_views.get_application(uow, who, packs, app_id, platform.clock.now())
    fields = app.get("form") or []
    assert isinstance(fields, list)
    data, shown = _application_data(form, fields)

    def save() -> None:
        award_applications.update_application(uow, who, packs, platform.clock, app_id, data)
        if form_text(form, "action") == "submit":
            award_applications.submit(uow, who, packs, platform.clock, app_id)

    return commit_or_show(
        uow,
        save,
        f"/awards/applications/{app_id}",
        lambda exc: _application(
            request, app_id, who, uow, platform, shown | form_error(exc), exc.http_status
        ),
    )


@router.post("/awards/applications/{app_id}/evidence", response_model=None)
async def evidence_form(
    request: Request, app_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Attach an evidence file (multipart): PDF, images or Excel, size-limited; a clear message otherwise."""
    form = await checked_form(request)
    upload = await _upload(form)
    _login(who)

    def attach() -> None:
        if upload is None:
            raise ValidationError("choose a file to upload", field="file")
        data, name = upload
        award_applications.add_evidence(
            uow, who, platform.clock, platform.settings.data_dir, app_id, data, name
        )

    return commit_or_show(
        uow,
        attach,
        f"/awards/applications/{app_id}#evidence",
        lambda exc: _application(
            request, app_id, who, uow, platform, {"evidence_error": exc.message}, exc.http_status
        ),
    )


@router.get("/awards/evidence/{evidence_id}")
def evidence_download(
    evidence_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """An evidence file, for those who may read its application."""
    _login(who)
    name, content_type, body = award_applications.evidence_file(
        uow, who, platform.settings.data_dir, evidence_id
    )
    download = attachment(body, name, content_type)
    # the file is the applicant's: never let a browser take it for something else
    download.headers["x-content-type-options"] = "nosniff"
    return download


def _review_stage(
    who: Principal, state: awards_model.State, applicant: awards_model.Applicant
) -> awards_model.Stage | None:
    if state not in awards_model.IN_REVIEW:
        return None
    try:
        return awards_model.check_may_review(who, state, applicant)
    except ZhisuanError:
        return None


__all__ = ["router"]
