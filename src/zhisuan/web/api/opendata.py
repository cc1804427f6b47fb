"""API: the open-data catalog (art. 3) and data suppliers (art. 4).

Public: search and list (``GET /opendata/datasets?q=``, with facets), a dataset, its DCAT-AP JSON-LD,
the whole catalog as DCAT-AP (``/opendata/catalog.jsonld``), CSV and Excel exports, published
bulletins, unconditional downloads. Publishers and the data bureau manage entries and answer requests;
organizations request conditional data; the services check every role and scope.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from zhisuan.opendata import bulletins, catalog, dcat, distributions, imports, sharing, suppliers
from zhisuan.opendata.search import Filters
from zhisuan.web.api._common import committed
from zhisuan.web.deps import IntRowId, LoginDep, PlatformDep, PrincipalDep, UowDep
from zhisuan.web.downloads import CSV, XLSX, attachment

router = APIRouter(tags=["opendata"])
JSONLD = "application/ld+json"
MAX_UPLOAD = 50 * 1024 * 1024


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    description: str
    themes: list[str]
    keywords: list[str] = Field(default_factory=list)
    openness: Literal["unconditional", "conditional", "not_open"]
    conditions: str | None = None
    formats: list[str]
    update_frequency: str
    records: int | None = None
    byte_size: int | None = None
    contact_name: str
    contact_email: str
    publisher: str | None = Field(default=None, description="data bureau only: city:CODE or org:ID")
    publish: bool = False


class DatasetPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    description: str | None = None
    themes: list[str] | None = None
    keywords: list[str] | None = None
    openness: Literal["unconditional", "conditional", "not_open"] | None = None
    conditions: str | None = None
    formats: list[str] | None = None
    update_frequency: str | None = None
    records: int | None = None
    byte_size: int | None = None
    contact_name: str | None = None
    contact_email: str | None = None


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["published", "withdrawn"]


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    format: str
    access_url: str


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: str


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["grant", "refuse"]
    conditions: str | None = None
    expires_on: str | None = Field(
        default=None, description="the grant's last day, YYYY-MM-DD (Asia/Shanghai)"
    )
    reason: str | None = None


class SupplierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    credit_code: str
    city: str
    services: list[Literal["collection", "cleaning", "labelling"]]
    in_province: bool | None = None


class RatioIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str
    year: int
    ratio: str = Field(description="'5%', '0.05' or '1/20'")


class TierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: str | int
    reward: str | int


class TiersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int
    tiers: list[TierIn]


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year: int
    call_id: int = Field(ge=1, le=2**31 - 1)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _published(uow: UowDep) -> list[dict[str, object]]:
    return catalog.published_catalog(uow)


# the catalog --------------------------------------------------------------------------------------


@router.get("/opendata/datasets")
def find_datasets(
    uow: UowDep,
    q: str | None = Query(default=None, max_length=100, description="words to search (Chinese or not)"),
    publisher: str | None = Query(default=None, max_length=32),
    theme: str | None = Query(default=None, max_length=32),
    openness: str | None = Query(default=None, max_length=16),
    format: str | None = Query(default=None, max_length=8),
    limit: int = Query(default=20, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=100_000),
) -> dict[str, object]:
    """Search the published catalog (without ``q``: the list), best first, with facet counts (public)."""
    return catalog.find_datasets(
        uow, q, Filters(publisher, theme, openness, format), limit=limit, offset=offset
    )


@router.post("/opendata/datasets", status_code=201)
def create_dataset(body: DatasetIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """A new entry of the caller's publisher (a city's users, a department's members, the data bureau)."""
    data = body.model_dump(exclude={"publish"})
    return committed(uow, catalog.create_dataset(uow, who, platform.clock, data, publish=body.publish))


@router.get("/opendata/datasets/mine")
def managed_datasets(who: LoginDep, uow: UowDep, state: str | None = None) -> dict[str, object]:
    """The entries the caller manages, drafts included."""
    return {"datasets": catalog.managed_datasets(uow, who, state)}


@router.get("/opendata/datasets/{identifier}")
def get_dataset(identifier: str, who: PrincipalDep, uow: UowDep) -> dict[str, object]:
    """One entry with its distributions (public once published)."""
    return catalog.get_dataset(uow, who, identifier[:64])


@router.get("/opendata/datasets/{identifier}/jsonld", response_class=JSONResponse)
def dataset_jsonld(identifier: str, request: Request, who: PrincipalDep, uow: UowDep) -> JSONResponse:
    """The entry as DCAT-AP JSON-LD (its stable address)."""
    doc = dcat.dataset_document(catalog.get_dataset(uow, who, identifier[:64]), base_url(request))
    return JSONResponse(doc, media_type=JSONLD)


@router.patch("/opendata/datasets/{identifier}")
def update_dataset(
    identifier: str, body: DatasetPatch, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Change an entry (its publisher or the data bureau); the previous version is kept."""
    return committed(
        uow,
        catalog.update_dataset(
            uow, who, platform.clock, identifier[:64], body.model_dump(exclude_unset=True)
        ),
    )


@router.post("/opendata/datasets/{identifier}/state")
def set_state(
    identifier: str, body: StateIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Publish or withdraw an entry."""
    return committed(uow, catalog.set_state(uow, who, platform.clock, identifier[:64], body.state))


@router.get("/opendata/datasets/{identifier}/history")
def dataset_history(identifier: str, who: LoginDep, uow: UowDep) -> dict[str, object]:
    """Every saved version of an entry (its publisher and the data bureau)."""
    return {"versions": catalog.dataset_history(uow, who, identifier[:64])}


@router.post("/opendata/datasets/{identifier}/distributions", status_code=201)
def add_link(
    identifier: str, body: LinkIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """A link by which the dataset is had."""
    return committed(
        uow,
        distributions.add_distribution(
            uow, who, platform.clock, platform.settings.data_dir, identifier[:64], body.model_dump()
        ),
    )


@router.post("/opendata/datasets/{identifier}/files", status_code=201)
async def add_file(
    identifier: str,
    file: UploadFile,
    who: LoginDep,
    uow: UowDep,
    platform: PlatformDep,
    format: str = "CSV",
) -> dict[str, object]:
    """A file of the dataset (stored once by SHA-256; at most 50 MiB)."""
    content = await file.read(MAX_UPLOAD + 1)
    return committed(
        uow,
        distributions.add_distribution(
            uow,
            who,
            platform.clock,
            platform.settings.data_dir,
            identifier[:64],
            {"format": format, "title": file.filename},
            content,
        ),
    )


@router.get("/opendata/distributions/{distribution_id}/download", response_class=Response)
def download(distribution_id: IntRowId, who: PrincipalDep, uow: UowDep, platform: PlatformDep) -> Response:
    """Download (recorded): conditional data needs a grant of the caller's organization in force."""
    with platform.uow() as writer:  # a GET that records: its own writing unit of work
        dist, content = distributions.download(
            writer, who, platform.clock, platform.settings.data_dir, distribution_id
        )
        writer.commit()
    del uow
    if content is None:
        return RedirectResponse(str(dist.access_url), status_code=303)
    name = f"dataset-{dist.dataset_id}-{dist.id}.{dist.format.lower()}"
    return attachment(content, name, dist.media_type)


@router.get("/opendata/catalog.jsonld", response_class=JSONResponse)
def catalog_jsonld(request: Request, uow: UowDep) -> JSONResponse:
    """The whole published catalog as DCAT-AP JSON-LD (public)."""
    datasets = _published(uow)
    modified = max((str(d["modified_at"]) for d in datasets), default=None)
    return JSONResponse(dcat.catalog_document(datasets, base_url(request), modified), media_type=JSONLD)


@router.get("/opendata/catalog.csv", response_class=Response)
def catalog_csv(uow: UowDep) -> Response:
    """The published catalog as CSV with Chinese headers (public)."""
    return attachment(dcat.catalog_csv(_published(uow)), "opendata-catalog.csv", CSV)


@router.get("/opendata/catalog.xlsx", response_class=Response)
def catalog_xlsx(uow: UowDep) -> Response:
    """The published catalog as Excel (public)."""
    return attachment(dcat.catalog_xlsx(_published(uow)), "opendata-catalog.xlsx", XLSX)


@router.post("/opendata/imports/datasets", status_code=201)
async def import_datasets(
    file: UploadFile, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Register datasets from CSV or Excel: all rows or none (a bad row is named by line and column)."""
    content = await file.read(imports.MAX_BYTES + 1)
    return committed(uow, imports.import_datasets(uow, who, platform.clock, content, file.filename))


# sharing requests ---------------------------------------------------------------------------------


@router.post("/opendata/datasets/{identifier}/requests", status_code=201)
def request_access(
    identifier: str, body: RequestIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """An in-province organization asks for a conditional dataset, stating its purpose."""
    return committed(uow, sharing.request_access(uow, who, platform.clock, identifier[:64], body.purpose))


@router.get("/opendata/requests")
def list_requests(
    who: LoginDep, uow: UowDep, platform: PlatformDep, state: str | None = None
) -> dict[str, object]:
    """The requests the caller sees (its organization's, its publisher's, or all for the data bureau)."""
    return {"requests": sharing.list_requests(uow, who, platform.clock, state)}


@router.get("/opendata/requests/{request_id}")
def get_request(request_id: IntRowId, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """One request and its state (the requester sees it answered, refused or expired)."""
    return sharing.get_request(uow, who, platform.clock, request_id)


@router.post("/opendata/requests/{request_id}/answer")
def answer_request(
    request_id: IntRowId, body: AnswerIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Grant (conditions and a last day) or refuse (a reason): the publisher or the data bureau."""
    return committed(uow, sharing.answer_request(uow, who, platform.clock, request_id, body.model_dump()))


# bulletins ----------------------------------------------------------------------------------------


@router.get("/opendata/bulletins")
def list_bulletins(who: PrincipalDep, uow: UowDep) -> dict[str, object]:
    """Published bulletins (drafts too, for the data bureau)."""
    return {"bulletins": bulletins.list_bulletins(uow, who)}


@router.post("/opendata/bulletins/{period}/generate")
def generate_bulletin(period: str, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Compute a quarter's bulletin as a draft (the data bureau)."""
    return committed(uow, bulletins.generate(uow, who, platform.clock, period[:8]))


@router.post("/opendata/bulletins/{period}/publish")
def publish_bulletin(period: str, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Publish a bulletin: its figures are frozen (the data bureau)."""
    return committed(uow, bulletins.publish(uow, who, platform.clock, period[:8]))


@router.get("/opendata/bulletins/{period}")
def get_bulletin(period: str, who: PrincipalDep, uow: UowDep) -> dict[str, object]:
    """A bulletin's figures and ranking (public once published)."""
    return bulletins.get(uow, who, period[:8])


@router.get("/opendata/bulletins/{period}/export.{kind}", response_class=Response)
def export_bulletin(period: str, kind: Literal["csv", "xlsx"], who: PrincipalDep, uow: UowDep) -> Response:
    """A bulletin as CSV or Excel (Chinese headers)."""
    b = bulletins.get(uow, who, period[:8])
    data, media = (bulletins.as_csv(b), CSV) if kind == "csv" else (bulletins.as_xlsx(b), XLSX)
    return attachment(data, f"bulletin-{b['period']}.{kind}", media)


# suppliers (art. 4) -------------------------------------------------------------------------------


@router.get("/opendata/suppliers")
def list_suppliers(who: LoginDep, uow: UowDep, city: str | None = None) -> dict[str, object]:
    """The supplier registry the caller may see."""
    return {"suppliers": suppliers.list_suppliers(uow, who, city)}


@router.post("/opendata/suppliers", status_code=201)
def register_supplier(
    body: SupplierIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Register a supplier (its city's users or the data bureau)."""
    return committed(uow, suppliers.register_supplier(uow, who, platform.clock, body.model_dump()))


@router.post("/opendata/suppliers/{supplier_id}/transactions")
async def record_transactions(
    supplier_id: IntRowId,
    year: int,
    amount: str,
    who: LoginDep,
    uow: UowDep,
    platform: PlatformDep,
    evidence: UploadFile | None = None,
) -> dict[str, object]:
    """A supplier's data-transaction amount of a year, with an evidence file (PDF, image or Excel)."""
    ev = (await evidence.read(10 * 1024 * 1024 + 1), evidence.filename) if evidence is not None else None
    return committed(
        uow,
        suppliers.record_transactions(
            uow, who, platform.clock, platform.settings.data_dir, supplier_id, year, amount, ev
        ),
    )


@router.get("/opendata/suppliers/{supplier_id}/subsidy")
def supplier_subsidy(
    supplier_id: IntRowId, year: int, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """The city subsidy the policy engine computes for a year (art. 4), explained."""
    return suppliers.subsidy(uow, who, platform.packs.current(), supplier_id, year)


@router.post("/opendata/suppliers/{supplier_id}/apply", status_code=201)
def apply_for_subsidy(
    supplier_id: IntRowId, body: ApplyIn, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """File and submit the year's figures as an art. 4 application in an open call (the supplier)."""
    return committed(
        uow,
        suppliers.apply_for_subsidy(
            uow, who, platform.packs.current(), platform.clock, supplier_id, body.year, body.call_id
        ),
    )


@router.get("/opendata/city-ratios")
def list_ratios(uow: UowDep, year: int | None = None) -> dict[str, object]:
    """Each city's art. 4 ratio by year (public: a parameter of the city's program)."""
    return {"ratios": suppliers.list_ratios(uow, year)}


@router.put("/opendata/city-ratios")
def set_ratio(body: RatioIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """A city sets its ratio for a year."""
    return committed(
        uow,
        suppliers.set_city_ratio(
            uow, who, platform.clock, platform.packs.current(), body.city, body.year, body.ratio
        ),
    )


@router.put("/opendata/reward-tiers")
def set_tiers(body: TiersIn, who: LoginDep, uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """The province's performance-reward table of a year."""
    out = suppliers.set_reward_tiers(
        uow, who, platform.clock, body.year, [t.model_dump() for t in body.tiers]
    )
    uow.commit()
    return {"year": body.year, "tiers": out}


@router.get("/opendata/performance-rewards")
def performance_rewards(year: int, who: LoginDep, uow: UowDep) -> dict[str, object]:
    """Each city's recorded supplier payouts of a year and the reward its tier earns."""
    return suppliers.performance_rewards(uow, who, year)


@router.post("/opendata/imports/suppliers", status_code=201)
async def import_suppliers(
    file: UploadFile, who: LoginDep, uow: UowDep, platform: PlatformDep
) -> dict[str, object]:
    """Register suppliers from CSV or Excel: all rows or none."""
    content = await file.read(imports.MAX_BYTES + 1)
    return committed(uow, imports.import_suppliers(uow, who, platform.clock, content, file.filename))
