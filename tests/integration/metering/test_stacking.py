"""City programs stacking on the province's compute voucher, on both databases (POLICY position 19).

A Wuhu user's paid usage earns a province line and a Wuhu line on the same spend, each funded from its
own budget account, each program's annual cap counted on its own; a Hefei user earns the province's
only; a Wuhu pack that does not stack with the province's program grants nothing where the province
grants. Before confirmation (the shipped, provisional packs) both lines are estimates without money.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from tests.factories.metering import center, org, row, usage_file
from zhisuan import metering
from zhisuan.bootstrap import Platform
from zhisuan.core.clock import UTC, ManualClock, Month
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.metering import postings
from zhisuan.policy import PackSet, load_pack_set
from zhisuan.store.models.metering import VoucherLineRow

SEP, OCT = Month(2025, 9), Month(2025, 10)
JAN26 = Month(2026, 1)
WUHU, HEFEI = "340200", "340100"
ROOT = Path(__file__).parents[2]
PROVINCE_CONFIRMED = ROOT / "unit" / "policy" / "packs" / "anhui-2025-art3-test.yaml"
WUHU_CONFIRMED = ROOT / "factories" / "packs" / "wuhu-compute-test.yaml"
CITY = "wuhu-compute-test"
ACCOUNT = "wuhu-compute"  # the city program's budget account: the first pack of its versions


def _packs(tmp_path: Path, not_with: bool = False) -> PackSet:
    text = WUHU_CONFIRMED.read_text(encoding="utf-8")
    if not_with:
        text = text.replace("payer: city\n", "payer: city\nnot_with: [anhui-2025-art3-test/art3]\n")
    wuhu = tmp_path / "wuhu-compute-test.yaml"
    wuhu.write_text(text, encoding="utf-8")
    return load_pack_set(files=[PROVINCE_CONFIRMED, wuhu])


def _setup(platform: Platform, tmp_path: Path, months: list[Month]) -> tuple[int, int]:
    """A Wuhu and a Hefei user, 800 yuan each per month of ``months``; the province budget funded."""
    with platform.uow() as uow:
        w, h, op = org(uow, "wuhu user", city=WUHU), org(uow, "hefei user", city=HEFEI), org(uow, "operator")
        center(uow, 1, op, 10, 1000)  # 10 yuan per card-hour: 8 cards × 10 h = 800 yuan
        for year in sorted({m.year for m in months}):
            ledger.post(
                uow.session, [budget_posting("art2", year, 10**8, dt.date(year, 1, 2), "t")], platform.clock
            )
        rows = [
            row(f"{who}-{m}", oid, f"{m}-10T08:00:00+08:00", f"{m}-10T18:00:00+08:00")
            for m in months
            for who, oid in (("w", w), ("h", h))
        ]
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), platform.packs.current())
        uow.commit()
    return w, h


def _bill_pay_settle(platform: Platform, clock: ManualClock, month: Month, packs: PackSet) -> None:
    clock.set(dt.datetime(month.next().year, month.next().month, 2, 2, tzinfo=UTC))
    with platform.uow() as uow:
        metering.draft_bills(uow, month, clock)
        metering.issue_bills(uow, clock, month=month)
        metering.pay_all(uow, month, f"BANK-{month}", month.next().first_day + dt.timedelta(days=4), clock)
        metering.settle_vouchers(uow, month, clock, packs)
        uow.commit()


def _lines(platform: Platform, month: Month) -> list[tuple[int, str, int, str, int, int]]:
    with platform.uow() as uow:
        q = select(VoucherLineRow).where(VoucherLineRow.settlement_month == str(month))
        rows = uow.session.execute(q.order_by(VoucherLineRow.id)).scalars()
        return [(v.org_id, v.pack, v.part, v.status, v.entitled_fen, v.amount_fen) for v in rows]


def test_wuhu_users_get_two_lines_from_two_budgets_and_the_city_cap_counts_across_months(
    platform: Platform, clock: ManualClock, tmp_path: Path
) -> None:
    packs = _packs(tmp_path)
    w, h = _setup(platform, tmp_path, [SEP, OCT])
    _bill_pay_settle(platform, clock, SEP, packs)
    assert _lines(platform, SEP) == [
        (w, "anhui-2025-art3-test", 0, "granted", 20_000, 20_000),  # 25% of 800
        (w, CITY, 0, "granted", 20_000, 20_000),  # Wuhu's 25% of the same spend, its own program
        (h, "anhui-2025-art3-test", 0, "granted", 20_000, 20_000),  # Hefei: the province only
    ]
    _bill_pay_settle(platform, clock, OCT, packs)
    assert _lines(platform, OCT) == [
        (w, "anhui-2025-art3-test", 0, "granted", 20_000, 20_000),
        (w, CITY, 0, "granted", 10_000, 10_000),  # 300 yuan a year: 200 in September, 100 left
        (h, "anhui-2025-art3-test", 0, "granted", 20_000, 20_000),
    ]
    with platform.uow() as uow:
        s = uow.session
        assert ledger.verify(s) == []
        assert postings.program_budget_left(s, 2025, ACCOUNT) == 100_000_00 - 30_000
        assert postings.program_budget_left(s, 2025) == 10**8 - 80_000
        burn = {(r["city"], r["granted"]) for r in metering.budget_burn(uow)}
        assert (WUHU, "700.00") in burn


def test_a_city_program_that_does_not_stack_gives_way_to_the_province(
    platform: Platform, clock: ManualClock, tmp_path: Path
) -> None:
    packs = _packs(tmp_path, not_with=True)
    w, h = _setup(platform, tmp_path, [SEP])
    _bill_pay_settle(platform, clock, SEP, packs)
    assert _lines(platform, SEP) == [
        (w, "anhui-2025-art3-test", 0, "granted", 20_000, 20_000),
        (w, CITY, 0, "ineligible", 0, 0),
        (h, "anhui-2025-art3-test", 0, "granted", 20_000, 20_000),
    ]
    with platform.uow() as uow:
        city = uow.session.execute(select(VoucherLineRow).where(VoucherLineRow.pack == CITY)).scalar_one()
        assert "does not stack with anhui-2025-art3-test/art3" in city.reasons
        assert postings.program_budget_left(uow.session, 2025, ACCOUNT) == 100_000_00
        assert ledger.verify(uow.session) == []


def test_shipped_packs_wuhu_gets_two_provisional_estimates_within_the_spend(
    platform: Platform, clock: ManualClock, tmp_path: Path
) -> None:
    w, h = _setup(platform, tmp_path, [JAN26])
    _bill_pay_settle(platform, clock, JAN26, platform.packs.current())
    lines = _lines(platform, JAN26)
    assert lines == [
        (w, "anhui-2025", 0, "provisional", 16_000, 0),  # 2.0 art. 3's placeholder 20%
        (w, "wuhu-compute", 0, "provisional", 20_000, 0),  # Wuhu's reported 25%
        (h, "anhui-2025", 0, "provisional", 16_000, 0),
    ]
    assert sum(e for o, *_rest, e, _a in lines if o == w) <= 80_000
    with platform.uow() as uow:
        assert ledger.verify(uow.session) == []


def test_re_settling_confirms_each_program_on_its_own(
    platform: Platform, clock: ManualClock, tmp_path: Path
) -> None:
    w, h = _setup(platform, tmp_path, [JAN26])
    _bill_pay_settle(platform, clock, JAN26, platform.packs.current())
    province_only = load_pack_set(files=[PROVINCE_CONFIRMED])
    with platform.uow() as uow:
        r = metering.settle_vouchers(uow, JAN26, clock, province_only)
        uow.commit()
    assert (r.rejudged, r.still_provisional, r.rejudged_granted_fen) == (3, 1, 48_000)  # 30% of 800, twice
    assert _lines(platform, JAN26)[3:] == [
        (w, "anhui-2025-art3-test", 1, "granted", 24_000, 24_000),
        (h, "anhui-2025-art3-test", 1, "granted", 24_000, 24_000),
    ]
    with platform.uow() as uow:
        r = metering.settle_vouchers(uow, JAN26, clock, _packs(tmp_path))
        uow.commit()
    assert (r.rejudged, r.still_provisional, r.rejudged_granted_fen) == (1, 0, 20_000)
    got = _lines(platform, JAN26)
    assert [x[3] for x in got[:3]] == ["replaced", "replaced", "replaced"]
    assert got[5:] == [(w, CITY, 1, "granted", 20_000, 20_000)]
    with platform.uow() as uow:
        assert ledger.verify(uow.session) == []
        assert postings.program_budget_left(uow.session, 2026, ACCOUNT) == 100_000_00 - 20_000
