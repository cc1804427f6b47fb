"""Load → decide with core's rules → save, for organizations, users and tokens."""

from __future__ import annotations

import datetime as dt
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, delete, func, or_, select, update

from zhisuan import audit
from zhisuan.core.access import (
    Action,
    Kind,
    Principal,
    Resource,
    Role,
    authorize,
    not_found,
    require_role,
    visible_scope,
)
from zhisuan.core.credit_code import validate_credit_code
from zhisuan.core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from zhisuan.core.ids import MAX_INT_ID, OrgId, UserId, parse_id
from zhisuan.core.orgs import OrgKind, Ownership, OwnershipGraph, share_from_percent
from zhisuan.core.regions import city as lookup_city
from zhisuan.core.security import hash_password, new_password, new_token, token_hash, verify_password
from zhisuan.core.text import Name, clean_name
from zhisuan.store.models.core import ApiTokenRow, OrganizationRow, OwnershipRow, UserRow, WebSessionRow
from zhisuan.store.uow import UnitOfWork


class OrgInput(BaseModel):
    """What it takes to register an organization."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(min_length=2, max_length=200)
    name_en: Name | None = Field(default=None, max_length=200)
    credit_code: Name = Field(max_length=18)
    kind: OrgKind
    city_code: Name | None = Field(default=None, max_length=6)
    in_province: bool = True


@dataclass(frozen=True, slots=True)
class OrgView:
    id: OrgId
    name: str
    name_en: str | None
    credit_code: str
    kind: OrgKind
    city_code: str | None
    in_province: bool

    @classmethod
    def of(cls, row: OrganizationRow) -> OrgView:
        return cls(
            id=OrgId(row.id),
            name=row.name,
            name_en=row.name_en,
            credit_code=row.credit_code,
            kind=OrgKind(row.kind),
            city_code=row.city_code,
            in_province=row.in_province,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "credit_code": self.credit_code,
            "kind": str(self.kind),
            "city_code": self.city_code,
            "in_province": self.in_province,
        }

    def resource(self) -> Resource:
        return Resource(Kind.ORGANIZATION, org_id=self.id, city_code=self.city_code, operator_org_id=self.id)


@dataclass(frozen=True, slots=True)
class UserView:
    id: UserId
    username: str
    display_name: str
    role: Role
    org_id: OrgId | None
    city_code: str | None
    active: bool

    @classmethod
    def of(cls, row: UserRow) -> UserView:
        return cls(
            id=UserId(row.id),
            username=row.username,
            display_name=row.display_name,
            role=Role(row.role),
            org_id=OrgId(row.org_id) if row.org_id is not None else None,
            city_code=row.city_code,
            active=row.active,
        )

    def principal(self) -> Principal:
        return Principal(self.id, self.username, self.role, self.org_id, self.city_code)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": str(self.role),
            "org_id": self.org_id,
            "city_code": self.city_code,
            "active": self.active,
        }


def _org_row(uow: UnitOfWork, org_id: int) -> OrganizationRow:
    row = uow.session.get(OrganizationRow, org_id)
    if row is None:
        raise not_found(Kind.ORGANIZATION)
    return row


def _storable(text: str) -> bool:
    """Whether ``text`` could be a stored name at all (no NUL, which PostgreSQL refuses; not over-long)."""
    return "\x00" not in text and len(text) <= 200


def find_org(uow: UnitOfWork, ref: str | int) -> OrganizationRow:
    """An organization by id, credit code or exact name."""
    text = str(ref).strip()
    if not _storable(text):
        raise not_found(Kind.ORGANIZATION)
    conds = [OrganizationRow.credit_code == text.upper(), OrganizationRow.name == text]
    if (row_id := parse_id(text, MAX_INT_ID)) is not None:
        conds.append(OrganizationRow.id == row_id)
    row = uow.session.execute(select(OrganizationRow).where(or_(*conds))).scalars().first()
    if row is None:
        raise not_found(Kind.ORGANIZATION)
    return row


def create_org(uow: UnitOfWork, who: Principal, data: OrgInput, now: dt.datetime) -> OrgView:
    """Register an organization (admin, province or data bureau)."""
    require_role(who, Role.PROVINCE, Role.DATA_BUREAU)
    code = validate_credit_code(data.credit_code)
    if data.city_code is not None:
        lookup_city(data.city_code, field="city_code")
    elif data.in_province:
        raise ValidationError("an in-province organization needs its city (6-digit code)", field="city_code")
    session = uow.session
    clash = session.execute(
        select(OrganizationRow).where(
            or_(OrganizationRow.credit_code == code, OrganizationRow.name == data.name.strip())
        )
    ).scalar()
    if clash is not None:
        field = "credit_code" if clash.credit_code == code else "name"
        raise ConflictError(
            f"an organization with this {field} is already registered (id {clash.id})", field=field
        )
    row = OrganizationRow(
        name=data.name.strip(),
        name_en=data.name_en,
        credit_code=code,
        kind=str(data.kind),
        city_code=data.city_code,
        in_province=data.in_province,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(uow, now, who.username, "org.create", f"org:{row.id}", {"name": row.name, "code": code})
    return OrgView.of(row)


def get_org(uow: UnitOfWork, who: Principal, ref: str | int) -> OrgView:
    view = OrgView.of(find_org(uow, ref))
    authorize(who, Action.READ, view.resource())
    return view


def list_orgs(uow: UnitOfWork, who: Principal) -> list[OrgView]:
    scope = visible_scope(who, Kind.ORGANIZATION)
    query = select(OrganizationRow).order_by(OrganizationRow.id)
    if scope.nothing:
        return []
    if not scope.everything:
        if scope.city_code is not None:
            query = query.where(OrganizationRow.city_code == scope.city_code)
        else:
            query = query.where(OrganizationRow.id.in_(scope.org_ids))
    return [OrgView.of(r) for r in uow.session.execute(query).scalars()]


def org_names(uow: UnitOfWork, org_ids: Iterable[int], lang: str = "zh") -> dict[int, str]:
    """Display names of organizations the caller already holds rows of (bills, usage, vouchers)."""
    ids = sorted(set(org_ids))
    if not ids:
        return {}
    rows = uow.session.execute(
        select(OrganizationRow.id, OrganizationRow.name, OrganizationRow.name_en).where(
            OrganizationRow.id.in_(ids)
        )
    )
    return {oid: (en if lang == "en" and en else zh) for oid, zh, en in rows}


def add_ownership(
    uow: UnitOfWork,
    who: Principal,
    owner: str | int,
    owned: str | int,
    percent: str,
    now: dt.datetime,
    *,
    controls: bool = False,
) -> None:
    """Record that ``owner`` holds ``percent`` % of ``owned`` (replacing an earlier figure)."""
    require_role(who, Role.PROVINCE, Role.DATA_BUREAU)
    share = share_from_percent(percent)
    a, b = find_org(uow, owner), find_org(uow, owned)
    if a.id == b.id:
        raise ValidationError("an organization cannot own itself", field="owned")
    ppm = share * 1_000_000
    if ppm.denominator != 1:
        raise ValidationError("give the percentage with at most 4 decimal places", field="percent")
    session = uow.session
    existing = session.execute(
        select(OwnershipRow).where(OwnershipRow.owner_id == a.id, OwnershipRow.owned_id == b.id)
    ).scalar()
    if existing is None:
        session.add(OwnershipRow(owner_id=a.id, owned_id=b.id, share_ppm=int(ppm), controls=controls))
    else:
        existing.share_ppm = int(ppm)
        existing.controls = controls
    session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "org.ownership",
        f"org:{b.id}",
        {"owner": a.id, "percent": percent, "controls": controls},
    )


def ownership_graph(uow: UnitOfWork) -> OwnershipGraph:
    """Every ownership link, as the pure graph that answers related-party questions."""
    rows = uow.session.execute(select(OwnershipRow)).scalars()
    return OwnershipGraph.of(
        Ownership(OrgId(r.owner_id), OrgId(r.owned_id), Fraction(r.share_ppm, 1_000_000), r.controls)
        for r in rows
    )


ORG_ROLES = frozenset({Role.USER, Role.ORG_ADMIN, Role.OPERATOR})


def add_user(
    uow: UnitOfWork,
    who: Principal | None,
    *,
    username: str,
    password: str,
    role: Role,
    now: dt.datetime,
    display_name: str | None = None,
    org: str | int | None = None,
    city_code: str | None = None,
) -> UserView:
    """Create an account. ``who=None`` only for the first admin at ``zhisuan init``."""
    name = clean_name(username, "username", max_length=64)
    # ASCII only after NFKC ('ａｄｍｉｎ' is 'admin'): a Cyrillic 'а' cannot pass for a Latin 'a'
    if not name or not all((ch.isascii() and ch.isalnum()) or ch in "._-@" for ch in name):
        raise ValidationError("a username is 1–64 ASCII letters, digits or . _ - @", field="username")
    if display_name is not None:
        display_name = clean_name(display_name, "display_name") or None
    org_row = find_org(uow, org) if org is not None else None
    if role in ORG_ROLES and org_row is None:
        raise ValidationError(f"role {role} needs an organization (--org)", field="org")
    if role is Role.OPERATOR and org_row is not None and org_row.kind != OrgKind.CENTER_OPERATOR:
        raise ValidationError("role operator needs a center-operator organization", field="org")
    if role is Role.CITY:
        if city_code is None:
            raise ValidationError("role city needs a city (--city, 6-digit code)", field="city")
        lookup_city(city_code, field="city")
    if who is not None:
        if org_row is not None and role in ORG_ROLES and who.role is Role.ORG_ADMIN:
            authorize(who, Action.MANAGE, Resource(Kind.USER, org_id=OrgId(org_row.id)))
            if role is Role.OPERATOR and who.org_id != org_row.id:
                raise not_found(Kind.ORGANIZATION)
        else:
            require_role(who)  # only admins create accounts outside their own organization
    session = uow.session
    taken = select(UserRow).where(func.lower(UserRow.username) == name.lower())
    if session.execute(taken).scalar() is not None:
        raise ConflictError(f"username {name!r} is taken", field="username")
    row = UserRow(
        username=name,
        display_name=display_name or name,
        password_hash=hash_password(password),
        role=str(role),
        org_id=org_row.id if org_row is not None else None,
        city_code=city_code,
        active=True,
        created_at=now,
    )
    session.add(row)
    session.flush()
    actor = who.username if who is not None else "system"
    audit.record(uow, now, actor, "user.create", f"user:{row.id}", {"username": name, "role": str(role)})
    return UserView.of(row)


def list_users(uow: UnitOfWork, who: Principal) -> list[UserView]:
    query = select(UserRow).order_by(UserRow.id)
    if who.role in {Role.ADMIN, Role.PROVINCE}:
        pass
    elif who.role is Role.ORG_ADMIN and who.org_id is not None:
        query = query.where(UserRow.org_id == who.org_id)
    elif who.user_id is not None:
        query = query.where(UserRow.id == who.user_id)
    else:
        return []
    return [UserView.of(r) for r in uow.session.execute(query).scalars()]


def find_user(uow: UnitOfWork, username: str) -> UserRow:
    name = unicodedata.normalize("NFKC", username).strip()
    row = (
        uow.session.execute(select(UserRow).where(UserRow.username == name)).scalar()
        if _storable(name)
        else None
    )
    if row is None:
        raise not_found(Kind.USER)
    return row


def create_token(uow: UnitOfWork, who: Principal | None, username: str, name: str, now: dt.datetime) -> str:
    """Issue an API token for ``username``; the plain token is returned once and never stored."""
    user = find_user(uow, username)
    if who is not None:
        try:
            authorize(
                who,
                Action.WRITE,
                Resource(
                    Kind.TOKEN, org_id=OrgId(user.org_id) if user.org_id else None, user_id=UserId(user.id)
                ),
            )
        except NotFoundError:  # another organization's account answers as a missing one
            raise not_found(Kind.USER) from None
    name = clean_name(name, "name", max_length=100)
    if not name:
        raise ValidationError("a token needs a name", field="name")
    token = new_token()
    uow.session.add(
        ApiTokenRow(
            user_id=user.id,
            name=name.strip(),
            prefix=token[:10],
            token_hash=token_hash(token),
            created_at=now,
        )
    )
    uow.session.flush()
    audit.record(uow, now, who.username if who else "cli", "token.create", f"user:{user.id}", {"name": name})
    return token


#: how stale a token's ``last_used_at`` may be before a request records it again
TOKEN_TOUCH = dt.timedelta(minutes=1)


def authenticate_token(uow: UnitOfWork, token: str, now: dt.datetime) -> tuple[UserView, int | None]:
    """The token's account, and the token's id when its last use should be recorded (at most once a
    minute, by :func:`touch_token` in a transaction of its own: reading never writes)."""
    user, token_id, last_used = _token_account(uow, token_hash(token.strip()))
    return user, token_id if _stale(last_used, now) else None


def _stale(last_used: dt.datetime | None, now: dt.datetime) -> bool:
    return last_used is None or now - last_used >= TOKEN_TOUCH


def _token_account(uow: UnitOfWork, key: str) -> tuple[UserView, int, dt.datetime | None]:
    """The account of the live token whose hash is ``key``, the token's id and its last recorded use."""
    found = uow.session.connection().execute(_TOKEN_ACCOUNT, {"hash": key}).first()
    if found is None:
        raise AuthenticationError("unknown or revoked token")
    token_id, last_used, user_id, username, display_name, role, org_id, city_code, active = found
    if not active:
        raise AuthenticationError("the token's account is disabled")
    user = UserView(
        id=UserId(user_id),
        username=username,
        display_name=display_name,
        role=Role(role),
        org_id=OrgId(org_id) if org_id is not None else None,
        city_code=city_code,
        active=active,
    )
    return user, token_id, last_used


#: a token's account by the token's hash (columns, not ORM rows: every API request runs it)
_TOKEN_ACCOUNT = (
    select(
        ApiTokenRow.id,
        ApiTokenRow.last_used_at,
        UserRow.id,
        UserRow.username,
        UserRow.display_name,
        UserRow.role,
        UserRow.org_id,
        UserRow.city_code,
        UserRow.active,
    )
    .join(UserRow, UserRow.id == ApiTokenRow.user_id)
    .where(ApiTokenRow.token_hash == bindparam("hash"), ApiTokenRow.revoked.is_(False))
)
#: the count of changes to accounts and tokens (migration core_0004: the database's triggers keep it)
_ACCOUNT_CHANGES = "SELECT count FROM account_changes WHERE id = 1"


@dataclass(slots=True)
class _Seen:
    """A token's account as read when the accounts had seen ``changes`` changes."""

    changes: int
    user: UserView
    token_id: int
    last_used: dt.datetime | None


class TokenAccounts:
    """The accounts of the API tokens one process has seen, keyed by the token's SHA-256.

    Each request reads the count of changes to accounts and tokens (one small query); a token seen
    when the count was the same is answered from memory. Any change that could change what a token
    stands for (revoked, its account disabled, given another role, organization or city, deleted)
    raises the count in its own transaction, so the very next request of any process reads the
    token again. Only live tokens are kept: an unknown or revoked one is looked up every time.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._seen: dict[str, _Seen] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def authenticate(self, uow: UnitOfWork, token: str, now: dt.datetime) -> tuple[UserView, int | None]:
        """As :func:`authenticate_token`; call :meth:`touched` once the token's use is recorded."""
        key = token_hash(token.strip())
        changes = uow.session.connection().exec_driver_sql(_ACCOUNT_CHANGES).scalar()
        seen = self._seen.get(key)
        if seen is None or changes is None or seen.changes != changes:
            try:
                user, token_id, last_used = _token_account(uow, key)
            except AuthenticationError:
                with self._lock:  # revoked or disabled: forget what it was
                    self._seen.pop(key, None)
                raise
            if changes is None:  # no count to check against (its row is gone): keep nothing
                return user, token_id if _stale(last_used, now) else None
            seen = _Seen(int(changes), user, token_id, last_used)
            with self._lock:
                if key not in self._seen and len(self._seen) >= self._limit:
                    self._seen.pop(next(iter(self._seen)))  # the oldest (changes only under the lock)
                self._seen[key] = seen
        return seen.user, seen.token_id if _stale(seen.last_used, now) else None

    def touched(self, token: str, now: dt.datetime) -> None:
        """The token's use at ``now`` is recorded: the next minute's requests need not record it."""
        seen = self._seen.get(token_hash(token.strip()))
        if seen is not None and (seen.last_used is None or seen.last_used < now):
            seen.last_used = now


def touch_token(uow: UnitOfWork, token_id: int, now: dt.datetime) -> None:
    """Record a token's last use (a short transaction of its own; losing it to a busy database is fine).

    A token another transaction is recording right now is skipped, not waited for (PostgreSQL: its
    row is taken ``FOR UPDATE SKIP LOCKED``): many requests with one token never queue behind it.
    """
    stale = (
        select(ApiTokenRow.id)
        .where(ApiTokenRow.id == token_id)
        .where(or_(ApiTokenRow.last_used_at.is_(None), ApiTokenRow.last_used_at <= now - TOKEN_TOUCH))
        .with_for_update(skip_locked=True)
    )
    uow.session.execute(update(ApiTokenRow).where(ApiTokenRow.id.in_(stale)).values(last_used_at=now))


def authenticate_password(uow: UnitOfWork, username: str, password: str) -> UserView:
    """A password check without throttling or a session (the CLI's); pages log in through
    :func:`zhisuan.accounts.sessions.login`."""
    row = uow.session.execute(select(UserRow).where(UserRow.username == username.strip())).scalar()
    if row is None or not row.active or not verify_password(row.password_hash, password):
        raise AuthenticationError("wrong username or password")
    return UserView.of(row)


def end_sessions_of(uow: UnitOfWork, user_id: int) -> int:
    """End every web session of an account (disabled, new role, new password); how many there were."""
    result = uow.session.execute(delete(WebSessionRow).where(WebSessionRow.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def _managed_user(uow: UnitOfWork, who: Principal, username: str) -> UserRow:
    """An account ``who`` may manage: admins any; an org admin its organization's members (roles stay
    the admin's); the provincial office reads accounts but may not change them; others: not found."""
    row = find_user(uow, username)
    if who.role is Role.ADMIN:
        return row
    if (
        who.role is Role.ORG_ADMIN
        and who.org_id is not None
        and row.org_id == who.org_id
        and Role(row.role) in ORG_ROLES
    ):
        return row
    if who.role is None:
        raise AuthenticationError("log in or send a bearer token")
    if who.role is Role.PROVINCE:
        raise PermissionDeniedError("only an administrator changes accounts")
    raise not_found(Kind.USER)


def set_active(uow: UnitOfWork, who: Principal, username: str, active: bool, now: dt.datetime) -> UserView:
    """Disable (sessions end, tokens stop working) or enable an account."""
    row = _managed_user(uow, who, username)
    if not active and who.user_id is not None and row.id == who.user_id:
        raise ValidationError("you cannot disable your own account", field="username")
    changed = row.active != active
    row.active = active
    ended = 0 if active else end_sessions_of(uow, row.id)
    uow.session.flush()
    if changed:
        action = "user.enable" if active else "user.disable"
        detail = {"username": row.username, "ended_sessions": ended}
        audit.record(uow, now, who.username, action, f"user:{row.id}", detail)
    return UserView.of(row)


def change_role(
    uow: UnitOfWork,
    who: Principal,
    username: str,
    role: Role,
    now: dt.datetime,
    *,
    org: str | int | None = None,
    city_code: str | None = None,
) -> UserView:
    """Give an account another role (admins only); its sessions end, so the new role applies at once."""
    require_role(who)
    row = find_user(uow, username)
    org_row = find_org(uow, org) if org is not None else (_org_row(uow, row.org_id) if row.org_id else None)
    if role in ORG_ROLES and org_row is None:
        raise ValidationError(f"role {role} needs an organization (--org)", field="org")
    if role is Role.OPERATOR and org_row is not None and org_row.kind != OrgKind.CENTER_OPERATOR:
        raise ValidationError("role operator needs a center-operator organization", field="org")
    city = city_code or row.city_code
    if role is Role.CITY:
        if city is None:
            raise ValidationError("role city needs a city (--city, 6-digit code)", field="city")
        lookup_city(city, field="city")
    old = row.role
    row.role = str(role)
    row.org_id = org_row.id if org_row is not None and role in ORG_ROLES else None
    row.city_code = city if role is Role.CITY else None
    ended = end_sessions_of(uow, row.id)
    uow.session.flush()
    audit.record(
        uow,
        now,
        who.username,
        "user.role",
        f"user:{row.id}",
        {"username": row.username, "from": old, "to": str(role), "org": row.org_id, "ended_sessions": ended},
    )
    return UserView.of(row)


def reset_password(
    uow: UnitOfWork, who: Principal, username: str, now: dt.datetime, password: str | None = None
) -> str:
    """Set a new password (given, or generated and returned once); the account's sessions end."""
    row = _managed_user(uow, who, username)
    secret = password or new_password()
    row.password_hash = hash_password(secret)
    ended = end_sessions_of(uow, row.id)
    uow.session.flush()
    detail = {"username": row.username, "ended_sessions": ended}
    audit.record(uow, now, who.username, "user.password", f"user:{row.id}", detail)
    return secret


def user_principal(uow: UnitOfWork, username: str) -> Principal:
    return UserView.of(find_user(uow, username)).principal()


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked": self.revoked,
        }


def list_tokens(uow: UnitOfWork, who: Principal) -> list[TokenView]:
    """The caller's own API tokens (never the secrets themselves)."""
    if who.user_id is None:
        return []
    rows = uow.session.execute(
        select(ApiTokenRow).where(ApiTokenRow.user_id == who.user_id).order_by(ApiTokenRow.id)
    ).scalars()
    return [TokenView(r.id, r.name, r.prefix, r.created_at, r.last_used_at, r.revoked) for r in rows]


def revoke_token(uow: UnitOfWork, who: Principal, token_id: int, now: dt.datetime) -> None:
    """Revoke one of the caller's tokens (admins: anyone's)."""
    row = uow.session.get(ApiTokenRow, token_id)
    if row is None:
        raise not_found(Kind.TOKEN)
    owner = uow.session.get(UserRow, row.user_id)
    authorize(
        who,
        Action.WRITE,
        Resource(
            Kind.TOKEN,
            org_id=OrgId(owner.org_id) if owner is not None and owner.org_id else None,
            user_id=UserId(row.user_id),
        ),
    )
    row.revoked = True
    audit.record(uow, now, who.username, "token.revoke", f"user:{row.user_id}", {"token": row.prefix})
