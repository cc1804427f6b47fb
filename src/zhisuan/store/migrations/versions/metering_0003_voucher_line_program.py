"""metering: voucher lines name their compute-voucher program; each program numbers its own parts

City programs stack on the province's (POLICY position 19): one bill line gets a line per program, so
the unique key becomes (bill line, program, part). Existing lines are the province's ("art2").

Revision ID: metering_0003
Revises: metering_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "metering_0003"
down_revision: str | None = "metering_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("voucher_lines") as batch:
        batch.add_column(sa.Column("program", sa.String(length=64), nullable=False, server_default="art2"))
        batch.drop_constraint("uq_voucher_lines_bill_line_id_part", type_="unique")
        batch.create_unique_constraint(
            "uq_voucher_lines_bill_line_id_program_part", ["bill_line_id", "program", "part"]
        )


def downgrade() -> None:
    with op.batch_alter_table("voucher_lines") as batch:
        batch.drop_constraint("uq_voucher_lines_bill_line_id_program_part", type_="unique")
        batch.create_unique_constraint("uq_voucher_lines_bill_line_id_part", ["bill_line_id", "part"])
        batch.drop_column("program")
