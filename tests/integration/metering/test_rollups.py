"""Per-day roll-ups: written with the usage, idempotent, and bills drafted from them equal bills drafted
from the records themselves (random usage, late usage, corrections and disputes; both databases)."""

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select, text

from tests.factories.metering import center, org, row, usage_file
from zhisuan import metering
from zhisuan.core.clock import UTC, ManualClock, Month
from zhisuan.metering import rollups
from zhisuan.metering.rollups import backfill
from zhisuan.policy import load_pack_set
from zhisuan.store.models.metering import (
    BillLineRow,
    BillRow,
    UsageDisputeRow,
    UsageRecordRow,
    UsageRollupRow,
)
from zhisuan.store.uow import UnitOfWork

PACKS = load_pack_set()
JUNE, JULY = Month(2025, 6), Month(2025, 7)
CST = dt.timezone(dt.timedelta(hours=8))
BASE = dt.datetime(2025, 6, 24, tzinfo=CST)


@pytest.fixture
def world(db):
    """Two users; center 1 with pools 10 (10 yuan/card-hour) and 11 (7.77 yuan) run by an operator."""
    with db.uow() as uow:
        ids = {"A": org(uow, "user A"), "B": org(uow, "user B"), "OP": org(uow, "operator")}
        center(uow, 1, ids["OP"], 10, 1000)
        center(uow, 1, ids["OP"], 11, 777)
        uow.commit()
    return ids


def _sums(uow: UnitOfWork) -> tuple[int, int, int]:
    """(records, their card-seconds, the roll-ups' card-seconds), and every record in exactly one roll-up."""
    s = uow.session
    n, cs = s.execute(select(func.count(), func.coalesce(func.sum(UsageRecordRow.card_seconds), 0))).one()
    rn, rcs = s.execute(
        select(
            func.coalesce(func.sum(UsageRollupRow.records), 0),
            func.coalesce(func.sum(UsageRollupRow.card_seconds), 0),
        )
    ).one()
    assert int(rn) == int(n)
    return int(n), int(cs), int(rcs)


def _lines(uow: UnitOfWork, run_id: int | None) -> list[tuple[object, ...]]:
    q = (
        select(
            BillRow.org_id,
            BillRow.center_id,
            BillRow.gross_fen,
            BillRow.vat_fen,
            BillLineRow.usage_month,
            BillLineRow.policy_on,
            BillLineRow.pool_id,
            BillLineRow.price_fen_per_card_hour,
            BillLineRow.discount_bp,
            BillLineRow.adjustment,
            BillLineRow.card_seconds,
            BillLineRow.gross_fen,
            BillLineRow.vat_fen,
        )
        .join(BillRow, BillRow.id == BillLineRow.bill_id)
        .where(BillRow.run_id == run_id)
    )
    return sorted(tuple(r) for r in uow.session.execute(q))


def _draft_both_ways(uow: UnitOfWork, month: Month, clock: ManualClock) -> list[tuple[object, ...]]:
    """Draft ``month`` from the records (then undone) and from the roll-ups; the same bills."""
    s = uow.session
    nested = s.begin_nested()
    reference = metering.draft_bills(uow, month, clock, from_records=True)
    expected = _lines(uow, reference.run_id)
    nested.rollback()
    got = metering.draft_bills(uow, month, clock)
    lines = _lines(uow, got.run_id)
    assert lines == expected
    assert (got.bills, got.lines, got.gross_fen, got.held_records) == (
        reference.bills,
        reference.lines,
        reference.gross_fen,
        reference.held_records,
    )
    return lines


usage_rows = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.sampled_from([10, 11]),
        st.integers(0, 14 * 24 * 60),  # start: minutes after 24 June, 00:00 Beijing time
        st.integers(1, 3 * 24 * 60),  # duration in minutes (crosses days and 1 July)
        st.integers(1, 8),  # cards
    ),
    min_size=1,
    max_size=6,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("import"), usage_rows),
        st.tuples(
            st.just("draft"), st.sampled_from([0, 1])
        ),  # 0: the month drafted last (or June), 1: the next
        st.tuples(st.just("correct"), st.integers(0, 50), st.integers(1, 8)),
        st.tuples(st.just("dispute"), st.integers(0, 50), st.booleans()),  # open, or resolve
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_bills_from_rollups_equal_bills_from_records(db, world, tmp_path: Path, plan) -> None:
    clock = ManualClock(dt.datetime(2025, 8, 2, tzinfo=UTC))
    jobs: list[dict[str, object]] = []  # every usage row imported, by job number
    month: Month | None = None
    billed = 0
    with db.uow() as uow:  # one transaction per example, rolled back at its end
        s = uow.session
        for step in plan:
            if step[0] == "import":
                rows = []
                for who, pool, start_min, minutes, cards in step[1]:
                    start = BASE + dt.timedelta(minutes=start_min)
                    end = start + dt.timedelta(minutes=minutes)
                    r = row(
                        f"j{len(jobs)}", world[who], start.isoformat(), end.isoformat(), cards, pool_id=pool
                    )
                    jobs.append(r)
                    rows.append(r)
                path = usage_file(tmp_path / "usage.jsonl", rows)
                metering.import_usage(uow, path, PACKS)
                before = _sums(uow)
                assert metering.import_usage(uow, path, PACKS).inserted == 0  # again: nothing added
                assert _sums(uow) == before
            elif step[0] == "correct" and jobs:
                original = jobs[step[1] % len(jobs)]
                keys = (
                    s.execute(
                        select(UsageRecordRow.key).where(
                            UsageRecordRow.engine_job_id == original["engine_job_id"]
                        )
                    )
                    .scalars()
                    .all()
                )
                if len(keys) == 1:  # one record (not split at 1 July), not corrected yet
                    fixed = dict(original, cards=step[2], corrects=keys[0])
                    metering.import_usage(uow, usage_file(tmp_path / "fix.jsonl", [fixed]), PACKS)
            elif step[0] == "dispute" and jobs:
                job = str(jobs[step[1] % len(jobs)]["engine_job_id"])
                found = (
                    s.execute(select(UsageDisputeRow).where(UsageDisputeRow.engine_job_id == job))
                    .scalars()
                    .all()
                )
                if step[2] and not found:
                    for usage_month in ("2025-06", "2025-07"):
                        s.add(
                            UsageDisputeRow(
                                engine="sim",
                                engine_job_id=job,
                                center_id=1,
                                usage_month=usage_month,
                                observed_card_seconds=0,
                                reported_card_seconds=1,
                                state="open",
                                opened_at=clock.now(),
                            )
                        )
                for d in found if not step[2] else ():
                    d.state = "resolved"
                s.flush()
            elif step[0] == "draft":
                month = (month or JUNE) if step[1] == 0 or month is None else JULY
                lines = _draft_both_ways(uow, month, clock)
                billed += sum(int(ln[10]) for ln in lines)  # type: ignore[call-overload]
            _sums(uow)
        # a usage second is billed once: what the runs billed is what the records they covered carry
        covered = text(
            "SELECT COALESCE(SUM(u.card_seconds), 0) FROM usage_records u WHERE u.id <= "
            "(SELECT COALESCE(MAX(watermark), 0) FROM billing_runs) AND u.usage_month <= "
            "(SELECT COALESCE(MAX(month), '0000-00') FROM billing_runs) AND u.id NOT IN "
            "(SELECT usage_id FROM usage_holds WHERE billed_in_run IS NULL)"
        )
        assert billed == int(s.execute(covered).scalar_one())


def test_backfill_rolls_up_between_watermarks(db, world, tmp_path: Path) -> None:
    """A database from before roll-ups: each run covers a backfilled roll-up whole or not at all."""
    clock = ManualClock(dt.datetime(2025, 7, 2, tzinfo=UTC))
    with db.uow() as uow:
        path = usage_file(
            tmp_path / "a.jsonl",
            [row("a", world["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00")],
        )
        metering.import_usage(uow, path, PACKS)
        metering.draft_bills(uow, JUNE, clock)
        late = [row("b", world["A"], "2025-06-10T11:00:00+08:00", "2025-06-10T12:00:00+08:00")]
        metering.import_usage(uow, usage_file(tmp_path / "b.jsonl", late), PACKS)
        s = uow.session
        conn: Connection = s.connection()
        conn.execute(text("DELETE FROM usage_rollups"))
        backfill(conn)
        spans = s.execute(
            select(UsageRollupRow.first_id, UsageRollupRow.last_id).order_by(UsageRollupRow.first_id)
        ).all()
        assert len(spans) == 2 and spans[0][1] < spans[1][0]  # the same key and day, split at the watermark
        assert _sums(uow)[1] == _sums(uow)[2]
        clock.set(dt.datetime(2025, 8, 2, tzinfo=UTC))
        lines = _draft_both_ways(uow, JULY, clock)
        assert [(ln[4], ln[9], ln[10]) for ln in lines] == [("2025-06", True, 8 * 3600)]


def test_an_import_rolls_up_as_sql_sums_its_records_by_either_path(db, world, tmp_path: Path) -> None:
    """PostgreSQL copies new rows straight in and sums them in Python; a batch holding a known key (or
    a key twice) goes through the stage and sums in SQL. Either way the roll-ups are SQL's sum of the
    records, Shanghai days and record ids included."""
    hour = dt.timedelta(hours=1)
    rows = [
        row(
            f"j{i}",
            world["AB"[i % 2]],
            (BASE + i * 5 * hour).isoformat(),  # across Shanghai midnights and 1 July
            (BASE + i * 5 * hour + (1 + i % 9) * hour).isoformat(),
            cards=1 + i % 8,
            pool_id=10 + i % 2,
        )
        for i in range(60)
    ]
    with db.uow() as uow:
        first = metering.import_usage(uow, usage_file(tmp_path / "a.jsonl", rows[:40]), PACKS, batch=15)
        # known keys (rows 30-39) and one key twice in a batch, beside new rows
        later = [*rows[30:], rows[45]]
        second = metering.import_usage(uow, usage_file(tmp_path / "b.jsonl", later), PACKS, batch=15)
        assert first.inserted == first.records
        assert second.duplicates > 10 and second.inserted >= 20
        s = uow.session
        by = ", ".join((*rollups.KEY, "day"))
        stored = s.execute(
            text(  # a key and day may be rolled up once per batch: their sums, first and last ids
                f"SELECT {by}, MIN(first_id), MAX(last_id), SUM(records), SUM(card_seconds) "  # noqa: S608
                f"FROM usage_rollups GROUP BY {by}"
            )
        ).all()
        summed = s.execute(text(rollups.summing(s.get_bind().dialect.name, "usage_records"))).all()
        assert sorted(map(tuple, stored)) == sorted(map(tuple, summed))
        assert len({r.day for r in stored}) > 10
