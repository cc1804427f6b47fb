"""The home dashboard: the province's compute at a glance, and money by month as far as the caller may see.

Compute figures (capacity, load, the queue) are public, like the center list. Money figures follow
:func:`zhisuan.core.access.visible_scope`: staff and finance see the province, a city official the
city, an organization its own bills and vouchers, an operator the revenue of its centers; an anonymous
visitor sees none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from zhisuan import compute, metering
from zhisuan.core.access import Kind, Principal, Scope, visible_scope
from zhisuan.core.catalog import accelerator
from zhisuan.core.regions import city as lookup_city
from zhisuan.store.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class CityFigure:
    code: str
    name_zh: str
    name_en: str
    capacity_p: Decimal
    cards: int
    northern_anhui: bool


@dataclass(frozen=True, slots=True)
class Dashboard:
    at: dt.datetime
    centers: int
    pools: int
    capacity_p: Decimal
    cards: int
    domestic_cards: int
    busy_cards: int
    utilization_now: float
    utilization_window: float
    queued: int
    running: int
    held: dict[str, int]
    cities: tuple[CityFigure, ...]
    money: tuple[dict[str, object], ...]  # per usage month: billed, vouchers (caller's scope)
    money_scope: str  # "province", "city", "own", "none"

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "centers": self.centers,
            "pools": self.pools,
            "capacity_p": str(self.capacity_p),
            "cards": self.cards,
            "domestic_cards": self.domestic_cards,
            "busy_cards": self.busy_cards,
            "utilization_now": round(self.utilization_now, 4),
            "utilization_window": round(self.utilization_window, 4),
            "queued": self.queued,
            "running": self.running,
            "held": self.held,
            "cities": [
                {
                    "code": c.code,
                    "name": c.name_zh,
                    "name_en": c.name_en,
                    "capacity_p": str(c.capacity_p),
                    "cards": c.cards,
                    "northern_anhui": c.northern_anhui,
                }
                for c in self.cities
            ],
            "money_scope": self.money_scope,
            "money": list(self.money),
        }


def _scope_name(bills: Scope) -> str:
    if bills.nothing:
        return "none"
    if bills.everything:
        return "province"
    return "city" if bills.city_code else "own"


def dashboard(uow: UnitOfWork, who: Principal, now: dt.datetime) -> Dashboard:
    """Figures for the home page (and ``GET /api/v1/dashboard``)."""
    ov = compute.overview(uow, now)
    centers = [c.center for c in ov.centers]
    cities = []
    for code, (p, cards) in ov.capacity.by_city.items():
        c = lookup_city(code)
        cities.append(CityFigure(code, c.name_zh, c.name_en, p, cards, c.northern_anhui))
    bills = visible_scope(who, Kind.BILL)
    scope_name = _scope_name(bills)
    money = (
        () if bills.nothing else tuple(metering.monthly_totals(uow, bills, visible_scope(who, Kind.VOUCHER)))
    )
    return Dashboard(
        at=now,
        centers=len(centers),
        pools=sum(len(c.pools) for c in centers),
        capacity_p=ov.capacity.province_p,
        cards=ov.capacity.province_cards,
        domestic_cards=sum(p.cards for c in centers for p in c.pools if accelerator(p.accelerator).domestic),
        busy_cards=ov.busy_cards,
        utilization_now=ov.utilization_now,
        utilization_window=ov.utilization_window,
        queued=ov.queued,
        running=sum(c.running for c in ov.centers),
        held=dict(ov.held),
        cities=tuple(sorted(cities, key=lambda c: c.capacity_p, reverse=True)),
        money=money,
        money_scope=scope_name,
    )
