"""Database engines: SQLite by default (WAL, foreign keys on), PostgreSQL when the URL says so."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from zhisuan.store.uow import WRITER

#: connections a process keeps, and may open beyond (see zhisuan.web.limits.MAX_IN_FLIGHT)
POOL_SIZE = 10
POOL_OVERFLOW = 20
#: PostgreSQL: a pooled connection that rested this long is pinged before it is handed out
PING_AFTER_S = 2.0
_RESTED_SINCE = "zhisuan_checked_in_at"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin (so SAVEPOINTs work).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # a writer takes the write lock at once, so it waits on busy_timeout rather than failing with
    # "database is locked" when a read transaction would later have to upgrade (see UnitOfWork)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITER) else "BEGIN")


def private_file(path: Path) -> None:
    """Create a database file readable by its owner only (0600) before SQLite opens it; SQLite gives
    its -wal and -shm files the same mode. ``:memory:`` and existing files are left alone."""
    if not path.name or path.name == ":memory:" or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for ``url`` with zhisuan's connection settings."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if ":memory:" not in url and url not in {"sqlite://", "sqlite+pysqlite://"}:
            kwargs.setdefault("pool_size", POOL_SIZE)
            kwargs.setdefault("max_overflow", POOL_OVERFLOW)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _rested_from)  # a new connection needs no ping
    event.listen(engine, "checkin", _rested_from)
    event.listen(engine, "checkout", _ping_if_rested)
    return engine


def _rested_from(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info[_RESTED_SINCE] = time.monotonic()


def _ping_if_rested(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """``pool_pre_ping``, except for a connection back in the pool less than :data:`PING_AFTER_S` ago:
    under load every request would otherwise pay a round trip for ``SELECT 1``. A connection the server
    dropped (restarted, idle timeout) is replaced before use; one that dies in that short rest fails
    its request, and SQLAlchemy then replaces every connection of the pool."""
    rested = record.info.get(_RESTED_SINCE)
    if rested is not None and time.monotonic() - rested < PING_AFTER_S:
        return
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception as exc:
        raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial query."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
