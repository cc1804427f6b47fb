"""ledger: on PostgreSQL, a ledger line's posting and account are checked once per statement

A foreign key checks each inserted row on its own (two lookups and two row locks per ledger line),
which was a third of a 10-million-record month-end. The two foreign keys of ``ledger_lines`` give way
to statement-level triggers over the statement's transition table, with the same guarantee for what
the platform does:

- an ``INSERT`` or ``UPDATE`` of ledger lines naming a posting key or an account id that does not
  exist is refused (SQLSTATE 23503, as a foreign key would), whatever the rows;
- a ``DELETE``, ``UPDATE`` or ``TRUNCATE`` of postings or accounts that would leave a line without
  its posting or account is refused.

The platform never deletes or re-keys a posting or an account (the ledger is append-only), so the row
locks a foreign key takes against a concurrent delete protect nothing it does. SQLite keeps its
foreign keys (checked per row there too, at a fraction of the cost).

Revision ID: ledger_0002
Revises: ledger_0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "ledger_0002"
down_revision: str | None = "ledger_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FKS = (
    ("fk_ledger_lines_account_id_ledger_accounts", "account_id", "ledger_accounts(id)"),
    ("fk_ledger_lines_posting_key_ledger_postings", "posting_key", "ledger_postings(key)"),
)

_LINES_CHECK = """
CREATE FUNCTION ledger_lines_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad record;
BEGIN
  SELECT n.posting_key, n.account_id INTO bad FROM ledger_new_lines n
   WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.key = n.posting_key)
      OR NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = n.account_id)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('ledger line of posting %s on account %s: no such posting or account',
                       bad.posting_key, bad.account_id);
  END IF;
  RETURN NULL;
END $$
"""

_REFERENCED_CHECK = """
CREATE FUNCTION ledger_referenced_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM ledger_lines) THEN
      RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
        MESSAGE = format('%s cannot be emptied while ledger lines refer to it', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'ledger_postings' THEN
    SELECT o.key INTO bad FROM ledger_old_rows o
     WHERE EXISTS (SELECT 1 FROM ledger_lines l WHERE l.posting_key = o.key)
       AND NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.key = o.key)
     LIMIT 1;
  ELSE
    SELECT CAST(o.id AS text) INTO bad FROM ledger_old_rows o
     WHERE EXISTS (SELECT 1 FROM ledger_lines l WHERE l.account_id = o.id)
       AND NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = o.id)
     LIMIT 1;
  END IF;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s %s is still referred to by ledger lines', TG_TABLE_NAME, bad);
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _ in _FKS:
        op.execute(f"ALTER TABLE ledger_lines DROP CONSTRAINT {name}")
    op.execute(_LINES_CHECK)
    op.execute(_REFERENCED_CHECK)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER ledger_lines_references_{event.lower()} AFTER {event} ON ledger_lines "
            "REFERENCING NEW TABLE AS ledger_new_lines FOR EACH STATEMENT "
            "EXECUTE FUNCTION ledger_lines_references()"
        )
    for table in ("ledger_postings", "ledger_accounts"):
        for event in ("DELETE", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {table}_kept_{event.lower()} AFTER {event} ON {table} "
                "REFERENCING OLD TABLE AS ledger_old_rows FOR EACH STATEMENT "
                "EXECUTE FUNCTION ledger_referenced_kept()"
            )
        op.execute(
            f"CREATE TRIGGER {table}_kept_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_referenced_kept()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("ledger_postings", "ledger_accounts"):
        for event in ("delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_kept_{event} ON {table}")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS ledger_lines_references_{event} ON ledger_lines")
    op.execute("DROP FUNCTION IF EXISTS ledger_referenced_kept()")
    op.execute("DROP FUNCTION IF EXISTS ledger_lines_references()")
    for name, column, target in _FKS:
        op.execute(
            f"ALTER TABLE ledger_lines ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {target}"
        )
