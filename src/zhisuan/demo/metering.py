"""The demo's metering step: bill the replayed usage, pay it (demo payments) and settle vouchers.

The replayed compute history is the last 30 hours before now. The compute voucher is 2023 art. 2 up to
2025-08-10 and 2.0 art. 3 (pack anhui-2025) from 2025-08-11, whose rate is provisional: those months
settle as estimates with no money granted, and the output says so. So the step first writes a
seeded usage file for the last full calendar year before now in which art. 2 is in force (2025, seen
from 2026; the demo province's users on its pools, some jobs crossing a month
edge, 星河's self-use on 飞星一号 and 浦江's out-of-province work among them) and imports it the way
``zhisuan usage import`` does; those months are billed, paid early in the following month and settled
with vouchers, then the replayed month follows.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from sqlalchemy import func, select

from zhisuan import metering
from zhisuan.bootstrap import Platform
from zhisuan.core.clock import SHANGHAI, ManualClock, Month, day_start, shanghai_date
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.money import Money
from zhisuan.demo.compute import XINGHE
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.policy import PackSet, art2_in_force
from zhisuan.store.models.compute import CenterRow, JobRow, PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import UsageRecordRow

DEMO_BUDGET_FEN = 50_000_000_00  # 50 million yuan of art. 2 budget per usage year, for the demo
HISTORY_SEED = 20250101
SELF_USE_CENTER = "hf-feixing"  # 科大讯飞's center; 讯飞 holds 35 % of 星河 (compute demo)
HISTORY_ENGINE = "history"  # engine name of the imported records (the centers' accounting exports)


def history_year(packs: PackSet, today: dt.date) -> int:
    """The last full calendar year before ``today`` in which art. 2 is in force (at mid-year)."""
    year = today.year - 1
    while year > 2000 and not art2_in_force(packs, Month(year, 6)):
        year -= 1
    return year


def _busy(jobs: list[tuple[dt.datetime, dt.datetime, int]], start: dt.datetime, end: dt.datetime) -> int:
    """The most cards ``jobs`` take at once during ``[start, end)`` (a sweep over their edges)."""
    edges = sorted(
        (t, d)
        for s, e, cards in jobs
        if s < end and e > start
        for t, d in ((max(s, start), cards), (e, -cards))
    )
    most = now = 0
    for _, d in edges:  # at equal instants ends (negative) come first: intervals are half-open
        now += d
        most = max(most, now)
    return most


def write_history(platform: Platform, path: Path, year: int) -> int:
    """A seeded usage file for one calendar year: each compute user's jobs on a few pools per month,
    never more cards at once than a pool has (a job finding its pool full is left out)."""
    rng = random.Random(HISTORY_SEED)  # noqa: S311 — seeded demo data, not secrets
    with platform.uow() as uow:
        s = uow.session
        pools = s.execute(
            select(PoolRow.id, PoolRow.center_id, PoolRow.accelerator, PoolRow.nodes, PoolRow.cards_per_node)
            .where(PoolRow.engine_kind == "simulated")
            .order_by(PoolRow.id)
        ).all()
        users = s.execute(
            select(OrganizationRow.id, OrganizationRow.credit_code)
            .where(OrganizationRow.id.in_(select(JobRow.org_id).distinct()))
            .order_by(OrganizationRow.id)
        ).all()
        self_use = set(
            s.execute(
                select(PoolRow.id)
                .join(CenterRow, CenterRow.id == PoolRow.center_id)
                .where(CenterRow.key == SELF_USE_CENTER)
            ).scalars()
        )
    if not pools or not users:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    placed: dict[int, list[tuple[dt.datetime, dt.datetime, int]]] = {}  # pool → its jobs so far
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(metering.USAGE_COLUMNS)
        for org_id, code in users:
            home = rng.sample(pools, k=min(3, len(pools)))  # an organization works on a few pools
            if code == make_credit_code(XINGHE):  # 星河 also works on its shareholder's center: self-use
                home += [p for p in pools if p[0] in self_use]
            size = rng.choice((8, 16, 32, 64))
            for month in range(1, 13):
                for n in range(rng.randint(1, 4)):
                    pool_id, center_id, acc, nodes, per_node = rng.choice(home)
                    cards = min(size * rng.choice((1, 1, 2)), nodes * per_node)
                    start = dt.datetime(year, month, rng.randint(1, 28), rng.randint(0, 23), tzinfo=SHANGHAI)
                    hours = rng.choice((6, 12, 24, 48, 96, 200))
                    end = start + dt.timedelta(hours=hours, minutes=rng.randint(0, 59))
                    if end.year > year:  # the file covers one year
                        end = dt.datetime(year, 12, 31, 23, 59, tzinfo=SHANGHAI)
                    jobs = placed.setdefault(pool_id, [])
                    cards = min(cards, nodes * per_node - _busy(jobs, start, end))
                    if cards <= 0:  # the pool is full then: the job ran elsewhere
                        continue
                    jobs.append((start, end, cards))
                    out.writerow(
                        [
                            HISTORY_ENGINE,
                            f"{year}-{org_id}-{month:02d}-{n}",
                            org_id,
                            center_id,
                            pool_id,
                            acc,
                            cards,
                            start.isoformat(),
                            end.isoformat(),
                        ]
                    )
                    rows += 1
    return rows


def bill_and_settle(platform: Platform) -> list[str]:
    """Usage from the replayed runs → monthly bills → demo payments → art. 2 settlement → ledger check."""
    clock = platform.clock
    today = shanghai_date(clock.now())
    packs = platform.packs.current()
    year = history_year(packs, today)
    history = platform.settings.data_dir / "demo" / f"usage-{year}.csv"
    written = write_history(platform, history, year)
    with platform.uow() as uow:
        imported = metering.import_usage(uow, history, packs)
        again = metering.import_usage(uow, history, packs)  # idempotent: the same keys are already there
        got = metering.collect_runs(uow, packs=packs)
        months = sorted(
            Month.parse(m)
            for m in uow.session.execute(select(UsageRecordRow.usage_month).distinct()).scalars()
        )
        for funded in sorted({m.year for m in months if art2_in_force(packs, m)}):
            ledger.post(
                uow.session,
                [budget_posting("art2", funded, DEMO_BUDGET_FEN, dt.date(funded, 1, 1), "demo")],
                clock,
            )
        uow.commit()
    lines = [
        f"usage {year}: {written} jobs in {history} → {imported.records} usage records "
        f"(split at Shanghai month edges); importing it again added {again.inserted}",
        f"usage now: {got.rows} ended runs of the replay → {got.records} usage records",
    ]
    now = clock.now()

    def on(month: Month, day: int) -> ManualClock:
        """A clock on that day of the month after ``month`` (10:00 Shanghai), never later than now."""
        at = day_start(month.next().first_day + dt.timedelta(days=day - 1)) + dt.timedelta(hours=10)
        return ManualClock(min(at, now))

    for month in months:  # past months: issued on the 2nd, paid by the 10th, settled on the 15th
        issued, paid, settled = on(month, 2), on(month, 10), on(month, 15)
        with platform.uow() as uow:
            d = metering.draft_bills(uow, month, issued)
            metering.issue_bills(uow, issued, month=month)
            metering.pay_all(uow, month, f"DEMO-{month}", shanghai_date(paid.now()), paid)
            uow.commit()
        with platform.uow() as uow:
            s = metering.settle_vouchers(uow, month, settled, packs)
            uow.commit()
        note = "" if art2_in_force(packs, month) else " (no compute-voucher policy in force for this month)"
        if s.provisional_fen or s.by_status.get("provisional"):
            # 2.0 art. 3 (from 2025-08-11) rests on provisional parameters: estimates, no money
            note += (
                f" — {s.by_status.get('provisional', 0)} lines under 2.0 art. 3 (anhui-2025) estimated at "
                f"{Money.from_fen(s.provisional_fen)} yuan on provisional parameters: no money granted until "
                "the province confirms them"
            )
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
