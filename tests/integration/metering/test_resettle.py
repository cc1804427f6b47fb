"""Re-settling a month after a confirming pack version, on both databases (POLICY position 16).

January and February 2026 settle under 2.0 art. 3 as provisional estimates (no money); a province user
publishes the confirmed figures, a second one approves; settling each month again grants the money
through the program budget, the provisional lines stay as history, and a third run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import func, select

from tests.factories.metering import center, org, row, usage_file
from zhisuan import accounts, metering, publishing
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC, ManualClock, Month
from zhisuan.demo.publishing import CONFIRMED_PACK, confirm_provisional
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.store.models.ledger import LedgerPostingRow
from zhisuan.store.models.metering import VoucherLineRow

JAN, FEB = Month(2026, 1), Month(2026, 2)
PIA = Principal(None, "pia", Role.PROVINCE)
PETE = Principal(None, "pete", Role.PROVINCE)


def _settle(platform: Platform, clock: ManualClock, month: Month) -> metering.SettlementResult:
    with platform.uow() as uow:
        r = metering.settle_vouchers(uow, month, clock, platform.packs.current())
        uow.commit()
    return r


def _bill_pay_settle(platform: Platform, clock: ManualClock, month: Month) -> metering.SettlementResult:
    clock.set(dt.datetime(month.next().year, month.next().month, 2, 2, tzinfo=UTC))
    with platform.uow() as uow:
        metering.draft_bills(uow, month, clock)
        metering.issue_bills(uow, clock, month=month)
        metering.pay_all(uow, month, f"BANK-{month}", month.next().first_day + dt.timedelta(days=4), clock)
        uow.commit()
    return _settle(platform, clock, month)


def _lines(platform: Platform) -> list[tuple[str, str, int, str, int, int]]:
    with platform.uow() as uow:
        rows = uow.session.execute(select(VoucherLineRow).order_by(VoucherLineRow.id)).scalars()
        return [
            (v.settlement_month, str(v.org_id), v.part, v.status, v.entitled_fen, v.amount_fen) for v in rows
        ]


def _confirm(platform: Platform) -> None:
    """Pia publishes anhui-2025 with art. 3's figures confirmed; Pete approves (two province users)."""
    now = platform.clock.now()
    with platform.uow() as uow:
        for name in ("pia", "pete"):
            accounts.add_user(uow, None, username=name, password="password-1", role=Role.PROVINCE, now=now)
        _name, text = publishing.text_in_force(uow, platform.packs, CONFIRMED_PACK)
        version = publishing.submit(
            uow, PIA, platform.packs, confirm_provisional(text), "anhui-2025.yaml", platform.clock
        )
        publishing.approve(uow, PETE, platform.packs, int(str(version["id"])), platform.clock)
        uow.commit()


def test_a_provisional_month_settles_with_money_after_a_confirming_version(
    platform: Platform, clock: ManualClock, tmp_path: Path
) -> None:
    with platform.uow() as uow:
        a, op = org(uow, "user A"), org(uow, "operator")
        outsider = org(uow, "outsider C", city=None, in_province=False)
        center(uow, 1, op, 10, 1000)  # 10 yuan per card-hour
        # 2026's budget: 200 yuan, enough for January's 160, not for February's 160 as well
        ledger.post(uow.session, [budget_posting("art2", 2026, 20_000, dt.date(2026, 1, 2), "t")], clock)
        rows = [
            row("a1", a, "2026-01-10T08:00:00+08:00", "2026-01-10T18:00:00+08:00"),  # 800 yuan
            row("c1", outsider, "2026-01-12T08:00:00+08:00", "2026-01-12T10:00:00+08:00"),  # 160 yuan
            row("a2", a, "2026-02-10T08:00:00+08:00", "2026-02-10T18:00:00+08:00"),  # 800 yuan
        ]
        metering.import_usage(uow, usage_file(tmp_path / "u.jsonl", rows), platform.packs.current())
        uow.commit()
    jan, feb = _bill_pay_settle(platform, clock, JAN), _bill_pay_settle(platform, clock, FEB)
    assert (jan.granted_fen, jan.provisional_fen, jan.by_status) == (0, 16_000, {"provisional": 2})
    assert (feb.granted_fen, feb.provisional_fen) == (0, 16_000)

    # not confirmed yet: settling January again re-judges its two lines, both still provisional
    before = _lines(platform)
    again = _settle(platform, clock, JAN)
    assert (again.created, again.rejudged, again.still_provisional, again.rejudged_granted_fen) == (
        False,
        2,
        2,
        0,
    )
    assert _lines(platform) == before

    _confirm(platform)
    clock.set(dt.datetime(2026, 3, 20, 2, tzinfo=UTC))
    # January is re-judged although February is settled: provisional lines are not late items
    jan = _settle(platform, clock, JAN)
    assert (jan.rejudged, jan.still_provisional, jan.rejudged_granted_fen) == (2, 0, 16_000)
    assert (jan.lines, jan.granted_fen) == (4, 16_000)  # the month's totals now
    feb = _settle(platform, clock, FEB)  # 40 yuan left: granted in part, the rest queued
    assert (feb.rejudged, feb.rejudged_granted_fen, feb.queued_fen) == (1, 4_000, 12_000)
    assert _lines(platform) == [
        ("2026-01", str(a), 0, "replaced", 16_000, 0),  # the estimate, kept as history
        ("2026-01", str(outsider), 0, "replaced", 0, 0),
        ("2026-02", str(a), 0, "replaced", 16_000, 0),
        ("2026-01", str(a), 1, "granted", 16_000, 16_000),
        ("2026-01", str(outsider), 1, "ineligible", 0, 0),  # out of province: confirmed exclusion
        ("2026-02", str(a), 1, "granted", 4_000, 4_000),
        ("2026-02", str(a), 2, "queued", 12_000, 0),
    ]
    with platform.uow() as uow:
        s = uow.session
        assert ledger.verify(s) == []
        replaced = s.execute(select(VoucherLineRow).where(VoucherLineRow.status == "replaced")).scalars()
        assert all(json.loads(v.steps)[-1]["rule"] == "replaced" for v in replaced)
        postings = s.execute(select(func.count()).select_from(LedgerPostingRow)).scalar_one()

    # a second re-settlement changes nothing
    after = _lines(platform)
    for month in (JAN, FEB):
        r = _settle(platform, clock, month)
        assert (r.created, r.rejudged, r.rejudged_granted_fen) == (False, 0, 0)
    assert _lines(platform) == after
    with platform.uow() as uow:
        assert (
            uow.session.execute(select(func.count()).select_from(LedgerPostingRow)).scalar_one() == postings
        )
        assert ledger.verify(uow.session) == []
