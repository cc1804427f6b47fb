"""metering: per-day roll-ups of usage, written with the usage; month-end drafting reads them

One row per bill-line key and Asia/Shanghai day of the records one transaction wrote. Existing usage is
rolled up here, between consecutive billing-run watermarks (a run covers a roll-up whole or not at all).

Revision ID: metering_0004
Revises: metering_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from zhisuan.metering.rollups import backfill

revision: str = "metering_0004"
down_revision: str | None = "metering_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("id", _ID, nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("price_fen_per_card_hour", sa.BigInteger(), nullable=False),
        sa.Column("discount_bp", sa.Integer(), nullable=False),
        sa.Column("policy_on", sa.Date(), nullable=False),
        sa.Column("usage_month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("first_id", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("card_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_rollups")),
    )
    op.create_index("ix_usage_rollups_last_id", "usage_rollups", ["last_id"])
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_usage_rollups_last_id", table_name="usage_rollups")
    op.drop_table("usage_rollups")
