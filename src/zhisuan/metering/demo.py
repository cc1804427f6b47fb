"""The demo's metering step: bill the replayed usage, pay it (demo payments) and settle vouchers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from zhisuan.bootstrap import Platform
from zhisuan.core.clock import Month, shanghai_date
from zhisuan.core.money import Money
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.metering import services as svc
from zhisuan.policy import art2_in_force, default_packs
from zhisuan.store.models.metering import UsageRecordRow

DEMO_BUDGET_FEN = 50_000_000_00  # 50 million yuan of art. 2 budget per usage year, for the demo


def bill_and_settle(platform: Platform) -> list[str]:
    """Usage from the replayed runs → monthly bills → demo payments → art. 2 settlement → ledger check."""
    clock = platform.clock
    today = shanghai_date(clock.now())
    packs = default_packs()
    with platform.uow() as uow:
        got = svc.collect_runs(uow, packs=packs)
        months = sorted(
            Month.parse(m)
            for m in uow.session.execute(select(UsageRecordRow.usage_month).distinct()).scalars()
        )
        for year in sorted({m.year for m in months if art2_in_force(packs, m)}):
            ledger.post(
                uow.session,
                [budget_posting("art2", year, DEMO_BUDGET_FEN, dt.date(year, 1, 1), "demo")],
                clock,
            )
        uow.commit()
    lines = [f"usage: {got.rows} ended runs → {got.records} usage records (split at Shanghai month edges)"]
    for month in months:
        with platform.uow() as uow:
            d = svc.draft_bills(uow, month, clock)
            svc.issue_bills(uow, clock, month=month)
            svc.pay_all(uow, month, f"DEMO-{month}", today, clock)
            uow.commit()
        with platform.uow() as uow:
            s = svc.settle_vouchers(uow, month, clock, packs)
            uow.commit()
        note = "" if art2_in_force(packs, month) else " (no art. 2 policy in force for this month)"
        lines.append(
            f"{month}: {d.bills} bills, {Money.from_fen(d.gross_fen)} yuan billed and paid; "
            f"vouchers {Money.from_fen(s.granted_fen)} yuan on {s.lines} lines{note}"
        )
    with platform.uow() as uow:
        problems = ledger.verify(uow.session)
        postings = uow.session.execute(select(func.count()).select_from(UsageRecordRow)).scalar_one()
    lines.append(
        f"ledger verified: {'ok' if not problems else problems[0].message} ({postings} usage records)"
    )
    return lines
