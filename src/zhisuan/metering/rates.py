"""The rate card: pool prices and their dated versions, negotiated discounts, and art. 2's edges."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from zhisuan.core.errors import NotFoundError
from zhisuan.metering.model import Band, Discount, PoolRate, RateCard
from zhisuan.policy import COMPUTE_VOUCHER, PackSet
from zhisuan.store.models.compute import PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import DiscountRow, PoolRateRow
from zhisuan.store.uow import UnitOfWork


def _band_json(b: Band) -> dict[str, object]:
    return {
        "start": b.start.strftime("%H:%M"),
        "end": b.end.strftime("%H:%M"),
        "price_fen": b.price_fen_per_card_hour,
        "name": b.name,
    }


def set_pool_rate(uow: UnitOfWork, rate: PoolRate) -> None:
    """Add a price version for a pool (a new effective date; earlier usage keeps its price)."""
    s = uow.session
    clash = s.execute(
        select(PoolRateRow).where(
            PoolRateRow.pool_id == rate.pool_id, PoolRateRow.effective_from == rate.effective_from
        )
    ).scalar()
    bands = json.dumps([_band_json(b) for b in rate.bands])
    if clash is not None:
        clash.bands = bands
    else:
        s.add(PoolRateRow(pool_id=rate.pool_id, effective_from=rate.effective_from, bands=bands))
    s.flush()


def set_discount(uow: UnitOfWork, discount: Discount) -> None:
    """Add a negotiated discount for an organization on a pool from a date."""
    s = uow.session
    if s.get(OrganizationRow, discount.org_id) is None:
        raise NotFoundError(f"no organization {discount.org_id}", field="org_id")
    s.add(
        DiscountRow(
            org_id=discount.org_id,
            pool_id=discount.pool_id,
            effective_from=discount.effective_from,
            discount_bp=discount.discount_bp,
        )
    )
    s.flush()


def _time(text_: str) -> dt.time:
    return dt.time.fromisoformat(text_)


BASE_PRICE_FROM = dt.date(1970, 1, 1)


def _pool_base_rate(pool: PoolRow) -> PoolRate:
    """A compute pool's own list price (and its hourly bands) as the first version of its rate."""
    cuts: list[tuple[int, int, int]] = []
    for b in json.loads(pool.bands or "[]"):
        cuts.append((int(b["from"]), int(b["to"]), int(b["price_fen"])))
    cuts.sort()
    bands: list[Band] = []
    hour = 0
    for lo, hi, price in cuts:
        if lo > hour:
            bands.append(Band(dt.time(hour), dt.time(lo), pool.price_fen, "list"))
        bands.append(Band(dt.time(lo), dt.time(0) if hi >= 24 else dt.time(hi), price, f"{lo:02d}-{hi:02d}"))
        hour = hi
    if hour < 24:
        bands.append(Band(dt.time(hour), dt.time(0), pool.price_fen, "list"))
    return PoolRate(pool.id, BASE_PRICE_FROM, tuple(bands))


def rate_card(uow: UnitOfWork) -> RateCard:
    """The whole rate card: each compute pool's list price, its dated changes, negotiated discounts."""
    s = uow.session
    rates = [_pool_base_rate(p) for p in s.execute(select(PoolRow)).scalars()]
    rates += [
        PoolRate(
            r.pool_id,
            r.effective_from,
            tuple(
                Band(_time(b["start"]), _time(b["end"]), int(b["price_fen"]), str(b.get("name", "")))
                for b in json.loads(r.bands)
            ),
        )
        for r in s.execute(select(PoolRateRow)).scalars()
    ]
    discounts = [
        Discount(d.org_id, d.pool_id, d.effective_from, d.discount_bp)
        for d in s.execute(select(DiscountRow)).scalars()
    ]
    return RateCard(rates, discounts)


def policy_edges(packs: PackSet) -> list[dt.date]:
    """Days on which compute-voucher versions (2023 art. 2, 2.0 art. 3, …) start or stop: usage splits."""
    out: set[dt.date] = set()
    for v in packs.measure_versions(COMPUTE_VOUCHER):
        out.add(v.effective_from)
        end = packs.in_force_until(v)
        if end is not None:
            out.add(end + dt.timedelta(days=1))
    return sorted(out)


__all__ = ["BASE_PRICE_FROM", "policy_edges", "rate_card", "set_discount", "set_pool_rate"]
