"""Pages: home (dashboard, cities and the accelerator catalog), login, logout, language switch."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhisuan import accounts, audit
from zhisuan.accounts import sessions
from zhisuan.core.access import Principal, Role
from zhisuan.core.catalog import capacity_p, catalog
from zhisuan.core.errors import AuthenticationError
from zhisuan.core.ids import MAX_ID
from zhisuan.core.regions import regions
from zhisuan.reports.dashboard import dashboard
from zhisuan.web import listing
from zhisuan.web.deps import IntRowId, LoginDep, PlatformDep, PrincipalDep, UowDep, check_csrf
from zhisuan.web.homes import home_tiles
from zhisuan.web.listing import Column, ListSpec
from zhisuan.web.templating import NavItem, add_nav, render

router = APIRouter(include_in_schema=False)
add_nav(NavItem("/", "Home", order=0))


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/", response_class=HTMLResponse)
def home(request: Request, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> HTMLResponse:
    accelerators = [{"a": a, "p": capacity_p([(a.key, 1)]) if a.rated else None} for a in catalog()]
    now = platform.clock.now()
    board = dashboard(uow, who, now)
    return render(
        request,
        "home.html",
        {
            "regions": regions(),
            "accelerators": accelerators,
            "board": board,
            "board_json": board.as_dict(),
            "tiles": home_tiles(uow, who, now),
        },
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, who: PrincipalDep, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", response_model=None)
def login(
    request: Request,
    uow: UowDep,
    platform: PlatformDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_csrf(request, csrf_token)
    now = platform.clock.now()
    address = request.client.host if request.client is not None else None
    try:
        user = sessions.login(uow, username, password, address, now)
    except (AuthenticationError, sessions.ThrottledError) as exc:
        uow.commit()  # the failure counts (and is audited) even though the login is refused
        request.state.principal = None
        context = {"next": _safe_next(next), "error": exc.message, "username": username[:64]}
        return render(request, "login.html", context, exc.http_status)
    key = sessions.start_session(uow, int(user.id), now)
    uow.commit()
    request.session.clear()
    request.session["sid"] = key
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, uow: UowDep, csrf_token: Annotated[str, Form()]) -> RedirectResponse:
    check_csrf(request, csrf_token)
    key = request.session.get("sid")
    if isinstance(key, str):
        sessions.end_session(uow, key)  # the cookie alone no longer logs anyone in
        uow.commit()
    request.session.clear()
    return RedirectResponse("/", status_code=303)


add_nav(NavItem("/account", "My account", roles=tuple(r.value for r in Role), order=90))


TOKENS = ListSpec(
    "tokens",
    "API tokens",
    (
        Column("name", "Name"),
        Column("prefix", "Prefix"),
        Column("created_at", "Created", "date"),
        Column("last_used_at", "Last used", "date"),
        Column("state", "State", "word", filter=True),
    ),
    sort="created_at",
    attrs=lambda r: {"token": r["id"]},
)
MEMBERS = ListSpec(
    "members",
    "Members",
    (
        Column("username", "Username"),
        Column("display_name", "Name"),
        Column("role", "Role", "word", filter=True),
        Column("active", "Active", "word", filter=True),
    ),
    sort="username",
)


def _account(request: Request, uow: UowDep, who: Principal, **extra: object) -> Response:
    org = accounts.get_org(uow, who, who.org_id) if who.org_id is not None else None
    members = accounts.list_users(uow, who) if who.role in {Role.ORG_ADMIN, Role.ADMIN} else []
    tokens = listing.view(
        request,
        TOKENS,
        [
            {
                "id": t.id,
                "name": t.name,
                "prefix": f"{t.prefix}…",
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "state": "revoked" if t.revoked else "active",
            }
            for t in accounts.list_tokens(uow, who)
        ],
    )
    people = listing.view(
        request,
        MEMBERS,
        [
            {
                "username": m.username,
                "display_name": m.display_name,
                "role": m.role.value,
                "active": "yes" if m.active else "no",
            }
            for m in members
        ],
    )
    if isinstance(tokens, Response):
        return tokens
    if isinstance(people, Response):
        return people
    context: dict[str, object] = {"org": org, "tokens": tokens, "members": people if members else None}
    context.update(extra)
    return render(request, "account.html", context)


@router.get("/account", response_model=None)
def account(request: Request, uow: UowDep, who: LoginDep) -> Response:
    return _account(request, uow, who)


@router.post("/account/tokens", response_model=None)
def account_new_token(
    request: Request,
    uow: UowDep,
    who: LoginDep,
    platform: PlatformDep,
    name: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()],
) -> Response:
    check_csrf(request, csrf_token)
    token = accounts.create_token(uow, who, who.username, name, platform.clock.now())
    uow.commit()
    return _account(request, uow, who, new_token=token)


@router.post("/account/tokens/{token_id}/revoke", response_model=None)
def account_revoke_token(
    request: Request,
    token_id: IntRowId,
    uow: UowDep,
    who: LoginDep,
    platform: PlatformDep,
    csrf_token: Annotated[str, Form()],
) -> Response:
    check_csrf(request, csrf_token)
    accounts.revoke_token(uow, who, token_id, platform.clock.now())
    uow.commit()
    return RedirectResponse("/account", status_code=303)


add_nav(NavItem("/audit", "Audit log", roles=tuple(r.value for r in audit.READERS), order=85))


AUDIT = ListSpec(
    "audit-events",
    "Audit log",
    (
        Column("id", "#", "num"),
        Column("at", "When", "date"),
        Column("actor", "Actor", filter=True),
        Column("action", "Action", filter=True),
        Column("subject", "Subject"),
        Column("detail", "Detail"),
    ),
    sort="id",
    desc=True,
)


@router.get("/audit", response_model=None)
def audit_page(
    request: Request,
    uow: UowDep,
    who: LoginDep,
    action: str | None = None,
    actor: str | None = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """The audit log, newest first, with whether the chain verifies (administrators, province).

    ``action`` (a prefix) and ``actor`` narrow in the database; the newest 1000 that match are listed,
    sorted, searched and exported like every list; ``before`` reaches further back."""
    events = audit.list_events(
        uow,
        who,
        action=(action or "")[:64] or None,
        actor=(actor or "")[:64] or None,
        before_id=before,
        limit=1000,
    )
    rows = [
        {
            "id": e.id,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "subject": e.subject,
            "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items()),
        }
        for e in events
    ]
    lv = listing.view(request, AUDIT, rows)
    if isinstance(lv, Response):
        return lv
    context: dict[str, object] = {
        "lv": lv,
        "verdict": audit.verify(uow),
        "action": action or "",
        "actor": actor or "",
        "older": events[-1].id if len(events) >= 1000 else None,
    }
    return render(request, "audit.html", context)
