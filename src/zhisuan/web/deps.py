"""Request-scoped dependencies: the platform, a unit of work, and who is calling."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from zhisuan import accounts
from zhisuan.accounts import sessions
from zhisuan.bootstrap import Platform
from zhisuan.core.access import ANONYMOUS, Principal
from zhisuan.core.errors import AuthenticationError, PermissionDeniedError, ZhisuanError
from zhisuan.core.ids import MAX_ID, MAX_INT_ID
from zhisuan.store.uow import UnitOfWork

log = logging.getLogger("zhisuan.web")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# async (no I/O): FastAPI runs a sync dependency in a worker thread, a hop per request for nothing
async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_uow(
    request: Request, platform: Annotated[Platform, Depends(get_platform)]
) -> AsyncIterator[UnitOfWork]:
    """A unit of work for this request; what the handler does not commit is rolled back.

    GET and HEAD read (a plain transaction that never holds SQLite's write lock); other methods write
    (``BEGIN IMMEDIATE`` on SQLite, so concurrent writers queue rather than fail).

    Entering and leaving run in a worker thread only when they talk to the database (a SQLite writer
    begins at once; a transaction left open is rolled back): a request that commits does not pay two
    more thread hand-offs for a unit of work that touches nothing then.
    """
    uow = platform.uow(read_only=request.method in SAFE_METHODS)
    if uow.begins_at_once:
        await run_in_threadpool(uow.__enter__)
    else:
        uow.__enter__()
    try:
        yield uow
    finally:
        if uow.idle:
            uow.__exit__(None, None, None)
        else:
            await run_in_threadpool(uow.__exit__, None, None, None)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use); forms send it back as ``csrf_token``."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    if not sent or not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
        raise PermissionDeniedError(
            "the form has expired or did not come from this site; reload and try again"
        )


def form_text(form: FormData, name: str) -> str:
    """A form field's text, stripped ("" when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token is checked (closed again when it is refused)."""
    form = await request.form()
    sent = form.get("csrf_token")
    try:
        check_csrf(request, sent if isinstance(sent, str) else None)
    except ZhisuanError:
        await form.close()
        raise
    return form


def get_principal(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    platform: Annotated[Platform, Depends(get_platform)],
) -> Principal:
    """Who is calling: a bearer token (API), a session cookie (pages), or nobody."""
    who = _identify(request, uow, platform)
    request.state.principal = who
    return who


def _identify(request: Request, uow: UnitOfWork, platform: Platform) -> Principal:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("send the token as 'Authorization: Bearer <token>'")
        now = platform.clock.now()
        user, touch = platform.tokens.authenticate(uow, token, now)
        if touch is not None and uow.read_only:
            if _touch_token(platform, touch, now):
                platform.tokens.touched(token, now)
        elif touch is not None:  # a writing request: recorded with (and only if) its own changes
            accounts.touch_token(uow, touch, now)
            uow.after_commit(lambda _uow: platform.tokens.touched(token, now))
        return user.principal()
    key = request.session.get("sid")
    if isinstance(key, str):
        member = sessions.session_user(uow, key, platform.clock.now())
        if member is None:  # logged out, expired, disabled or given a new role: the session is over
            request.session.pop("sid", None)
            return ANONYMOUS
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            check_csrf(request, request.headers.get("x-csrf-token"))
        return member.principal()
    return ANONYMOUS


def _touch_token(platform: Platform, token_id: int, now: dt.datetime) -> bool:
    """Record the token's use in a short transaction of its own; a busy database only skips it."""
    try:
        with platform.uow() as uow:
            accounts.touch_token(uow, token_id, now)
            uow.commit()
    except OperationalError:  # SQLite busy past its timeout: the next request records it
        log.warning("token %s: last use not recorded (database busy)", token_id)
        return False
    return True


async def require_login(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not who.authenticated:
        raise AuthenticationError("log in or send a bearer token")
    return who


PlatformDep = Annotated[Platform, Depends(get_platform)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
LoginDep = Annotated[Principal, Depends(require_login)]
#: The furthest a listing may page (beyond, the database's integers overflow; nobody pages that far).
MAX_OFFSET = 10_000_000
#: A row id in a URL path: a 64-bit positive integer (a larger one is a 422, not a database error).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: The id of a row of a table keyed by a 32-bit INTEGER (tokens, pack versions): at most 2^31 - 1.
IntRowId = Annotated[int, Path(ge=1, le=MAX_INT_ID)]
