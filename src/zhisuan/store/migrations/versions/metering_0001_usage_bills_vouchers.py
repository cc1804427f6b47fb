"""metering: usage records, rate card, disputes, billing runs, bills, vouchers

Bills reference compute centers; usage records keep center and pool ids without a foreign key
(checked by the import instead) so that bulk ingest stays fast.

Revision ID: metering_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhisuan.store.types

revision: str = "metering_0001"
down_revision: str | None = "core_0001"
branch_labels: str | Sequence[str] | None = ("metering",)
depends_on: str | Sequence[str] | None = ("compute_0001",)


def upgrade() -> None:
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("prev_month", sa.String(length=7), nullable=True),
        sa.Column("prev_watermark", sa.BigInteger(), nullable=False),
        sa.Column("created_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_runs")),
    )
    with op.batch_alter_table("billing_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_runs_month"), ["month"], unique=False)

    op.create_table(
        "metering_pool_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("bands", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_pool_rates")),
        sa.UniqueConstraint(
            "pool_id", "effective_from", name=op.f("uq_metering_pool_rates_pool_id_effective_from")
        ),
    )
    op.create_table(
        "usage_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("engine_job_id", sa.String(length=100), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("usage_month", sa.String(length=7), nullable=False),
        sa.Column("observed_card_seconds", sa.BigInteger(), nullable=False),
        sa.Column("reported_card_seconds", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_disputes")),
        sa.UniqueConstraint(
            "engine",
            "engine_job_id",
            "usage_month",
            name=op.f("uq_usage_disputes_engine_engine_job_id_usage_month"),
        ),
    )
    with op.batch_alter_table("usage_disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_disputes_center_id"), ["center_id"], unique=False)

    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("engine_job_id", sa.String(length=100), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("accelerator", sa.String(length=64), nullable=False),
        sa.Column("cards", sa.Integer(), nullable=False),
        sa.Column("start_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("card_seconds", sa.BigInteger(), nullable=False),
        sa.Column("price_fen_per_card_hour", sa.BigInteger(), nullable=False),
        sa.Column("discount_bp", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("reverses", sa.String(length=200), nullable=True),
        sa.Column("usage_month", sa.String(length=7), nullable=False),
        sa.Column("policy_on", sa.Date(), nullable=False),
        sa.CheckConstraint("cards > 0", name=op.f("ck_usage_records_cards_positive")),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_usage_records_interval")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("key", name=op.f("uq_usage_records_key")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_records_job", ["engine", "engine_job_id"], unique=False)

    op.create_table(
        "voucher_settlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("settled_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("granted_fen", sa.BigInteger(), nullable=False),
        sa.Column("queued_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_settlements")),
        sa.UniqueConstraint("month", name=op.f("uq_voucher_settlements_month")),
    )
    op.create_table(
        "bills",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("operator_org_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("vat_rate_ppm", sa.Integer(), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("vat_fen", sa.BigInteger(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("payment_ref", sa.String(length=100), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.Column("reopened_in_run", sa.Integer(), nullable=True),
        sa.Column("created_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_bills_org_id_organizations")),
        sa.ForeignKeyConstraint(
            ["center_id"], ["compute_centers.id"], name=op.f("fk_bills_center_id_compute_centers")
        ),
        sa.ForeignKeyConstraint(
            ["reopened_in_run"], ["billing_runs.id"], name=op.f("fk_bills_reopened_in_run_billing_runs")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["billing_runs.id"], name=op.f("fk_bills_run_id_billing_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
    )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bills_center_id"), ["center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bills_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bills_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_bills_scope", ["month", "org_id", "center_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bills_state"), ["state"], unique=False)

    op.create_table(
        "metering_discounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("discount_bp", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "discount_bp >= 0 AND discount_bp < 10000", name=op.f("ck_metering_discounts_range")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_metering_discounts_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_discounts")),
    )
    with op.batch_alter_table("metering_discounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metering_discounts_org_id"), ["org_id"], unique=False)

    op.create_table(
        "usage_holds",
        sa.Column(
            "usage_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("held_in_run", sa.Integer(), nullable=False),
        sa.Column("billed_in_run", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["billed_in_run"], ["billing_runs.id"], name=op.f("fk_usage_holds_billed_in_run_billing_runs")
        ),
        sa.ForeignKeyConstraint(
            ["held_in_run"], ["billing_runs.id"], name=op.f("fk_usage_holds_held_in_run_billing_runs")
        ),
        sa.ForeignKeyConstraint(
            ["usage_id"], ["usage_records.id"], name=op.f("fk_usage_holds_usage_id_usage_records")
        ),
        sa.PrimaryKeyConstraint("usage_id", name=op.f("pk_usage_holds")),
    )
    with op.batch_alter_table("usage_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_holds_billed_in_run"), ["billed_in_run"], unique=False)

    op.create_table(
        "bill_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("usage_month", sa.String(length=7), nullable=False),
        sa.Column("policy_on", sa.Date(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("accelerator", sa.String(length=64), nullable=False),
        sa.Column("price_fen_per_card_hour", sa.BigInteger(), nullable=False),
        sa.Column("discount_bp", sa.Integer(), nullable=False),
        sa.Column("adjustment", sa.Boolean(), nullable=False),
        sa.Column("card_seconds", sa.BigInteger(), nullable=False),
        sa.Column("gross_fen", sa.BigInteger(), nullable=False),
        sa.Column("vat_fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_bill_lines_bill_id_bills")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_lines")),
    )
    with op.batch_alter_table("bill_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_lines_bill_id"), ["bill_id"], unique=False)

    op.create_table(
        "bill_sources",
        sa.Column("bill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_bill_sources_bill_id_bills")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["billing_runs.id"], name=op.f("fk_bill_sources_run_id_billing_runs")
        ),
        sa.PrimaryKeyConstraint("bill_id", "run_id", name=op.f("pk_bill_sources")),
    )
    op.create_table(
        "voucher_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bill_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("city", sa.String(length=6), nullable=False),
        sa.Column("usage_month", sa.String(length=7), nullable=False),
        sa.Column("usage_year", sa.Integer(), nullable=False),
        sa.Column("settlement_month", sa.String(length=7), nullable=False),
        sa.Column("spend_fen", sa.BigInteger(), nullable=False),
        sa.Column("entitled_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("adjustment", sa.Boolean(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_line_id"], ["bill_lines.id"], name=op.f("fk_voucher_lines_bill_line_id_bill_lines")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_voucher_lines_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["voucher_settlements.id"],
            name=op.f("fk_voucher_lines_settlement_id_voucher_settlements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_lines")),
        sa.UniqueConstraint("bill_line_id", "part", name=op.f("uq_voucher_lines_bill_line_id_part")),
    )
    with op.batch_alter_table("voucher_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voucher_lines_city"), ["city"], unique=False)
        batch_op.create_index("ix_voucher_lines_org_year", ["org_id", "usage_year"], unique=False)
        batch_op.create_index(batch_op.f("ix_voucher_lines_settlement_id"), ["settlement_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_voucher_lines_settlement_month"), ["settlement_month"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_voucher_lines_status"), ["status"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("voucher_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voucher_lines_status"))
        batch_op.drop_index(batch_op.f("ix_voucher_lines_settlement_month"))
        batch_op.drop_index(batch_op.f("ix_voucher_lines_settlement_id"))
        batch_op.drop_index("ix_voucher_lines_org_year")
        batch_op.drop_index(batch_op.f("ix_voucher_lines_city"))

    op.drop_table("voucher_lines")
    op.drop_table("bill_sources")
    with op.batch_alter_table("bill_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bill_lines_bill_id"))

    op.drop_table("bill_lines")
    with op.batch_alter_table("usage_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_holds_billed_in_run"))

    op.drop_table("usage_holds")
    with op.batch_alter_table("metering_discounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metering_discounts_org_id"))

    op.drop_table("metering_discounts")
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bills_state"))
        batch_op.drop_index("ix_bills_scope")
        batch_op.drop_index(batch_op.f("ix_bills_run_id"))
        batch_op.drop_index(batch_op.f("ix_bills_org_id"))
        batch_op.drop_index(batch_op.f("ix_bills_center_id"))

    op.drop_table("bills")
    op.drop_table("voucher_settlements")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_job")

    op.drop_table("usage_records")
    with op.batch_alter_table("usage_disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_disputes_center_id"))

    op.drop_table("usage_disputes")
    op.drop_table("metering_pool_rates")
    with op.batch_alter_table("billing_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_runs_month"))

    op.drop_table("billing_runs")
