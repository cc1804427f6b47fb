"""What the compute service modules share: centers, pools and organizations loaded once per call.

The compute core works on plain values with string ids and Unix seconds; here a pool's id is its
``key`` (e.g. ``hf-chaohu-910b3``), a center's id its ``key``, and an organization's id its
registered **name** (unique), so that hold reasons read well as they are.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import bindparam, literal_column, select, text

from zhisuan.accounts.services import ownership_graph
from zhisuan.compute.model import AcceleratorConstraint, JobSpec, JobState, Pool
from zhisuan.compute.placement import DEFAULT_POLICY, Federation, OrgDirectory, Quota, Refusal
from zhisuan.compute.views import (
    CenterView,
    JobEventView,
    JobView,
    PoolView,
    _center_views,
    _core_pool,
    _json,
    core_pools,
)
from zhisuan.core.clock import UTC, ensure_aware
from zhisuan.core.ids import CenterId, JobId, OrgId, PoolId, UserId
from zhisuan.core.money import Money
from zhisuan.store.models.compute import JobEventRow, JobRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

#: States in which a job holds cards on its pool (placed jobs are bound and about to start).
OCCUPYING: Final = (JobState.PLACED.value, JobState.RUNNING.value)


def _unix(when: dt.datetime) -> int:
    return int(ensure_aware(when).timestamp())


def _from_unix(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)


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

    @classmethod
    def of_jobs(cls, uow: UnitOfWork, rows: Sequence[JobRow]) -> _Context:
        """Enough to show these jobs: the organizations of these jobs alone, and the centers and pools of
        the cached province model (PostgreSQL: the digest read with the organizations tells it is
        current; otherwise one small query)."""
        ids = sorted({r.org_id for r in rows})
        if not ids:
            return province(uow).context({})
        pg = uow.session.get_bind().dialect.name == "postgresql"
        found = uow.session.connection().execute(_JOB_ORGS_PG if pg else _JOB_ORGS, {"ids": ids}).all()
        digest: str | None = found[0][3] if pg and found else None
        return province(uow, digest).context({r[0]: (r[1], r[2]) for r in found})

    def directory(self, uow: UnitOfWork) -> OrgDirectory:
        """The organizations as art. 2 sees them (province, city, related parties), for vouchers."""
        provincial = uow.session.execute(
            select(OrganizationRow.name).where(OrganizationRow.in_province.is_(True))
        ).scalars()
        return OrgDirectory(
            ids=self.org_by_name,
            cities=dict(self.orgs.values()),
            provincial=frozenset(provincial),
            graph=ownership_graph(uow),
        )

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


# Everything the province model is built from, in one small query: when the answer is the same as
# when the cached model was built, the model is still right (centers and pools are only added, and
# their availability changes; a rolled-back test database can reuse ids, hence every column).
_PROVINCE_FROM = (
    "FROM compute_centers c LEFT JOIN organizations o ON o.id = c.operator_org_id "
    "LEFT JOIN compute_pools p ON p.center_id = c.id"
)
_PROVINCE_COLUMNS = (
    "c.id, c.key, c.city_code, c.operator_org_id, o.name, c.engine_config, p.id, p.key, "
    "p.accelerator, p.nodes, p.cards_per_node, p.price_fen, p.bands, p.engine_kind, p.engine_config, "
    "p.available, p.unavailable_reason"
)
#: PostgreSQL: the same rows as one digest (each row's text form keeps NULL and '' apart), small
#: enough to ask for beside the submitting organization, so that the check costs no round trip
PROVINCE_DIGEST_PG = (
    f"(SELECT md5(string_agg(ROW({_PROVINCE_COLUMNS})::text, ';' ORDER BY c.id, p.id)) {_PROVINCE_FROM})"
)
_PROVINCE_ROWS = text(f"SELECT {_PROVINCE_COLUMNS} {_PROVINCE_FROM} ORDER BY c.id, p.id")
#: organizations by id, with their names and cities (PostgreSQL: and the province's digest)
_JOB_ORGS = select(OrganizationRow.id, OrganizationRow.name, OrganizationRow.city_code).where(
    OrganizationRow.id.in_(bindparam("ids", expanding=True))
)
_JOB_ORGS_PG = _JOB_ORGS.add_columns(literal_column(PROVINCE_DIGEST_PG))
_PROVINCE_ROWS_PG = text(
    f"SELECT {_PROVINCE_COLUMNS}, {PROVINCE_DIGEST_PG} {_PROVINCE_FROM} ORDER BY c.id, p.id"
)


@dataclass
class _Province:
    """The centers and pools of one database as submission sees them, and a federation over them
    that judges whether any pool can ever run a job (built once, reused while nothing changed)."""

    rows: tuple[tuple[object, ...], ...]
    centers: list[CenterView]
    federation: Federation
    digest: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def context(self, orgs: Mapping[int, tuple[str, str | None]]) -> _Context:
        """A service context over these centers and the given organizations."""
        return _Context(self.centers, orgs)

    def refusal(self, spec: JobSpec, quotas: Mapping[str, Quota]) -> Refusal | None:
        """Why no pool can ever run ``spec`` (the compute core decides), or None. An organization with
        a quota is judged by a federation that carries it; the others by the cached one."""
        if quotas:
            return Federation(DEFAULT_POLICY, self.federation.pools, quotas=quotas).submit(spec)
        with self.lock:  # request threads share it: queue the job to judge it, then take it out
            refused = self.federation.submit(spec)
            if refused is None:
                self.federation.cancel(spec.id)
            return refused


_PROVINCES: dict[str, _Province] = {}


def province(uow: UnitOfWork, digest: str | None = None) -> _Province:
    """The province model of this unit of work's database: cached per process, rebuilt when a center
    or pool was added or changed. ``digest`` (PostgreSQL: :data:`PROVINCE_DIGEST_PG`, read by the
    caller in a query it makes anyway) tells without a query; otherwise one small query tells."""
    s = uow.session
    where = str(s.get_bind().engine.url)
    cached = _PROVINCES.get(where)
    if digest is not None and cached is not None and cached.digest == digest:
        return cached
    pg = s.get_bind().dialect.name == "postgresql"
    got = s.execute(_PROVINCE_ROWS_PG if pg else _PROVINCE_ROWS).all()
    now_digest = str(got[0][-1]) if pg and got else None
    rows = tuple(tuple(r)[: len(r) - 1] if pg else tuple(r) for r in got)
    if cached is not None and cached.rows == rows:
        cached.digest = now_digest
        return cached
    centers = _center_views(uow)
    built = _Province(rows, centers, Federation(DEFAULT_POLICY, core_pools(centers)), now_digest)
    _PROVINCES[where] = built
    return built


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


__all__ = []
