"""Logins: server-side sessions (ended by logout, a disabled account or a new role) and throttling.

A browser's cookie carries only a random session key; the database keeps its SHA-256, the account and
when it expires. Failed logins are counted per account and per address: past the limit, every login
of that account (or from that address) is refused for a while, the right password included. A
login's answer takes the same time whether or not the account exists (a password is always hashed).
"""

from __future__ import annotations

import datetime as dt
import secrets
from functools import cache

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from zhisuan import audit
from zhisuan.accounts.services import UserView, end_sessions_of
from zhisuan.core.errors import AuthenticationError, ZhisuanError
from zhisuan.core.security import hash_password, token_hash, verify_password
from zhisuan.store.models.core import LoginThrottleRow, UserRow, WebSessionRow
from zhisuan.store.uow import UnitOfWork

#: how long a login lasts
SESSION_TTL = dt.timedelta(hours=12)
#: failures counted over this window …
WINDOW = dt.timedelta(minutes=15)
#: … up to these many per account and per address, then logins are refused for :data:`LOCKOUT`
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20
LOCKOUT = dt.timedelta(minutes=15)


class ThrottledError(ZhisuanError):
    """Too many failed logins for this account or from this address."""

    code = "throttled"
    http_status = 429


@cache
def _dummy_hash() -> str:
    """A real argon2 hash to verify against when the account does not exist (same time either way)."""
    return hash_password(secrets.token_urlsafe(16))


def _keys(username: str, address: str | None) -> list[tuple[str, int]]:
    keys = [(f"user:{username.strip().lower()}"[:128], MAX_PER_ACCOUNT)]
    if address:
        keys.append((f"addr:{address}"[:128], MAX_PER_ADDRESS))
    return keys


def _locked(uow: UnitOfWork, username: str, address: str | None, now: dt.datetime) -> bool:
    keys = [k for k, _ in _keys(username, address)]
    rows = uow.session.execute(select(LoginThrottleRow).where(LoginThrottleRow.key.in_(keys))).scalars()
    return any(r.locked_until is not None and r.locked_until > now for r in rows)


def record_failure(uow: UnitOfWork, username: str, address: str | None, now: dt.datetime) -> None:
    """Count a failed login against the account and the address (the caller commits)."""
    for key, limit in _keys(username, address):
        for _attempt in range(2):  # a concurrent first failure may insert the row first
            row = uow.session.execute(
                select(LoginThrottleRow).where(LoginThrottleRow.key == key).with_for_update()
            ).scalar()
            if row is None:
                try:
                    with uow.session.begin_nested():
                        uow.session.add(LoginThrottleRow(key=key, failures=0, window_start=now))
                except IntegrityError:
                    continue
                continue
            if now - row.window_start > WINDOW:
                row.failures, row.window_start = 0, now
            row.failures += 1
            if row.failures >= limit:
                row.locked_until = now + LOCKOUT
            break
    uow.session.flush()


def _clear(uow: UnitOfWork, username: str) -> None:
    key = _keys(username, None)[0][0]
    uow.session.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key == key))


def login(uow: UnitOfWork, username: str, password: str, address: str | None, now: dt.datetime) -> UserView:
    """Check a password login; count a failure (committed by the caller even when this raises).

    Raises :class:`ThrottledError` while the account or the address is locked out, else
    :class:`AuthenticationError` for a wrong name or password — after hashing in every case.
    """
    name = username.strip()
    row = uow.session.execute(select(UserRow).where(UserRow.username == name)).scalar() if name else None
    good = verify_password(row.password_hash if row is not None else _dummy_hash(), password)
    if _locked(uow, name, address, now):
        raise ThrottledError("too many failed logins; try again in a quarter of an hour", field="username")
    if row is None or not row.active or not good:
        record_failure(uow, name, address, now)
        audit.record(uow, now, name[:64] or "?", "login.fail", f"addr:{address or '?'}", {})
        raise AuthenticationError("wrong username or password")
    _clear(uow, name)
    audit.record(uow, now, row.username, "login", f"user:{row.id}", {"address": address})
    return UserView.of(row)


def start_session(uow: UnitOfWork, user_id: int, now: dt.datetime) -> str:
    """A new session for the account; the key goes into the cookie, only its hash into the database."""
    key = secrets.token_urlsafe(32)
    uow.session.add(
        WebSessionRow(key_hash=token_hash(key), user_id=user_id, created_at=now, expires_at=now + SESSION_TTL)
    )
    uow.session.flush()
    return key


def session_user(uow: UnitOfWork, key: str, now: dt.datetime) -> UserView | None:
    """The active account of a live session, or None (ended, expired, or the account disabled)."""
    row = uow.session.execute(select(WebSessionRow).where(WebSessionRow.key_hash == token_hash(key))).scalar()
    if row is None or row.expires_at <= now:
        return None
    user = uow.session.get(UserRow, row.user_id)
    if user is None or not user.active:
        return None
    return UserView.of(user)


def end_session(uow: UnitOfWork, key: str) -> None:
    uow.session.execute(delete(WebSessionRow).where(WebSessionRow.key_hash == token_hash(key)))


__all__ = [
    "LOCKOUT",
    "MAX_PER_ACCOUNT",
    "MAX_PER_ADDRESS",
    "SESSION_TTL",
    "ThrottledError",
    "end_session",
    "end_sessions_of",
    "login",
    "record_failure",
    "session_user",
    "start_session",
]
