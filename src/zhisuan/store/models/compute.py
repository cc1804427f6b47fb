"""Tables of the compute context: centers, pools, jobs, their events and runs, organization quotas,
and the installation id engine job names carry.

Money is integer fen; card-hour budgets are whole card-hours. JSON settings (engine configuration,
price bands, accelerator sets, per-model limits) are kept as text so that both databases store them
the same way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhisuan.store.base import Base
from zhisuan.store.types import UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class CenterRow(Base):
    """An intelligent-computing center: run by an operator organization, in a city."""

    __tablename__ = "compute_centers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    operator_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    engine_config: Mapped[str] = mapped_column(Text, default="{}")  # JSON shared by the center's pools
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PoolRow(Base):
    """One accelerator model × nodes × cards per node at a center, its list price and its engine."""

    __tablename__ = "compute_pools"
    __table_args__ = (
        CheckConstraint("nodes > 0", name="nodes_positive"),
        CheckConstraint("cards_per_node > 0", name="cards_per_node_positive"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("compute_centers.id"), index=True)
    accelerator: Mapped[str] = mapped_column(String(64))
    nodes: Mapped[int] = mapped_column(Integer)
    cards_per_node: Mapped[int] = mapped_column(Integer)
    price_fen: Mapped[int] = mapped_column(BigInteger)  # list price per card-hour
    bands: Mapped[str] = mapped_column(Text, default="[]")  # JSON [{"from": 0, "to": 8, "price_fen": 1100}]
    engine_kind: Mapped[str] = mapped_column(String(32))
    engine_config: Mapped[str] = mapped_column(Text, default="{}")  # JSON, pool-specific settings
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    unavailable_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class JobRow(Base):
    """A job in the platform queue and its current state (history in job events and runs)."""

    __tablename__ = "compute_jobs"
    __table_args__ = (
        Index("ix_compute_jobs_state_submitted", "state", "submitted_at"),
        Index("ix_compute_jobs_org_state", "org_id", "state"),
        Index("ix_compute_jobs_pool_state", "pool_id", "state"),
        CheckConstraint("cards > 0", name="cards_positive"),
        CheckConstraint("runtime_s > 0", name="runtime_positive"),
        CheckConstraint("retries >= 0", name="retries_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    command: Mapped[str] = mapped_column(Text)
    cards: Mapped[int] = mapped_column(Integer)
    # accelerator constraint: a set of models (JSON list, empty = any), minimum memory, domestic only
    accelerators: Mapped[str] = mapped_column(Text, default="[]")
    min_memory_gb: Mapped[int | None] = mapped_column(Integer)
    domestic_only: Mapped[bool] = mapped_column(Boolean, default=False)
    runtime_s: Mapped[int] = mapped_column(Integer)  # estimated run time on the reference accelerator
    reference: Mapped[str] = mapped_column(String(64))
    price_ceiling_fen: Mapped[int | None] = mapped_column(BigInteger)  # per card-hour
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    data_city: Mapped[str | None] = mapped_column(String(6))
    data_center_id: Mapped[int | None] = mapped_column(ForeignKey("compute_centers.id"))
    retries: Mapped[int] = mapped_column(Integer, default=0)  # further attempts allowed after a failure
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # attempts dispatched so far
    state: Mapped[str] = mapped_column(String(16))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("compute_pools.id"))
    engine_job_id: Mapped[str | None] = mapped_column(String(100))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    hold_kind: Mapped[str | None] = mapped_column(String(16), index=True)  # quota, budget, capacity …
    held_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expected_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    exit_code: Mapped[int | None] = mapped_column(Integer)
    engine_cancel_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    placed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class JobEventRow(Base):
    """One timestamped change of a job (append-only): a state transition or a dispatch note."""

    __tablename__ = "compute_job_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("compute_jobs.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    pool_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class JobRunRow(Base):
    """One attempt of a job on a pool: what metering turns into usage once it has ended."""

    __tablename__ = "compute_job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "attempt"),
        Index("ix_compute_job_runs_ended", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("compute_jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    pool_id: Mapped[int] = mapped_column(ForeignKey("compute_pools.id"), index=True)
    cards: Mapped[int] = mapped_column(Integer)
    engine: Mapped[str] = mapped_column(String(32))
    engine_job_id: Mapped[str | None] = mapped_column(String(100))
    dispatched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))  # completed, failed, cancelled, lost
    exit_code: Mapped[int | None] = mapped_column(Integer)


class QuotaRow(Base):
    """An organization's limits over all centers together, enforced at dispatch."""

    __tablename__ = "compute_quotas"

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), primary_key=True, autoincrement=False)
    max_cards: Mapped[int | None] = mapped_column(Integer)
    max_cards_by_model: Mapped[str] = mapped_column(Text, default="{}")  # JSON {model: cards}
    monthly_budget_fen: Mapped[int | None] = mapped_column(BigInteger)
    monthly_card_hours: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class InstallationRow(Base):
    """This platform installation's id (one row, made by the migration): engine job names carry it.

    Job ids repeat across databases (a reset, a test run, a second platform on one cluster); the
    installation id keeps their engine jobs apart, so the worker adopts only its own after a restart.
    """

    __tablename__ = "compute_installation"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
