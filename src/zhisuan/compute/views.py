"""Compute federation, read models: centers, pools, quotas, jobs and the province's load, as callers see them.

Frozen values built from the rows (``_pool_view``, ``_center_views``, ``_quota_row_view``) with
``as_dict`` for the API and the CLI's ``--json``; ``core_pools`` turns them into the compute core's
values.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from zhisuan.compute.model import ENGINES, AcceleratorConstraint, JobState, Pool, PriceBand
from zhisuan.compute.placement import Quota
from zhisuan.core.access import Kind, Resource
from zhisuan.core.catalog import accelerator, capacity_p
from zhisuan.core.ids import CenterId, JobId, OrgId, PoolId, UserId
from zhisuan.core.money import Money
from zhisuan.store.models.compute import CenterRow, PoolRow, QuotaRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    return json.loads(text)


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


__all__ = [
    "Capacity",
    "CenterLoad",
    "CenterView",
    "JobEventView",
    "JobView",
    "Overview",
    "PoolLoad",
    "PoolView",
    "QuotaView",
    "core_pools",
]
