"""core: a counter of changes to accounts and tokens, kept by the database itself

``account_changes`` holds one row whose ``count`` grows in the transaction of every change that can
change what a bearer token stands for: any update or delete of a user (role, organization, city,
active …) and a token revoked, re-keyed, moved to another account or deleted. Triggers keep it, so a
change made by any path (the services, the command line, SQL by hand) counts. A web process reuses the
accounts of the tokens it has seen while the counter reads the same (one small query per request).
A new token or a new user changes no account already seen, and a token's recorded last use is left
out: it changes every minute.

Revision ID: core_0004
Revises: core_0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0004"
down_revision: str | None = "core_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE account_changes SET count = count + 1 WHERE id = 1"
_TOKEN_COLUMNS = ("id", "user_id", "token_hash", "revoked")

_PG_FUNCTION = f"""
CREATE FUNCTION account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_BUMP};
  RETURN NULL;
END $$
"""


def _changed(distinct: str) -> str:
    """The WHEN condition of a token update that changes what the token stands for."""
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in _TOKEN_COLUMNS)


def upgrade() -> None:
    changes = op.create_table(
        "account_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_changes")),
    )
    op.bulk_insert(changes, [{"id": 1, "count": 0}])
    columns = ", ".join(_TOKEN_COLUMNS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        each, run = "FOR EACH STATEMENT", "EXECUTE FUNCTION account_changed()"
        op.execute(f"CREATE TRIGGER users_changed AFTER UPDATE OR DELETE OR TRUNCATE ON users {each} {run}")
        op.execute(
            f"CREATE TRIGGER api_tokens_changed AFTER UPDATE OF {columns} ON api_tokens FOR EACH ROW "
            f"WHEN ({_changed('IS DISTINCT FROM')}) {run}"
        )
        op.execute(f"CREATE TRIGGER api_tokens_deleted AFTER DELETE OR TRUNCATE ON api_tokens {each} {run}")
        return
    # SQLite: row triggers only
    for event in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER users_changed_{event.lower()} AFTER {event} ON users BEGIN {_BUMP}; END")
    op.execute(
        f"CREATE TRIGGER api_tokens_changed AFTER UPDATE OF {columns} ON api_tokens "
        f"WHEN {_changed('IS NOT')} BEGIN {_BUMP}; END"
    )
    op.execute(f"CREATE TRIGGER api_tokens_deleted AFTER DELETE ON api_tokens BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS api_tokens_deleted ON api_tokens")
        op.execute("DROP TRIGGER IF EXISTS api_tokens_changed ON api_tokens")
        op.execute("DROP TRIGGER IF EXISTS users_changed ON users")
        op.execute("DROP FUNCTION IF EXISTS account_changed()")
    else:
        for name in (
            "api_tokens_deleted",
            "api_tokens_changed",
            "users_changed_delete",
            "users_changed_update",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("account_changes")
