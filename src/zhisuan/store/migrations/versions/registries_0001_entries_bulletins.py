"""registries: entries of the art. 6–15 registries, scenario bulletins and rankings

Revision ID: registries_0001
Revises: core_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhisuan.store.types

revision: str = "registries_0001"
down_revision: str | None = "core_0001"
branch_labels: str | Sequence[str] | None = ("registries",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registry_name", sa.String(length=32), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_registry_entries_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["registry_entries.id"],
            name=op.f("fk_registry_entries_parent_id_registry_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_entries")),
    )
    with op.batch_alter_table("registry_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_registry_entries_registry_name_city", ["registry_name", "city_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_registry_entries_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_registry_entries_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "scenario_bulletins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=64), nullable=True),
        sa.Column("published_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_bulletins")),
        sa.UniqueConstraint("kind", "period", name=op.f("uq_scenario_bulletins_kind_period")),
    )


def downgrade() -> None:
    op.drop_table("scenario_bulletins")
    with op.batch_alter_table("registry_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registry_entries_parent_id"))
        batch_op.drop_index(batch_op.f("ix_registry_entries_org_id"))
        batch_op.drop_index("ix_registry_entries_registry_name_city")
    op.drop_table("registry_entries")
