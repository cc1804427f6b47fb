"""The province dashboard's figures equal the same figures counted independently from the rows, on SQLite
and PostgreSQL: capacity by city and vendor, utilisation by Shanghai day, the queue and its wait,
vouchers and awards by measure, city and month, budget burn — and money follows the caller's scope."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories.metering import center, org, row, usage_file
from zhisuan import metering
from zhisuan.core.access import Principal, Role
from zhisuan.core.catalog import capacity_p
from zhisuan.core.clock import UTC, ManualClock, Month, shanghai_date
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.policy import load_pack_set
from zhisuan.reports import work
from zhisuan.reports.province import province_figures
from zhisuan.store.models.awards import ApplicationRow, AwardCallRow
from zhisuan.store.models.compute import CenterRow, JobRow, PoolRow
from zhisuan.store.models.metering import UsageRecordRow, VoucherLineRow

PACKS = load_pack_set()
JUNE = Month(2025, 6)
NOW = dt.datetime(2025, 7, 2, 2, tzinfo=UTC)  # 10:00 in Shanghai
PROVINCE = Principal(None, "p", Role.PROVINCE)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def world(db, clock, tmp_path: Path) -> dict[str, int]:
    """Hefei: an A100 pool (80 cards); Suzhou (皖北): an Ascend pool (16 cards) and an A100 pool (8);
    June usage billed, paid and settled; awards decided in two months; jobs queued, held and placed."""
    with db.uow() as uow:
        ids = {"A": org(uow, "user A"), "S": org(uow, "user S", city="341300"), "OP": org(uow, "operator")}
        center(uow, 1, ids["OP"], 10, 1000)  # Hefei, pool 10: 10 nodes × 8 A100
        s = uow.session
        s.add(
            CenterRow(
                id=2,
                key="c2",
                name="宿州",
                operator_org_id=ids["OP"],
                city_code="341300",
                engine_config="{}",
                created_at=NOW,
            )
        )
        s.flush()
        for pid, acc, nodes in ((20, "ascend-910b", 2), (21, "a100-sxm4-80gb", 1)):
            s.add(
                PoolRow(
                    id=pid,
                    key=f"p{pid}",
                    center_id=2,
                    accelerator=acc,
                    nodes=nodes,
                    cards_per_node=8,
                    price_fen=800,
                    bands="[]",
                    engine_kind="simulated",
                    engine_config="{}",
                    available=True,
                    created_at=NOW,
                )
            )
        s.flush()
        ledger.post(s, [budget_posting("art2", 2025, 10_000_00, dt.date(2025, 1, 2), "fund")], clock)
        uow.commit()
    rows = [
        row("a1", ids["A"], "2025-06-10T08:00:00+08:00", "2025-06-10T10:00:00+08:00"),
        row("a2", ids["A"], "2025-06-30T23:00:00+08:00", "2025-07-01T01:00:00+08:00", cards=4),  # midnight
        row("s1", ids["S"], "2025-06-20T08:00:00+08:00", "2025-06-20T09:30:00+08:00", center_id=2, pool_id=20,
            accelerator="ascend-910b"),
        row("s2", ids["S"], "2025-07-01T20:00:00+08:00", "2025-07-02T02:00:00+08:00", center_id=2, pool_id=21,
            cards=2),
    ]  # fmt: skip
    with db.uow() as uow:
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), PACKS)
        uow.commit()
    with db.uow() as uow:
        metering.draft_bills(uow, JUNE, clock)
        metering.issue_bills(uow, clock, month=JUNE)
        metering.pay_all(uow, JUNE, "BANK-1", dt.date(2025, 7, 1), clock)
        uow.commit()
    with db.uow() as uow:
        metering.settle_vouchers(uow, JUNE, clock, PACKS)
        uow.commit()
    with db.uow() as uow:
        s = uow.session
        call = AwardCallRow(
            program="art5",
            title="研发",
            opens_on=dt.date(2025, 1, 1),
            closes_on=dt.date(2025, 12, 31),
            budget_year=2025,
            payer="province",
            notice_days=7,
            max_awards=None,
            created_by="t",
            created_at=NOW,
        )
        s.add(call)
        s.flush()
        awards = [  # (org, city, state, approved fen, decided at)
            (
                ids["A"],
                "340100",
                "approved",
                120_000_00,
                dt.datetime(2025, 5, 31, 17, tzinfo=UTC),
            ),  # 6-01 Shanghai
            (ids["S"], "341300", "paid", 240_000_00, dt.datetime(2025, 6, 15, 2, tzinfo=UTC)),
            (ids["S"], "341300", "city_review", None, None),
        ]
        for i, (o, city, state, fen, decided) in enumerate(awards):
            s.add(
                ApplicationRow(
                    call_id=call.id,
                    program="art5",
                    applicant_kind="org",
                    org_id=o,
                    city_code=city,
                    project_ref=f"P{i}",
                    project_name=f"项目{i}",
                    event_on=dt.date(2025, 3, 1),
                    facts="{}",
                    other_funding="[]",
                    state=state,
                    round=1,
                    created_by="t",
                    created_at=NOW,
                    updated_at=NOW,
                    approved_fen=fen,
                    case_by_case=False,
                    decided_at=decided,
                )
            )
        jobs = [  # (state, hold kind, submitted, placed)
            ("queued", "quota", NOW - dt.timedelta(hours=3), None),
            ("queued", None, NOW - dt.timedelta(hours=1), None),
            ("placed", None, NOW - dt.timedelta(minutes=50), NOW - dt.timedelta(minutes=20)),
            ("running", None, NOW - dt.timedelta(days=1, minutes=10), NOW - dt.timedelta(days=1)),
        ]
        for state, kind, submitted, placed in jobs:
            s.add(
                JobRow(
                    org_id=ids["A"],
                    name="j",
                    command="c",
                    cards=1,
                    runtime_s=60,
                    reference="a100-sxm4-80gb",
                    state=state,
                    hold_kind=kind,
                    submitted_at=submitted,
                    placed_at=placed,
                    updated_at=NOW,
                )
            )
        uow.commit()
    return ids


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def test_capacity_by_city_and_vendor_equals_the_pools(db, world):
    with db.uow() as uow:
        f = province_figures(uow, PROVINCE, NOW)
        pools = uow.session.execute(select(CenterRow.city_code, PoolRow.accelerator, PoolRow.nodes,
                                           PoolRow.cards_per_node).join(CenterRow)).all()  # fmt: skip
    expect_p: dict[str, Decimal] = defaultdict(Decimal)
    expect_cards: dict[str, int] = defaultdict(int)
    for city, acc, nodes, per in pools:
        expect_p[city] += capacity_p([(acc, nodes * per)])
        expect_cards[city] += nodes * per
    got = {c.code: c for c in f.cities}
    assert len(f.cities) == 16  # every city of Anhui, with or without centers
    assert {code: c.capacity_p for code, c in got.items() if c.cards} == dict(expect_p)
    assert {code: c.cards for code, c in got.items() if c.cards} == dict(expect_cards)
    assert got["341300"].by_vendor["domestic"] == capacity_p([("ascend-910b", 16)])
    assert got["341300"].by_vendor["nvidia"] == capacity_p([("a100-sxm4-80gb", 8)])
    assert f.by_vendor["nvidia"] == capacity_p([("a100-sxm4-80gb", 88)])
    assert sum(f.by_vendor.values()) == sum(expect_p.values())


def test_utilisation_by_day_cuts_usage_at_shanghai_midnight(db, world):
    with db.uow() as uow:
        f = province_figures(uow, PROVINCE, NOW, days=30)
        records = uow.session.execute(
            select(
                UsageRecordRow.start_at,
                UsageRecordRow.end_at,
                UsageRecordRow.cards,
                UsageRecordRow.card_seconds,
            )
        ).all()
    # independently: walk every record second by second boundary (per Shanghai day, by hand)
    busy: dict[str, int] = defaultdict(int)
    for start, end_at, cards_used, card_seconds in records:
        t, end = _aware(start), _aware(end_at)
        while t < end:
            day = shanghai_date(t)
            midnight = dt.datetime.combine(
                day + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8))
            )
            stop = min(end, midnight)
            busy[day.isoformat()] += (
                int((stop - t).total_seconds()) * cards_used * (1 if card_seconds > 0 else -1)
            )
            t = stop
    cards = 80 + 16 + 8
    got = dict(f.utilisation_by_day)
    assert len(got) == 30 and max(got) == "2025-07-02"
    for day, seconds in busy.items():
        if day in got:
            assert got[day] == pytest.approx(seconds / (cards * 86400))
    assert got["2025-06-30"] == pytest.approx(4 * 3600 / (cards * 86400))  # a2's first hour (4 cards)
    assert got["2025-07-01"] == pytest.approx((4 * 3600 + 2 * 4 * 3600) / (cards * 86400))
    suzhou = next(c for c in f.cities if c.code == "341300")
    assert suzhou.utilisation == pytest.approx((8 * 1.5 + 2 * 6) * 3600 / (24 * 30 * 86400))  # s1 on 8 cards


def test_queue_and_wait_equal_the_jobs(db, world):
    with db.uow() as uow:
        f = province_figures(uow, PROVINCE, NOW)
        jobs = uow.session.execute(select(JobRow.state, JobRow.placed_at)).all()
    queued = [j for j in jobs if j.state == "queued"]
    assert f.queued == len(queued) == 2
    assert f.held == {"quota": 1, "capacity": 1}
    waits = {d: (w, n) for d, w, n in f.wait_by_day}
    placed_today = [
        j for j in jobs if j.placed_at and shanghai_date(_aware(j.placed_at)) == shanghai_date(NOW)
    ]
    assert waits[shanghai_date(NOW).isoformat()] == (pytest.approx(30.0), len(placed_today))
    assert waits[(shanghai_date(NOW) - dt.timedelta(days=1)).isoformat()] == (pytest.approx(10.0), 1)


def test_vouchers_awards_and_burn_equal_the_rows(db, world):
    with db.uow() as uow:
        f = province_figures(uow, PROVINCE, NOW)
        lines = uow.session.execute(
            select(VoucherLineRow.program, VoucherLineRow.city, VoucherLineRow.usage_month,
                   VoucherLineRow.amount_fen, VoucherLineRow.status)
        ).all()  # fmt: skip
        left = metering.postings.program_budget_left(uow.session, 2025)
    expect: dict[tuple[str, str, str], int] = defaultdict(int)
    for v in lines:
        if v.status in ("granted", "pro_rated", "clawback"):
            expect[(v.program, v.city, v.usage_month)] += v.amount_fen
    assert {(m, c, mo): fen for m, c, mo, fen in f.vouchers} == dict(expect)
    assert expect and all(mo == "2025-06" for _m, _c, mo in expect)
    assert f.awards == (("art5", "340100", "2025-06", 120_000_00), ("art5", "341300", "2025-06", 240_000_00))
    assert f.burn == (("art2", 2025, sum(expect.values()), left),)
    assert f.money_scope == "province"


def test_money_follows_the_callers_scope(db, world):
    with db.uow() as uow:
        city = province_figures(uow, Principal(None, "c", Role.CITY, city_code="341300"), NOW)
        user = province_figures(uow, Principal(None, "u", Role.USER, org_id=world["A"]), NOW)
        anon = province_figures(uow, Principal(None, "x", None), NOW)
    assert city.money_scope == "city" and {c for _m, c, _mo, _f in (*city.vouchers, *city.awards)} == {
        "341300"
    }
    assert city.burn == ()
    assert user.money_scope == anon.money_scope == "none" and user.vouchers == anon.awards == ()
    assert anon.cities == city.cities  # compute figures are public


def test_work_queue_figures_equal_the_rows(db, world):
    with db.uow() as uow:
        assert work.jobs_by_state(uow, org_id=world["A"]) == {"queued": 2, "placed": 1, "running": 1}
        assert work.applications_by_state(uow, city="341300") == {"paid": 1, "city_review": 1}
        bills = work.bills_by_state(uow)
        granted = work.vouchers_granted(uow, 2025, city="340100")
        lines = uow.session.execute(
            select(VoucherLineRow.city, VoucherLineRow.amount_fen, VoucherLineRow.status)
        ).all()
        assert work.operator_capacity(uow, world["OP"]) == (2, 3, 104)
    assert set(bills) == {"paid"} and bills["paid"][0] == 2
    assert granted == sum(v.amount_fen for v in lines if v.city == "340100" and v.status == "granted") > 0
