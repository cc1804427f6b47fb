"""Pages: centers (capacity, queues, utilization), jobs (list, submit, detail, cancel), held jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from zhisuan import compute
from zhisuan.accounts.services import list_orgs
from zhisuan.compute.model import JobState
from zhisuan.compute.worker import current_worker, engine_status
from zhisuan.core.access import Principal, Role
from zhisuan.core.catalog import catalog
from zhisuan.core.clock import SHANGHAI
from zhisuan.core.errors import AuthenticationError, PermissionDeniedError, ZhisuanError
from zhisuan.core.ids import parse_id
from zhisuan.core.regions import all_cities
from zhisuan.store.uow import UnitOfWork
from zhisuan.web import listing
from zhisuan.web.deps import PlatformDep, PrincipalDep, UowDep, check_csrf
from zhisuan.web.forms import commit_or_show
from zhisuan.web.i18n import gettext
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(
    NavItem("/centers", "Computing centers", order=10, group="Compute"),
    NavItem("/jobs", "Jobs", roles=tuple(r.value for r in Role), order=20, group="Compute"),
    NavItem("/jobs/held", "Held jobs", roles=("admin", "data_bureau", "province"), order=21, group="Compute"),
    NavItem(
        "/operations",
        "Engines",
        roles=("admin", "data_bureau", "province", "city", "operator"),
        order=22,
        group="Compute",
    ),
)

STAFF = frozenset({Role.ADMIN, Role.DATA_BUREAU, Role.PROVINCE})


def _login(who: Principal) -> None:
    if not who.authenticated:
        raise AuthenticationError("log in to see jobs")


def _sh(value: object) -> str:
    """A timestamp in Shanghai time for the pages."""
    if value is None:
        return "—"
    return f"{value.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"  # type: ignore[attr-defined]


CENTERS = ListSpec(
    "centers",
    "Centers and pools",
    (
        Column("name", "Center", link=lambda r: f"/centers/{r['center']}" if not r.get("pool") else ""),
        Column("city", "City", "city", filter=True),
        Column("operator", "Operator", filter=True),
        Column("accelerator", "Accelerator"),
        Column("cards", "Cards", "num"),
        Column("p", "Capacity (P)", "num"),
        Column("price", "Yuan per card-hour"),
        Column("queued", "Queued jobs it could run", "num"),
        Column("running", "Running", "num"),
        Column("placed", "Waiting at the center", "num"),
        Column("busy", "Busy cards", "num"),
        Column("now", "Utilization now"),
        Column("window", "Last 24 h"),
    ),
    sort="name",
    attrs=lambda r: {"pool": r["pool"]} if r.get("pool") else {"center": r["center"]},
    children="pools",
    row_class="center-row",
    child_class="pool-row",
)


def _unavailable(pool: compute.PoolView, lang: str) -> str:
    return "" if pool.available else f" ({gettext(lang, 'unavailable')}: {pool.unavailable_reason})"


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def _center_rows(ov: compute.Overview, lang: str) -> list[dict[str, object]]:
    """A row per center with its pools beneath (names, a city code the list names, prices with bands)."""
    rows: list[dict[str, object]] = []
    for c in ov.centers:
        pools = [
            {
                "center": c.center.key,
                "pool": p.pool.key,
                "name": f"↳ {p.pool.key}" + _unavailable(p.pool, lang),
                "operator": "",
                "accelerator": f"{p.pool.accelerator} · {p.pool.engine}"
                + (f" · {gettext(lang, 'domestic')}" if p.pool.domestic else ""),
                "cards": f"{p.pool.nodes}×{p.pool.cards_per_node}",
                "p": p.pool.capacity_p,
                "price": "; ".join(
                    [str(p.pool.price.to_decimal())]
                    + [f"{a}–{b} h: {pr.to_decimal()}" for a, b, pr in p.pool.bands]
                ),
                "queued": p.eligible_queued,
                "running": p.running,
                "placed": p.placed,
                "busy": p.busy_cards,
                "now": _pct(p.utilization_now),
                "window": _pct(p.utilization_window),
            }
            for p in c.pools
        ]
        rows.append(
            {
                "center": c.center.key,
                "name": c.center.display_name(lang),
                "city": c.center.city_code,
                "operator": c.center.operator_name,
                "accelerator": f"{len(c.pools)} {gettext(lang, 'pools')}",
                "cards": c.center.cards,
                "p": c.center.capacity_p,
                "price": "",
                "queued": c.eligible_queued,
                "running": c.running,
                "placed": c.placed,
                "busy": c.busy_cards,
                "now": _pct(c.utilization_now),
                "window": _pct(c.utilization_window),
                "pools": pools,
            }
        )
    return rows


@router.get("/centers", response_model=None)
def centers_page(request: Request, uow: UowDep, who: PrincipalDep, platform: PlatformDep) -> Response:
    """The province's figures, then every center with its pools on the shared list (public)."""
    ov = compute.overview(uow, platform.clock.now())
    lv = listing.view(request, CENTERS, _center_rows(ov, request.state.lang))
    if isinstance(lv, Response):
        return lv
    return render(request, "compute/centers.html", {"ov": ov, "lv": lv, "sh": _sh})


ENGINES = ListSpec(
    "engines",
    "Engine health by center",
    (
        Column("center_name", "Center", link=lambda r: f"/centers/{r['center']}"),
        Column("operator", "Operator", filter=True),
        Column("engines", "Engine", filter=True),
        Column("pools", "Pools", "num"),
        Column("reachable", "Reachable", "word", filter=True),
        Column("checked", "Last check", "date"),
        Column("capacity", "Free / total cards"),
        Column("out", "Out of service"),
    ),
    sort="center_name",
)


def _engine_rows(rows: list[dict[str, Any]], lang: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for r in rows:
        live = r.get("live")
        out.append(
            {
                "center": r["center"],
                "center_name": r["name_en"] if lang == "en" and r.get("name_en") else r["name"],
                "operator": r["operator"],
                "engines": ", ".join(r["engines"]),
                "pools": r["pools"],
                "reachable": ("yes" if live["reachable"] else "no") if live else "not checked",
                "checked": live["checked_at"] if live else None,
                "capacity": "; ".join(f"{m} {c['free']} / {c['total']}" for m, c in live["capacity"].items())
                if live
                else "",
                "out": "; ".join(f"{u['pool']} {u['reason']}" for u in r["unavailable"]) or "—",
                "message": live["message"] if live and not live["reachable"] else "",
            }
        )
    return out


def pool_loads(ov: compute.Overview, centers: set[str], lang: str) -> list[dict[str, object]]:
    """Per pool of the given centers: cards busy of all, utilisation now and over the window (bars)."""
    return [
        {
            "center": c.center.key,
            "center_name": c.center.display_name(lang),
            "pool": p.pool.key,
            "accelerator": p.pool.accelerator,
            "engine": p.pool.engine,
            "available": p.pool.available,
            "busy": p.busy_cards,
            "cards": p.pool.nodes * p.pool.cards_per_node,
            "now": round(p.utilization_now * 100),
            "window": round(p.utilization_window * 100),
        }
        for c in ov.centers
        if c.center.key in centers
        for p in c.pools
    ]


@router.get("/operations", response_model=None)
def operations_page(request: Request, uow: UowDep, who: PrincipalDep, platform: PlatformDep) -> Response:
    """Engine health per center the caller may watch (operators: their own centers), and each of their
    pools' utilisation as bars."""
    worker = current_worker()
    status = engine_status(uow, who, worker)
    rows = _engine_rows(status, request.state.lang)
    lv = listing.view(request, ENGINES, rows)
    if isinstance(lv, Response):
        return lv
    watched = {str(r["center"]) for r in status}
    pools = pool_loads(compute.overview(uow, platform.clock.now()), watched, request.state.lang)
    return render(request, "compute/operations.html", {"lv": lv, "worker": worker, "pools": pools})


def _form_context(uow: UnitOfWork, who: Principal) -> dict[str, object]:
    orgs = list_orgs(uow, who) if who.role in STAFF else []
    return {
        "accelerators": [a for a in catalog() if a.rated],
        "cities": all_cities(),
        "centers": compute.list_centers(uow),
        "orgs": orgs,
        "can_submit": who.org_id is not None or who.role in STAFF,
    }


@router.get("/centers/{ref}", response_model=None)
def center_page(
    request: Request, ref: str, uow: UowDep, who: PrincipalDep, platform: PlatformDep
) -> Response:
    """A center with its pools' load, and the jobs placed or running on it the caller may see (a list)."""
    center = compute.get_center(uow, ref)
    load = next(c for c in compute.overview(uow, platform.clock.now()).centers if c.center.id == center.id)
    jobs = (
        compute.list_jobs(uow, who, center=center.key, states=[JobState.PLACED, JobState.RUNNING], limit=500)
        if who.authenticated
        else []
    )
    lv = listing.view(request, CENTER_JOBS, job_rows(jobs))
    if isinstance(lv, Response):
        return lv
    return render(request, "compute/center.html", {"c": load, "jobs": lv, "sh": _sh})


JOBS = ListSpec(
    "jobs",
    "Jobs",
    (
        Column("id", "#", "num", link=lambda r: f"/jobs/{r['id']}"),
        Column("org", "Organization", filter=True),
        Column("name", "Name"),
        Column("cards", "Cards", "num"),
        Column("accelerator", "Accelerator"),
        Column("state", "State", "word", filter=True),
        Column("pool", "Pool", filter=True),
        Column("submitted", "Submitted", "date"),
        Column("started", "Started", "date"),
        Column("ended", "Ended", "date"),
        Column("why", "Why waiting"),
    ),
    sort="id",
    desc=True,
)

#: a center's placed and running jobs: the jobs list's columns that matter there
CENTER_JOBS = ListSpec(
    "center-jobs",
    "Jobs on this center",
    tuple(c for c in JOBS.columns if c.key in {"id", "org", "name", "cards", "state", "pool", "started"}),
    sort="id",
    desc=True,
)

#: how many of the caller's newest jobs the list pages through
JOBS_LISTED = 5000


def job_rows(jobs: list[compute.JobView]) -> list[dict[str, object]]:
    return [
        {
            "id": int(j.id),
            "org": j.org_name,
            "name": j.name,
            "cards": j.cards,
            "accelerator": j.constraint.describe(),
            "state": j.state.value,
            "pool": j.pool_key or "",
            "submitted": j.submitted_at,
            "started": j.started_at,
            "ended": j.ended_at,
            "why": j.hold_reason or "",
        }
        for j in jobs
    ]


def _jobs_list(request: Request, uow: UnitOfWork, who: Principal) -> listing.ListView | Response:
    return listing.view(request, JOBS, job_rows(compute.list_jobs(uow, who, limit=JOBS_LISTED)))


@router.get("/jobs", response_model=None)
def jobs_page(
    request: Request,
    uow: UowDep,
    who: PrincipalDep,
    platform: PlatformDep,
    state: str | None = None,
    submitted: int | None = None,
) -> Response:
    _login(who)
    if state in {s.value for s in JobState}:  # the old ?state= links: the list's state filter
        return RedirectResponse(f"/jobs?f_state={state}", status_code=303)
    jobs = _jobs_list(request, uow, who)
    if isinstance(jobs, Response):
        return jobs
    ctx = {
        "jobs": jobs,
        "counts": compute.count_jobs(uow, who),
        "state": state,
        "submitted": submitted,
        "error": None,
        "form": {},
        "sh": _sh,
        "quota": compute.get_quota(uow, who, who.org_id, platform.clock.now(), platform.vouchers)
        if who.org_id
        else None,
    }
    return render(request, "compute/jobs.html", ctx | _form_context(uow, who))


@router.post("/jobs", response_model=None)
def submit_form(
    request: Request,
    uow: UowDep,
    who: PrincipalDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
    name: Annotated[str, Form()],
    command: Annotated[str, Form()],
    cards: Annotated[int, Form()],
    runtime: Annotated[str, Form()],
    accelerator: Annotated[list[str] | None, Form()] = None,
    domestic_only: Annotated[bool, Form()] = False,
    min_memory_gb: Annotated[str, Form()] = "",
    price_ceiling: Annotated[str, Form()] = "",
    data_city: Annotated[str, Form()] = "",
    retries: Annotated[int, Form()] = 0,
    org: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    _login(who)
    form = {
        "name": name,
        "command": command,
        "cards": cards,
        "runtime": runtime,
        "accelerator": accelerator or [],
        "domestic_only": domestic_only,
        "min_memory_gb": min_memory_gb,
        "price_ceiling": price_ceiling,
        "data_city": data_city,
        "retries": retries,
        "org": org,
    }

    def submit() -> compute.JobView:
        data = compute.JobInput(
            name=name,
            command=command,
            cards=cards,
            runtime_s=compute.parse_duration(runtime),
            accelerators=[a for a in (accelerator or []) if a],
            domestic_only=domestic_only,
            min_memory_gb=parse_id(min_memory_gb),
            price_ceiling=price_ceiling.strip() or None,
            data_city=data_city.strip() or None,
            retries=retries,
            org=org.strip() or None,
        )
        return compute.submit_job(uow, who, data, platform.clock.now())

    def show(exc: ZhisuanError) -> Response:
        if isinstance(exc, AuthenticationError | PermissionDeniedError):
            raise exc
        listed = _jobs_list(request, uow, who)
        ctx = {
            "jobs": listed,
            "counts": compute.count_jobs(uow, who),
            "state": None,
            "submitted": None,
            "error": exc.message,
            "error_field": exc.field,
            "form": form,
            "sh": _sh,
        }
        return render(request, "compute/jobs.html", ctx | _form_context(uow, who), 422)

    # every refusal but a missing login or role is shown on the form, as 422
    return commit_or_show(
        uow, submit, lambda view: f"/jobs/{view.id}?submitted=1", show, errors=(ZhisuanError,)
    )


HELD = ListSpec(
    "held",
    "Held jobs and why",
    (
        Column("id", "#", "num", link=lambda r: f"/jobs/{r['id']}"),
        Column("kind", "Held for", "word", filter=True),
        Column("org", "Organization", filter=True),
        Column("name", "Name"),
        Column("cards", "Cards", "num"),
        Column("submitted", "Submitted", "date"),
        Column("held_since", "Held since", "date"),
        Column("reason", "Reason"),
    ),
    sort="held_since",
)
#: why jobs wait, in the order the page counts them
HOLD_KINDS = ("quota", "budget", "unavailable", "unrunnable", "engine", "reserved", "capacity")


@router.get("/jobs/held", response_model=None)
def held_page(request: Request, uow: UowDep, who: PrincipalDep) -> Response:
    """Queued jobs the scheduler could not start, by reason: counts per reason, then the list."""
    _login(who)
    jobs = compute.list_jobs(uow, who, held_only=True, limit=2000)
    rows = [
        {
            "id": int(j.id),
            "kind": j.hold_kind or "capacity",
            "org": j.org_name,
            "name": j.name,
            "cards": j.cards,
            "submitted": j.submitted_at,
            "held_since": j.held_since,
            "reason": j.hold_reason or "",
        }
        for j in jobs
    ]
    lv = listing.view(request, HELD, rows)
    if isinstance(lv, Response):
        return lv
    return render(
        request, "compute/held.html", {"lv": lv, "groups": held_groups(rows), "total": len(rows), "sh": _sh}
    )


def held_groups(rows: list[dict[str, Any]]) -> list[dict[str, object]]:
    """Held jobs per reason, in :data:`HOLD_KINDS` order: how many, their cards, the longest held, and
    the reason's share of all held jobs (for the bar)."""
    total = len(rows)
    out: list[dict[str, object]] = []
    for kind in HOLD_KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        since = [r["held_since"] for r in mine if r["held_since"] is not None]
        out.append(
            {
                "kind": kind,
                "jobs": len(mine),
                "cards": sum(int(r["cards"]) for r in mine),
                "oldest": min(since) if since else None,
                "share": round(100 * len(mine) / total),
            }
        )
    return out


EVENTS = ListSpec(
    "events",
    "Events",
    (
        Column("n", "#", "num"),
        Column("at", "Time (Shanghai)", "date"),
        Column("from_state", "From", "word", filter=True),
        Column("to_state", "To", "word", filter=True),
        Column("pool", "Pool", filter=True),
        Column("actor", "By", filter=True),
        Column("note", "Note"),
    ),
    sort="n",
)


@router.get("/jobs/{job_id}", response_model=None)
def job_page(
    request: Request, job_id: str, uow: UowDep, who: PrincipalDep, submitted: int | None = None
) -> Response:
    """A job's facts and its events as a list (sorted, filtered and exported like every list)."""
    _login(who)
    view = compute.get_job(uow, who, job_id)
    cancellable = view.state in {JobState.QUEUED, JobState.PLACED, JobState.RUNNING}
    rows = [
        {
            "n": n,
            "at": e.at,
            "from_state": e.from_state or "",
            "to_state": e.to_state,
            "pool": e.pool or "",
            "actor": e.actor,
            "note": e.note,
        }
        for n, e in enumerate(view.events, start=1)
    ]
    events = listing.view(request, EVENTS, rows)
    if isinstance(events, Response):
        return events
    return render(
        request,
        "compute/job.html",
        {"job": view, "cancellable": cancellable, "submitted": submitted, "sh": _sh, "events": events},
    )


@router.post("/jobs/{job_id}/cancel")
def cancel_form(
    request: Request,
    job_id: str,
    uow: UowDep,
    who: PrincipalDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
) -> RedirectResponse:
    check_csrf(request, csrf_token)
    _login(who)
    compute.cancel_job(uow, who, job_id, platform.clock.now())
    uow.commit()
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
