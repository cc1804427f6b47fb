"""metering: the cursor of the feed metering reads (compute's finished runs, by run id)

Collecting runs reads only the runs after the stored position; the position moves in the same
transaction as the usage records it produced.

Revision ID: metering_0002
Revises: metering_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "metering_0002"
down_revision: str | None = "metering_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metering_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metering_cursors")),
    )


def downgrade() -> None:
    op.drop_table("metering_cursors")
