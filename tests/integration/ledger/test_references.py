"""A ledger line always has its posting and its account, on both databases: SQLite by its foreign
keys, PostgreSQL by statement-level triggers (migration ``ledger_0002``) that check a whole statement's
lines at once. Whatever is refused leaves nothing behind."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import TestDatabase
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.store.models.ledger import LedgerLineRow

ON = dt.date(2025, 1, 2)


def _posted(db: TestDatabase) -> tuple[str, int]:
    """One budget posting made by the ledger; its key and one of its accounts."""
    with db.uow() as uow:
        ledger.post(
            uow.session,
            [budget_posting("art2", 2025, 1_000, ON, "test")],
            ManualClock(dt.datetime(2025, 1, 2, tzinfo=UTC)),
        )
        uow.commit()
    key, account = db.connection.execute(
        text("SELECT posting_key, account_id FROM ledger_lines LIMIT 1")
    ).one()
    return str(key), int(account)


def _lines(c: Connection) -> int:
    return int(c.execute(select(func.count()).select_from(LedgerLineRow)).scalar_one())


def _refused(db: TestDatabase, sql: str, **params: object) -> str:
    """Run ``sql`` in a savepoint; it must be refused as a broken reference. Returns the message."""
    before = _lines(db.connection)
    nested = db.connection.begin_nested()
    with pytest.raises(IntegrityError) as refused:
        db.connection.execute(text(sql), params)
    nested.rollback()
    assert _lines(db.connection) == before
    return str(refused.value.orig)


def test_a_line_of_no_posting_or_no_account_is_refused(db: TestDatabase) -> None:
    key, account = _posted(db)
    insert = 'INSERT INTO ledger_lines (posting_key, account_id, "on", fen) VALUES (:k, :a, :on, :f)'
    message = _refused(db, insert, k="nowhere:1", a=account, on=ON, f=5)
    if db.backend == "postgresql":
        assert "nowhere:1" in message
    _refused(db, insert, k=key, a=999_999, on=ON, f=5)
    # a statement with many good lines and one bad is refused whole
    many = (
        'INSERT INTO ledger_lines (posting_key, account_id, "on", fen) '
        'SELECT posting_key, account_id, "on", 0 FROM ledger_lines UNION ALL SELECT :k, :a, :on, 0'
    )
    _refused(db, many, k="nowhere:2", a=account, on=ON)
    _refused(db, "UPDATE ledger_lines SET posting_key = :k", k="nowhere:3")
    _refused(db, "UPDATE ledger_lines SET account_id = :a", a=999_999)


def test_a_posting_or_account_with_lines_cannot_go(db: TestDatabase) -> None:
    key, account = _posted(db)
    _refused(db, "DELETE FROM ledger_postings WHERE key = :k", k=key)
    _refused(db, "UPDATE ledger_postings SET key = 'moved' WHERE key = :k", k=key)
    _refused(db, "DELETE FROM ledger_accounts WHERE id = :a", a=account)
    _refused(db, "UPDATE ledger_accounts SET id = 999999 WHERE id = :a", a=account)
    # a posting no line refers to may go (nothing else refers to it)
    db.connection.execute(
        text(
            "INSERT INTO ledger_postings (key, cause, \"on\", memo, created_at) VALUES (:k, :k, :on, '', :at)"
        ),
        {"k": "empty:1", "m": "", "on": ON, "at": dt.datetime(2025, 1, 2, tzinfo=UTC)},
    )
    db.connection.execute(text("DELETE FROM ledger_postings WHERE key = 'empty:1'"))
    with db.uow() as uow:
        assert ledger.verify(uow.session) == []


# SQLite has no TRUNCATE
@pytest.mark.parametrize("database_engine", ["postgresql"], indirect=True)
def test_postgresql_truncates_the_ledger_whole_or_not_at_all(db: TestDatabase) -> None:
    _posted(db)
    _refused(db, "TRUNCATE ledger_postings")
    _refused(db, "TRUNCATE ledger_accounts")
    nested = db.connection.begin_nested()
    db.connection.execute(text("TRUNCATE ledger_lines, ledger_postings, ledger_accounts"))
    assert _lines(db.connection) == 0
    nested.rollback()
    assert _lines(db.connection) > 0
