"""Every reference checked per statement on PostgreSQL (``zhisuan.store.references``, migrations
``ledger_0002`` and ``metering_0005``) refuses what its foreign key refused, on both databases (SQLite
keeps the foreign keys): a row naming a missing target, by insert or update, and a target that goes
while rows refer to it. A refused statement leaves nothing behind.

The rows probed are a real settled month (usage, bills, lines, sources, vouchers, ledger postings).
"""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import TestDatabase
from tests.factories.metering import center, org, row, usage_file
from zhisuan import metering
from zhisuan.core.clock import UTC, ManualClock, Month
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.policy import load_pack_set
from zhisuan.store.references import Reference

MIGRATIONS = "zhisuan.store.migrations.versions."
REFERENCES: tuple[Reference, ...] = tuple(
    ref
    for name in ("ledger_0002_set_wise_references", "metering_0005_set_wise_references")
    for ref in importlib.import_module(MIGRATIONS + name).REFERENCES
)
JUNE = Month(2025, 6)


@pytest.fixture
def settled(db: TestDatabase, tmp_path: Path) -> TestDatabase:
    """June 2025 drafted, issued, paid and settled for one user of one center, committed in the test's
    transaction; a bill of it reopened in a second run, so that every reference has a row."""
    clock = ManualClock(dt.datetime(2025, 7, 2, 2, tzinfo=UTC))
    packs = load_pack_set()
    with db.uow() as uow:
        user, operator = org(uow, "user"), org(uow, "operator")
        center(uow, 1, operator, 10, 1000)
        ledger.post(uow.session, [budget_posting("art2", 2025, 10**6, dt.date(2025, 1, 2), "t")], clock)
        usage = [row("a1", user, "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")]
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", usage), packs)
        metering.draft_bills(uow, JUNE, clock)
        metering.issue_bills(uow, clock, month=JUNE)
        metering.pay_all(uow, JUNE, "BANK-1", dt.date(2025, 7, 1), clock)
        metering.settle_vouchers(uow, JUNE, clock, packs)
        uow.commit()
    db.connection.execute(text("UPDATE bills SET reopened_in_run = run_id"))
    return db


def _count(c: Connection, table: str) -> int:
    return int(c.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608


def _refused(db: TestDatabase, ref: Reference, sql: str, *, anyone: bool = False, **params: object) -> None:
    """``sql`` must be refused as a broken ``ref`` (``anyone``: as a broken reference to its target, the
    first of several to refuse), leaving both tables as they were."""
    c = db.connection
    before = (_count(c, ref.table), _count(c, ref.target))
    nested = c.begin_nested()
    with pytest.raises(IntegrityError) as refused:
        c.execute(text(sql), params)
    nested.rollback()
    message = str(refused.value.orig)
    if db.backend == "postgresql" and anyone:
        assert f'"{ref.target}"' in message or f"{ref.target}.{ref.target_column}" in message, message
    elif db.backend == "postgresql":
        assert f"{ref.target}.{ref.target_column}" in message, message
        assert f"{ref.table}.{ref.column}" in message, message
    else:
        assert "FOREIGN KEY constraint failed" in message, message
    assert (_count(c, ref.table), _count(c, ref.target)) == before


def _missing(c: Connection, ref: Reference) -> object:
    """A value no row of the target has."""
    if ref.target_column == "key":
        return "missing:1"
    top = f"SELECT COALESCE(MAX({ref.target_column}), 0) + 1000 FROM {ref.target}"  # noqa: S608
    return int(c.execute(text(top)).scalar_one())


def _copy(c: Connection, ref: Reference) -> str:
    """INSERT … SELECT of one row of ``ref.table`` with ``ref.column`` set to ``:v`` (a new id; the
    other columns of a unique constraint moved off the original's, so only the reference can refuse)."""
    meta = inspect(c)
    described = meta.get_columns(ref.table)
    columns = [col["name"] for col in described]
    numbers = {col["name"] for col in described if col["type"].python_type is int}
    pk = meta.get_pk_constraint(ref.table)["constrained_columns"]
    refs = {r.column for r in REFERENCES if r.table == ref.table}
    shifted: set[str] = set()
    for unique in meta.get_unique_constraints(ref.table):
        if ref.column not in unique["column_names"]:
            shifted.add(next(n for n in unique["column_names"] if n not in refs and n in numbers))
    chosen = [n for n in columns if not (pk == ["id"] and n == "id")]
    values = [
        ":v" if n == ref.column else f"{n} + 1000000" if n in shifted else f'"{n}"' if n == "on" else n
        for n in chosen
    ]
    names = ", ".join(f'"{n}"' for n in chosen)
    return f"INSERT INTO {ref.table} ({names}) SELECT {', '.join(values)} FROM {ref.table} WHERE {ref.column} IS NOT NULL LIMIT 1"  # noqa: S608,E501


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: f"{r.table}.{r.column}")
def test_a_row_naming_a_missing_target_is_refused(settled: TestDatabase, ref: Reference) -> None:
    c = settled.connection
    assert _count(c, ref.table) > 0
    missing = _missing(c, ref)
    _refused(settled, ref, _copy(c, ref), v=missing)
    _refused(settled, ref, f"UPDATE {ref.table} SET {ref.column} = :v", v=missing)  # noqa: S608


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: f"{r.table}.{r.column}")
def test_a_target_with_rows_referring_to_it_cannot_go(settled: TestDatabase, ref: Reference) -> None:
    c = settled.connection
    used = f"SELECT {ref.column} FROM {ref.table} WHERE {ref.column} IS NOT NULL LIMIT 1"  # noqa: S608
    value = c.execute(text(used)).scalar_one()
    # deleting it refuses (another reference to the same target may refuse first: any will do)
    delete = f"DELETE FROM {ref.target} WHERE {ref.target_column} = :v"  # noqa: S608
    _refused(settled, ref, delete, anyone=True, v=value)
    if settled.backend == "postgresql":
        _refused(settled, ref, f"TRUNCATE {ref.target} CASCADE", anyone=True)


def test_a_target_nothing_refers_to_may_go(settled: TestDatabase) -> None:
    c = settled.connection
    c.execute(
        text(
            'INSERT INTO ledger_postings (key, cause, "on", memo, created_at) VALUES (:k, :k, :on, :m, :at)'
        ),
        {"k": "empty:1", "m": "", "on": dt.date(2025, 1, 2), "at": dt.datetime(2025, 1, 2, tzinfo=UTC)},
    )
    c.execute(text("DELETE FROM ledger_postings WHERE key = 'empty:1'"))
    with settled.uow() as uow:
        assert ledger.verify(uow.session) == []
