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

import datetime as dt
from collections.abc import Sequence
from itertools import pairwise
from operator import itemgetter

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from zhisuan.store.bulk import insert_rows
from zhisuan.store.models.metering import UsageRollupRow

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


#: a roll-up summed in Python: the key, the day, the positions (in the rows summed) of its first and
#: last record, how many records, their card-seconds
Summed = tuple[tuple[object, ...], dt.date, int, int, int, int]
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_SHANGHAI_OFFSET = 8 * 3600  # UTC+8 all year (as in SQL; Shanghai has kept no daylight saving since 1991)


def sum_rows(rows: Sequence[Sequence[object]], columns: Sequence[str], starts: Sequence[int]) -> list[Summed]:
    """The roll-ups of ``rows`` (usage record rows, ``columns`` naming their positions; ``starts``
    their starts in Unix seconds), as :func:`summing` gives them but with row positions for record
    ids: a writer that copies the rows in and then learns their ids (:func:`write_summed`) need not
    read them back to sum them."""
    key_of = itemgetter(*(columns.index(c) for c in KEY))
    seconds_at = columns.index("card_seconds")
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, (r, start) in enumerate(zip(rows, starts, strict=True)):
        group = (*key_of(r), (start + _SHANGHAI_OFFSET) // 86400)
        got = groups.get(group)
        if got is None:
            groups[group] = [i, i, 1, r[seconds_at]]  # type: ignore[list-item]
        else:
            got[1] = i
            got[2] += 1
            got[3] += r[seconds_at]  # type: ignore[operator]
    return [
        (group[:-1], dt.date.fromordinal(_EPOCH_DAY + int(group[-1])), first, last, n, cs)  # type: ignore[call-overload]
        for group, (first, last, n, cs) in groups.items()
    ]


def write_summed(s: Session, summed: Sequence[Summed], ids: Sequence[int]) -> None:
    """Store roll-ups from :func:`sum_rows`, the summed rows having been stored with ``ids`` (in
    their order, ascending)."""
    rows = [(*key, day, ids[first], ids[last], n, cs) for key, day, first, last, n, cs in summed]
    insert_rows(s, UsageRollupRow.__table__, COLUMNS, rows)  # type: ignore[arg-type]


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
    "sum_rows",
    "summing",
    "write_summed",
    "writing_usage",
]
