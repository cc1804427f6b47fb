"""compute: the installation id that engine job names carry

Revision ID: compute_0002
Revises: compute_0001
"""

import datetime as dt
import secrets
import string
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhisuan.store.types

revision: str = "compute_0002"
down_revision: str | None = "compute_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _token() -> str:
    """A letter, then seven letters or digits: never mistaken for a job id in an engine job name."""
    rest = string.ascii_lowercase + string.digits
    return secrets.choice(string.ascii_lowercase) + "".join(secrets.choice(rest) for _ in range(7))


def upgrade() -> None:
    table = op.create_table(
        "compute_installation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("created_at", zhisuan.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_compute_installation_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_installation")),
        sa.UniqueConstraint("token", name=op.f("uq_compute_installation_token")),
    )
    # made once per database: every database (a reset one too) names its engine jobs apart
    op.bulk_insert(table, [{"id": 1, "token": _token(), "created_at": dt.datetime.now(dt.UTC)}])


def downgrade() -> None:
    op.drop_table("compute_installation")
