"""Shared fixtures: one database fixture parametrised over SQLite and PostgreSQL, each test rolled back.

PostgreSQL comes from ``ZHISUAN_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
a throwaway database is created per run. Without a server those tests are skipped, or fail when
``ZHISUAN_REQUIRE_SERVICES=1`` (as in CI).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from zhisuan.audit import Seal
from zhisuan.bootstrap import Platform
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.settings import Settings
from zhisuan.store.db import make_engine
from zhisuan.store.migrate import upgrade
from zhisuan.store.uow import UnitOfWork

#: the audit key of every test database (the platform fixture's settings name the same)
TEST_AUDIT_KEY = "test-audit-key"
TEST_SEAL = Seal(TEST_AUDIT_KEY.encode())
REQUIRE_SERVICES = os.environ.get("ZHISUAN_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("ZHISUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_skipped: list[str] = []


def service_missing(what: str) -> None:
    """Skip (locally) or fail (CI, ZHISUAN_REQUIRE_SERVICES=1) a test whose real service is absent."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (ZHISUAN_REQUIRE_SERVICES=1) but not available")
    _skipped.append(what)
    pytest.skip(f"{what} not available")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        counts: dict[str, int] = {}
        for what in _skipped:
            counts[what] = counts.get(what, 0) + 1
        listing = ", ".join(sorted(counts))
        terminalreporter.write_line(
            f"skipped for want of real services: {listing}; set ZHISUAN_REQUIRE_SERVICES=1 to fail instead"
        )


@dataclass
class TestDatabase:
    """A migrated database and, per test, a connection inside a transaction rolled back at the end."""

    __test__ = False
    backend: str
    url: str
    engine: Engine
    connection: Connection
    session_factory: sessionmaker[Session]

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, seal=TEST_SEAL)


def _pg_engine() -> tuple[Engine, str] | None:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"zhisuan_test_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        return None
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    return make_engine(url), name


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Engine]]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "zhisuan.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        yield "sqlite", url, engine
        engine.dispose()
        return
    made = _pg_engine()
    if made is None:
        service_missing("PostgreSQL")
        return
    engine, name = made
    upgrade(engine)
    yield "postgresql", str(engine.url), engine
    engine.dispose()
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def db(database_engine: tuple[str, str, Engine]) -> Iterator[TestDatabase]:
    """A database for one test: everything it writes is rolled back afterwards."""
    backend, url, engine = database_engine
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield TestDatabase(backend, url, engine, connection, factory)
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def committed_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of its own whose writes are committed (many threads, many transactions)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'committed.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"zhisuan_committed_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        service_missing("PostgreSQL")
        return
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", pool_size=20, max_overflow=20)
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2025, 6, 15, 2, 0, tzinfo=UTC))


@pytest.fixture
def platform(db: TestDatabase, clock: ManualClock, tmp_path: Path) -> Platform:
    """A platform whose every unit of work runs inside the test's rolled-back transaction."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=db.url,
        secret_key="test-secret",
        run_worker=False,
        audit_key=TEST_AUDIT_KEY,
    )
    return Platform(settings=settings, engine=db.engine, clock=clock, session_factory=db.session_factory)
