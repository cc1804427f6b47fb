"""The province dashboard's figures: capacity by city and vendor, utilisation by day, vouchers and awards
by measure, city and month, budget burn, the queue and its wait.

Each figure is one grouped query (``GROUP BY`` in the database) or one query whose rows are binned here
where the bins are Asia/Shanghai days that SQL cannot cut the same way on SQLite and PostgreSQL. Compute
figures are public like the center list; money figures follow :func:`zhisuan.core.access.visible_scope`
(staff and finance: the province; a city official: the city; others: none).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from sqlalchemy import func, select

from zhisuan.core.access import Kind, Principal, Scope, visible_scope
from zhisuan.core.catalog import accelerator, capacity_p
from zhisuan.core.clock import SHANGHAI, shanghai_date
from zhisuan.core.money import Money
from zhisuan.core.regions import all_cities
from zhisuan.metering.postings import program_budget_left
from zhisuan.store.models.awards import ApplicationRow
from zhisuan.store.models.compute import CenterRow, JobRow, PoolRow
from zhisuan.store.models.metering import UsageRecordRow, VoucherLineRow
from zhisuan.store.uow import UnitOfWork

#: vendor classes on the dashboard: NVIDIA against domestic accelerators (others: AMD, Intel …)
VENDOR_CLASSES = ("nvidia", "domestic", "other")
#: voucher lines that carry money granted (queued, provisional and replaced lines do not)
PAID_VOUCHERS = ("granted", "pro_rated", "clawback")
#: applications whose award is decided (stored states; notice, held and final are read from "approved")
DECIDED = ("approved", "paid")


def vendor_class(accelerator_key: str) -> str:
    """'nvidia', 'domestic' or 'other' for a catalog accelerator."""
    a = accelerator(accelerator_key)
    if a.domestic:
        return "domestic"
    return "nvidia" if a.vendor.strip().lower() == "nvidia" else "other"


@dataclass(frozen=True, slots=True)
class CityCapacity:
    code: str
    cards: int
    capacity_p: Decimal
    by_vendor: dict[str, Decimal]  # vendor class → P
    utilisation: float  # card-seconds used / card-seconds available over the window


@dataclass(frozen=True, slots=True)
class ProvinceFigures:
    at: dt.datetime
    days: int
    cities: tuple[CityCapacity, ...]  # every city of the region, with or without centers
    by_vendor: dict[str, Decimal]  # P per vendor class, province-wide
    utilisation_by_day: tuple[tuple[str, float], ...]  # Shanghai day → share of cards busy
    queued: int
    held: dict[str, int]
    wait_by_day: tuple[tuple[str, float, int], ...]  # day placed → mean wait (minutes), jobs placed
    money_scope: str  # "province", "city", "none"
    vouchers: tuple[tuple[str, str, str, int], ...]  # (measure, city, usage month, fen)
    awards: tuple[tuple[str, str, str, int], ...]  # (measure, city, month decided, fen)
    burn: tuple[tuple[str, int, int, int], ...]  # (measure, year, granted fen, budget left fen)

    def as_dict(self) -> dict[str, object]:
        def yuan(fen: int) -> str:
            return str(Money.from_fen(fen))

        return {
            "at": self.at.isoformat(),
            "days": self.days,
            "cities": [
                {
                    "code": c.code,
                    "cards": c.cards,
                    "capacity_p": str(c.capacity_p),
                    "by_vendor": {k: str(v) for k, v in c.by_vendor.items()},
                    "utilisation": round(c.utilisation, 4),
                }
                for c in self.cities
            ],
            "by_vendor": {k: str(v) for k, v in self.by_vendor.items()},
            "utilisation_by_day": [[d, round(u, 4)] for d, u in self.utilisation_by_day],
            "queued": self.queued,
            "held": self.held,
            "wait_by_day": [[d, round(w, 1), n] for d, w, n in self.wait_by_day],
            "money_scope": self.money_scope,
            "vouchers": [[m, c, mo, yuan(f)] for m, c, mo, f in self.vouchers],
            "awards": [[m, c, mo, yuan(f)] for m, c, mo, f in self.awards],
            "burn": [[m, y, yuan(g), yuan(left)] for m, y, g, left in self.burn],
        }


def capacity_by_city_and_model(uow: UnitOfWork) -> list[tuple[str, str, int]]:
    """(city, accelerator, cards) over every pool, grouped in the database."""
    cards = func.sum(PoolRow.nodes * PoolRow.cards_per_node)
    q = (
        select(CenterRow.city_code, PoolRow.accelerator, cards)
        .join(CenterRow, CenterRow.id == PoolRow.center_id)
        .group_by(CenterRow.city_code, PoolRow.accelerator)
    )
    return [(str(c), str(a), int(n or 0)) for c, a, n in uow.session.execute(q)]


def _day_edges(now: dt.datetime, days: int) -> list[dt.datetime]:
    """Midnights (Shanghai) from ``days`` days before today up to tomorrow, as aware datetimes."""
    today = shanghai_date(now)
    first = today - dt.timedelta(days=days - 1)
    return [
        dt.datetime.combine(first + dt.timedelta(days=i), dt.time(), tzinfo=SHANGHAI) for i in range(days + 1)
    ]


def busy_card_seconds(uow: UnitOfWork, edges: list[dt.datetime]) -> dict[tuple[str, str], int]:
    """Card-seconds of metered usage per (city, Shanghai day), each record cut at the day edges; a
    reversal (a corrected record, negative card-seconds) takes its share back."""
    start, end = edges[0], edges[-1]
    q = (
        select(
            CenterRow.city_code,
            UsageRecordRow.start_at,
            UsageRecordRow.end_at,
            UsageRecordRow.cards,
            UsageRecordRow.card_seconds,
        )
        .join(CenterRow, CenterRow.id == UsageRecordRow.center_id)
        .where(UsageRecordRow.end_at > start, UsageRecordRow.start_at < end)
    )
    out: dict[tuple[str, str], int] = defaultdict(int)
    for city, a, b, cards, card_seconds in uow.session.execute(q):
        a, b = _aware(a), _aware(b)
        sign = -1 if card_seconds < 0 else 1
        for lo, hi in pairwise(edges):
            overlap = (min(b, hi) - max(a, lo)).total_seconds()
            if overlap > 0:
                out[(str(city), lo.date().isoformat())] += sign * int(overlap) * int(cards)
    return out


def _aware(when: dt.datetime | None) -> dt.datetime:
    """A stored timestamp as aware UTC (SQLite hands them back naive); the query excluded NULLs."""
    if when is None:
        raise ValueError("a timestamp the query required is missing")
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _money_scope(who: Principal) -> tuple[str, Scope]:
    scope = visible_scope(who, Kind.VOUCHER)
    if scope.nothing or not (scope.everything or scope.city_code):
        return "none", scope
    return ("province" if scope.everything else "city"), scope


def vouchers_by_measure_city_month(uow: UnitOfWork, city: str | None) -> list[tuple[str, str, str, int]]:
    """Compute vouchers paid, in fen, per (measure, city, usage month)."""
    q = (
        select(
            VoucherLineRow.program,
            VoucherLineRow.city,
            VoucherLineRow.usage_month,
            func.sum(VoucherLineRow.amount_fen),
        )
        .where(VoucherLineRow.status.in_(PAID_VOUCHERS))
        .group_by(VoucherLineRow.program, VoucherLineRow.city, VoucherLineRow.usage_month)
        .order_by(VoucherLineRow.usage_month, VoucherLineRow.program, VoucherLineRow.city)
    )
    if city is not None:
        q = q.where(VoucherLineRow.city == city)
    return [(str(p), str(c), str(m), int(f or 0)) for p, c, m, f in uow.session.execute(q)]


def awards_by_measure_city_month(uow: UnitOfWork, city: str | None) -> list[tuple[str, str, str, int]]:
    """Awards decided, in fen approved, per (measure, city, Shanghai month of the decision)."""
    q = select(
        ApplicationRow.program,
        ApplicationRow.city_code,
        ApplicationRow.decided_at,
        ApplicationRow.approved_fen,
    ).where(
        ApplicationRow.state.in_(DECIDED),
        ApplicationRow.approved_fen.is_not(None),
        ApplicationRow.decided_at.is_not(None),
    )
    if city is not None:
        q = q.where(ApplicationRow.city_code == city)
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    for program, code, decided, fen in uow.session.execute(q):
        month = shanghai_date(_aware(decided)).strftime("%Y-%m")
        sums[(str(program), str(code), month)] += int(fen or 0)
    return [
        (p, c, m, f) for (p, c, m), f in sorted(sums.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))
    ]


def budget_burn(uow: UnitOfWork) -> list[tuple[str, int, int, int]]:
    """Per voucher measure and usage year: granted (fen) and what is left of its budget (fen)."""
    q = (
        select(VoucherLineRow.program, VoucherLineRow.usage_year, func.sum(VoucherLineRow.amount_fen))
        .where(VoucherLineRow.status.in_(PAID_VOUCHERS))
        .group_by(VoucherLineRow.program, VoucherLineRow.usage_year)
        .order_by(VoucherLineRow.usage_year, VoucherLineRow.program)
    )
    s = uow.session
    return [(str(p), int(y), int(f or 0), program_budget_left(s, int(y), str(p))) for p, y, f in s.execute(q)]


def queue_figures(
    uow: UnitOfWork, edges: list[dt.datetime]
) -> tuple[int, dict[str, int], list[tuple[str, float, int]]]:
    """Jobs queued now, held ones by reason, and the mean wait (submitted → placed) per day placed."""
    s = uow.session
    held = {
        str(kind or "capacity"): int(n)
        for kind, n in s.execute(
            select(JobRow.hold_kind, func.count()).where(JobRow.state == "queued").group_by(JobRow.hold_kind)
        )
    }
    queued = sum(held.values())
    waits: dict[str, list[float]] = defaultdict(list)
    q = select(JobRow.submitted_at, JobRow.placed_at).where(
        JobRow.placed_at.is_not(None), JobRow.placed_at >= edges[0], JobRow.placed_at < edges[-1]
    )
    for submitted, placed in s.execute(q):
        waits[shanghai_date(_aware(placed)).isoformat()].append(
            max(0.0, (_aware(placed) - _aware(submitted)).total_seconds() / 60)
        )
    by_day = [
        (
            lo.date().isoformat(),
            sum(w) / len(w) if (w := waits.get(lo.date().isoformat())) else 0.0,
            len(w or []),
        )
        for lo in edges[:-1]
    ]
    return queued, held, by_day


def province_figures(uow: UnitOfWork, who: Principal, now: dt.datetime, days: int = 14) -> ProvinceFigures:
    """Everything the province dashboard draws, for the caller's scope, over the last ``days`` days."""
    days = max(1, min(days, 92))
    edges = _day_edges(now, days)
    per_city: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(VENDOR_CLASSES, Decimal(0)))
    cards_by_city: dict[str, int] = defaultdict(int)
    for city, model, cards in capacity_by_city_and_model(uow):
        per_city[city][vendor_class(model)] += capacity_p([(model, cards)])
        cards_by_city[city] += cards
    busy = busy_card_seconds(uow, edges)
    window = days * 86400
    cities = []
    for c in all_cities():
        code = str(c.code)
        vend = dict(per_city[code]) if code in per_city else dict.fromkeys(VENDOR_CLASSES, Decimal(0))
        used = sum(v for (city, _day), v in busy.items() if city == code)
        total = cards_by_city.get(code, 0) * window
        cities.append(
            CityCapacity(
                code,
                cards_by_city.get(code, 0),
                sum(vend.values(), Decimal(0)),
                vend,
                used / total if total else 0.0,
            )
        )
    all_cards = sum(cards_by_city.values())
    by_day = []
    for lo in edges[:-1]:
        day = lo.date().isoformat()
        used = sum(v for (_c, d), v in busy.items() if d == day)
        by_day.append((day, used / (all_cards * 86400) if all_cards else 0.0))
    queued, held, waits = queue_figures(uow, edges)
    scope_name, scope = _money_scope(who)
    city_only = None if scope.everything else scope.city_code
    show = scope_name != "none"
    return ProvinceFigures(
        at=now,
        days=days,
        cities=tuple(cities),
        by_vendor={k: sum((v[k] for v in per_city.values()), Decimal(0)) for k in VENDOR_CLASSES},
        utilisation_by_day=tuple(by_day),
        queued=queued,
        held=held,
        wait_by_day=tuple(waits),
        money_scope=scope_name,
        vouchers=tuple(vouchers_by_measure_city_month(uow, city_only)) if show else (),
        awards=tuple(awards_by_measure_city_month(uow, city_only)) if show else (),
        burn=tuple(budget_burn(uow)) if scope_name == "province" else (),
    )


__all__ = [
    "VENDOR_CLASSES",
    "CityCapacity",
    "ProvinceFigures",
    "awards_by_measure_city_month",
    "budget_burn",
    "busy_card_seconds",
    "capacity_by_city_and_model",
    "province_figures",
    "queue_figures",
    "vendor_class",
    "vouchers_by_measure_city_month",
]
