"""Compute federation, service layer: load → call the compute core → save, through the unit of work.

Centers and pools (operators manage their own, everyone reads), jobs (submit, list, show, cancel; a
request no pool can ever satisfy is refused at submission), quotas, the late-binding scheduling step
:func:`schedule_once`, and the functions the dispatcher worker calls (see *Dispatcher interface*).

The compute core works on plain values with string ids and Unix seconds; here a pool's id is its
``key`` (e.g. ``hf-chaohu-910b3``), a center's id its ``key``, and an organization's id its
registered **name** (unique), so that hold reasons read well as they are.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, or_, select, text

from zhisuan import audit
from zhisuan.accounts.services import find_org
from zhisuan.compute.model import (
    DEFAULT_REFERENCE,
    ENGINES,
    AcceleratorConstraint,
    JobSpec,
    JobState,
    Pool,
    PriceBand,
    Scaling,
    check_transition,
    pool_refusal,
)
from zhisuan.compute.placement import (
    DEFAULT_POLICY,
    Federation,
    Hold,
    HoldKind,
    HoldReason,
    ModelQuota,
    MonthUsage,
    NoVoucher,
    Placement,
    PoolState,
    Quota,
    RunningJob,
    Scheduler,
    Unavailable,
    VoucherEstimate,
    policy_info,
)
from zhisuan.core.access import (
    Action,
    Kind,
    Principal,
    Resource,
    Role,
    authorize,
    require_role,
    visible_scope,
)
from zhisuan.core.catalog import accelerator, capacity_p
from zhisuan.core.clock import UTC, Month, ensure_aware, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.ids import CenterId, JobId, OrgId, PoolId, UserId, parse_id
from zhisuan.core.money import Money
from zhisuan.core.orgs import OrgKind
from zhisuan.core.regions import city as lookup_city
from zhisuan.store.models.compute import (
    CenterRow,
    JobEventRow,
    JobRow,
    JobRunRow,
    PoolRow,
    QuotaRow,
)
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

#: States in which a job holds cards on its pool (placed jobs are bound and about to start).
OCCUPYING: Final = (JobState.PLACED.value, JobState.RUNNING.value)
#: PostgreSQL advisory-lock key of the scheduling step ("zhisuan" in ASCII, as an integer)
SCHEDULER_LOCK: Final = int.from_bytes(b"zhisuan", "big")
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


# ==================================================================================================
# small helpers
# ==================================================================================================


def _unix(when: dt.datetime) -> int:
    return int(ensure_aware(when).timestamp())


def _from_unix(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


def _check_key(key: str, what: str) -> str:
    key = key.strip().lower()
    if not _KEY_RE.match(key):
        raise ValidationError(
            f"a {what} key is 2–63 lower-case letters, digits or dashes (e.g. hf-chaohu)", field="key"
        )
    return key


def _yuan(text: str | int | Decimal, field: str) -> Money:
    amount = Money(text if not isinstance(text, Decimal) else str(text), field=field)
    if amount.is_negative():
        raise ValidationError("an amount cannot be negative", field=field)
    if not amount.is_whole_fen():
        raise ValidationError(f"give the amount to the fen (0.01 yuan), got {text}", field=field)
    return amount


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_duration(text: str, field: str = "runtime") -> int:
    """Seconds from ``3600``, ``90m``, ``2h``, ``1h30m`` or ``2d``.

    >>> parse_duration("1h30m"), parse_duration("45"), parse_duration("2d")
    (5400, 45, 172800)
    """
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValidationError(f"not a duration: {text!r} (e.g. 3600, 90m, 2h, 1h30m)", field=field)
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    total = d * 86400 + h * 3600 + mi * 60 + s
    if total < 1:
        raise ValidationError("a duration must be at least one second", field=field)
    return total


# ==================================================================================================
# centers and pools
# ==================================================================================================


class BandInput(BaseModel):
    """A price per card-hour between two Shanghai local hours ``[from, to)`` (may wrap midnight)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: int = Field(alias="from", ge=0, le=24)
    end: int = Field(alias="to", ge=0, le=24)
    price: str = Field(description="yuan per card-hour, decimal string")


class CenterInput(BaseModel):
    """What it takes to register a center."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="short id, e.g. hf-chaohu")
    name: str = Field(min_length=2, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    operator: str = Field(description="operator organization: id, credit code or name")
    city_code: str = Field(description="6-digit division code")
    engine: dict[str, Any] = Field(default_factory=dict, description="engine settings shared by its pools")


class PoolInput(BaseModel):
    """A pool of one accelerator model at a center."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="short id, e.g. hf-chaohu-910b3")
    accelerator: str
    nodes: int = Field(ge=1, le=100_000)
    cards_per_node: int = Field(ge=1, le=64)
    price: str = Field(description="list price, yuan per card-hour (decimal string)")
    bands: list[BandInput] = Field(default_factory=list)
    engine: str = "simulated"
    engine_config: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PoolView:
    id: PoolId
    key: str
    center_id: CenterId
    center_key: str
    accelerator: str
    nodes: int
    cards_per_node: int
    price: Money
    bands: tuple[tuple[int, int, Money], ...]
    engine: str
    engine_config: Mapping[str, Any]
    available: bool
    unavailable_reason: str | None

    @property
    def cards(self) -> int:
        return self.nodes * self.cards_per_node

    @property
    def capacity_p(self) -> Decimal:
        return capacity_p([(self.accelerator, self.cards)])

    @property
    def domestic(self) -> bool:
        return accelerator(self.accelerator).domestic

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "key": self.key,
            "center": self.center_key,
            "accelerator": self.accelerator,
            "domestic": self.domestic,
            "nodes": self.nodes,
            "cards_per_node": self.cards_per_node,
            "cards": self.cards,
            "capacity_p": str(self.capacity_p),
            "price_yuan_per_card_hour": str(self.price.to_decimal()),
            "bands": [
                {"from": a, "to": b, "price_yuan_per_card_hour": str(p.to_decimal())}
                for a, b, p in self.bands
            ],
            "engine": self.engine,
            "available": self.available,
            "unavailable_reason": self.unavailable_reason,
        }


@dataclass(frozen=True, slots=True)
class CenterView:
    id: CenterId
    key: str
    name: str
    name_en: str | None
    operator_org_id: OrgId
    operator_name: str
    city_code: str
    engine_config: Mapping[str, Any]
    pools: tuple[PoolView, ...]

    @property
    def cards(self) -> int:
        return sum(p.cards for p in self.pools)

    @property
    def capacity_p(self) -> Decimal:
        return capacity_p([(p.accelerator, p.cards) for p in self.pools])

    def display_name(self, lang: str = "zh") -> str:
        return self.name_en if lang == "en" and self.name_en else self.name

    def resource(self) -> Resource:
        return Resource(
            Kind.CENTER,
            org_id=self.operator_org_id,
            city_code=self.city_code,
            operator_org_id=self.operator_org_id,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "name_en": self.name_en,
            "operator_org_id": self.operator_org_id,
            "operator": self.operator_name,
            "city_code": self.city_code,
            "cards": self.cards,
            "capacity_p": str(self.capacity_p),
            "pools": [p.as_dict() for p in self.pools],
        }


def _pool_view(row: PoolRow, center: CenterRow) -> PoolView:
    bands = tuple(
        (int(b["from"]), int(b["to"]), Money.from_fen(int(b["price_fen"]))) for b in _json(row.bands, [])
    )
    return PoolView(
        id=PoolId(row.id),
        key=row.key,
        center_id=CenterId(center.id),
        center_key=center.key,
        accelerator=row.accelerator,
        nodes=row.nodes,
        cards_per_node=row.cards_per_node,
        price=Money.from_fen(row.price_fen),
        bands=bands,
        engine=row.engine_kind,
        engine_config=_json(row.engine_config, {}),
        available=row.available,
        unavailable_reason=row.unavailable_reason,
    )


def _center_views(uow: UnitOfWork, where: Sequence[Any] = ()) -> list[CenterView]:
    s = uow.session
    centers = list(s.execute(select(CenterRow).where(*where).order_by(CenterRow.id)).scalars())
    if not centers:
        return []
    ids = [c.id for c in centers]
    pools: dict[int, list[PoolRow]] = {}
    for p in s.execute(select(PoolRow).where(PoolRow.center_id.in_(ids)).order_by(PoolRow.id)).scalars():
        pools.setdefault(p.center_id, []).append(p)
    op_ids = {c.operator_org_id for c in centers}
    names = dict(
        s.execute(
            select(OrganizationRow.id, OrganizationRow.name).where(OrganizationRow.id.in_(op_ids))
        ).all()
    )
    return [
        CenterView(
            id=CenterId(c.id),
            key=c.key,
            name=c.name,
            name_en=c.name_en,
            operator_org_id=OrgId(c.operator_org_id),
            operator_name=names.get(c.operator_org_id, ""),
            city_code=c.city_code,
            engine_config=_json(c.engine_config, {}),
            pools=tuple(_pool_view(p, c) for p in pools.get(c.id, [])),
        )
        for c in centers
    ]


def find_center(uow: UnitOfWork, ref: str | int) -> CenterRow:
    """A center by id or key."""
    text = str(ref).strip()
    conds = [CenterRow.key == text.lower()]
    if (row_id := parse_id(text)) is not None:
        conds.append(CenterRow.id == row_id)
    row = uow.session.execute(select(CenterRow).where(or_(*conds))).scalars().first()
    if row is None:
        raise NotFoundError(f"no center {text!r} (give its id or key)", field="center")
    return row


def find_pool(uow: UnitOfWork, ref: str | int) -> PoolRow:
    """A pool by id or key."""
    text = str(ref).strip()
    conds = [PoolRow.key == text.lower()]
    if (row_id := parse_id(text)) is not None:
        conds.append(PoolRow.id == row_id)
    row = uow.session.execute(select(PoolRow).where(or_(*conds))).scalars().first()
    if row is None:
        raise NotFoundError(f"no pool {text!r} (give its id or key)", field="pool")
    return row


def create_center(uow: UnitOfWork, who: Principal, data: CenterInput, now: dt.datetime) -> CenterView:
    """Register a center for an operator organization (that operator's staff, the data bureau, admins)."""
    key = _check_key(data.key, "center")
    operator = find_org(uow, data.operator)
    city = lookup_city(data.city_code, field="city_code")
    authorize(
        who,
        Action.WRITE,
        Resource(
            Kind.CENTER, org_id=OrgId(operator.id), city_code=city.code, operator_org_id=OrgId(operator.id)
        ),
    )
    if operator.kind != OrgKind.CENTER_OPERATOR:
        raise ValidationError(
            f"{operator.name} is a {operator.kind}, not a center operator; register the operator first",
            field="operator",
        )
    engine = dict(data.engine)
    kind = engine.get("kind")
    if kind is not None and kind not in ENGINES:
        raise ValidationError(f"unknown engine kind {kind!r}; one of {sorted(ENGINES)}", field="engine.kind")
    s = uow.session
    if s.execute(select(CenterRow.id).where(CenterRow.key == key)).first() is not None:
        raise ConflictError(f"a center with key {key!r} exists", field="key")
    row = CenterRow(
        key=key,
        name=data.name.strip(),
        name_en=data.name_en,
        operator_org_id=operator.id,
        city_code=city.code,
        engine_config=json.dumps(engine, sort_keys=True),
        created_at=now,
    )
    s.add(row)
    s.flush()
    audit.record(
        uow, now, who.username, "center.create", f"center:{row.id}", {"key": key, "operator": operator.id}
    )
    return _center_views(uow, [CenterRow.id == row.id])[0]


def add_pool(
    uow: UnitOfWork, who: Principal, center_ref: str | int, data: PoolInput, now: dt.datetime
) -> PoolView:
    """Add a pool to a center (the center's operator, the data bureau, admins)."""
    center = find_center(uow, center_ref)
    view = _center_views(uow, [CenterRow.id == center.id])[0]
    authorize(who, Action.WRITE, view.resource())
    key = _check_key(data.key, "pool")
    price = _yuan(data.price, "price")
    bands = []
    for i, b in enumerate(data.bands):
        bands.append(PriceBand(b.start, b.end, _yuan(b.price, f"bands[{i}].price")))
    # the compute core validates the rest (rated accelerator, engine, overlapping bands)
    Pool(
        key,
        center.key,
        center.city_code,
        "",
        data.accelerator,
        data.nodes,
        data.cards_per_node,
        price,
        tuple(bands),
        data.engine,
    )
    s = uow.session
    if s.execute(select(PoolRow.id).where(PoolRow.key == key)).first() is not None:
        raise ConflictError(f"a pool with key {key!r} exists", field="key")
    row = PoolRow(
        key=key,
        center_id=center.id,
        accelerator=data.accelerator,
        nodes=data.nodes,
        cards_per_node=data.cards_per_node,
        price_fen=price.to_fen(),
        bands=json.dumps(
            [{"from": b.start_hour, "to": b.end_hour, "price_fen": b.price.to_fen()} for b in bands]
        ),
        engine_kind=data.engine,
        engine_config=json.dumps(data.engine_config, sort_keys=True),
        available=True,
        unavailable_reason=None,
        created_at=now,
    )
    s.add(row)
    s.flush()
    audit.record(
        uow,
        now,
        who.username,
        "pool.create",
        f"pool:{row.id}",
        {
            "key": key,
            "center": center.key,
            "cards": data.nodes * data.cards_per_node,
            "price_fen": row.price_fen,
        },
    )
    return _pool_view(row, center)


def list_centers(uow: UnitOfWork) -> list[CenterView]:
    """Every center with its pools (public)."""
    return _center_views(uow)


def get_center(uow: UnitOfWork, ref: str | int) -> CenterView:
    row = find_center(uow, ref)
    return _center_views(uow, [CenterRow.id == row.id])[0]


def _core_pool(view: PoolView, center: CenterView) -> Pool:
    return Pool(
        id=view.key,
        center=center.key,
        city=center.city_code,
        operator=center.operator_name,
        accelerator_key=view.accelerator,
        nodes=view.nodes,
        cards_per_node=view.cards_per_node,
        price=view.price,
        bands=tuple(PriceBand(a, b, p) for a, b, p in view.bands),
        engine=view.engine if view.engine in ENGINES else "simulated",
    )


def core_pools(centers: Iterable[CenterView], *, available_only: bool = False) -> list[Pool]:
    """The compute core's pool values for these centers (ids are pool keys)."""
    return [_core_pool(p, c) for c in centers for p in c.pools if p.available or not available_only]


@dataclass(frozen=True, slots=True)
class Capacity:
    """Capacity in P and cards per pool, center, city and for the whole province."""

    province_p: Decimal
    province_cards: int
    by_city: dict[str, tuple[Decimal, int]]
    by_center: dict[str, tuple[Decimal, int]]
    by_pool: dict[str, tuple[Decimal, int]]

    def as_dict(self) -> dict[str, object]:
        def pair(v: tuple[Decimal, int]) -> dict[str, object]:
            return {"capacity_p": str(v[0]), "cards": v[1]}

        return {
            "province": pair((self.province_p, self.province_cards)),
            "cities": {k: pair(v) for k, v in self.by_city.items()},
            "centers": {k: pair(v) for k, v in self.by_center.items()},
            "pools": {k: pair(v) for k, v in self.by_pool.items()},
        }


def capacity(uow: UnitOfWork) -> Capacity:
    """Capacity in P (peak dense FP16, catalog unit) per pool, center, city and province."""
    centers = list_centers(uow)
    by_pool = {p.key: (p.capacity_p, p.cards) for c in centers for p in c.pools}
    by_center = {c.key: (c.capacity_p, c.cards) for c in centers}
    cities: dict[str, list[tuple[str, int]]] = {}
    for c in centers:
        cities.setdefault(c.city_code, []).extend((p.accelerator, p.cards) for p in c.pools)
    by_city = {code: (capacity_p(items), sum(n for _k, n in items)) for code, items in sorted(cities.items())}
    everything = [(p.accelerator, p.cards) for c in centers for p in c.pools]
    return Capacity(capacity_p(everything), sum(n for _k, n in everything), by_city, by_center, by_pool)


def set_pool_available(
    uow: UnitOfWork,
    pool_ref: str | int,
    available: bool,
    reason: str | None,
    now: dt.datetime,
    who: Principal | None = None,
) -> PoolView:
    """Mark a pool (un)available, e.g. when its engine cannot be reached; placement skips it meanwhile.

    ``who=None`` is the dispatcher worker (a trusted process); a person needs write access to the center.
    """
    row = find_pool(uow, pool_ref)
    center = uow.session.get(CenterRow, row.center_id)
    assert center is not None
    if who is not None:
        authorize(who, Action.WRITE, _center_views(uow, [CenterRow.id == center.id])[0].resource())
    if not available and not (reason or "").strip():
        raise ValidationError("say why the pool is unavailable", field="reason")
    changed = row.available != available
    row.available = available
    row.unavailable_reason = None if available else (reason or "").strip()
    uow.session.flush()
    if changed:
        audit.record(
            uow,
            now,
            who.username if who is not None else "worker",
            "pool.available" if available else "pool.unavailable",
            f"pool:{row.id}",
            {"reason": row.unavailable_reason},
        )
    return _pool_view(row, center)


def set_center_available(
    uow: UnitOfWork, center_ref: str | int, available: bool, reason: str | None, now: dt.datetime
) -> list[PoolView]:
    """Mark every pool of a center (un)available: its engine is down, or back (dispatcher worker)."""
    center = find_center(uow, center_ref)
    pools = uow.session.execute(select(PoolRow).where(PoolRow.center_id == center.id)).scalars()
    return [set_pool_available(uow, p.id, available, reason, now) for p in pools]


# ==================================================================================================
# quotas
# ==================================================================================================


class QuotaInput(BaseModel):
    """Limits for an organization over all centers together (omit a limit to lift it)."""

    model_config = ConfigDict(extra="forbid")
    max_cards: int | None = Field(default=None, ge=0)
    max_cards_by_model: dict[str, int] = Field(default_factory=dict)
    monthly_budget: str | None = Field(default=None, description="yuan per Shanghai calendar month")
    monthly_card_hours: int | None = Field(default=None, ge=0)


@dataclass(frozen=True, slots=True)
class QuotaView:
    org_id: OrgId
    org_name: str
    max_cards: int | None
    max_cards_by_model: Mapping[str, int]
    monthly_budget: Money | None
    monthly_card_hours: int | None
    cards_in_use: int = 0
    cards_in_use_by_model: Mapping[str, int] = field(default_factory=dict)
    month_committed: Money = field(default_factory=Money)
    month_card_hours: Decimal = Decimal(0)
    month: str = ""

    def quota(self) -> Quota:
        return Quota(
            max_cards=self.max_cards,
            max_cards_by_model=dict(self.max_cards_by_model),
            monthly_budget_yuan=self.monthly_budget,
            monthly_card_hours=Decimal(self.monthly_card_hours)
            if self.monthly_card_hours is not None
            else None,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "org_id": self.org_id,
            "org": self.org_name,
            "max_cards": self.max_cards,
            "max_cards_by_model": dict(self.max_cards_by_model),
            "monthly_budget_yuan": str(self.monthly_budget.to_decimal())
            if self.monthly_budget is not None
            else None,
            "monthly_card_hours": self.monthly_card_hours,
            "usage": {
                "month": self.month,
                "cards_in_use": self.cards_in_use,
                "cards_in_use_by_model": dict(self.cards_in_use_by_model),
                "committed_yuan": str(self.month_committed.round().to_decimal()),
                "card_hours": str(self.month_card_hours.quantize(Decimal("0.01"))),
            },
        }


def _quota_row_view(row: QuotaRow | None, org: OrganizationRow) -> QuotaView:
    if row is None:
        return QuotaView(OrgId(org.id), org.name, None, {}, None, None)
    return QuotaView(
        org_id=OrgId(org.id),
        org_name=org.name,
        max_cards=row.max_cards,
        max_cards_by_model=_json(row.max_cards_by_model, {}),
        monthly_budget=Money.from_fen(row.monthly_budget_fen) if row.monthly_budget_fen is not None else None,
        monthly_card_hours=row.monthly_card_hours,
    )


def set_quota(
    uow: UnitOfWork, who: Principal, org_ref: str | int, data: QuotaInput, now: dt.datetime
) -> QuotaView:
    """Set an organization's limits, replacing earlier ones (the platform: data bureau and admins).

    Quotas are the platform's limits on an organization, so its own org admin may read them, not lift them.
    """
    require_role(who, Role.DATA_BUREAU)
    org = find_org(uow, org_ref)
    by_model: dict[str, int] = {}
    for model, cards in data.max_cards_by_model.items():
        accelerator(model, field=f"max_cards_by_model.{model}")
        if cards < 0:
            raise ValidationError("a card limit cannot be negative", field=f"max_cards_by_model.{model}")
        by_model[model] = cards
    budget = _yuan(data.monthly_budget, "monthly_budget") if data.monthly_budget is not None else None
    s = uow.session
    row = s.get(QuotaRow, org.id)
    if row is None:
        row = QuotaRow(org_id=org.id)
        s.add(row)
    row.max_cards = data.max_cards
    row.max_cards_by_model = json.dumps(by_model, sort_keys=True)
    row.monthly_budget_fen = budget.to_fen() if budget is not None else None
    row.monthly_card_hours = data.monthly_card_hours
    row.updated_at = now
    s.flush()
    audit.record(uow, now, who.username, "quota.set", f"org:{org.id}", data.model_dump())
    return get_quota(uow, who, org.id, now)


def get_quota(uow: UnitOfWork, who: Principal, org_ref: str | int, now: dt.datetime) -> QuotaView:
    """An organization's limits and what it uses now and this month (its members, operators' staff no)."""
    org = find_org(uow, org_ref)
    authorize(who, Action.READ, Resource(Kind.ORGANIZATION, org_id=OrgId(org.id), city_code=org.city_code))
    base = _quota_row_view(uow.session.get(QuotaRow, org.id), org)
    return _with_usage(uow, base, now)


def list_quotas(uow: UnitOfWork, who: Principal, now: dt.datetime) -> list[QuotaView]:
    """Quotas the caller may see, with current usage."""
    scope = visible_scope(who, Kind.ORGANIZATION)
    if scope.nothing:
        return []
    q = select(QuotaRow, OrganizationRow).join(OrganizationRow, OrganizationRow.id == QuotaRow.org_id)
    if not scope.everything:
        if scope.city_code is not None:
            q = q.where(OrganizationRow.city_code == scope.city_code)
        else:
            q = q.where(QuotaRow.org_id.in_(scope.org_ids))
    rows = uow.session.execute(q.order_by(QuotaRow.org_id)).all()
    return [_with_usage(uow, _quota_row_view(r, o), now) for r, o in rows]


def _with_usage(uow: UnitOfWork, base: QuotaView, now: dt.datetime) -> QuotaView:
    ctx = _Context.load(uow)
    month = Month.of(now)
    usage = _month_usage(uow, ctx, now, NoVoucher()).get(base.org_name, MonthUsage())
    in_use: Counter[str] = Counter()
    for job, pool in ctx.occupying(uow, org_id=base.org_id):
        in_use[pool.accelerator] += pool.node_cards(job.cards)
    return QuotaView(
        org_id=base.org_id,
        org_name=base.org_name,
        max_cards=base.max_cards,
        max_cards_by_model=base.max_cards_by_model,
        monthly_budget=base.monthly_budget,
        monthly_card_hours=base.monthly_card_hours,
        cards_in_use=sum(in_use.values()),
        cards_in_use_by_model=dict(in_use),
        month_committed=usage.yuan,
        month_card_hours=usage.card_hours,
        month=str(month),
    )


# ==================================================================================================
# jobs
# ==================================================================================================


class JobInput(BaseModel):
    """A job request."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    command: str = Field(min_length=1, max_length=10_000, description="what the engine runs")
    cards: int = Field(ge=1, le=100_000, description="cards, all started at once")
    accelerators: list[str] = Field(default_factory=list, description="acceptable models (empty: any)")
    min_memory_gb: int | None = Field(default=None, ge=1)
    domestic_only: bool = False
    runtime_s: int = Field(ge=1, description="estimated run time on the reference accelerator, seconds")
    reference: str = Field(default=DEFAULT_REFERENCE, description="the accelerator the estimate refers to")
    price_ceiling: str | None = Field(default=None, description="most yuan per card-hour the user will pay")
    deadline: dt.datetime | None = None
    data_city: str | None = Field(default=None, description="city holding the data (6-digit code)")
    data_center: str | None = Field(default=None, description="center holding the data (id or key)")
    retries: int = Field(default=0, ge=0, le=10)
    org: str | None = Field(default=None, description="submitting organization (default: the caller's)")


@dataclass(frozen=True, slots=True)
class JobEventView:
    at: dt.datetime
    from_state: str | None
    to_state: str
    pool: str | None
    actor: str
    note: str

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "from": self.from_state,
            "to": self.to_state,
            "pool": self.pool,
            "actor": self.actor,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class JobView:
    id: JobId
    org_id: OrgId
    org_name: str
    org_city: str | None
    user_id: UserId | None
    name: str
    command: str
    cards: int
    constraint: AcceleratorConstraint
    runtime_s: int
    reference: str
    price_ceiling: Money | None
    deadline: dt.datetime | None
    data_city: str | None
    data_center: str | None
    retries: int
    attempts: int
    state: JobState
    pool_key: str | None
    center_key: str | None
    operator_org_id: OrgId | None
    engine_job_id: str | None
    hold_reason: str | None
    hold_kind: str | None
    held_since: dt.datetime | None
    exit_code: int | None
    submitted_at: dt.datetime
    placed_at: dt.datetime | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    expected_end: dt.datetime | None
    events: tuple[JobEventView, ...] = ()

    def resource(self) -> Resource:
        return Resource(
            Kind.JOB, org_id=self.org_id, city_code=self.org_city, operator_org_id=self.operator_org_id
        )

    @property
    def wait_s(self) -> int | None:
        if self.started_at is None:
            return None
        return int((self.started_at - self.submitted_at).total_seconds())

    def as_dict(self) -> dict[str, object]:
        def iso(v: dt.datetime | None) -> str | None:
            return v.isoformat() if v is not None else None

        out: dict[str, object] = {
            "id": self.id,
            "org_id": self.org_id,
            "org": self.org_name,
            "user_id": self.user_id,
            "name": self.name,
            "command": self.command,
            "cards": self.cards,
            "accelerators": sorted(self.constraint.models),
            "min_memory_gb": self.constraint.min_memory_gb,
            "domestic_only": self.constraint.domestic_only,
            "constraint": self.constraint.describe(),
            "runtime_s": self.runtime_s,
            "reference": self.reference,
            "price_ceiling_yuan": str(self.price_ceiling.to_decimal())
            if self.price_ceiling is not None
            else None,
            "deadline": iso(self.deadline),
            "data_city": self.data_city,
            "data_center": self.data_center,
            "retries": self.retries,
            "attempts": self.attempts,
            "state": str(self.state),
            "pool": self.pool_key,
            "center": self.center_key,
            "engine_job_id": self.engine_job_id,
            "hold_reason": self.hold_reason,
            "hold_kind": self.hold_kind,
            "held_since": iso(self.held_since),
            "exit_code": self.exit_code,
            "submitted_at": iso(self.submitted_at),
            "placed_at": iso(self.placed_at),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "expected_end": iso(self.expected_end),
        }
        if self.events:
            out["events"] = [e.as_dict() for e in self.events]
        return out


class _Context:
    """Centers, pools and organizations loaded once per service call (small tables)."""

    def __init__(self, centers: list[CenterView], orgs: Mapping[int, tuple[str, str | None]]) -> None:
        self.centers = centers
        self.center_by_id = {c.id: c for c in centers}
        self.center_by_key = {c.key: c for c in centers}
        self.pool_by_id = {p.id: p for c in centers for p in c.pools}
        self.pool_by_key = {p.key: p for c in centers for p in c.pools}
        self.orgs = orgs  # id -> (name, city)
        self.org_by_name = {name: oid for oid, (name, _c) in orgs.items()}

    @classmethod
    def load(cls, uow: UnitOfWork) -> _Context:
        orgs = {
            oid: (name, city)
            for oid, name, city in uow.session.execute(
                select(OrganizationRow.id, OrganizationRow.name, OrganizationRow.city_code)
            ).all()
        }
        return cls(_center_views(uow), orgs)

    def core_pool(self, pool: PoolView) -> Pool:
        return _core_pool(pool, self.center_by_id[pool.center_id])

    def operator_of_pool(self, pool_id: int | None) -> OrgId | None:
        if pool_id is None:
            return None
        pool = self.pool_by_id.get(PoolId(pool_id))
        return self.center_by_id[pool.center_id].operator_org_id if pool is not None else None

    def occupying(self, uow: UnitOfWork, org_id: int | None = None) -> list[tuple[JobRow, _PoolFacts]]:
        q = select(JobRow).where(JobRow.state.in_(OCCUPYING), JobRow.pool_id.is_not(None))
        if org_id is not None:
            q = q.where(JobRow.org_id == org_id)
        out = []
        for job in uow.session.execute(q).scalars():
            pool = self.pool_by_id.get(PoolId(job.pool_id or 0))
            if pool is not None:
                out.append((job, _PoolFacts(pool)))
        return out

    def view(self, row: JobRow, events: Sequence[JobEventRow] = ()) -> JobView:
        pool = self.pool_by_id.get(PoolId(row.pool_id)) if row.pool_id is not None else None
        center = self.center_by_id.get(pool.center_id) if pool is not None else None
        data_center = self.center_by_id.get(CenterId(row.data_center_id)) if row.data_center_id else None
        name, city = self.orgs.get(row.org_id, ("", None))
        return JobView(
            id=JobId(row.id),
            org_id=OrgId(row.org_id),
            org_name=name,
            org_city=city,
            user_id=UserId(row.user_id) if row.user_id is not None else None,
            name=row.name,
            command=row.command,
            cards=row.cards,
            constraint=_constraint(row),
            runtime_s=row.runtime_s,
            reference=row.reference,
            price_ceiling=Money.from_fen(row.price_ceiling_fen)
            if row.price_ceiling_fen is not None
            else None,
            deadline=row.deadline,
            data_city=row.data_city,
            data_center=data_center.key if data_center is not None else None,
            retries=row.retries,
            attempts=row.attempts,
            state=JobState(row.state),
            pool_key=pool.key if pool is not None else None,
            center_key=center.key if center is not None else None,
            operator_org_id=center.operator_org_id if center is not None else None,
            engine_job_id=row.engine_job_id,
            hold_reason=row.hold_reason,
            hold_kind=row.hold_kind,
            held_since=row.held_since,
            exit_code=row.exit_code,
            submitted_at=row.submitted_at,
            placed_at=row.placed_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            expected_end=row.expected_end,
            events=tuple(
                JobEventView(
                    e.at,
                    e.from_state,
                    e.to_state,
                    self.pool_by_id[PoolId(e.pool_id)].key if e.pool_id in self.pool_by_id else None,
                    e.actor,
                    e.note,
                )
                for e in events
            ),
        )

    def spec(self, row: JobRow) -> JobSpec:
        """The compute core's job value (org id = organization name, times in Unix seconds)."""
        data_center = self.center_by_id.get(CenterId(row.data_center_id)) if row.data_center_id else None
        submit = _unix(row.submitted_at)
        deadline = _unix(row.deadline) if row.deadline is not None else None
        if deadline is not None and deadline <= submit:
            deadline = submit + 1
        return JobSpec(
            id=str(row.id) if row.id is not None else "new",
            org=self.orgs.get(row.org_id, (str(row.org_id), None))[0],
            cards=row.cards,
            runtime_s=row.runtime_s,
            submit_s=submit,
            constraint=_constraint(row),
            reference=row.reference,
            price_ceiling=Money.from_fen(row.price_ceiling_fen)
            if row.price_ceiling_fen is not None
            else None,
            deadline_s=deadline,
            data_city=row.data_city,
            data_center=data_center.key if data_center is not None else None,
            name=row.name,
            command=row.command,
            retries=row.retries,
        )


@dataclass(frozen=True, slots=True)
class _PoolFacts:
    pool: PoolView

    @property
    def accelerator(self) -> str:
        return self.pool.accelerator

    def node_cards(self, cards: int) -> int:
        cpn = self.pool.cards_per_node
        return cards if cards <= cpn else math.ceil(cards / cpn) * cpn


def _constraint(row: JobRow) -> AcceleratorConstraint:
    return AcceleratorConstraint(
        models=frozenset(_json(row.accelerators, [])),
        min_memory_gb=row.min_memory_gb,
        domestic_only=row.domestic_only,
    )


def _event(
    uow: UnitOfWork,
    row: JobRow,
    at: dt.datetime,
    old: str | None,
    new: str,
    actor: str,
    note: str = "",
    pool_id: int | None = None,
) -> None:
    uow.session.add(
        JobEventRow(
            job_id=row.id, at=at, from_state=old, to_state=new, pool_id=pool_id, actor=actor, note=note
        )
    )


def _transition(
    uow: UnitOfWork, row: JobRow, new: JobState, at: dt.datetime, actor: str, note: str = ""
) -> None:
    """Move a job to ``new`` if the compute core's transition table allows it, and record the event."""
    old = JobState(row.state)
    check_transition(old, new, retries_left=row.retries - max(0, row.attempts - 1))
    row.state = new.value
    row.updated_at = at
    _event(uow, row, at, old.value, new.value, actor, note, row.pool_id)


def submit_job(
    uow: UnitOfWork, who: Principal, data: JobInput, now: dt.datetime, *, actor: str | None = None
) -> JobView:
    """Queue a job, or refuse it with the reason if no pool can ever satisfy it (nothing is written)."""
    s = uow.session
    if data.org is not None:
        org = find_org(uow, data.org)
    elif who.org_id is not None:
        org = find_org(uow, who.org_id)
    else:
        raise ValidationError("say which organization submits the job", field="org")
    authorize(who, Action.WRITE, Resource(Kind.JOB, org_id=OrgId(org.id), city_code=org.city_code))
    for key in data.accelerators:
        accelerator(key, field="accelerators")
    accelerator(data.reference, field="reference")
    ceiling = _yuan(data.price_ceiling, "price_ceiling") if data.price_ceiling is not None else None
    deadline = ensure_aware(data.deadline, "deadline") if data.deadline is not None else None
    if deadline is not None and deadline <= now:
        raise ValidationError("the deadline has already passed", field="deadline")
    if data.data_city is not None:
        lookup_city(data.data_city, field="data_city")
    data_center = find_center(uow, data.data_center) if data.data_center else None
    if not data.command.strip():
        raise ValidationError("the command is empty", field="command")
    row = JobRow(
        org_id=org.id,
        user_id=who.user_id,
        name=data.name.strip(),
        command=data.command,
        cards=data.cards,
        accelerators=json.dumps(sorted(set(data.accelerators))),
        min_memory_gb=data.min_memory_gb,
        domestic_only=data.domestic_only,
        runtime_s=data.runtime_s,
        reference=data.reference,
        price_ceiling_fen=ceiling.to_fen() if ceiling is not None else None,
        deadline=deadline,
        data_city=data.data_city,
        data_center_id=data_center.id if data_center is not None else None,
        retries=data.retries,
        attempts=0,
        state=JobState.QUEUED.value,
        submitted_at=now,
        updated_at=now,
        engine_cancel_pending=False,
    )
    ctx = _Context.load(uow)
    try:
        spec = ctx.spec(row)
    except ZhisuanError as exc:
        raise ValidationError(exc.message, field=exc.field) from None
    # the compute core decides feasibility: every pool (an unavailable one comes back), and the quota
    quota_row = s.get(QuotaRow, org.id)
    quotas = {org.name: _quota_row_view(quota_row, org).quota()} if quota_row is not None else {}
    refusal = Federation(DEFAULT_POLICY, core_pools(ctx.centers), quotas=quotas).submit(spec)
    if refusal is not None:
        raise ValidationError(f"no pool can ever run this job: {refusal.text()}", field=refusal.field)
    s.add(row)
    s.flush()
    _event(uow, row, now, None, JobState.QUEUED.value, actor or who.username, "submitted")
    s.flush()
    return ctx.view(row)


def _job_filter(who: Principal) -> list[ColumnElement[bool]] | None:
    """The WHERE clauses matching ``visible_scope`` for jobs (None: nothing; []: everything)."""
    scope = visible_scope(who, Kind.JOB)
    if scope.nothing:
        return None
    if scope.everything:
        return []
    if scope.city_code is not None:
        orgs_in_city = select(OrganizationRow.id).where(OrganizationRow.city_code == scope.city_code)
        return [JobRow.org_id.in_(orgs_in_city)]
    conds = [JobRow.org_id.in_(scope.org_ids)]
    if scope.operator_org_ids:
        operated = (
            select(PoolRow.id)
            .join(CenterRow, CenterRow.id == PoolRow.center_id)
            .where(CenterRow.operator_org_id.in_(scope.operator_org_ids))
        )
        conds.append(JobRow.pool_id.in_(operated))
    return [or_(*conds)]


def list_jobs(
    uow: UnitOfWork,
    who: Principal,
    *,
    states: Sequence[JobState | str] = (),
    org: str | int | None = None,
    center: str | int | None = None,
    held_only: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[JobView]:
    """Jobs the caller may see, newest first (filters: states, organization, center, held only)."""
    where = _job_filter(who)
    if where is None:
        return []
    q = select(JobRow).where(*where)
    if states:
        q = q.where(JobRow.state.in_([JobState(s).value for s in states]))
    if org is not None:
        q = q.where(JobRow.org_id == find_org(uow, org).id)
    if center is not None:
        c = find_center(uow, center)
        q = q.where(JobRow.pool_id.in_(select(PoolRow.id).where(PoolRow.center_id == c.id)))
    if held_only:
        q = q.where(JobRow.state == JobState.QUEUED.value, JobRow.hold_reason.is_not(None))
    q = (
        q.order_by(JobRow.submitted_at.desc(), JobRow.id.desc())
        .limit(max(1, min(limit, 5000)))
        .offset(offset)
    )
    ctx = _Context.load(uow)
    return [ctx.view(r) for r in uow.session.execute(q).scalars()]


def count_jobs(uow: UnitOfWork, who: Principal) -> dict[str, int]:
    """How many jobs the caller may see, per state."""
    where = _job_filter(who)
    if where is None:
        return {}
    q = select(JobRow.state, func.count()).where(*where).group_by(JobRow.state)
    return dict(uow.session.execute(q).all())


def _job_row(uow: UnitOfWork, job_id: int | str) -> JobRow:
    text = str(job_id).strip()
    row_id = parse_id(text)
    row = uow.session.get(JobRow, row_id) if row_id is not None else None
    if row is None:
        raise NotFoundError(f"no job {text!r}", field="job")
    return row


def get_job(uow: UnitOfWork, who: Principal, job_id: int | str) -> JobView:
    """One job with its events; another organization's job is not found (404)."""
    row = _job_row(uow, job_id)
    ctx = _Context.load(uow)
    authorize(who, Action.READ, ctx.view(row).resource())
    events = uow.session.execute(
        select(JobEventRow).where(JobEventRow.job_id == row.id).order_by(JobEventRow.id)
    ).scalars()
    return ctx.view(row, list(events))


def cancel_job(uow: UnitOfWork, who: Principal, job_id: int | str, now: dt.datetime) -> JobView:
    """Cancel a queued, placed or running job; an engine job is stopped by the dispatcher afterwards."""
    row = _job_row(uow, job_id)
    ctx = _Context.load(uow)
    authorize(who, Action.WRITE, ctx.view(row).resource())
    old = JobState(row.state)
    _transition(uow, row, JobState.CANCELLED, now, who.username, "cancelled by the user")
    row.ended_at = now if old is not JobState.QUEUED else None
    row.hold_reason = row.hold_kind = None
    row.held_since = None
    row.engine_cancel_pending = row.engine_job_id is not None
    run = _open_run(uow, row)
    if run is not None and run.ended_at is None:
        run.ended_at = now if run.started_at is not None else None
        run.outcome = "cancelled"
    uow.session.flush()
    return get_job(uow, who, row.id)


# ==================================================================================================
# scheduling: the late-binding step
# ==================================================================================================


@dataclass(frozen=True, slots=True)
class ScheduleReport:
    """What one scheduling step did."""

    at: dt.datetime
    policy: str
    queued: int
    placed: tuple[tuple[int, str], ...]  # (job id, pool key)
    held: Mapping[str, int]  # hold kind -> jobs
    pools: int

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "policy": self.policy,
            "queued_before": self.queued,
            "placed": [{"job": j, "pool": p} for j, p in self.placed],
            "held": dict(self.held),
            "pools_available": self.pools,
        }


def _month_usage(
    uow: UnitOfWork, ctx: _Context, now: dt.datetime, vouchers: VoucherEstimate
) -> dict[str, MonthUsage]:
    """What each organization has committed this Shanghai month: jobs placed since the month began.

    Ended attempts count their real card-time, the others their expected end; yuan is the price the
    user bears after the expected compute voucher (``vouchers``, art. 2), as placement counts it.
    """
    start = Month.of(now).start
    rows = uow.session.execute(
        select(JobRow).where(JobRow.placed_at >= start, JobRow.pool_id.is_not(None))
    ).scalars()
    yuan: dict[str, Money] = {}
    hours: dict[str, Fraction] = {}
    for job in rows:
        pool = ctx.pool_by_id.get(PoolId(job.pool_id or 0))
        if pool is None:
            continue
        begin = job.started_at or job.placed_at
        end = job.ended_at or job.expected_end
        if begin is None or end is None or end <= begin:
            continue
        org = ctx.orgs.get(job.org_id, ("", None))[0]
        card_h = Fraction(job.cards * int((end - begin).total_seconds()), 3600)
        operator = ctx.center_by_id[pool.center_id].operator_name
        price = vouchers.net(org, operator, shanghai_date(begin), pool.price * card_h)
        yuan[org] = yuan.get(org, Money()) + price
        hours[org] = hours.get(org, Fraction(0)) + card_h
    return {
        org: MonthUsage(
            yuan=yuan[org], card_hours=Decimal(hours[org].numerator) / Decimal(hours[org].denominator)
        )
        for org in yuan
    }


def _model_quota_reason(
    ctx: _Context,
    row: JobRow,
    quotas: Mapping[str, Quota],
    in_use: Mapping[tuple[int, str], int],
    available: Sequence[PoolView],
) -> HoldReason | None:
    """Say so when per-model card quotas, not capacity, keep a job from every pool that could run it."""
    org = ctx.orgs.get(row.org_id, ("", None))[0]
    quota = quotas.get(org)
    if quota is None or not quota.max_cards_by_model:
        return None
    spec = ctx.spec(row)
    fits = [p for p in available if pool_refusal(spec, ctx.core_pool(p)) is None]
    blocked = []
    for p in fits:
        cap = quota.max_cards_by_model.get(p.accelerator)
        used = in_use.get((row.org_id, p.accelerator), 0)
        if cap is None or used + _PoolFacts(p).node_cards(row.cards) <= cap:
            return None
        blocked.append((used, cap, p.accelerator))
    if not blocked:
        return None
    return HoldReason(HoldKind.QUOTA, ModelQuota(org, tuple(blocked), row.cards))


def schedule_once(
    uow: UnitOfWork,
    now: dt.datetime,
    policy: str = DEFAULT_POLICY,
    *,
    seed: int = 0,
    actor: str = "scheduler",
    vouchers: VoucherEstimate | None = None,
) -> ScheduleReport:
    """One late-binding step: bind the queued jobs that can start now to pools, record why others wait.

    Loads the queue and every available pool with the jobs it holds, organization quotas and this
    month's commitments, and lets the compute core's placement (``Scheduler.decide``) choose. Placed
    jobs go ``queued → placed`` (the dispatcher then starts them on the pool's engine); held jobs
    keep their reason (``quota: …``, ``budget: …``, ``reserved …``, capacity) for owners and admins.
    On PostgreSQL a transaction-level advisory lock serialises scheduling steps (so no two of them
    hand out the same free cards) and the queued rows are locked SKIP LOCKED against a concurrent
    cancel. On SQLite the database's single writer does the same within one machine. ``vouchers``
    estimates art. 2 for prices and budgets (default: none).
    """
    policy_info(policy)
    estimate = vouchers or NoVoucher()
    s = uow.session
    if s.get_bind().dialect.name == "postgresql":
        # one scheduling step at a time: a second one waits here and then sees the first's placements,
        # so two schedulers never hand out the same free cards (released at commit or rollback)
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULER_LOCK})
    ctx = _Context.load(uow)
    now_s = _unix(now)
    queue_rows = list(
        s.execute(
            select(JobRow)
            .where(JobRow.state == JobState.QUEUED.value)
            .order_by(JobRow.submitted_at, JobRow.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    available = [p for c in ctx.centers for p in c.pools if p.available]
    running: dict[str, list[RunningJob]] = {p.key: [] for p in available}
    for job, facts in ctx.occupying(uow):
        if facts.pool.key not in running:
            continue
        end = job.expected_end or now
        running[facts.pool.key].append(
            RunningJob(
                str(job.id), ctx.orgs.get(job.org_id, ("", None))[0], job.cards, max(_unix(end), now_s)
            )
        )
    states = [PoolState(ctx.core_pool(p), tuple(running[p.key])) for p in available]
    quotas: dict[str, Quota] = {}
    for qrow in s.execute(select(QuotaRow)).scalars():
        name = ctx.orgs.get(qrow.org_id, (None, None))[0]
        if name is not None:
            org_row = s.get(OrganizationRow, qrow.org_id)
            assert org_row is not None
            quotas[name] = _quota_row_view(qrow, org_row).quota()
    specs = [ctx.spec(r) for r in queue_rows]
    by_id = {str(r.id): r for r in queue_rows}
    decisions = (
        Scheduler(policy, seed=seed, quotas=quotas, vouchers=estimate).decide(
            specs, states, now_s, _month_usage(uow, ctx, now, estimate)
        )
        if specs
        else []
    )
    everywhere = core_pools(ctx.centers)
    placed: list[tuple[int, str]] = []
    held: Counter[str] = Counter()
    in_use_by_model: Counter[tuple[int, str]] = Counter()
    for job, facts in ctx.occupying(uow):
        in_use_by_model[(job.org_id, facts.accelerator)] += facts.node_cards(job.cards)
    # placements first, so that the holds below see the cards this step hands out
    for decision in sorted(decisions, key=lambda d: not isinstance(d, Placement)):
        row = by_id[decision.job_id]
        if isinstance(decision, Placement):
            pool = ctx.pool_by_key[decision.pool_id]
            in_use_by_model[(row.org_id, pool.accelerator)] += _PoolFacts(pool).node_cards(row.cards)
            row.pool_id = pool.id
            note = f"placed on {pool.key}" + (" (backfilled)" if decision.backfilled else "")
            _transition(uow, row, JobState.PLACED, now, actor, note)
            row.placed_at = now
            row.expected_end = _from_unix(max(decision.end_s, now_s + 1))
            row.hold_reason = row.hold_kind = None
            row.held_since = None
            placed.append((row.id, pool.key))
            continue
        assert isinstance(decision, Hold)
        reason = decision.reason
        if not decision.unrunnable and reason.kind not in (HoldKind.QUOTA, HoldKind.BUDGET):
            reason = _model_quota_reason(ctx, row, quotas, in_use_by_model, available) or reason
        if decision.unrunnable:
            spec = ctx.spec(row)
            ever = Federation(DEFAULT_POLICY, everywhere, quotas=quotas).submit(spec)
            if ever is None:
                down = tuple(
                    (p.key, p.unavailable_reason)
                    for c in ctx.centers
                    for p in c.pools
                    if not p.available and pool_refusal(spec, _core_pool(p, c)) is None
                )
                reason = HoldReason(HoldKind.UNAVAILABLE, Unavailable(down))
        words = reason.text()
        if row.hold_reason != words:
            row.hold_reason = words
            row.hold_kind = reason.kind.value
            row.held_since = row.held_since or now
            row.updated_at = now
        held[row.hold_kind or "capacity"] += 1
    s.flush()
    return ScheduleReport(now, policy, len(queue_rows), tuple(placed), dict(held), len(available))


# ==================================================================================================
# Dispatcher interface — the functions the dispatcher worker (compute/worker.py) calls
# ==================================================================================================
#
#   tickets = claim_placed(uow, "worker-1", now)            # placed jobs not yet on an engine
#   for t in tickets:  engine.submit(...)  → record_dispatch(uow, t.job_id, t.attempt, engine_id, now)
#                      refused            → record_refused(uow, t.job_id, why, now)
#                      engine unreachable → set_center_available(uow, t.center_key, False, why, now)
#   for a in active_jobs(uow):  poll the engine with a.engine_job_id, then
#       started  → record_running(uow, a.job_id, start, now)
#       ended    → record_finished(uow, a.job_id, succeeded=…, exit_code=…, started_at=…, ended_at=…, now=now)
#       cancelled by the engine → record_cancelled(uow, a.job_id, ended_at, now)
#       unknown to the engine   → record_lost(uow, a.job_id, why, now)   (requeued if retries are left)
#   for c in pending_engine_cancels(uow):  engine.cancel(c.engine_job_id) → record_engine_cancelled(...)
#
# Each call changes the rows inside the caller's unit of work; the caller commits.


@dataclass(frozen=True, slots=True)
class DispatchTicket:
    """A job bound to a pool, with what the engine needs to run it."""

    job_id: JobId
    attempt: int
    pool_id: PoolId
    pool_key: str
    center_id: CenterId
    center_key: str
    accelerator: str
    cards: int
    nodes: int
    command: str
    name: str
    engine: str
    #: the center's engine settings overlaid with the pool's (``kind`` = the pool's engine)
    engine_config: Mapping[str, Any]
    #: expected run time on this pool's accelerator (scaled from the estimate), seconds
    expected_runtime_s: int
    engine_job_id: str | None = None


def _ticket(ctx: _Context, row: JobRow, attempt: int) -> DispatchTicket:
    pool = ctx.pool_by_id[PoolId(row.pool_id or 0)]
    center = ctx.center_by_id[pool.center_id]
    cpn = pool.cards_per_node
    nodes = 1 if row.cards <= cpn else math.ceil(row.cards / cpn)
    config = {**center.engine_config, **pool.engine_config, "kind": pool.engine}
    return DispatchTicket(
        job_id=JobId(row.id),
        attempt=attempt,
        pool_id=pool.id,
        pool_key=pool.key,
        center_id=center.id,
        center_key=center.key,
        accelerator=pool.accelerator,
        cards=row.cards,
        nodes=nodes,
        command=row.command,
        name=row.name,
        engine=pool.engine,
        engine_config=config,
        expected_runtime_s=Scaling().runtime(row.runtime_s, row.reference, pool.accelerator),
        engine_job_id=row.engine_job_id,
    )


def claim_placed(
    uow: UnitOfWork, worker: str, now: dt.datetime, *, limit: int = 50, lease_s: int = 300
) -> list[DispatchTicket]:
    """Claim placed jobs that are not on an engine yet (nor claimed by a live worker in ``lease_s``).

    Rows are locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers never claim one job;
    commit soon after to release the locks (the claim itself lasts ``lease_s``).
    """
    stale = now - dt.timedelta(seconds=lease_s)
    rows = list(
        uow.session.execute(
            select(JobRow)
            .where(
                JobRow.state == JobState.PLACED.value,
                JobRow.engine_job_id.is_(None),
                or_(JobRow.claimed_at.is_(None), JobRow.claimed_at < stale),
            )
            .order_by(JobRow.placed_at, JobRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not rows:
        return []
    ctx = _Context.load(uow)
    out = []
    for row in rows:
        row.claimed_by, row.claimed_at = worker, now
        out.append(_ticket(ctx, row, row.attempts + 1))
    uow.session.flush()
    return out


def record_dispatch(
    uow: UnitOfWork, job_id: int, attempt: int, engine_job_id: str, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine accepted the job as ``engine_job_id``: remember it and open the attempt's run."""
    row = _job_row(uow, job_id)
    if row.state != JobState.PLACED.value or row.pool_id is None:
        raise ConflictError(
            f"job {row.id} is {row.state}, not placed; it cannot be dispatched", field="state"
        )
    if row.engine_job_id == engine_job_id:
        return  # already recorded (a retried call)
    pool = uow.session.get(PoolRow, row.pool_id)
    assert pool is not None
    row.engine_job_id = engine_job_id
    row.attempts = attempt
    row.claimed_by = row.claimed_at = None
    row.updated_at = now
    uow.session.add(
        JobRunRow(
            job_id=row.id,
            attempt=attempt,
            pool_id=pool.id,
            cards=row.cards,
            engine=pool.engine_kind,
            engine_job_id=engine_job_id,
            dispatched_at=now,
        )
    )
    _event(
        uow, row, now, row.state, row.state, actor, f"dispatched to {pool.key} as {engine_job_id}", pool.id
    )
    uow.session.flush()


def _open_run(uow: UnitOfWork, row: JobRow) -> JobRunRow | None:
    return uow.session.execute(
        select(JobRunRow).where(JobRunRow.job_id == row.id, JobRunRow.attempt == row.attempts)
    ).scalar()


def record_refused(
    uow: UnitOfWork, job_id: int, reason: str, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine refused the job before it started: back to the platform queue (``placed → queued``)."""
    row = _job_row(uow, job_id)
    _transition(uow, row, JobState.QUEUED, now, actor, f"engine refused: {reason}")
    row.pool_id = None
    row.engine_job_id = None
    row.claimed_by = row.claimed_at = None
    row.placed_at = row.expected_end = None
    row.hold_reason = f"engine refused on the last pool: {reason}"
    row.hold_kind = "engine"
    row.held_since = now
    uow.session.flush()


def record_running(
    uow: UnitOfWork, job_id: int, started_at: dt.datetime, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine started the job at ``started_at`` (engine-reported): ``placed → running``."""
    row = _job_row(uow, job_id)
    if row.state == JobState.RUNNING.value:
        return
    _transition(uow, row, JobState.RUNNING, now, actor, f"started at {started_at.isoformat()}")
    row.started_at = started_at
    if row.placed_at is not None and row.expected_end is not None:
        row.expected_end = started_at + (row.expected_end - row.placed_at)
    run = _open_run(uow, row)
    if run is not None:
        run.started_at = started_at
    uow.session.flush()


def record_finished(
    uow: UnitOfWork,
    job_id: int,
    *,
    succeeded: bool,
    exit_code: int | None,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    now: dt.datetime,
    message: str = "",
    actor: str = "worker",
) -> JobState:
    """The engine says the job ended (start and end as the engine reports them).

    ``running → completed | failed``; a placed job that started and ended between two polls passes
    through running first. A failed job with retries left goes back to the queue (``failed → queued``).
    Returns the job's state afterwards. Calling it again for the same end changes nothing.
    """
    row = _job_row(uow, job_id)
    if row.state in (JobState.COMPLETED.value, JobState.CANCELLED.value):
        return JobState(row.state)
    if row.state == JobState.FAILED.value:
        return JobState.FAILED
    if row.state == JobState.PLACED.value:
        record_running(uow, job_id, started_at, now, actor=actor)
    new = JobState.COMPLETED if succeeded else JobState.FAILED
    note = f"exit code {exit_code}" if exit_code is not None else ""
    if message:
        note = f"{note}; {message}" if note else message
    _transition(uow, row, new, now, actor, note)
    row.started_at = started_at
    row.ended_at = ended_at
    row.exit_code = exit_code
    run = _open_run(uow, row)
    if run is not None:
        run.started_at, run.ended_at = started_at, ended_at
        run.outcome, run.exit_code = new.value, exit_code
    if new is JobState.FAILED and row.retries - max(0, row.attempts - 1) > 0:
        _requeue(uow, row, now, actor, f"retry {row.attempts + 1} of {row.retries + 1}")
    uow.session.flush()
    return JobState(row.state)


def _requeue(uow: UnitOfWork, row: JobRow, now: dt.datetime, actor: str, note: str) -> None:
    _transition(uow, row, JobState.QUEUED, now, actor, note)
    row.pool_id = None
    row.engine_job_id = None
    row.claimed_by = row.claimed_at = None
    row.placed_at = row.expected_end = row.started_at = row.ended_at = None
    row.hold_reason = row.hold_kind = None
    row.held_since = None


def record_lost(
    uow: UnitOfWork, job_id: int, reason: str, now: dt.datetime, *, actor: str = "worker"
) -> JobState:
    """The engine has no record of the job any more (node failure, engine reset).

    A placed job goes back to the queue; a running one fails (its run ends now, outcome ``lost``) and
    is requeued if it has retries left. Returns the job's state afterwards.
    """
    row = _job_row(uow, job_id)
    run = _open_run(uow, row)
    if run is not None and run.ended_at is None:
        run.ended_at = now if run.started_at is not None else None
        run.outcome = "lost"
    if row.state == JobState.PLACED.value:
        _requeue(uow, row, now, actor, f"lost by the engine before it started: {reason}")
    elif row.state == JobState.RUNNING.value:
        _transition(uow, row, JobState.FAILED, now, actor, f"lost by the engine: {reason}")
        row.ended_at = now
        if row.retries - max(0, row.attempts - 1) > 0:
            _requeue(uow, row, now, actor, f"retry {row.attempts + 1} of {row.retries + 1}")
    uow.session.flush()
    return JobState(row.state)


def record_cancelled(
    uow: UnitOfWork, job_id: int, ended_at: dt.datetime | None, now: dt.datetime, *, actor: str = "worker"
) -> None:
    """The engine cancelled the job on its own (an operator's scancel, a preemption without requeue)."""
    row = _job_row(uow, job_id)
    if row.state == JobState.CANCELLED.value:
        return
    _transition(uow, row, JobState.CANCELLED, now, actor, "cancelled at the engine")
    row.ended_at = ended_at or now
    run = _open_run(uow, row)
    if run is not None:
        run.ended_at = (ended_at or now) if run.started_at is not None else None
        run.outcome = "cancelled"
    uow.session.flush()


def active_jobs(uow: UnitOfWork) -> list[DispatchTicket]:
    """Jobs on an engine that the worker should poll: placed-and-dispatched, and running."""
    ctx = _Context.load(uow)
    rows = uow.session.execute(
        select(JobRow)
        .where(JobRow.state.in_(OCCUPYING), JobRow.engine_job_id.is_not(None))
        .order_by(JobRow.id)
    ).scalars()
    return [_ticket(ctx, r, r.attempts) for r in rows]


def pending_engine_cancels(uow: UnitOfWork) -> list[DispatchTicket]:
    """Jobs cancelled by their users that still have an engine job to stop."""
    ctx = _Context.load(uow)
    rows = uow.session.execute(
        select(JobRow).where(JobRow.engine_cancel_pending.is_(True)).order_by(JobRow.id)
    ).scalars()
    return [_ticket(ctx, r, r.attempts) for r in rows if r.pool_id is not None]


def record_engine_cancelled(
    uow: UnitOfWork, job_id: int, ended_at: dt.datetime | None, now: dt.datetime
) -> None:
    """The engine stopped a user-cancelled job (``ended_at`` as the engine reports it, if it ran)."""
    row = _job_row(uow, job_id)
    row.engine_cancel_pending = False
    run = _open_run(uow, row)
    if run is not None and ended_at is not None and run.started_at is not None:
        run.ended_at = ended_at
        row.ended_at = ended_at
    row.updated_at = now
    uow.session.flush()


# ==================================================================================================
# Metering interface — what ran, where, from when to when
# ==================================================================================================


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One ended attempt of a job on a pool: the facts a usage record needs.

    ``start``/``end`` are the engine-reported times (aware UTC); ``cards`` the job's cards;
    ``operator_org_id`` the center's operator (art. 2 self-use test); ``price_fen`` the pool's list
    price per card-hour now (metering's rate card is the authority on prices over time).
    """

    run_id: int
    job_id: JobId
    attempt: int
    org_id: OrgId
    center_id: CenterId
    operator_org_id: OrgId
    pool_id: PoolId
    accelerator: str
    cards: int
    engine: str
    engine_job_id: str
    start: dt.datetime
    end: dt.datetime
    outcome: str
    exit_code: int | None
    price_fen: int

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def finished_runs(uow: UnitOfWork, *, after_id: int = 0, limit: int = 1000) -> list[RunRecord]:
    """Ended attempts (completed, failed, cancelled or lost after starting) with ``run_id > after_id``.

    In run-id order, so a reader keeps the last id it saw as its watermark. Idempotency key for a
    usage record: ``(engine, engine_job_id)``.
    """
    q = (
        select(JobRunRow, JobRow, PoolRow, CenterRow)
        .join(JobRow, JobRow.id == JobRunRow.job_id)
        .join(PoolRow, PoolRow.id == JobRunRow.pool_id)
        .join(CenterRow, CenterRow.id == PoolRow.center_id)
        .where(
            JobRunRow.id > after_id,
            JobRunRow.started_at.is_not(None),
            JobRunRow.ended_at.is_not(None),
        )
        .order_by(JobRunRow.id)
        .limit(limit)
    )
    out = []
    for run, job, pool, center in uow.session.execute(q).all():
        assert run.started_at is not None
        assert run.ended_at is not None
        out.append(
            RunRecord(
                run_id=run.id,
                job_id=JobId(job.id),
                attempt=run.attempt,
                org_id=OrgId(job.org_id),
                center_id=CenterId(center.id),
                operator_org_id=OrgId(center.operator_org_id),
                pool_id=PoolId(pool.id),
                accelerator=pool.accelerator,
                cards=run.cards,
                engine=run.engine,
                engine_job_id=run.engine_job_id or f"run-{run.id}",
                start=run.started_at,
                end=run.ended_at,
                outcome=run.outcome or "",
                exit_code=run.exit_code,
                price_fen=pool.price_fen,
            )
        )
    return out


# ==================================================================================================
# overview for pages and the API: load, queues and utilization per center and pool
# ==================================================================================================


@dataclass(frozen=True, slots=True)
class PoolLoad:
    pool: PoolView
    busy_cards: int
    running: int
    placed: int
    utilization_now: float
    utilization_window: float
    #: queued jobs of the platform queue this pool could run (late binding: not bound to it yet)
    eligible_queued: int = 0

    def as_dict(self) -> dict[str, object]:
        return self.pool.as_dict() | {
            "busy_cards": self.busy_cards,
            "running_jobs": self.running,
            "placed_jobs": self.placed,
            "eligible_queued_jobs": self.eligible_queued,
            "utilization_now": round(self.utilization_now, 4),
            "utilization_window": round(self.utilization_window, 4),
        }


@dataclass(frozen=True, slots=True)
class CenterLoad:
    center: CenterView
    pools: tuple[PoolLoad, ...]
    #: queued jobs at least one of its pools could run
    eligible_queued: int = 0

    @property
    def busy_cards(self) -> int:
        return sum(p.busy_cards for p in self.pools)

    @property
    def running(self) -> int:
        return sum(p.running for p in self.pools)

    @property
    def placed(self) -> int:
        return sum(p.placed for p in self.pools)

    @property
    def utilization_now(self) -> float:
        cards = self.center.cards
        return self.busy_cards / cards if cards else 0.0

    @property
    def utilization_window(self) -> float:
        cards = self.center.cards
        return sum(p.utilization_window * p.pool.cards for p in self.pools) / cards if cards else 0.0

    def as_dict(self) -> dict[str, object]:
        out = self.center.as_dict()
        out["pools"] = [p.as_dict() for p in self.pools]
        return out | {
            "busy_cards": self.busy_cards,
            "running_jobs": self.running,
            "placed_jobs": self.placed,
            "eligible_queued_jobs": self.eligible_queued,
            "utilization_now": round(self.utilization_now, 4),
            "utilization_window": round(self.utilization_window, 4),
        }


@dataclass(frozen=True, slots=True)
class Overview:
    """The province at a glance: per-center load and the platform queue (public figures only)."""

    at: dt.datetime
    window_s: int
    centers: tuple[CenterLoad, ...]
    queued: int
    held: Mapping[str, int]
    capacity: Capacity

    @property
    def busy_cards(self) -> int:
        return sum(c.busy_cards for c in self.centers)

    @property
    def utilization_now(self) -> float:
        cards = self.capacity.province_cards
        return self.busy_cards / cards if cards else 0.0

    @property
    def utilization_window(self) -> float:
        cards = self.capacity.province_cards
        return sum(c.utilization_window * c.center.cards for c in self.centers) / cards if cards else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "window_s": self.window_s,
            "queued": self.queued,
            "held": dict(self.held),
            "busy_cards": self.busy_cards,
            "utilization_now": round(self.utilization_now, 4),
            "utilization_window": round(self.utilization_window, 4),
            "capacity": self.capacity.as_dict(),
            "centers": [c.as_dict() for c in self.centers],
        }


def overview(uow: UnitOfWork, now: dt.datetime, *, window_s: int = 86_400) -> Overview:
    """Load now, utilization over the last ``window_s`` and the queue, per pool and center."""
    ctx = _Context.load(uow)
    s = uow.session
    busy: Counter[int] = Counter()
    running: Counter[int] = Counter()
    placed: Counter[int] = Counter()
    for job, facts in ctx.occupying(uow):
        pid = facts.pool.id
        busy[pid] += facts.node_cards(job.cards)
        if job.state == JobState.RUNNING.value:
            running[pid] += 1
        else:
            placed[pid] += 1
    since = now - dt.timedelta(seconds=window_s)
    used: Counter[int] = Counter()  # card-seconds per pool inside the window
    runs = s.execute(
        select(JobRunRow.pool_id, JobRunRow.cards, JobRunRow.started_at, JobRunRow.ended_at).where(
            JobRunRow.started_at.is_not(None),
            JobRunRow.started_at < now,
            or_(JobRunRow.ended_at.is_(None), JobRunRow.ended_at > since),
        )
    ).all()
    for pool_id, cards, start, end in runs:
        pool = ctx.pool_by_id.get(PoolId(pool_id))
        if pool is None or start is None:
            continue
        a, b = max(start, since), min(end or now, now)
        if b > a:
            used[pool_id] += _PoolFacts(pool).node_cards(cards) * int((b - a).total_seconds())
    eligible: Counter[int] = Counter()
    eligible_centers: Counter[int] = Counter()
    queued_rows = s.execute(select(JobRow).where(JobRow.state == JobState.QUEUED.value)).scalars()
    core = {p.id: ctx.core_pool(p) for p in ctx.pool_by_id.values()}
    for row in queued_rows:
        spec = ctx.spec(row)
        fits = [pid for pid, pool in core.items() if pool_refusal(spec, pool) is None]
        eligible.update(fits)
        eligible_centers.update({ctx.pool_by_id[pid].center_id for pid in fits})
    loads = []
    for c in ctx.centers:
        pools = tuple(
            PoolLoad(
                pool=p,
                busy_cards=busy[p.id],
                running=running[p.id],
                placed=placed[p.id],
                utilization_now=busy[p.id] / p.cards,
                utilization_window=min(1.0, used[p.id] / (p.cards * window_s)),
                eligible_queued=eligible[p.id],
            )
            for p in c.pools
        )
        loads.append(CenterLoad(c, pools, eligible_centers[c.id]))
    held_rows = s.execute(
        select(JobRow.hold_kind, func.count())
        .where(JobRow.state == JobState.QUEUED.value)
        .group_by(JobRow.hold_kind)
    ).all()
    held = {kind or "new": n for kind, n in held_rows}
    return Overview(now, window_s, tuple(loads), sum(held.values()), held, capacity(uow))


__all__ = [
    "BandInput",
    "Capacity",
    "CenterInput",
    "CenterLoad",
    "CenterView",
    "DispatchTicket",
    "JobEventView",
    "JobInput",
    "JobView",
    "Overview",
    "PoolInput",
    "PoolLoad",
    "PoolView",
    "QuotaInput",
    "QuotaView",
    "RunRecord",
    "ScheduleReport",
    "active_jobs",
    "add_pool",
    "cancel_job",
    "capacity",
    "claim_placed",
    "count_jobs",
    "create_center",
    "find_center",
    "find_pool",
    "finished_runs",
    "get_center",
    "get_job",
    "get_quota",
    "list_centers",
    "list_jobs",
    "list_quotas",
    "overview",
    "parse_duration",
    "pending_engine_cancels",
    "record_cancelled",
    "record_dispatch",
    "record_engine_cancelled",
    "record_finished",
    "record_lost",
    "record_refused",
    "record_running",
    "schedule_once",
    "set_center_available",
    "set_pool_available",
    "set_quota",
    "submit_job",
]
