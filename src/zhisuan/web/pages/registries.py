"""Pages: the ten registries (list, filter, page, add, change, import, export), scenario bulletins, matching.

A public registry is shown to everybody; a scoped one to staff, the entry's city and its organization.
The add, change and import forms show to those who may write (the province, administrators, a city
official for its own city's entries) and carry the session's CSRF token; the services decide again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhisuan.core.access import Role
from zhisuan.core.errors import ZhisuanError
from zhisuan.core.regions import all_cities
from zhisuan.registries import bulletins, services, tabular
from zhisuan.registries.spec import FieldType, RegistrySpec
from zhisuan.registries.specs import SPECS
from zhisuan.web import listing
from zhisuan.web.api.registries import suggestions
from zhisuan.web.deps import IntRowId, PlatformDep, PrincipalDep, UowDep, check_csrf
from zhisuan.web.forms import commit_or_show
from zhisuan.web.i18n import gettext
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(NavItem("/registries", "Registries", order=55, group="Registries"))

WRITERS = (Role.ADMIN, Role.PROVINCE, Role.CITY)
#: what a registry computes, shown as extra columns of its list (English msgids)
DERIVED = {
    "parks": (("share", "General-AI share"), ("above_threshold", "Above the art. 9 threshold")),
    "funds": (("tracked_scale", "Tracked scale"),),
    "competitions": (("support_total", "Support in total"),),
    "standards": (("awarded", "Awarded"),),
}


#: English msgids of the figures a registry computes for one entry
EXTRA = {
    "share": "General-AI share",
    "above_threshold": "Above the art. 9 threshold",
    "in_force": "Art. 9 in force on the roster's day",
    "share_reason": "Why",
    "sub_funds": "Sub-funds",
    "tracked_scale": "Tracked scale",
    "minimum_scale": "Minimum scale in the pack",
    "scale_reached": "Scale reached",
    "parent": "Parent fund",
    "support_total": "Support in total",
    "awarded": "Awarded",
    "awarded_amount": "Amount awarded",
    "city_payouts": "The city's recorded payouts (art. 8)",
}


def _spec(name: str) -> RegistrySpec:
    return services.spec_of(name)


def _label(spec: RegistrySpec, field: str, value: object, lang: str) -> object:
    f = spec.field(field)
    if value is None:
        return ""
    if f.type is FieldType.CHOICE:
        found = f.choice(str(value))
        return (found.zh if lang == "zh" else found.en) if found else value
    if f.type is FieldType.CITY:
        return next((c.name(lang) for c in all_cities() if c.code == value), value)
    if f.type is FieldType.BOOL:
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    return value


def _may_write(who: Any) -> bool:
    return who.role in WRITERS


@router.get("/registries", response_class=HTMLResponse)
def index(request: Request, who: PrincipalDep) -> HTMLResponse:
    """The registries, each with its article and whether it is public."""
    return render(
        request, "registries/index.html", {"specs": list(SPECS.values()), "may_write": _may_write(who)}
    )


def _columns(spec: RegistrySpec, name: str, lang: str) -> ListSpec:
    """A registry's list: its id, its required and money fields (at most eight; city and choice fields
    filter it, in the page's language) and what the registry computes (not sortable: the database
    orders by stored fields)."""
    fields = [f for f in spec.fields if f.required or f.type is FieldType.MONEY][:8]
    return ListSpec(
        "entries",
        spec.label(lang),
        (
            Column("id", "#", "num", link=lambda r: f"/registries/{name}/{r['id']}"),
            *(
                Column(
                    f.name,
                    f.label(lang),
                    {FieldType.MONEY: "money", FieldType.COUNT: "num"}.get(f.type, "text"),
                    filter=f.type in {FieldType.CHOICE, FieldType.CITY},
                )
                for f in fields
            ),
            *(Column(k, label, sortable=False) for k, label in DERIVED.get(name, ())),
        ),
        sort=spec.order.removeprefix("-"),
        desc=spec.order.startswith("-"),
    )


def _options(spec: RegistrySpec, lv: ListSpec, lang: str) -> dict[str, list[tuple[str, str]]]:
    """The values a filter offers: a choice field's choices, a city field's sixteen cities."""
    out: dict[str, list[tuple[str, str]]] = {}
    for c in lv.columns:
        if not c.filter:
            continue
        f = spec.field(c.key)
        if f.type is FieldType.CITY:
            out[c.key] = [(city.code, city.name(lang)) for city in all_cities()]
        else:
            out[c.key] = [(ch.value, ch.zh if lang == "zh" else ch.en) for ch in f.choices]
    return out


def _entry_row(spec: RegistrySpec, name: str, entry: dict[str, Any], lang: str) -> dict[str, object]:
    """An entry as the list reads it: choices, cities and yes/no in words, money as stored (the list
    draws ¥), what the registry computes beside it."""
    row: dict[str, object] = {"id": entry["id"]}
    for f in spec.fields:
        if f.name in entry:
            value = entry[f.name]
            row[f.name] = value if f.type is FieldType.MONEY else _label(spec, f.name, value, lang)
    for k, _ in DERIVED.get(name, ()):
        v = entry.get(k)
        row[k] = gettext(lang, "yes") if v is True else gettext(lang, "no") if v is False else v
    return row


def _list_page(
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    name: str,
    error: ZhisuanError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    spec = _spec(name)
    lang = getattr(request.state, "lang", "zh")
    listed = _columns(spec, name, lang)
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    # older links name a field directly (``?city=340100``): read them as the list's filters
    asked = listing.query(listed, params, {c.key: c.key for c in listed.columns if c.filter})
    export = params.get("export") == "xlsx"

    packs, now = platform.packs.current(), platform.clock.now()

    def fetch(limit: int, offset: int) -> dict[str, Any]:
        return services.list_entries(
            uow,
            who,
            packs,
            now,
            name,
            filters=asked.filters,
            q=asked.q or None,
            sort=("-" if asked.desc else "") + asked.sort,
            limit=limit,
            offset=offset,
        )

    if export:  # the whole filtered, ordered list, a thousand at a time (the service's most per call)
        got: list[dict[str, Any]] = []
        while True:
            chunk = fetch(services.MAX_LIMIT, len(got))
            got += chunk["entries"]
            if len(got) >= int(chunk["total"]) or not chunk["entries"]:
                break
        return listing.export_response(listed, [_entry_row(spec, name, e, lang) for e in got], lang)
    out = fetch(asked.per_page, (asked.page - 1) * asked.per_page)
    lv = listing.paged(
        request,
        listed,
        asked,
        [_entry_row(spec, name, e, lang) for e in out["entries"]],
        int(out["total"]),
        _options(spec, listed, lang),
    )
    return render(
        request,
        "registries/list.html",
        {
            "spec": spec,
            "lv": lv,
            "may_write": _may_write(who),
            "error": error,
            "form": form or {},
        },
        status_code=error.http_status if error else 200,
    )


@router.get("/registries/{name}", response_model=None)
def list_page(request: Request, name: str, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """A registry's entries the caller may see on the shared list: search, filters by choice and city,
    sorting by its stored fields, pages, and Excel with the fields' Chinese labels."""
    return _list_page(request, who, uow, platform, name)


@router.post("/registries/{name}", response_model=None)
async def add_form(
    request: Request, name: str, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Add an entry from the form, or import a file; errors show on the list with the line and column."""
    async with request.form() as form:
        check_csrf(request, str(form.get("csrf_token") or ""))
        spec = _spec(name)
        values = {
            f.name: str(form.get(f.name) or "") for f in spec.fields if form.get(f.name) not in (None, "")
        }
        upload = form.get("upload")
        data = (
            await upload.read(tabular.MAX_BYTES + 1)
            if upload is not None and not isinstance(upload, str) and upload.filename
            else None
        )

    def add() -> str:  # where the browser goes next: the list after an import, else the new entry
        if data is not None:
            services.import_file(uow, who, platform.packs.current(), platform.clock, name, data)
            return f"/registries/{name}"
        out = services.create_entry(uow, who, platform.packs.current(), platform.clock, name, values)
        return f"/registries/{name}/{out['id']}"

    return commit_or_show(
        uow,
        add,
        str,  # the address add() answers
        lambda exc: _list_page(request, who, uow, platform, name, error=exc, form=values),
        errors=(ZhisuanError,),
    )


def _entry_page(
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    name: str,
    entry_id: int,
    error: ZhisuanError | None = None,
) -> HTMLResponse:
    spec = _spec(name)
    lang = getattr(request.state, "lang", "zh")
    out = services.get_entry(uow, who, platform.packs.current(), platform.clock.now(), name, entry_id)
    award = (
        services.standard_award_check(uow, who, platform.packs.current(), platform.clock.now(), entry_id)
        if name == "standards"
        else None
    )
    shown = [
        (f, _label(spec, f.name, out.get(f.name), lang), out.get(f.name))
        for f in spec.fields
        if f.name in out
    ]
    if lang == "zh" and "share_reason_zh" in out:
        out = {**out, "share_reason": out["share_reason_zh"]}
    extra = [(EXTRA[k], v) for k, v in out.items() if k in EXTRA]
    return render(
        request,
        "registries/entry.html",
        {
            "spec": spec,
            "entry": out,
            "shown": shown,
            "extra": extra,
            "award": award,
            "may_write": _may_write(who),
            "error": error,
        },
        status_code=error.http_status if error else 200,
    )


@router.get("/registries/{name}/{entry_id}", response_class=HTMLResponse)
def entry_page(
    request: Request, name: str, entry_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse:
    """One entry with what its registry computes, and the change form for those who may write it."""
    return _entry_page(request, who, uow, platform, name, entry_id)


@router.post("/registries/{name}/{entry_id}", response_model=None)
async def change_form(
    request: Request, name: str, entry_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> Response:
    """Change an entry from the form (blank fields are cleared)."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    spec = _spec(name)
    values = {f.name: str(form.get(f.name) or "") for f in spec.fields if f.name in form}
    version = str(form.get("version") or "")
    return commit_or_show(
        uow,
        lambda: services.update_entry(
            uow,
            who,
            platform.packs.current(),
            platform.clock,
            name,
            entry_id,
            values,
            version=int(version) if version.isdigit() else None,
        ),
        f"/registries/{name}/{entry_id}",
        lambda exc: _entry_page(request, who, uow, platform, name, entry_id, error=exc),
        errors=(ZhisuanError,),
    )


# bulletins and matching ----------------------------------------------------------------------------


BULLETINS = ListSpec(
    "bulletins",
    "Scenario bulletins and rankings",
    (
        Column("id", "#", "num", link=lambda r: f"/bulletins/{r['id']}"),
        Column("kind", "Kind", filter=True),
        Column("period", "Period", filter=True),
        Column("state", "State", "word", filter=True),
    ),
    sort="id",
    desc=True,
    attrs=lambda r: {"bulletin": r["id"], "state": r["state"]},
)


@router.get("/bulletins", response_model=None)
def bulletins_page(request: Request, who: PrincipalDep, uow: UowDep) -> Response:
    """Scenario bulletins and rankings on the shared list: published ones for all, drafts for officials."""
    lang = getattr(request.state, "lang", "zh")
    rows = [
        dict(b) | {"kind": b["kind_zh"] if lang == "zh" else b["kind"]}
        for b in bulletins.list_bulletins(uow, who)
    ]
    lv = listing.view(request, BULLETINS, rows)
    if isinstance(lv, Response):
        return lv
    return render(
        request,
        "registries/bulletins.html",
        {"lv": lv, "may_draft": who.role in {Role.PROVINCE, Role.ADMIN}},
    )


@router.post("/bulletins", response_model=None)
async def bulletin_form(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Draft a bulletin, or publish one (province users)."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token") or ""))
    publish = str(form.get("publish") or "")
    if publish.isdigit():
        bulletins.publish_bulletin(uow, who, platform.clock, int(publish))
        uow.commit()
        return RedirectResponse(f"/bulletins/{publish}", status_code=303)
    out = bulletins.draft_bulletin(
        uow, who, platform.clock, str(form.get("kind") or ""), str(form.get("period") or "")
    )
    uow.commit()
    return RedirectResponse(f"/bulletins/{out['id']}", status_code=303)


@router.get("/bulletins/{bulletin_id}", response_class=HTMLResponse)
def bulletin_page(request: Request, bulletin_id: IntRowId, who: PrincipalDep, uow: UowDep) -> HTMLResponse:
    """A bulletin's ranking of cities and departments."""
    return render(
        request,
        "registries/bulletin.html",
        {
            "b": bulletins.get_bulletin(uow, who, bulletin_id),
            "may_draft": who.role in {Role.PROVINCE, Role.ADMIN},
        },
    )


@router.get("/matching/{enterprise_id}", response_class=HTMLResponse)
def matching_page(
    request: Request, enterprise_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> HTMLResponse:
    """Ranked suggestions for a key enterprise, each with its reason."""
    out = suggestions(uow, who, platform, enterprise_id)
    return render(request, "registries/matching.html", {"m": out})
