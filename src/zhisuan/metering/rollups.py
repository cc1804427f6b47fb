# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Per-day roll-ups of usage, written with the usage itself: what month-end drafting reads.

Every writer of usage records sums what it wrote, in the same statement (PostgreSQL: ``INSERT …
RETURNING`` feeding ``INSERT … SELECT … GROUP BY``) or the same transaction (SQLite, whose writer
holds the database), into ``usage_rollups``: one row per bill-line key (organization, center, pool,
price, discount, policy day, usage month, kind) and Asia/Shanghai day of the record's start. A record
that was already stored is not written again, so it is not summed again: the same file twice adds
nothing.

A billing run covers the usage up to a watermark (the largest usage id when it opens). Writers of
usage take a shared lock and the opening of a run an exclusive one (PostgreSQL advisory locks; on
SQLite every writer holds the database), so no usage written by a transaction still open can fall
below a watermark: a run covers each roll-up whole or not at all, and roll-ups are compared with the
watermark by their last record id.
"""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

#: the bill-line key and day a roll-up sums by, in usage_records' (and usage_rollups') column names
KEY = (
    "org_id",
    "center_id",
    "pool_id",
    "price_fen_per_card_hour",
    "discount_bp",
    "policy_on",
    "usage_month",
    "kind",
)
COLUMNS = (*KEY, "day", "first_id", "last_id", "records", "card_seconds")
# a PostgreSQL advisory lock number for "usage is being written / a billing run opens"
_PG_LOCK = 0x7A687375_75736167 & 0x7FFFFFFFFFFFFFFF


def _day(dialect: str, alias: str) -> str:
    """The Asia/Shanghai calendar day of a record's start (UTC+8 all year, no daylight saving)."""
    if dialect == "postgresql":
        return f"({alias}.start_at AT TIME ZONE 'Asia/Shanghai')::date"
    return f"date({alias}.start_at, '+8 hours')"


def summing(dialect: str, source: str, where: str = "") -> str:
    """``SELECT`` of roll-up rows (``COLUMNS`` order) summing the records of ``source`` (aliased u)."""
    key = ", ".join(f"u.{c}" for c in KEY)
    day = _day(dialect, "u")
    return (
        f"SELECT {key}, {day}, MIN(u.id), MAX(u.id), COUNT(*), SUM(u.card_seconds) FROM {source} u "
        f"{where} GROUP BY {key}, {day}"
    )


def insert_sql(dialect: str, source: str, where: str = "") -> str:
    """``INSERT INTO usage_rollups … SELECT`` summing the records of ``source`` (aliased u)."""
    return f"INSERT INTO usage_rollups ({', '.join(COLUMNS)}) {summing(dialect, source, where)}"


def writing_usage(s: Session) -> None:
    """Before writing usage records: no billing run may open until this transaction ends."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": _PG_LOCK})


def opening_run(s: Session) -> None:
    """Before a billing run reads its watermark: wait for transactions writing usage to end, and keep
    new ones waiting until this one ends (their records then come after the watermark)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})


def roll_up_after(s: Session, last_id: int) -> None:
    """Roll up the records after ``last_id`` (SQLite: all written by this transaction, which holds the
    database's write lock)."""
    s.execute(
        text(insert_sql(s.get_bind().dialect.name, "usage_records", "WHERE u.id > :last")), {"last": last_id}
    )


def roll_up_between(s: Session, first_id: int, last_id: int) -> None:
    """Roll up the records with ids from ``first_id`` to ``last_id`` (ids this transaction reserved,
    so no other writer's records among them)."""
    s.execute(
        text(insert_sql(s.get_bind().dialect.name, "usage_records", "WHERE u.id BETWEEN :lo AND :hi")),
        {"lo": first_id, "hi": last_id},
    )


def backfill(conn: Connection) -> None:
    """Roll up every stored record that no roll-up sums yet (a database migrated from before roll-ups).

    The records are summed between consecutive billing-run watermarks, so that no roll-up straddles
    one (each run covers a roll-up whole or not at all, as it would have covered its records).
    """
    dialect = conn.dialect.name
    done = int(conn.execute(text("SELECT COALESCE(MAX(last_id), 0) FROM usage_rollups")).scalar_one())
    top = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM usage_records")).scalar_one())
    marks = sorted(
        {int(w) for (w,) in conn.execute(text("SELECT watermark FROM billing_runs")) if done < int(w) < top}
    )
    bounds = [done, *marks, top]
    sql = insert_sql(dialect, "usage_records", "WHERE u.id > :lo AND u.id <= :hi")
    for lo, hi in pairwise(bounds):
        if hi > lo:
            conn.execute(text(sql), {"lo": lo, "hi": hi})


__all__ = [
    "COLUMNS",
    "KEY",
    "backfill",
    "insert_sql",
    "opening_run",
    "roll_up_after",
    "roll_up_between",
    "summing",
    "writing_usage",
]
