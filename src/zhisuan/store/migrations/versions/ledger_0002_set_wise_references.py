"""ledger: on PostgreSQL, a ledger line's posting and account are checked once per statement

The two foreign keys of ``ledger_lines`` give way to statement-level triggers with the same guarantee
for what the platform does (see :mod:`zhisuan.store.references`): month-end writes tens of thousands
of ledger lines per statement, and a foreign key looks each one up on its own. SQLite keeps its
foreign keys.

Revision ID: ledger_0002
Revises: ledger_0001
"""

from collections.abc import Sequence

from alembic import op

from zhisuan.store.references import Reference, check_per_row, check_set_wise

revision: str = "ledger_0002"
down_revision: str | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCES = (
    Reference("fk_ledger_lines_account_id_ledger_accounts", "ledger_lines", "account_id", "ledger_accounts"),
    Reference(
        "fk_ledger_lines_posting_key_ledger_postings", "ledger_lines", "posting_key", "ledger_postings", "key"
    ),
)


def upgrade() -> None:
    check_set_wise(op, REFERENCES)


def downgrade() -> None:
    check_per_row(op, REFERENCES)
