"""Database engines: PostgreSQL's pooled connections are pinged only after a rest."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from zhisuan.store import db
from zhisuan.store.db import make_engine


def _one_connection(like: Engine) -> Engine:
    return make_engine(like.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)


def _terminated_then_used(engine: Engine, admin: Engine) -> tuple[int, int]:
    """The backend of the pool's one connection, killed by the server, and the backend used next."""
    with engine.connect() as conn:
        before = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    with admin.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        other.commit()
    with engine.connect() as conn:
        after = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    return before, after


# PostgreSQL only: a SQLite connection is a file, there is no server to drop it
POSTGRESQL_ONLY = pytest.mark.parametrize("committed_engine", ["postgresql"], indirect=True)


@POSTGRESQL_ONLY
def test_a_connection_the_server_dropped_is_replaced_after_a_rest(
    committed_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_S", 0.0)  # every checkout has rested long enough
    engine = make_engine(
        committed_engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0
    )
    try:
        before, after = _terminated_then_used(engine, committed_engine)
    finally:
        engine.dispose()
    assert after != before


@POSTGRESQL_ONLY
def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    committed_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load every request would otherwise pay a round trip; the price is that a connection the
    server dropped within that moment fails its one request (and the pool is then renewed)."""
    monkeypatch.setattr(db, "PING_AFTER_S", 3600.0)
    engine = make_engine(
        committed_engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0
    )
    try:
        with pytest.raises(OperationalError):
            _terminated_then_used(engine, committed_engine)
        with engine.connect() as conn:  # the pool was renewed
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
