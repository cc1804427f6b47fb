"""Request-scoped dependencies: the platform, a unit of work, and who is calling."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request

from zhisuan import accounts
from zhisuan.bootstrap import Platform
from zhisuan.core.access import ANONYMOUS, Principal
from zhisuan.core.errors import AuthenticationError, PermissionDeniedError
from zhisuan.core.ids import MAX_ID
from zhisuan.store.models.core import UserRow
from zhisuan.store.uow import UnitOfWork

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def get_uow(platform: Annotated[Platform, Depends(get_platform)]) -> Iterator[UnitOfWork]:
    """A unit of work for this request; what the handler does not commit is rolled back."""
    with platform.uow() as uow:
        yield uow


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
        user = accounts.authenticate_token(uow, token, platform.clock.now())
        if uow.session.dirty:  # the token's last use moved (at most once a minute)
            uow.commit()
        return user.principal()
    user_id = request.session.get("user_id")
    if isinstance(user_id, int):
        row = uow.session.get(UserRow, user_id)
        if row is not None and row.active:
            if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
                check_csrf(request, request.headers.get("x-csrf-token"))
            return accounts.UserView.of(row).principal()
    return ANONYMOUS


def require_login(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not who.authenticated:
        raise AuthenticationError("log in or send a bearer token")
    return who


PlatformDep = Annotated[Platform, Depends(get_platform)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
LoginDep = Annotated[Principal, Depends(require_login)]
#: A row id in a URL path: a 64-bit positive integer (a larger one is a 422, not a database error).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
