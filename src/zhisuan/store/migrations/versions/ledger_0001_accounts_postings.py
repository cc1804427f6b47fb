"""ledger: accounts, postings, lines

Revision ID: ledger_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhisuan.store.types

revision: str = "ledger_0001"
down_revision: str | None = "core_0001"
branch_labels: str | Sequence[str] | None = ("ledger",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("kind", "key", name=op.f("uq_ledger_accounts_kind_key")),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("cause", sa.String(length=120), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("created_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_postings_key")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_postings_cause"), ["cause"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_postings_on"), ["on"], unique=False)

    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("posting_key", sa.String(length=120), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("fen", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name=op.f("fk_ledger_lines_account_id_ledger_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["posting_key"], ["ledger_postings.key"], name=op.f("fk_ledger_lines_posting_key_ledger_postings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lines")),
    )
    with op.batch_alter_table("ledger_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_lines_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_lines_posting_key"), ["posting_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_lines_posting_key"))
        batch_op.drop_index(batch_op.f("ix_ledger_lines_account_id"))

    op.drop_table("ledger_lines")
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_postings_on"))
        batch_op.drop_index(batch_op.f("ix_ledger_postings_cause"))

    op.drop_table("ledger_postings")
    op.drop_table("ledger_accounts")
