"""Roles, scopes and the one function that decides every access.

Every API route, page and CLI command that touches scoped data asks :func:`authorize` (one resource)
or :func:`visible_scope` (a listing). A resource of another organization is *not found* to a caller
who may not read it, so that its existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from zhisuan.core.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from zhisuan.core.ids import OrgId, UserId


class Role(StrEnum):
    USER = "user"  # member of an organization
    ORG_ADMIN = "org_admin"  # manages an organization's users and tokens
    OPERATOR = "operator"  # staff of a center operator organization
    CITY = "city"  # a city government official
    PROVINCE = "province"  # provincial working group (专班) and departments
    FINANCE = "finance"  # provincial finance department
    DATA_BUREAU = "data_bureau"  # runs the platform and the open-data catalog
    ADMIN = "admin"  # platform administrator


ORG_SCOPED = frozenset({Role.USER, Role.ORG_ADMIN, Role.OPERATOR})


class Action(StrEnum):
    READ = "read"
    WRITE = "write"  # create or change
    MANAGE = "manage"  # administer (users, tokens, configuration)


class Kind(StrEnum):
    """Kinds of resources; what each role may do is decided per kind."""

    REFERENCE = "reference"  # cities, catalog: public
    POLICY = "policy"  # packs and evaluation: public read
    CENTER = "center"  # centers and pools: public read, operators write their own
    ENGINE = "engine"  # a center's engine health and capacity: staff, its city and its operator
    ORGANIZATION = "organization"
    USER = "user"
    TOKEN = "token"  # noqa: S105  (a resource kind, not a secret)
    JOB = "job"
    USAGE = "usage"
    BILL = "bill"
    VOUCHER = "voucher"
    LEDGER = "ledger"
    BUDGET = "budget"
    APPLICATION = "application"
    AUDIT = "audit"
    REGISTRY = "registry"  # an entry of the art. 6–15 registries: a city writes its own city's


PUBLIC_READ = frozenset({Kind.REFERENCE, Kind.POLICY, Kind.CENTER})
MONEY = frozenset({Kind.BILL, Kind.VOUCHER, Kind.LEDGER, Kind.BUDGET, Kind.USAGE})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user with a role and its scope (organization or city)."""

    user_id: UserId | None
    username: str
    role: Role | None
    org_id: OrgId | None = None
    city_code: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.role is not None


ANONYMOUS = Principal(user_id=None, username="anonymous", role=None)


@dataclass(frozen=True, slots=True)
class Resource:
    """What is being accessed, with the scope facts the decision needs."""

    kind: Kind
    org_id: OrgId | None = None  # the owning organization (a job's submitter, a bill's payer …)
    city_code: str | None = None  # the city the resource belongs to
    operator_org_id: OrgId | None = None  # the center operator it ran on / belongs to
    user_id: UserId | None = None  # for users and tokens: whose


def can(who: Principal, action: Action, res: Resource) -> bool:
    """Whether ``who`` may do ``action`` on ``res``."""
    role = who.role
    if action is Action.READ and res.kind in PUBLIC_READ:
        return True
    if role is None:
        return False
    if role is Role.ADMIN:
        return True
    if role is Role.PROVINCE:
        return action is Action.READ or res.kind in {Kind.POLICY, Kind.APPLICATION, Kind.REGISTRY}
    if role is Role.FINANCE:
        return action is Action.READ or res.kind in {Kind.LEDGER, Kind.BUDGET, Kind.VOUCHER, Kind.BILL}
    if role is Role.DATA_BUREAU:
        return action is Action.READ or res.kind in {Kind.CENTER, Kind.ORGANIZATION}
    if role is Role.CITY:
        in_city = who.city_code is not None and res.city_code == who.city_code
        return in_city and (action is Action.READ or res.kind in {Kind.APPLICATION, Kind.REGISTRY})
    # organization-scoped roles
    if res.kind in {Kind.USER, Kind.TOKEN}:
        if res.user_id is not None and res.user_id == who.user_id:
            return action is not Action.MANAGE or role is Role.ORG_ADMIN
        return role is Role.ORG_ADMIN and who.org_id is not None and res.org_id == who.org_id
    own = who.org_id is not None and res.org_id == who.org_id
    if role is Role.OPERATOR:
        operates = who.org_id is not None and res.operator_org_id == who.org_id
        if res.kind is Kind.CENTER:
            return operates or (own and action is not Action.MANAGE)
        if res.kind is Kind.ENGINE:
            return operates and action is Action.READ
        if res.kind in {Kind.JOB, Kind.USAGE, Kind.BILL} and operates:
            return action is Action.READ or res.kind is Kind.BILL
    if not own:
        return False
    if res.kind is Kind.ORGANIZATION:
        return action is Action.READ or role is Role.ORG_ADMIN
    if res.kind in {Kind.LEDGER, Kind.BUDGET, Kind.AUDIT}:
        return False
    if res.kind in {Kind.VOUCHER, Kind.USAGE}:
        return action is Action.READ
    if res.kind is Kind.BILL:
        return action is Action.READ or (action is Action.WRITE and role is Role.ORG_ADMIN)
    if res.kind is Kind.REGISTRY:  # an organization reads the entries that name it; officials write them
        return action is Action.READ
    return res.kind in {Kind.JOB, Kind.APPLICATION}


_NOT_FOUND: dict[Kind, tuple[str, str]] = {
    Kind.ORGANIZATION: ("no such organization (give its id, credit code or name)", "org"),
    Kind.JOB: ("no such job", "job"),
    Kind.USER: ("no such user", "username"),
    Kind.TOKEN: ("no such token", "token"),
    Kind.BILL: ("no such bill", "bill"),
    Kind.REGISTRY: ("no such entry", "entry_id"),
}


def not_found(kind: Kind) -> NotFoundError:
    """The one answer for "missing" and "not yours", so that an answer never tells them apart.

    >>> str(not_found(Kind.JOB))
    'job: no such job'
    """
    message, field = _NOT_FOUND.get(kind, (f"no such {kind}", str(kind)))
    return NotFoundError(message, field=field)


def authorize(who: Principal, action: Action, res: Resource) -> None:
    """Raise unless ``who`` may do ``action`` on ``res``.

    Unauthenticated callers get 401 for non-public things; a caller who may not even read the
    resource gets 404 (its existence is not disclosed); one who may read but not act gets 403.
    """
    if can(who, action, res):
        return
    if not who.authenticated:
        raise AuthenticationError("log in or send a bearer token")
    if action is not Action.READ and can(who, Action.READ, res):
        raise PermissionDeniedError(f"role {who.role} may not {action} this {res.kind}")
    raise not_found(res.kind)


def require_role(who: Principal, *roles: Role) -> None:
    """Raise unless the caller has one of ``roles`` (admin always passes)."""
    if not who.authenticated:
        raise AuthenticationError("log in or send a bearer token")
    if who.role is Role.ADMIN or who.role in roles:
        return
    raise PermissionDeniedError(f"this needs one of the roles: {', '.join(roles)}")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows of a kind a caller may list: everything, or rows of some orgs / one city."""

    everything: bool = False
    org_ids: frozenset[OrgId] = frozenset()
    operator_org_ids: frozenset[OrgId] = frozenset()
    city_code: str | None = None
    nothing: bool = False


def visible_scope(who: Principal, kind: Kind) -> Scope:
    """The listing filter matching :func:`can` for reads of ``kind``."""
    if kind in PUBLIC_READ:
        return Scope(everything=True)
    role = who.role
    if role is None:
        return Scope(nothing=True)
    if role in {Role.ADMIN, Role.PROVINCE, Role.FINANCE, Role.DATA_BUREAU}:
        return Scope(everything=True)
    if role is Role.CITY:
        return Scope(city_code=who.city_code) if who.city_code else Scope(nothing=True)
    if who.org_id is None:
        return Scope(nothing=True)
    if kind in {Kind.LEDGER, Kind.BUDGET, Kind.AUDIT}:
        return Scope(nothing=True)
    own = frozenset({who.org_id})
    if kind is Kind.ENGINE:
        return Scope(operator_org_ids=own) if role is Role.OPERATOR else Scope(nothing=True)
    if role is Role.OPERATOR and kind in {Kind.JOB, Kind.USAGE, Kind.BILL}:
        return Scope(org_ids=own, operator_org_ids=own)
    return Scope(org_ids=own)
