"""Tables of the metering context: usage records, rate card, disputes, billing runs, bills, vouchers,
and the cursor of the feed metering reads from compute.

Money is integer fen. Usage records keep ``center_id`` and ``pool_id`` as plain integers without a
foreign key (the import checks them against the compute pools) so that bulk ingest stays fast; bills
reference ``compute_centers``, whose operator the art. 2 self-use test compares with each user.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
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


class UsageRecordRow(Base):
    """One priced piece of usage (or its reversal); never updated after it is written."""

    __tablename__ = "usage_records"
    __table_args__ = (
        # no index on month/org/center: drafting scans by id watermark, and every index slows ingest
        Index("ix_usage_records_job", "engine", "engine_job_id"),
        CheckConstraint("cards > 0", name="cards_positive"),
        CheckConstraint("end_at > start_at", name="interval"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    engine: Mapped[str] = mapped_column(String(32))
    engine_job_id: Mapped[str] = mapped_column(String(100))
    org_id: Mapped[int] = mapped_column(Integer)
    center_id: Mapped[int] = mapped_column(Integer)
    pool_id: Mapped[int] = mapped_column(Integer)
    accelerator: Mapped[str] = mapped_column(String(64))
    cards: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    card_seconds: Mapped[int] = mapped_column(BigInteger)  # negative for a reversal
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    discount_bp: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(Integer)
    reverses: Mapped[str | None] = mapped_column(String(200))
    usage_month: Mapped[str] = mapped_column(String(7))
    policy_on: Mapped[dt.date] = mapped_column(Date)


class UsageRollupRow(Base):
    """The usage records one transaction wrote, summed per bill-line key and Asia/Shanghai day of their
    start (written with them, in the same transaction): month-end drafting reads these, not the records.

    ``first_id``…``last_id`` are the ids of the records it sums; a billing run's watermark never falls
    inside them (writers of usage and the opening of a run exclude each other), so a run covers a roll-up
    whole or not at all.
    """

    __tablename__ = "usage_rollups"
    __table_args__ = (Index("ix_usage_rollups_last_id", "last_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    center_id: Mapped[int] = mapped_column(Integer)
    pool_id: Mapped[int] = mapped_column(Integer)
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    discount_bp: Mapped[int] = mapped_column(Integer)
    policy_on: Mapped[dt.date] = mapped_column(Date)
    usage_month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(16))
    day: Mapped[dt.date] = mapped_column(Date)
    first_id: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)
    records: Mapped[int] = mapped_column(Integer)
    card_seconds: Mapped[int] = mapped_column(BigInteger)


class PoolRateRow(Base):
    """A dated change of a pool's list prices (time bands as JSON); before the first one, the pool's
    own price in ``compute_pools`` applies."""

    __tablename__ = "metering_pool_rates"
    __table_args__ = (UniqueConstraint("pool_id", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool_id: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    # JSON: [{"start": "00:00", "end": "08:00", "price_fen": 800, "name": "night"}, ...]
    bands: Mapped[str] = mapped_column(Text)


class DiscountRow(Base):
    __tablename__ = "metering_discounts"
    __table_args__ = (CheckConstraint("discount_bp >= 0 AND discount_bp < 10000", name="range"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    pool_id: Mapped[int | None] = mapped_column(Integer)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    discount_bp: Mapped[int] = mapped_column(Integer)


class UsageDisputeRow(Base):
    """A job whose engine-reported usage differs from what the platform observed: held until resolved."""

    __tablename__ = "usage_disputes"
    __table_args__ = (UniqueConstraint("engine", "engine_job_id", "usage_month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    engine: Mapped[str] = mapped_column(String(32))
    engine_job_id: Mapped[str] = mapped_column(String(100))
    center_id: Mapped[int] = mapped_column(Integer, index=True)
    usage_month: Mapped[str] = mapped_column(String(7))
    observed_card_seconds: Mapped[int] = mapped_column(BigInteger)
    reported_card_seconds: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")


class BillingRunRow(Base):
    """One drafting of bills for a month; it covers usage ids up to ``watermark`` not covered before.

    Runs go in month order, so the usage a run covers is ``id ≤ watermark, month ≤ month`` minus what
    the previous run covered (``id ≤ prev_watermark, month ≤ prev_month``): no per-record update.
    """

    __tablename__ = "billing_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)
    watermark: Mapped[int] = mapped_column(BigInteger)
    prev_month: Mapped[str | None] = mapped_column(String(7))
    prev_watermark: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class UsageHoldRow(Base):
    """Usage left out of a run because its job was in dispute; billed by a later run once resolved."""

    __tablename__ = "usage_holds"

    usage_id: Mapped[int] = mapped_column(
        ForeignKey("usage_records.id"), primary_key=True, autoincrement=False
    )
    held_in_run: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"))
    billed_in_run: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"), index=True)


class BillRow(Base):
    __tablename__ = "bills"
    __table_args__ = (Index("ix_bills_scope", "month", "org_id", "center_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("compute_centers.id"), index=True)
    operator_org_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[str] = mapped_column(String(7))
    state: Mapped[str] = mapped_column(String(16), index=True)
    vat_rate_ppm: Mapped[int] = mapped_column(Integer)
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    vat_fen: Mapped[int] = mapped_column(BigInteger)
    issued_on: Mapped[dt.date | None] = mapped_column(Date)
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    payment_ref: Mapped[str | None] = mapped_column(String(100))
    void_reason: Mapped[str | None] = mapped_column(Text)
    reopened_in_run: Mapped[int | None] = mapped_column(ForeignKey("billing_runs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class BillSourceRow(Base):
    """Which runs' usage a bill covers (a rebill after a void covers the voided bill's runs too)."""

    __tablename__ = "bill_sources"

    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id"), primary_key=True)


class BillLineRow(Base):
    __tablename__ = "bill_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    usage_month: Mapped[str] = mapped_column(String(7))
    policy_on: Mapped[dt.date] = mapped_column(Date)
    pool_id: Mapped[int] = mapped_column(Integer)
    accelerator: Mapped[str] = mapped_column(String(64))
    price_fen_per_card_hour: Mapped[int] = mapped_column(BigInteger)
    discount_bp: Mapped[int] = mapped_column(Integer)
    adjustment: Mapped[bool] = mapped_column(Boolean)
    card_seconds: Mapped[int] = mapped_column(BigInteger)
    gross_fen: Mapped[int] = mapped_column(BigInteger)
    vat_fen: Mapped[int] = mapped_column(BigInteger)


class VoucherSettlementRow(Base):
    """One settlement of a month: settling the same month again finds it and changes nothing."""

    __tablename__ = "voucher_settlements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)
    settled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lines: Mapped[int] = mapped_column(Integer)
    granted_fen: Mapped[int] = mapped_column(BigInteger)
    queued_fen: Mapped[int] = mapped_column(BigInteger)


class VoucherLineRow(Base):
    """One part of a paid bill line settled under art. 2, with the policy engine's explanation."""

    __tablename__ = "voucher_lines"
    __table_args__ = (
        Index("ix_voucher_lines_org_year", "org_id", "usage_year"),
        UniqueConstraint("bill_line_id", "program", "part"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bill_line_id: Mapped[int] = mapped_column(ForeignKey("bill_lines.id"))
    #: the compute-voucher program that decided the line: "art2" (the province's, whatever pack and
    #: article carries it) or a city program's first pack id; each program numbers its own parts
    program: Mapped[str] = mapped_column(String(64), server_default="art2")
    part: Mapped[int] = mapped_column(Integer)  # 0; 1, 2 … for queued remainders paid later
    settlement_id: Mapped[int] = mapped_column(ForeignKey("voucher_settlements.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    city: Mapped[str] = mapped_column(String(6), index=True)
    usage_month: Mapped[str] = mapped_column(String(7))
    usage_year: Mapped[int] = mapped_column(Integer)
    settlement_month: Mapped[str] = mapped_column(String(7), index=True)
    spend_fen: Mapped[int] = mapped_column(BigInteger)
    entitled_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    pack: Mapped[str] = mapped_column(String(64))
    adjustment: Mapped[bool] = mapped_column(Boolean)
    steps: Mapped[str] = mapped_column(Text)  # JSON list of {article, rule, parameter, value, result}
    reasons: Mapped[str] = mapped_column(Text)  # JSON list of strings


class MeteringCursorRow(Base):
    """How far metering has read a feed: ``finished_runs`` is compute's runs, by run id."""

    __tablename__ = "metering_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
