"""metering: on PostgreSQL, the references of bills, bill lines and voucher lines are checked per statement

Drafting a month writes every bill, bill line and bill source in three statements, and settling it
every voucher line in one; their foreign keys looked each row up on their own. They give way to
statement-level triggers with the same guarantee for what the platform does (see
:mod:`zhisuan.store.references`). SQLite keeps its foreign keys.

Revision ID: metering_0005
Revises: metering_0004
"""

from collections.abc import Sequence

from alembic import op

from zhisuan.store.references import Reference, check_per_row, check_set_wise

revision: str = "metering_0005"
down_revision: str | None = "metering_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCES = (
    Reference("fk_bills_org_id_organizations", "bills", "org_id", "organizations"),
    Reference("fk_bills_center_id_compute_centers", "bills", "center_id", "compute_centers"),
    Reference("fk_bills_run_id_billing_runs", "bills", "run_id", "billing_runs"),
    Reference("fk_bills_reopened_in_run_billing_runs", "bills", "reopened_in_run", "billing_runs"),
    Reference("fk_bill_lines_bill_id_bills", "bill_lines", "bill_id", "bills"),
    Reference("fk_bill_sources_bill_id_bills", "bill_sources", "bill_id", "bills"),
    Reference("fk_bill_sources_run_id_billing_runs", "bill_sources", "run_id", "billing_runs"),
    Reference("fk_voucher_lines_bill_line_id_bill_lines", "voucher_lines", "bill_line_id", "bill_lines"),
    Reference("fk_voucher_lines_org_id_organizations", "voucher_lines", "org_id", "organizations"),
    Reference(
        "fk_voucher_lines_settlement_id_voucher_settlements",
        "voucher_lines",
        "settlement_id",
        "voucher_settlements",
    ),
)


def upgrade() -> None:
    check_set_wise(op, REFERENCES)


def downgrade() -> None:
    check_per_row(op, REFERENCES)
