"""A process's memory of its tokens' accounts (``TokenAccounts``) on both databases: reused only while
the database's count of account changes reads the same, which every change that matters raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text, update

from tests.conftest import TestDatabase
from zhisuan import accounts
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.errors import AuthenticationError
from zhisuan.core.orgs import OrgKind
from zhisuan.store.models.core import ApiTokenRow, UserRow
from zhisuan.store.uow import UnitOfWork

ADMIN = Principal(None, "test-admin", Role.ADMIN)


def _people(db: TestDatabase, clock: ManualClock) -> dict[str, str]:
    """Two organizations, eve (org admin of the first) and dan (user of the second), a token each."""
    now = clock.now()
    with db.uow() as uow:
        first, second = (
            accounts.create_org(
                uow,
                ADMIN,
                accounts.OrgInput(
                    name=name, credit_code=make_credit_code(body), kind=OrgKind.ENTERPRISE, city_code="340100"
                ),
                now,
            )
            for name, body in (("甲公司", "91340100MA2TGXK50"), ("乙公司", "91340100MA2TGXK51"))
        )
        tokens = {}
        for name, role, org in (("eve", Role.ORG_ADMIN, first.id), ("dan", Role.USER, second.id)):
            accounts.add_user(uow, ADMIN, username=name, password="password1", role=role, org=org, now=now)
            tokens[name] = accounts.create_token(uow, ADMIN, name, "laptop", now)
        uow.commit()
    return tokens


def _changes(uow: UnitOfWork) -> int:
    return int(uow.session.connection().exec_driver_sql("SELECT count FROM account_changes").scalar_one())


@contextmanager
def _statements(db: TestDatabase) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):  # the test's own transaction
            seen.append(statement)

    event.listen(db.connection, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.connection, "before_cursor_execute", count)


def _who(
    cache: accounts.TokenAccounts, db: TestDatabase, token: str, clock: ManualClock
) -> accounts.UserView:
    with db.uow() as uow:
        return cache.authenticate(uow, token, clock.now())[0]


def test_a_seen_token_costs_one_small_query_and_never_answers_for_another(
    db: TestDatabase, clock: ManualClock
) -> None:
    tokens = _people(db, clock)
    cache = accounts.TokenAccounts()
    for _ in range(2):
        assert _who(cache, db, tokens["eve"], clock).username == "eve"
        assert _who(cache, db, tokens["dan"], clock).username == "dan"
    with _statements(db) as seen:
        assert _who(cache, db, tokens["eve"], clock).username == "eve"
    assert seen == ["SELECT count FROM account_changes WHERE id = 1"]
    with db.uow() as uow, pytest.raises(AuthenticationError):
        cache.authenticate(uow, tokens["eve"][:-1] + "x", clock.now())  # a near miss is not eve


def test_revoking_disabling_or_changing_a_role_is_seen_by_the_next_authentication(
    db: TestDatabase, clock: ManualClock
) -> None:
    tokens = _people(db, clock)
    cache = accounts.TokenAccounts()
    assert _who(cache, db, tokens["eve"], clock).role is Role.ORG_ADMIN
    with db.uow() as uow:
        accounts.change_role(uow, ADMIN, "eve", Role.USER, clock.now())
        uow.commit()
    assert _who(cache, db, tokens["eve"], clock).role is Role.USER
    with db.uow() as uow:
        accounts.change_role(uow, ADMIN, "eve", Role.USER, clock.now(), org="乙公司")
        uow.commit()
    moved = _who(cache, db, tokens["eve"], clock)
    assert _who(cache, db, tokens["dan"], clock).org_id == moved.org_id  # a new organization, at once
    with db.uow() as uow:
        accounts.set_active(uow, ADMIN, "dan", False, clock.now())
        uow.commit()
    with db.uow() as uow, pytest.raises(AuthenticationError, match="disabled"):
        cache.authenticate(uow, tokens["dan"], clock.now())
    with db.uow() as uow:
        (mine,) = accounts.list_tokens(uow, moved.principal())
        accounts.revoke_token(uow, ADMIN, mine.id, clock.now())
        uow.commit()
    with db.uow() as uow, pytest.raises(AuthenticationError, match="revoked"):
        cache.authenticate(uow, tokens["eve"], clock.now())


def test_a_change_by_hand_counts_and_a_recorded_use_does_not(db: TestDatabase, clock: ManualClock) -> None:
    tokens = _people(db, clock)
    cache = accounts.TokenAccounts()
    with db.uow() as uow:
        before = _changes(uow)
        user, touch = cache.authenticate(uow, tokens["eve"], clock.now())
        assert touch is not None
        accounts.touch_token(uow, touch, clock.now())  # every minute: must not count
        uow.commit()
    with db.uow() as uow:
        assert _changes(uow) == before
        uow.session.execute(update(UserRow).where(UserRow.id == user.id).values(city_code=None))
        assert _changes(uow) == before + 1
        uow.session.execute(update(ApiTokenRow).where(ApiTokenRow.id == touch).values(revoked=True))
        assert _changes(uow) == before + 2
        uow.commit()
    with db.uow() as uow, pytest.raises(AuthenticationError):
        cache.authenticate(uow, tokens["eve"], clock.now())
    with db.uow() as uow:
        uow.session.execute(text("DELETE FROM api_tokens"))
        assert _changes(uow) > before + 2


def test_a_token_is_due_for_recording_once_a_minute(db: TestDatabase, clock: ManualClock) -> None:
    tokens = _people(db, clock)
    cache = accounts.TokenAccounts()
    with db.uow() as uow:
        _user, touch = cache.authenticate(uow, tokens["eve"], clock.now())
    assert touch is not None  # never used: due
    cache.touched(tokens["eve"], clock.now())
    clock.advance(59)
    with db.uow() as uow:
        assert cache.authenticate(uow, tokens["eve"], clock.now())[1] is None
    clock.advance(1)
    with db.uow() as uow:
        assert cache.authenticate(uow, tokens["eve"], clock.now())[1] == touch


def test_a_full_memory_forgets_its_oldest_token_and_still_answers_each_as_its_own(
    db: TestDatabase, clock: ManualClock
) -> None:
    tokens = _people(db, clock)
    cache = accounts.TokenAccounts(limit=1)
    for _ in range(3):
        assert _who(cache, db, tokens["eve"], clock).username == "eve"
        assert _who(cache, db, tokens["dan"], clock).username == "dan"
