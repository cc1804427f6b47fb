"""The audit chain (issue 16): keyed, serialised, its head signed and copied outside the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select, update

from tests.conftest import TEST_SEAL, TestDatabase
from zhisuan import audit
from zhisuan.audit import GENESIS, Seal
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC
from zhisuan.core.errors import PermissionDeniedError
from zhisuan.store.models.core import AuditEventRow, AuditHeadRow
from zhisuan.store.uow import UnitOfWork

NOW = dt.datetime(2025, 6, 15, 2, 0, tzinfo=UTC)


def _events(uow: UnitOfWork, n: int, action: str = "bill.pay") -> None:
    for i in range(n):
        audit.record(uow, NOW, "finance", action, f"bill:{i}", {"amount_fen": 100 * i})


@pytest.fixture
def chain(db: TestDatabase) -> TestDatabase:
    with db.uow() as uow:
        _events(uow, 5)
        uow.commit()
    return db


def test_an_untouched_chain_verifies(chain: TestDatabase) -> None:
    with chain.uow() as uow:
        verdict = audit.verify(uow)
    assert verdict.intact and verdict.checked == 5


def test_an_edited_event_is_named(chain: TestDatabase) -> None:
    with chain.uow() as uow:
        third = uow.session.execute(
            select(AuditEventRow).order_by(AuditEventRow.id).offset(2).limit(1)
        ).scalar_one()
        third.detail = json.dumps({"amount_fen": 1})
        uow.session.flush()
        verdict = audit.verify(uow)
        assert verdict.broken_at == third.id and not verdict.intact


def test_deleting_the_last_events_is_caught(chain: TestDatabase) -> None:
    with chain.uow() as uow:
        last = uow.session.execute(select(func_max())).scalar_one()
        uow.session.execute(delete(AuditEventRow).where(AuditEventRow.id >= last - 1))
        verdict = audit.verify(uow)
    assert not verdict.intact and "counts 5" in (verdict.problem or "")


def func_max():  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    return func.max(AuditEventRow.id)


def test_emptying_the_table_is_caught(chain: TestDatabase) -> None:
    with chain.uow() as uow:
        uow.session.execute(delete(AuditEventRow))
        verdict = audit.verify(uow)
    assert not verdict.intact


def test_rechaining_with_plain_sha256_is_caught(chain: TestDatabase) -> None:
    """An attacker without the key edits an event and recomputes every hash (and the head) with SHA-256."""
    with chain.uow() as uow:
        s = uow.session
        prev = GENESIS
        rows = s.execute(select(AuditEventRow).order_by(AuditEventRow.id)).scalars().all()
        rows[1].detail = json.dumps({"amount_fen": 999999})
        for row in rows:
            payload = "\x1f".join([prev, row.at.isoformat(), row.actor, row.action, row.subject, row.detail])
            row.prev_hash, row.hash = prev, hashlib.sha256(payload.encode()).hexdigest()
            prev = row.hash
        s.execute(update(AuditHeadRow).values(hash=prev, mac=hashlib.sha256(prev.encode()).hexdigest()))
        s.flush()
        verdict = audit.verify(uow)
        assert not verdict.intact and verdict.broken_at == rows[0].id


def test_an_appended_forged_event_is_caught(chain: TestDatabase) -> None:
    with chain.uow() as uow:
        s = uow.session
        last = s.execute(select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(1)).scalar_one()
        forged = Seal(b"not the key")
        digest = forged.event_hash(last.hash, NOW, "x", "bill.pay", "bill:9", "{}")
        s.add(
            AuditEventRow(
                at=NOW,
                actor="x",
                action="bill.pay",
                subject="bill:9",
                detail="{}",
                prev_hash=last.hash,
                hash=digest,
            )
        )
        s.flush()
        verdict = audit.verify(uow)
        forged_id = s.execute(select(func_max())).scalar_one()
    assert verdict.broken_at == forged_id


def test_a_reset_head_and_an_emptied_table_are_caught_by_the_copy_outside(
    db: TestDatabase, tmp_path: Path
) -> None:
    seal = Seal(TEST_SEAL.key, tmp_path / "audit_head.json")
    uow = UnitOfWork(db.session_factory, seal=seal)
    with uow:
        _events(uow, 3)
        uow.commit()
    assert json.loads((tmp_path / "audit_head.json").read_text())["count"] == 3
    with uow.fresh() as u:
        assert audit.verify(u).intact
        u.session.execute(delete(AuditEventRow))
        u.session.execute(update(AuditHeadRow).values(count=0, hash=GENESIS, mac=""))
        verdict = audit.verify(u)
    assert not verdict.intact and "outside the database counts 3" in (verdict.problem or "")


def test_the_log_is_read_by_admins_and_the_province_only(chain: TestDatabase) -> None:
    with chain.uow() as uow:
        events = audit.list_events(uow, Principal(None, "p", Role.PROVINCE), action="bill.")
        assert [e.subject for e in events][:2] == ["bill:4", "bill:3"]
        with pytest.raises(PermissionDeniedError):
            audit.list_events(uow, Principal(None, "f", Role.FINANCE))


# concurrent writers ---------------------------------------------------------------------------------


def _eighty_writers(engine: Engine, deferred: bool) -> UnitOfWork:
    """Eighty threads each commit one event at once (every second one deferred when ``deferred``)."""
    uow = UnitOfWork.for_engine(engine, seal=TEST_SEAL)
    errors: list[BaseException] = []
    start = threading.Barrier(80)

    def write(i: int) -> None:
        try:
            start.wait()
            with uow.fresh() as mine:
                audit.record(
                    mine,
                    NOW,
                    f"user{i}",
                    "token.create",
                    f"user:{i}",
                    {"i": i},
                    deferred=deferred and i % 2 == 0,
                )
                mine.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(80)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return uow


def test_eighty_concurrent_writers_never_fork_the_chain(committed_engine: Engine) -> None:
    uow = _eighty_writers(committed_engine, deferred=False)
    with uow.fresh() as check:
        verdict = audit.verify(check)
    assert verdict.intact and verdict.checked == 80


# deferred events (the job-submission hot path) ------------------------------------------------------


def test_a_deferred_event_is_one_insert_and_is_chained_right_after_the_commit(db: TestDatabase) -> None:
    with db.uow() as uow:
        _events(uow, 2)
        audit.record(uow, NOW, "alice", "job.submit", "job:1", {"cards": 8}, deferred=True)
        assert _pending(uow) == 1  # written with the change, not chained yet
        uow.commit()
    with db.uow() as uow:
        assert _pending(uow) == 0
        verdict = audit.verify(uow)
        last = uow.session.execute(
            select(AuditEventRow.action, AuditEventRow.subject).order_by(AuditEventRow.id.desc()).limit(1)
        ).one()
    assert verdict.intact and verdict.checked == 3 and tuple(last) == ("job.submit", "job:1")


def test_a_rolled_back_deferred_event_leaves_nothing(db: TestDatabase) -> None:
    with db.uow() as uow:
        audit.record(uow, NOW, "alice", "job.submit", "job:1", {}, deferred=True)
    with db.uow() as uow:
        assert _pending(uow) == 0 and audit.verify(uow).checked == 0


def test_a_deferred_event_forged_without_the_key_is_never_chained_and_verify_names_it(
    db: TestDatabase,
) -> None:
    """Someone with write access to the database but not the key adds a pending event: the sealer
    leaves it out of the chain (genuine events after it are still sealed) and verify names it."""
    from sqlalchemy import insert

    from zhisuan.store.models.core import AuditPendingRow

    with db.uow() as uow:
        _events(uow, 1)
        uow.session.execute(
            insert(AuditPendingRow).values(
                at=NOW, actor="mallory", action="bill.pay", subject="bill:9", detail="{}", mac="0" * 64
            )
        )
        audit.record(uow, NOW, "alice", "job.submit", "job:1", {}, deferred=True)
        uow.commit()
    with db.uow() as uow:
        verdict = audit.verify(uow)
        chained = uow.session.execute(select(AuditEventRow.actor).order_by(AuditEventRow.id)).scalars().all()
        assert _pending(uow) == 1  # the forged row, left where it was
    assert "mallory" not in chained and chained[-1] == "alice"
    assert not verdict.intact and "forged" in (verdict.problem or "")


def _pending(uow: UnitOfWork) -> int:
    from sqlalchemy import func

    from zhisuan.store.models.core import AuditPendingRow

    return int(uow.session.execute(select(func.count()).select_from(AuditPendingRow)).scalar_one())


def test_concurrent_deferred_and_chained_writers_never_fork_the_chain(committed_engine: Engine) -> None:
    """Forty writers defer their events (sealed after each commit, in batches), forty chain theirs
    directly: every event ends up in one intact chain, none twice, none pending."""
    uow = _eighty_writers(committed_engine, deferred=True)
    with uow.fresh() as check:
        verdict = audit.verify(check)
        subjects = check.session.execute(select(AuditEventRow.subject)).scalars().all()
        assert _pending(check) == 0
    assert verdict.intact and verdict.checked == 80
    assert sorted(subjects) == sorted(f"user:{i}" for i in range(80))
