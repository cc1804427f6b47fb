"""References checked once per statement on PostgreSQL, for the tables month-end writes in bulk.

A foreign key checks every inserted row on its own: an index lookup and a row lock per row and per
reference. Month-end writes tens of thousands of bills, bill lines, voucher lines and ledger lines in a
few statements, and those checks were a third of its time. For those tables only, on PostgreSQL, a
migration swaps each foreign key for statement-level triggers over the statement's transition table:

- ``INSERT`` into the referring table (per statement, over its transition table) and ``UPDATE`` of
  its column (per changed row, as rare as it is): every non-null value must exist in the referenced
  column, or the statement is refused (SQLSTATE 23503, ``foreign_key_violation``, as a foreign key);
- ``DELETE`` from the referenced table (per statement) or a change of its key (per changed row): a
  value that is gone while a row still refers to it refuses the statement; ``TRUNCATE`` of it is
  refused while the referring table has rows.

The guarantee is a foreign key's for everything the platform does. What it gives up is the row lock
that makes a foreign key hold against a *concurrent* delete of the referenced row: the platform never
deletes organizations, centers, billing runs, bills, bill lines, settlements, postings or accounts
(they are history), so nothing races. SQLite keeps its foreign keys: it checks per row there at a
fraction of the cost, and the models keep declaring them.

The two trigger functions are generic (the names come in as trigger arguments); migrations call
:func:`check_set_wise` and :func:`check_per_row` (their downgrade).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection

#: a refused statement names the value and the reference, as PostgreSQL's own foreign keys do
_FUNCTIONS = (
    # after INSERT, per statement; TG_ARGV: referring column, referenced table, referenced column
    """
CREATE OR REPLACE FUNCTION zhisuan_references_present() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  EXECUTE format(
    'SELECT CAST(n.%1$I AS text) FROM zhisuan_new_rows n WHERE n.%1$I IS NOT NULL '
    'AND NOT EXISTS (SELECT 1 FROM %2$I p WHERE p.%3$I = n.%1$I) LIMIT 1',
    TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]) INTO bad;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s.%s = %s: no such %s.%s', TG_TABLE_NAME, TG_ARGV[0], bad, TG_ARGV[1], TG_ARGV[2]);
  END IF;
  RETURN NULL;
END $$""",
    # after UPDATE OF the referring column, per changed row; the same arguments
    """
CREATE OR REPLACE FUNCTION zhisuan_reference_present() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE value text; found boolean;
BEGIN
  EXECUTE format('SELECT CAST(($1).%I AS text)', TG_ARGV[0]) USING NEW INTO value;
  IF value IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I p WHERE p.%I = ($1).%I)',
                 TG_ARGV[1], TG_ARGV[2], TG_ARGV[0]) USING NEW INTO found;
  IF NOT found THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s.%s = %s: no such %s.%s', TG_TABLE_NAME, TG_ARGV[0], value, TG_ARGV[1], TG_ARGV[2]);
  END IF;
  RETURN NULL;
END $$""",
    # after DELETE or TRUNCATE of the referenced table, per statement, and after UPDATE OF its column
    # per changed row; TG_ARGV: referring table, referring column, referenced column
    """
CREATE OR REPLACE FUNCTION zhisuan_references_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    EXECUTE format('SELECT CAST(r.%I AS text) FROM %I r LIMIT 1', TG_ARGV[1], TG_ARGV[0]) INTO bad;
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('SELECT CAST(($1).%I AS text) FROM %I r WHERE r.%I = ($1).%I LIMIT 1',
                   TG_ARGV[2], TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]) USING OLD INTO bad;
  ELSE
    EXECUTE format(
      'SELECT CAST(o.%3$I AS text) FROM zhisuan_old_rows o '
      'WHERE EXISTS (SELECT 1 FROM %1$I r WHERE r.%2$I = o.%3$I) '
      'AND NOT EXISTS (SELECT 1 FROM %4$I k WHERE k.%3$I = o.%3$I) LIMIT 1',
      TG_ARGV[0], TG_ARGV[1], TG_ARGV[2], TG_TABLE_NAME) INTO bad;
  END IF;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('%s.%s = %s is still referred to by %s.%s',
                       TG_TABLE_NAME, TG_ARGV[2], bad, TG_ARGV[0], TG_ARGV[1]);
  END IF;
  RETURN NULL;
END $$""",
)


class Migration(Protocol):
    """What these functions need of Alembic's ``op``: the connection and a way to run SQL."""

    def get_bind(self) -> Connection: ...

    def execute(self, sqltext: str) -> object: ...


@dataclass(frozen=True)
class Reference:
    """A foreign key: ``table.column`` refers to ``target.target_column``, named ``constraint``."""

    constraint: str
    table: str
    column: str
    target: str
    target_column: str = "id"

    @property
    def trigger(self) -> str:
        return f"zr_{self.table}_{self.column}"[:55]


def _triggers(ref: Reference) -> list[tuple[str, str, str]]:
    """(name, table, definition) of each trigger standing in for ``ref``."""
    present = f"'{ref.column}', '{ref.target}', '{ref.target_column}'"
    kept = f"'{ref.table}', '{ref.column}', '{ref.target_column}'"
    changed = "FOR EACH ROW WHEN (OLD.{0} IS DISTINCT FROM NEW.{0})"
    return [
        (
            f"{ref.trigger}_ins",
            ref.table,
            "AFTER INSERT ON {table} REFERENCING NEW TABLE AS zhisuan_new_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION zhisuan_references_present({present})",
        ),
        (
            f"{ref.trigger}_upd",
            ref.table,
            f"AFTER UPDATE OF {ref.column} ON {{table}} {changed.format(ref.column)} "
            f"EXECUTE FUNCTION zhisuan_reference_present({present})",
        ),
        (
            f"{ref.trigger}_del",
            ref.target,
            "AFTER DELETE ON {table} REFERENCING OLD TABLE AS zhisuan_old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION zhisuan_references_kept({kept})",
        ),
        (
            f"{ref.trigger}_key",
            ref.target,
            f"AFTER UPDATE OF {ref.target_column} ON {{table}} {changed.format(ref.target_column)} "
            f"EXECUTE FUNCTION zhisuan_references_kept({kept})",
        ),
        (
            f"{ref.trigger}_trunc",
            ref.target,
            "AFTER TRUNCATE ON {table} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION zhisuan_references_kept({kept})",
        ),
    ]


def check_set_wise(op: Migration, refs: Sequence[Reference]) -> None:
    """On PostgreSQL, drop each foreign key of ``refs`` and check it per statement instead (on SQLite
    nothing changes)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    execute = op.execute
    for function in _FUNCTIONS:
        execute(function)
    for ref in refs:
        execute(f"ALTER TABLE {ref.table} DROP CONSTRAINT {ref.constraint}")
        for name, table, definition in _triggers(ref):
            execute(f"CREATE TRIGGER {name} {definition.format(table=table)}")


def check_per_row(op: Migration, refs: Sequence[Reference]) -> None:
    """Undo :func:`check_set_wise`: the triggers go, the foreign keys come back (the functions stay,
    other tables may use them)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    execute = op.execute
    for ref in refs:
        for name, table, _ in _triggers(ref):
            execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        execute(
            f"ALTER TABLE {ref.table} ADD CONSTRAINT {ref.constraint} FOREIGN KEY ({ref.column}) "
            f"REFERENCES {ref.target} ({ref.target_column})"
        )


__all__ = ["Reference", "check_per_row", "check_set_wise"]
