"""API: reference data (cities, catalog), organizations, users, tokens, the caller."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from zhisuan import accounts, audit
from zhisuan.core.access import Role, require_role
from zhisuan.core.catalog import capacity_p, catalog
from zhisuan.core.ids import MAX_ID
from zhisuan.core.regions import regions
from zhisuan.core.text import Name
from zhisuan.web.deps import LoginDep, PlatformDep, UowDep

router = APIRouter()


class CityOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    region: str
    northern_anhui: bool


class AcceleratorOut(BaseModel):
    key: str
    vendor: str
    model: str
    domestic: bool
    memory_gb: int | None
    fp16_tflops: str | None = Field(description="Peak dense FP16/BF16 tensor TFLOPS, decimal string")
    p_per_card: str | None = Field(description="Capacity of one card in P (PFLOPS)")
    source: str


class OrgOut(BaseModel):
    id: int
    name: str
    name_en: str | None
    credit_code: str
    kind: str
    city_code: str | None
    in_province: bool


class OwnershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: Name = Field(max_length=200, description="Owner: id, credit code or name")
    percent: Name = Field(
        max_length=64, description="Shareholding in percent, decimal string", examples=["35"]
    )
    controls: bool = False


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Name = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=1024)
    role: Role
    display_name: Name | None = Field(default=None, max_length=200)
    org: Name | None = Field(default=None, max_length=200)
    city_code: Name | None = Field(default=None, max_length=6)


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    org_id: int | None
    city_code: str | None
    active: bool


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=100)
    username: Name | None = Field(
        default=None, max_length=64, description="Whose token (default: the caller)"
    )


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is stored")


@router.get("/cities", tags=["reference"])
def list_cities() -> list[CityOut]:
    return [
        CityOut(
            code=c.code, name_zh=c.name_zh, name_en=c.name_en, region=r.code, northern_anhui=c.northern_anhui
        )
        for r in regions()
        for c in r.cities
    ]


@router.get("/catalog", tags=["reference"])
def list_catalog() -> list[AcceleratorOut]:
    return [
        AcceleratorOut(
            key=a.key,
            vendor=a.vendor,
            model=a.model,
            domestic=a.domestic,
            memory_gb=a.memory_gb,
            fp16_tflops=str(a.fp16_tflops) if a.fp16_tflops is not None else None,
            p_per_card=str(capacity_p([(a.key, 1)])) if a.rated else None,
            source=a.source,
        )
        for a in catalog()
    ]


@router.get("/me", tags=["accounts"])
def me(who: LoginDep) -> dict[str, Any]:
    return {
        "username": who.username,
        "role": str(who.role),
        "org_id": who.org_id,
        "city_code": who.city_code,
    }


@router.get("/orgs", tags=["organizations"])
def list_orgs(uow: UowDep, who: LoginDep) -> list[OrgOut]:
    return [OrgOut.model_validate(o.as_dict()) for o in accounts.list_orgs(uow, who)]


@router.post("/orgs", tags=["organizations"], status_code=201)
def create_org(body: accounts.OrgInput, uow: UowDep, who: LoginDep, platform: PlatformDep) -> OrgOut:
    view = accounts.create_org(uow, who, body, platform.clock.now())
    uow.commit()
    return OrgOut.model_validate(view.as_dict())


@router.get("/orgs/{ref}", tags=["organizations"])
def get_org(ref: str, uow: UowDep, who: LoginDep) -> OrgOut:
    return OrgOut.model_validate(accounts.get_org(uow, who, ref).as_dict())


@router.post("/orgs/{ref}/owners", tags=["organizations"], status_code=201)
def add_owner(
    ref: str, body: OwnershipIn, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> dict[str, Any]:
    accounts.add_ownership(
        uow, who, body.owner, ref, body.percent, platform.clock.now(), controls=body.controls
    )
    uow.commit()
    return {"owned": ref, "owner": body.owner, "percent": body.percent, "controls": body.controls}


@router.get("/orgs/{ref}/related", tags=["organizations"])
def related_parties(ref: str, uow: UowDep, who: LoginDep) -> list[OrgOut]:
    view = accounts.get_org(uow, who, ref)
    graph = accounts.ownership_graph(uow)
    return [
        OrgOut.model_validate(o.as_dict())
        for o in accounts.list_orgs(uow, who)
        if o.id != view.id and graph.related(view.id, o.id)
    ]


@router.get("/users", tags=["accounts"])
def list_users(uow: UowDep, who: LoginDep) -> list[UserOut]:
    return [UserOut.model_validate(u.as_dict()) for u in accounts.list_users(uow, who)]


@router.post("/users", tags=["accounts"], status_code=201)
def create_user(body: UserIn, uow: UowDep, who: LoginDep, platform: PlatformDep) -> UserOut:
    view = accounts.add_user(
        uow,
        who,
        username=body.username,
        password=body.password,
        role=body.role,
        now=platform.clock.now(),
        display_name=body.display_name,
        org=body.org,
        city_code=body.city_code,
    )
    uow.commit()
    return UserOut.model_validate(view.as_dict())


@router.post("/tokens", tags=["accounts"], status_code=201)
def create_token(body: TokenIn, uow: UowDep, who: LoginDep, platform: PlatformDep) -> TokenOut:
    token = accounts.create_token(uow, who, body.username or who.username, body.name, platform.clock.now())
    uow.commit()
    return TokenOut(token=token)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    org: Name | None = Field(default=None, max_length=200, description="Organization for org roles")
    city_code: Name | None = Field(default=None, max_length=6, description="City for role city")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(
        default=None, min_length=8, max_length=1024, description="The new password (default: generated)"
    )


class PasswordOut(BaseModel):
    password: str = Field(description="The new password, shown once")


class AuditEventOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]
    hash: str


class AuditVerdictOut(BaseModel):
    intact: bool
    checked: int
    broken_at: int | None
    problem: str | None


UsernamePath = Annotated[str, PathParam(min_length=1, max_length=64)]


@router.post("/users/{username}/disable", tags=["accounts"])
def disable_user(username: UsernamePath, uow: UowDep, who: LoginDep, platform: PlatformDep) -> UserOut:
    """Disable an account: its sessions end and its tokens stop working (admins; org admins: members)."""
    view = accounts.set_active(uow, who, username, False, platform.clock.now())
    uow.commit()
    return UserOut.model_validate(view.as_dict())


@router.post("/users/{username}/enable", tags=["accounts"])
def enable_user(username: UsernamePath, uow: UowDep, who: LoginDep, platform: PlatformDep) -> UserOut:
    view = accounts.set_active(uow, who, username, True, platform.clock.now())
    uow.commit()
    return UserOut.model_validate(view.as_dict())


@router.put("/users/{username}/role", tags=["accounts"])
def change_role(
    username: UsernamePath, body: RoleIn, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> UserOut:
    """Give an account another role (admins); its sessions end so the new role applies at once."""
    view = accounts.change_role(
        uow, who, username, body.role, platform.clock.now(), org=body.org, city_code=body.city_code
    )
    uow.commit()
    return UserOut.model_validate(view.as_dict())


@router.post("/users/{username}/password", tags=["accounts"])
def reset_password(
    username: UsernamePath, body: PasswordIn, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> PasswordOut:
    """Set a new password (given or generated, shown once); the account's sessions end."""
    secret = accounts.reset_password(uow, who, username, platform.clock.now(), body.password)
    uow.commit()
    return PasswordOut(password=secret)


@router.get("/audit", tags=["audit"])
def audit_log(
    uow: UowDep,
    who: LoginDep,
    action: Annotated[str | None, Query(max_length=64, description="action prefix, e.g. bill.")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=128, description="e.g. bill:12")] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="events before this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventOut]:
    """The audit log, newest first (administrators and the provincial office)."""
    events = audit.list_events(
        uow, who, action=action, actor=actor, subject=subject, before_id=before, limit=limit
    )
    return [AuditEventOut.model_validate(e.as_dict()) for e in events]


@router.get("/audit/verify", tags=["audit"])
def audit_verify(uow: UowDep, who: LoginDep) -> AuditVerdictOut:
    """Recompute the keyed chain and compare it with its signed head."""
    require_role(who, *audit.READERS)
    v = audit.verify(uow)
    return AuditVerdictOut(intact=v.intact, checked=v.checked, broken_at=v.broken_at, problem=v.problem)
