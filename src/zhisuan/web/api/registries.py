"""API: the registries of art. 6–15, the scenario bulletins and rankings, and matching for key enterprises.

Every registry is reached alike: ``GET /registries/{name}`` lists (filter by any field as a query
parameter, ``q`` searches titles, ``sort`` names a field, ``-`` first for descending), ``POST`` adds,
``PATCH /registries/{name}/{id}`` changes, ``POST …/import`` takes a CSV or Excel file (all rows or none),
``GET …/export`` gives one with Chinese headers. Public registries are read by everybody; writing is for
the province, administrators and a city official in its own city. Amounts are decimal strings of yuan.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal
from zhisuan.core.errors import ValidationError
from zhisuan.matching import services as matching
from zhisuan.opendata.fit import OpenCatalog
from zhisuan.registries import bulletins, services, tabular
from zhisuan.store.uow import UnitOfWork
from zhisuan.web.api._common import committed
from zhisuan.web.deps import IntRowId, LoginDep, PlatformDep, PrincipalDep, UowDep
from zhisuan.web.downloads import attachment

router = APIRouter(tags=["registries"])

Registry = Literal[
    "scenarios",
    "products",
    "enterprises",
    "parks",
    "competitions",
    "talents",
    "startups",
    "funds",
    "standards",
    "trainings",
]
#: query parameters of a listing that are not field filters
RESERVED = frozenset({"q", "sort", "limit", "offset", "format", "lang"})


class BulletinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["quarterly", "annual"]
    period: str = Field(description="2025Q3 for a quarter, 2025 for a year", max_length=8)


def _filters(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in RESERVED}


@router.get("/registries")
def list_registries() -> dict[str, object]:
    """The ten registries: their fields (labels in both languages, types, choices), scope and public flag."""
    return {"registries": services.registries()}


@router.get("/registries/{name}")
def list_entries(
    name: Registry,
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    q: str | None = Query(default=None, max_length=200, description="text in the title"),
    sort: str | None = Query(default=None, max_length=64, description="a field; '-' first for descending"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=10**7),
) -> dict[str, object]:
    """One page of a registry's entries the caller may see; any other query parameter filters a field."""
    return services.list_entries(
        uow,
        who,
        platform.packs.current(),
        platform.clock.now(),
        name,
        filters=_filters(request),
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )


@router.post("/registries/{name}", status_code=201)
def create_entry(
    name: Registry,
    who: LoginDep,
    uow: UowDep,
    platform: PlatformDep,
    body: Annotated[dict[str, Any], Body(description="field name → value (see GET /registries)")],
) -> dict[str, object]:
    """Add an entry (province, administrators, or a city official in its own city)."""
    return committed(
        uow, services.create_entry(uow, who, platform.packs.current(), platform.clock, name, body)
    )


@router.get("/registries/{name}/export", response_class=Response)
def export_entries(
    name: Registry,
    request: Request,
    who: PrincipalDep,
    uow: UowDep,
    platform: PlatformDep,
    format: Literal["csv", "xlsx"] = "xlsx",
) -> Response:
    """The entries the caller may see as CSV or Excel, with Chinese headers (filters as for the listing)."""
    filename, ctype, data = services.export(uow, who, platform.clock.now(), name, format, _filters(request))
    return attachment(data, filename, ctype)


@router.post("/registries/{name}/import")
async def import_entries(
    name: Registry, file: UploadFile, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Add entries from a CSV or Excel file (an ``id`` column changes those entries instead); a bad row is
    named by its line and column and nothing is written."""
    data = await file.read(tabular.MAX_BYTES + 1)
    return committed(
        uow, services.import_file(uow, who, platform.packs.current(), platform.clock, name, data)
    )


@router.get("/registries/{name}/{entry_id}")
def get_entry(
    name: Registry, entry_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """One entry, with what its registry computes (a park's share, a fund's scale, a standard's award)."""
    return services.get_entry(uow, who, platform.packs.current(), platform.clock.now(), name, entry_id)


@router.patch("/registries/{name}/{entry_id}")
def update_entry(
    name: Registry,
    entry_id: IntRowId,
    who: LoginDep,
    uow: UowDep,
    platform: PlatformDep,
    body: Annotated[dict[str, Any], Body(description="the fields to change; 'version' guards lost updates")],
) -> dict[str, object]:
    """Change fields of an entry the caller may write."""
    fields = dict(body)
    version = fields.pop("version", None)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationError("the entry's version, a whole number", field="version")
    return committed(
        uow,
        services.update_entry(
            uow, who, platform.packs.current(), platform.clock, name, entry_id, fields, version=version
        ),
    )


@router.get("/registries/standards/{entry_id}/award")
def standard_award(
    entry_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """What art. 14 allows for the standard now: one award per standard, counted from the awards workflow."""
    return services.standard_award_check(uow, who, platform.packs.current(), platform.clock.now(), entry_id)


# scenario bulletins and rankings (art. 6) ---------------------------------------------------------


@router.get("/scenario-bulletins")
def list_bulletins(who: PrincipalDep, uow: UowDep) -> dict[str, object]:
    """Published quarterly bulletins and annual rankings (officials also see drafts)."""
    return {"bulletins": bulletins.list_bulletins(uow, who)}


@router.post("/scenario-bulletins", status_code=201)
def draft_bulletin(body: BulletinIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Start a quarterly bulletin or an annual ranking (province users)."""
    return committed(uow, bulletins.draft_bulletin(uow, who, platform.clock, body.kind, body.period))


@router.get("/scenario-bulletins/{bulletin_id}")
def get_bulletin(bulletin_id: IntRowId, who: PrincipalDep, uow: UowDep) -> dict[str, object]:
    """A bulletin: per city and department, scenarios opened, matched and completed, ranked."""
    return bulletins.get_bulletin(uow, who, bulletin_id)


@router.post("/scenario-bulletins/{bulletin_id}/publish")
def publish_bulletin(
    bulletin_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Publish a bulletin once its period has ended: its figures are frozen (province users)."""
    return committed(uow, bulletins.publish_bulletin(uow, who, platform.clock, bulletin_id))


# matching (art. 8) ---------------------------------------------------------------------------------


@router.get("/matching/{enterprise_id}")
def match(enterprise_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Ranked suggestions for a key enterprise: compute pools with free cards and their price after
    vouchers today, open datasets, open scenarios, funds and park sites, each with its reason."""
    return suggestions(uow, who, platform, enterprise_id)


def suggestions(uow: UnitOfWork, who: Principal, platform: Platform, enterprise_id: int) -> dict[str, object]:
    """Matching's suggestions with the open-data catalog plugged in (the API and the page alike)."""
    packs, now = platform.packs.current(), platform.clock.now()
    return matching.suggest(uow, who, packs, platform.vouchers, now, enterprise_id, datasets=OpenCatalog(uow))
