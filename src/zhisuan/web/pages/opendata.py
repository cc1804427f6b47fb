"""Pages: the public open-data catalog and its datasets, published bulletins with charts, and the
management pages of publishers and the data bureau (entries, requests, imports, bulletins, suppliers).

Every page asks the opendata services, which check role and scope: a draft or a request that is not
the caller's is the error page's 404. Forms carry the session's CSRF token; a form that fails
validation is shown again with the message next to the field the error names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import AuthenticationError, ValidationError, ZhisuanError
from zhisuan.opendata import bulletins, catalog, dcat, imports, model, publishers, sharing, suppliers
from zhisuan.opendata.search import Filters
from zhisuan.web import display, listing
from zhisuan.web.deps import PlatformDep, PrincipalDep, UowDep, checked_form, form_text
from zhisuan.web.downloads import XLSX, attachment
from zhisuan.web.forms import FORM_ERRORS, commit_or_show, form_error
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(
    NavItem("/opendata", "Open data", order=60, group="Data"),
    NavItem("/opendata/bulletins", "Opening bulletins", order=61, group="Data"),
    NavItem(
        "/opendata/manage",
        "Data management",
        roles=("data_bureau", "city", "user", "org_admin"),
        order=62,
        group="Data",
    ),
)
PAGE = 20
#: the most entries a search result exports at once (the whole published catalog, as it is)
EXPORT_MAX = 5000


def _labels(lang: str) -> dict[str, Any]:
    def theme(code: object) -> str:
        zh, en = model.THEMES.get(str(code), (str(code), str(code)))
        return zh if lang == "zh" else en

    def openness(value: object) -> str:
        try:
            o = model.Openness(str(value))
        except ValueError:
            return str(value)
        return model.OPENNESS_ZH[o] if lang == "zh" else o.value.replace("_", " ")

    def frequency(value: object) -> str:
        zh = model.FREQUENCIES.get(str(value), (str(value), ""))[0]
        return zh if lang == "zh" else str(value)

    def request_state(value: object) -> str:
        try:
            st = model.RequestState(str(value))
        except ValueError:
            return str(value)
        return model.REQUEST_ZH[st] if lang == "zh" else st.value

    return {"theme": theme, "openness": openness, "frequency": frequency, "request_state": request_state}


def _page(request: Request, template: str, ctx: Mapping[str, Any], status_code: int = 200) -> HTMLResponse:
    lang: str = getattr(request.state, "lang", "zh")
    base = {"THEMES": model.THEMES, "FORMATS": model.FORMATS, "FREQUENCIES": model.FREQUENCIES, "Role": Role}
    return render(request, template, base | _labels(lang) | dict(ctx), status_code)


def _login(who: Principal) -> None:
    if not who.authenticated:
        raise AuthenticationError("log in to manage data")


# the public catalog -------------------------------------------------------------------------------


@router.get("/opendata", response_model=None)
def catalog_page(
    request: Request,
    uow: UowDep,
    q: str = "",
    publisher: str = "",
    theme: str = "",
    openness: str = "",
    format: str = "",
    page: int = 1,
    export: str = "",
) -> Response:
    """The catalog: search (Chinese words), facets, results, exports (public). ``?export=xlsx`` answers
    the whole result of this search and these facets (best first, up to :data:`EXPORT_MAX` entries) as
    Excel, in the columns and Chinese headers of the catalog's own export, which imports back."""
    page = max(1, min(page, 5000))
    filters = {"q": q, "publisher": publisher, "theme": theme, "openness": openness, "format": format}
    if export == "xlsx":  # a search the catalog refuses answers its 4xx, not an empty file
        every = catalog.find_datasets(
            uow,
            q or None,
            Filters(publisher or None, theme or None, openness or None, format or None),
            limit=EXPORT_MAX,
        )
        return attachment(dcat.catalog_xlsx(_dicts(every["datasets"])), "opendata-search.xlsx", XLSX)
    error = None
    try:
        found = catalog.find_datasets(
            uow,
            q or None,
            Filters(publisher or None, theme or None, openness or None, format or None),
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
    except ValidationError as exc:
        error = exc.message
        found = {
            "total": 0,
            "datasets": [],
            "facets": {"publisher": [], "theme": [], "openness": [], "format": []},
        }

    def link(**over: object) -> str:
        merged = {**filters, "page": "", **{k: str(v) for k, v in over.items()}}
        return "/opendata?" + urlencode({k: v for k, v in merged.items() if v})

    total = int(str(found["total"]))
    ctx = {
        "found": found,
        "filters": filters,
        "link": link,
        "page": page,
        "pages": max(1, -(-total // PAGE)),
        "error": error,
    }
    return _page(request, "opendata/catalog.html", ctx)


@router.get("/opendata/datasets/{identifier}", response_model=None)
def dataset_page(
    request: Request, identifier: str, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """A dataset; its DCAT-AP JSON-LD at the same address for ``Accept: application/ld+json``."""
    d = catalog.get_dataset(uow, who, identifier[:64])
    if "application/ld+json" in request.headers.get("accept", ""):
        base = str(request.base_url).rstrip("/")
        return JSONResponse(dcat.dataset_document(d, base), media_type="application/ld+json")
    mine = (
        [r for r in sharing.list_requests(uow, who, platform.clock) if r["dataset"] == d["identifier"]]
        if who.authenticated
        else []
    )
    return _dataset(request, who, uow, platform, d, mine)


def _dataset(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    d: Mapping[str, Any],
    mine: list[dict[str, object]],
    extra: Mapping[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    history = catalog.dataset_history(uow, who, str(d["identifier"])) if d["manageable"] else []
    edit = {k: d.get(k) for k in EDITABLE} | {"keywords": "、".join(_strs(d.get("keywords")))}
    labels = _labels(getattr(request.state, "lang", "zh"))
    rows = [
        r
        | {
            "request_state": labels["request_state"](r["state"]),
            "answer": r.get("conditions") or r.get("refusal_reason") or "",
            "expires_on": str(r.get("expires_on") or ""),
        }
        for r in mine
    ]
    asked = listing.view(request, DATASET_REQUESTS, rows)
    if isinstance(asked, Response):
        return asked
    ctx = {
        "d": d,
        "requests": asked if mine else None,
        "history": history,
        "may_request": who.role in {Role.USER, Role.ORG_ADMIN} and d["openness"] == "conditional",
        "edit": edit,
    }
    return _page(request, "opendata/dataset.html", ctx | dict(extra or {}), status_code)


#: what the edit form changes (the API's PATCH takes the same; distributions have their own calls)
EDITABLE = (
    "title",
    "description",
    "openness",
    "conditions",
    "update_frequency",
    "contact_name",
    "contact_email",
    "records",
    "keywords",
    "themes",
    "formats",
)


def _dataset_fields(form: FormData) -> dict[str, Any]:
    """A dataset form's fields (registering or editing): text as typed, themes and formats as lists."""
    values: dict[str, Any] = {k: form_text(form, k) for k in EDITABLE if k not in {"themes", "formats"}}
    values["themes"] = [str(v) for v in form.getlist("themes")]
    values["formats"] = [str(v) for v in form.getlist("formats")]
    return values


def _dicts(value: object) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _strs(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


@router.post("/opendata/datasets/{identifier}/edit", response_model=None)
async def edit_form(
    request: Request, identifier: str, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Change an entry from its page (its publisher or the data bureau): the same change, history and
    audit as ``PATCH /api/v1/opendata/datasets/{id}``; a refused field is marked where it stands."""
    form = await checked_form(request)
    _login(who)
    ident = identifier[:64]
    values = _dataset_fields(form)
    values["records"] = values["records"] or None

    def show(exc: ZhisuanError) -> Response:
        d = catalog.get_dataset(uow, who, ident)
        if not d["manageable"]:
            raise exc
        ctx = {"edit": values, **form_error(exc), "editing": True}
        return _dataset(request, who, uow, platform, d, [], ctx, exc.http_status)

    return commit_or_show(
        uow,
        lambda: catalog.update_dataset(uow, who, platform.clock, ident, values),
        f"/opendata/datasets/{ident}?saved=1",
        show,
    )


@router.post("/opendata/datasets/{identifier}/request", response_model=None)
async def request_form(
    request: Request, identifier: str, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Ask for a conditional dataset, stating the purpose."""
    form = await checked_form(request)
    _login(who)

    def show(exc: ZhisuanError) -> Response:
        ctx = {
            "d": catalog.get_dataset(uow, who, identifier[:64]),
            "requests": [],
            "history": [],
            "may_request": True,
            "error": exc.message,
            "purpose": form_text(form, "purpose"),
        }
        return _page(request, "opendata/dataset.html", ctx, exc.http_status)

    return commit_or_show(
        uow,
        lambda: sharing.request_access(uow, who, platform.clock, identifier[:64], form_text(form, "purpose")),
        f"/opendata/datasets/{identifier[:64]}",
        show,
    )


# bulletins ----------------------------------------------------------------------------------------


BULLETINS = ListSpec(
    "bulletins",
    "Opening bulletins",
    (
        Column("period", "Quarter", link=lambda r: f"/opendata/bulletins/{r['period']}"),
        Column("state", "State", "word", filter=True),
        Column("opened", "Datasets opened", "num"),
        Column("received", "Requests received", "num"),
        Column("answered", "Answered", "num"),
        Column("published_on", "Published on"),
    ),
    sort="period",
    desc=True,
    attrs=lambda r: {"period": r["period"], "state": r["state"]},
)


def _totals(bulletin: Mapping[str, object]) -> Mapping[str, object]:
    totals = bulletin.get("totals")
    return totals if isinstance(totals, dict) else {}


@router.get("/opendata/bulletins", response_model=None)
def bulletins_page(request: Request, who: PrincipalDep, uow: UowDep) -> Response:
    """Published opening bulletins (drafts too, for the data bureau) on the shared list."""
    rows = [
        {
            "period": b["period"],
            "state": b["state"],
            **{k: _totals(b).get(k) for k in ("opened", "received", "answered")},
            "published_on": str(b.get("published_at") or "")[:10],
        }
        for b in bulletins.list_bulletins(uow, who)
    ]
    lv = listing.view(request, BULLETINS, rows)
    if isinstance(lv, Response):
        return lv
    return _page(request, "opendata/bulletins.html", {"lv": lv})


@router.get("/opendata/bulletins/{period}", response_class=HTMLResponse)
def bulletin_page(request: Request, period: str, who: PrincipalDep, uow: UowDep) -> HTMLResponse:
    """A bulletin: ranking table, charts, CSV and Excel."""
    b = bulletins.get(uow, who, period[:8])
    return _page(request, "opendata/bulletin.html", {"b": b})


# management ---------------------------------------------------------------------------------------


MANAGED = ListSpec(
    "managed",
    "Datasets",
    (
        Column("title", "Dataset", link=lambda r: f"/opendata/datasets/{r['identifier']}"),
        Column("publisher_name", "Publisher", filter=True),
        Column("openness", "Openness", filter=True),
        Column("dataset_state", "State", "word", filter=True),
        Column("version", "Version", "num"),
    ),
    sort="title",
    attrs=lambda r: {"dataset": r["identifier"]},
)
REQUESTS = ListSpec(
    "sharing-requests",
    "Sharing requests",
    (
        Column("id", "#", "num"),
        Column("dataset_title", "Dataset", link=lambda r: f"/opendata/datasets/{r['dataset']}"),
        Column("org_name", "Organization", filter=True),
        Column("purpose", "Purpose"),
        Column("request_state", "State", filter=True),
        Column("hours_to_answer", "Hours to answer", "num"),
        Column("answer", "Answer"),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"request": r["id"], "state": r["state"]},
)
#: a dataset's own requests, on its page: who asked, where it stands, the answer and until when
DATASET_REQUESTS = ListSpec(
    "dataset-requests",
    "Requests",
    (
        *(c for c in REQUESTS.columns if c.key in {"id", "org_name", "request_state", "answer"}),
        Column("expires_on", "Until"),
    ),
    sort="id",
    desc=True,
    attrs=REQUESTS.attrs,
)


def _manage(
    request: Request,
    who: Principal,
    uow: UowDep,
    platform: PlatformDep,
    extra: Mapping[str, Any] | None = None,
    status: int = 200,
) -> Response:
    _login(who)
    labels = _labels(getattr(request.state, "lang", "zh"))
    datasets = [
        d | {"openness": labels["openness"](d["openness"]), "dataset_state": d["state"]}
        for d in catalog.managed_datasets(uow, who)
    ]
    asked = [
        r
        | {
            "request_state": labels["request_state"](r["state"]),
            "answer": r.get("conditions") or r.get("refusal_reason") or "",
        }
        for r in sharing.list_requests(uow, who, platform.clock)
    ]
    managed, requests = listing.view(request, MANAGED, datasets), listing.view(request, REQUESTS, asked)
    if isinstance(managed, Response):
        return managed
    if isinstance(requests, Response):
        return requests
    ctx: dict[str, Any] = {
        "datasets": managed,
        "requests": requests,
        "bulletins": bulletins.list_bulletins(uow, who) if model.is_steward(who) else [],
        "steward": model.is_steward(who),
        "publisher": model.own_publisher_key(who),
        "may_publish": publishers.may_publish(uow.session, who),
        "values": {},
    }
    return _page(request, "opendata/manage.html", ctx | dict(extra or {}), status)


@router.get("/opendata/manage", response_model=None)
def manage_page(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """A publisher's entries and requests to answer; the data bureau's all, with bulletins and imports."""
    return _manage(request, who, uow, platform)


@router.post("/opendata/manage/datasets", response_model=None)
async def new_dataset_form(
    request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Register a dataset (published at once when asked)."""
    form = await checked_form(request)
    _login(who)
    values = _dataset_fields(form)
    publish = form_text(form, "publish") == "1"
    return commit_or_show(
        uow,
        lambda: catalog.create_dataset(uow, who, platform.clock, values, publish=publish),
        lambda out: f"/opendata/datasets/{out['identifier']}",
        lambda exc: _manage(
            request, who, uow, platform, {"values": values, **form_error(exc)}, exc.http_status
        ),
    )


@router.post("/opendata/manage/datasets/{identifier}/state", response_model=None)
async def state_form(
    request: Request, identifier: str, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> RedirectResponse:
    """Publish or withdraw an entry."""
    form = await checked_form(request)
    _login(who)
    catalog.set_state(uow, who, platform.clock, identifier[:64], form_text(form, "state"))
    uow.commit()
    return RedirectResponse(f"/opendata/datasets/{identifier[:64]}", status_code=303)


@router.post("/opendata/manage/requests/{request_id}", response_model=None)
async def answer_form(
    request: Request, request_id: int, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Grant or refuse a request."""
    form = await checked_form(request)
    _login(who)
    body = {k: form_text(form, k) or None for k in ("action", "conditions", "expires_on", "reason")}
    return commit_or_show(
        uow,
        lambda: sharing.answer_request(uow, who, platform.clock, min(request_id, 2**31 - 1), body),
        "/opendata/manage#requests",
        lambda exc: _manage(
            request, who, uow, platform, {"error": f"#{request_id}: {exc.message}"}, exc.http_status
        ),
    )


@router.post("/opendata/manage/import", response_model=None)
async def import_form(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Register datasets or suppliers from a CSV or Excel file: all rows or none."""
    form = await checked_form(request)
    _login(who)
    upload = form.get("file")
    kind = form_text(form, "kind")
    try:
        if not isinstance(upload, UploadFile):
            raise ValidationError("choose a file", field="file")
        content = await upload.read(imports.MAX_BYTES + 1)
        run = imports.import_suppliers if kind == "suppliers" else imports.import_datasets
        out = run(uow, who, platform.clock, content, upload.filename)
        uow.commit()
    except FORM_ERRORS as exc:
        uow.rollback()
        return _manage(request, who, uow, platform, {"import_error": exc.message}, exc.http_status)
    finally:
        await form.close()
    return _manage(request, who, uow, platform, {"imported": out["imported"]})


@router.post("/opendata/manage/bulletins", response_model=None)
async def bulletin_form(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Generate or publish a quarter's bulletin (the data bureau)."""
    form = await checked_form(request)
    _login(who)
    period = form_text(form, "period")
    run = bulletins.publish if form_text(form, "action") == "publish" else bulletins.generate
    return commit_or_show(
        uow,
        lambda: run(uow, who, platform.clock, period),
        lambda _: f"/opendata/bulletins/{model.Quarter.parse(period)}",
        lambda exc: _manage(request, who, uow, platform, {"bulletin_error": exc.message}, exc.http_status),
    )


SUPPLIERS = ListSpec(
    "suppliers",
    "Data suppliers",
    (
        Column("id", "#", "num"),
        Column("name", "Name"),
        Column("city", "City", "city", filter=True),
        Column("services", "Services"),
        Column("transactions", "Annual transactions (yuan)"),
        Column("applications", "Application"),
    ),
    sort="id",
    attrs=lambda r: {"supplier": r["id"]},
)


def _supplier_rows(items: list[dict[str, Any]], lang: str) -> list[dict[str, object]]:
    """Suppliers as the list reads them: services in the page's language, each year's transactions in ¥
    and the awards applications they back."""
    return [
        {
            "id": s["id"],
            "name": s["name"],
            "city": s["city"],
            "services": "、".join(s["services_zh"])
            if lang == "zh"
            else ", ".join(str(x).replace("_", " ") for x in s["services"]),
            "transactions": "; ".join(f"{t['year']}: {display.yuan(t['amount'])}" for t in s["transactions"]),
            "applications": " ".join(
                f"#{t['application_id']}" for t in s["transactions"] if t.get("application_id")
            ),
        }
        for s in items
    ]


@router.get("/opendata/suppliers", response_model=None)
def suppliers_page(request: Request, who: PrincipalDep, uow: UowDep, year: int = 2025) -> Response:
    """Data suppliers (art. 4) on the shared list, the cities' ratios and the province's performance
    rewards."""
    _login(who)
    year = max(2000, min(year, 2100))
    lang: str = getattr(request.state, "lang", "zh")
    lv = listing.view(request, SUPPLIERS, _supplier_rows(suppliers.list_suppliers(uow, who), lang))
    if isinstance(lv, Response):
        return lv
    lv.keep = {"year": str(year)}
    ctx = {
        "lv": lv,
        "ratios": suppliers.list_ratios(uow, year),
        "rewards": suppliers.performance_rewards(uow, who, year)
        if who.role is not None
        and who.role in {Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU, Role.CITY, Role.ADMIN}
        else None,
        "year": year,
    }
    return _page(request, "opendata/suppliers.html", ctx)


@router.get("/opendata/catalog.jsonld", response_class=Response, include_in_schema=False)
def catalog_alias() -> RedirectResponse:
    """The catalog's DCAT-AP document lives under the API."""
    return RedirectResponse("/api/v1/opendata/catalog.jsonld", status_code=308)
