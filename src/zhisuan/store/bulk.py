# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Set-based writes shared by the ledger and metering services.

PostgreSQL: binary ``COPY`` (straight into the table, or into a temporary table followed by
``INSERT … SELECT … ON CONFLICT DO NOTHING``). SQLite: one prepared multi-row ``INSERT … ON CONFLICT
DO NOTHING`` run with ``executemany``. Either way the rows join the caller's transaction: nothing is
committed here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Integer, String, Table, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

Row = Sequence[object]


def _pg_type(column: Column[Any]) -> str:
    """The PostgreSQL type name binary COPY needs for a column."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, String):  # Text is a String
        return "text"
    raise TypeError(f"no binary COPY type for {column.name}: {kind!r}")


def _pg_copy(
    session: Session, table_name: str, columns: Sequence[str], rows: Iterable[Row], table: Table
) -> None:
    """Binary COPY: psycopg encodes each row in C, several times faster than text."""
    raw: Any = session.connection().connection.dbapi_connection
    cols = _quoted(columns)
    types = [_pg_type(table.c[c]) for c in columns]
    with raw.cursor() as cur, cur.copy(f"COPY {table_name} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def copy_new(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Row]) -> bool:
    """PostgreSQL: binary COPY of ``rows`` straight into ``table``, all or none: False (nothing
    written) when one of them collides with a stored row on a unique key, or with another of them.

    Cheaper than a stage and ``INSERT … ON CONFLICT`` when the rows are new; the copy runs in a
    savepoint, so a collision undoes it alone and the caller's transaction goes on.
    """
    from psycopg.errors import UniqueViolation  # PostgreSQL only: SQLite users never load the driver

    session.execute(text("SAVEPOINT copy_new"))
    try:
        _pg_copy(session, table.name, columns, rows, table)
    except UniqueViolation:
        session.execute(text("ROLLBACK TO SAVEPOINT copy_new"))
        return False
    session.execute(text("RELEASE SAVEPOINT copy_new"))
    return True


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def stage(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Row]) -> str:
    """Load ``rows`` into a new temporary table shaped like ``table`` (those columns); its name."""
    tmp = f"tmp_{table.name}_{uuid.uuid4().hex[:8]}"
    cols = _quoted(columns)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {table.name} WITH NO DATA")
        )
        _pg_copy(session, tmp, columns, rows, table)
    else:
        session.execute(text(f"CREATE TEMP TABLE {tmp} AS SELECT {cols} FROM {table.name} WHERE 0"))
        raw: Any = session.connection().connection.dbapi_connection
        marks = ", ".join("?" for _ in columns)
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {tmp} ({cols}) VALUES ({marks})", _sqlite_rows(rows))
        finally:
            cur.close()
    return tmp


def insert_staged(
    session: Session, table: Table, tmp: str, columns: Sequence[str], conflict: Sequence[str]
) -> int:
    """Move staged rows into ``table``, skipping those that collide on ``conflict``; drop the stage."""
    cols = _quoted(columns)
    result = session.execute(
        text(
            f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {tmp} WHERE true "
            f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        )
    )
    session.execute(text(f"DROP TABLE {tmp}"))
    return int(result.rowcount)  # type: ignore[attr-defined]


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    conflict: Sequence[str] | None = None,
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order); with ``conflict`` skip rows that collide there.

    Returns how many rows were inserted.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    cols = _quoted(columns)
    if dialect == "postgresql":
        if conflict is None:
            _pg_copy(session, table.name, columns, rows, table)
            return len(rows)
        tmp = f"tmp_{table.name}_{uuid.uuid4().hex[:8]}"
        session.execute(
            text(f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {cols} FROM {table.name} WITH NO DATA")
        )
        _pg_copy(session, tmp, columns, rows, table)
        result = session.execute(
            text(
                f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {tmp} "
                f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
            )
        )
        session.execute(text(f"DROP TABLE {tmp}"))
        return int(result.rowcount)  # type: ignore[attr-defined]
    raw: Any = session.connection().connection.dbapi_connection
    marks = ", ".join("?" for _ in columns)
    tail = f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING" if conflict is not None else ""
    before = raw.total_changes
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({marks}){tail}", _sqlite_rows(rows))
    finally:
        cur.close()
    return int(raw.total_changes - before)


def _sqlite_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        # UTCDateTime stores naive UTC on SQLite, in SQLAlchemy's own text format
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _sqlite_rows(rows: Sequence[Row]) -> list[Sequence[object]]:
    """Rows with their date and time columns converted (only those columns are touched)."""
    width = len(rows[0])
    temporal = [
        i for i in range(width) if any(isinstance(r[i], dt.date) for r in rows[:50]) or rows[0][i] is None
    ]
    if not temporal:
        return list(rows)
    out: list[Sequence[object]] = []
    for r in rows:
        row = list(r)
        for i in temporal:
            row[i] = _sqlite_value(row[i])
        out.append(row)
    return out


def allocate_ids(session: Session, table: Table, n: int) -> list[int]:
    """Reserve ``n`` primary-key values of ``table`` in the current transaction."""
    if n == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        seq = session.execute(text(f"SELECT pg_get_serial_sequence('{table.name}', 'id')")).scalar_one()
        got = session.execute(  # one array, not a row per id
            text(f"SELECT array_agg(v) FROM (SELECT nextval('{seq}') AS v FROM generate_series(1, :n)) AS r"),
            {"n": n},
        ).scalar_one()
        return list(got)
    # SQLite has one writer at a time: the ids after the current maximum are ours until commit
    top = session.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table.name}")).scalar_one()
    return list(range(int(top) + 1, int(top) + 1 + n))


__all__ = ["allocate_ids", "copy_new", "insert_rows", "insert_staged", "stage"]
