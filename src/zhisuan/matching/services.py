"""Priority matching for a key enterprise (art. 8): compute pools, open datasets, scenarios, funds, parks.

Compute comes from compute's read model (each pool's cards and the cards busy now) and is priced with
the composition root's art. 2 rule (:data:`Platform.vouchers`, ``metering.estimate``) — the same
estimate placement and settlement use, never a second copy of the rule. The enterprise is judged as
the platform organization it names, or, when it has none yet, as an in-province firm of its
introducing city. Datasets come through the :class:`~zhisuan.matching.model.DatasetCatalog` port.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from zhisuan.accounts.services import ownership_graph
from zhisuan.compute import overview
from zhisuan.compute.placement import OrgDirectory, VoucherRule
from zhisuan.core.access import Principal
from zhisuan.core.catalog import accelerator as accelerator_of
from zhisuan.core.clock import shanghai_date
from zhisuan.core.errors import NotFoundError
from zhisuan.core.regions import city as city_of
from zhisuan.matching.model import DatasetCatalog, NoDatasets, PoolOffer, rank_pools
from zhisuan.policy import PackSet, fen_text
from zhisuan.registries import rules
from zhisuan.registries import services as registries
from zhisuan.registries.specs import SPECS
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

#: how many suggestions of each kind an answer carries
TOP = 10


def _label(name: str, field: str, value: object, lang: str = "zh") -> str:
    found = SPECS[name].field(field).choice(str(value))
    if found is None:
        return str(value)
    return found.zh if lang == "zh" else found.en


def _directory(uow: UnitOfWork, name: str, city: str | None) -> OrgDirectory:
    """Every organization as art. 2 sees it, with the enterprise added when it has no account yet."""
    rows = uow.session.execute(
        select(
            OrganizationRow.id, OrganizationRow.name, OrganizationRow.city_code, OrganizationRow.in_province
        )
    ).all()
    ids = {r.name: r.id for r in rows}
    cities: dict[str, str | None] = {r.name: r.city_code for r in rows}
    provincial = {r.name for r in rows if r.in_province}
    if name not in ids:  # an introduced firm settles in the province, in its introducing city
        ids[name], cities[name] = 0, city
        provincial.add(name)
    return OrgDirectory(ids=ids, cities=cities, provincial=frozenset(provincial), graph=ownership_graph(uow))


def pool_offers(
    uow: UnitOfWork, vouchers: VoucherRule, now: dt.datetime, org: str, city: str | None
) -> list[PoolOffer]:
    """Every available pool with its free cards now and its price per card-hour before and after vouchers."""
    today = shanghai_date(now)
    estimate = vouchers(_directory(uow, org, city))
    out = []
    for load in overview(uow, now).centers:
        center = load.center
        for p in load.pools:
            pool = p.pool
            if not pool.available:
                continue
            out.append(
                PoolOffer(
                    pool=pool.key,
                    center=center.name,
                    city_code=center.city_code,
                    accelerator=pool.accelerator,
                    model=accelerator_of(pool.accelerator).model,
                    free_cards=max(pool.cards - p.busy_cards, 0),
                    gross=pool.price,
                    net=estimate.net(org, center.operator_name, today, pool.price),
                )
            )
    return out


def _fits_sector(values: Mapping[str, Any], sector: object) -> bool:
    return sector is None or values.get("sector") in {None, sector, "general"}


def _scenarios(uow: UnitOfWork, sector: object) -> list[dict[str, object]]:
    out = []
    for entry_id, v in registries.entries(uow, "scenarios"):
        if v.get("status") != "opened" or not _fits_sector(v, sector):
            continue
        where = city_of(str(v["city"])).name_zh if v.get("city") else "省级"
        kind, kind_en = (_label("scenarios", "kind", v.get("kind"), lang) for lang in ("zh", "en"))
        out.append(
            {
                "id": entry_id,
                "title": v["title"],
                "reason_zh": f"{where}{v.get('department')}{kind}场景，{v.get('opened_on')}开放，"
                f"领域：{_label('scenarios', 'sector', v.get('sector')) if v.get('sector') else '不限'}",
                "reason": f"{kind_en} scenario opened on {v.get('opened_on')} by {v.get('department')}",
            }
        )
    return out[:TOP]


def _funds(uow: UnitOfWork, sector: object) -> list[dict[str, object]]:
    out = []
    for entry_id, v in registries.entries(uow, "funds"):
        if not _fits_sector(v, sector):
            continue
        committed = fen_text(int(v.get("committed") or 0))
        level = _label("funds", "level", v.get("level"))
        out.append(
            {
                "id": entry_id,
                "title": v["title"],
                "level": v.get("level"),
                "reason_zh": f"{level}，管理机构{v.get('manager')}，认缴{committed}元",
                "reason": f"{_label('funds', 'level', v.get('level'), 'en')} managed by {v.get('manager')}: "
                f"{committed} yuan committed",
            }
        )
    out.sort(key=lambda f: f["level"] != "sub")  # sub-funds invest directly: first
    return out[:TOP]


def _parks(uow: UnitOfWork, packs: PackSet, city: str | None) -> list[dict[str, object]]:
    out = []
    for entry_id, v in registries.entries(uow, "parks"):
        sites = int(v.get("sites_m2") or 0)
        if sites <= 0:
            continue
        share = rules.park_share(packs, v)
        where = city_of(str(v["city"]))
        out.append(
            {
                "id": entry_id,
                "title": v["title"],
                "same_city": v.get("city") == city,
                "reason_zh": f"{where.name_zh}{v['title']}：可供场地{sites}平方米，"
                f"通用人工智能企业占比{share.percent()}",
                "reason": f"park in {where.name_en}: {sites} m² available, "
                f"{share.percent()} general-AI enterprises",
            }
        )
    out.sort(key=lambda p: not p["same_city"])
    return out[:TOP]


def suggest(
    uow: UnitOfWork,
    who: Principal,
    packs: PackSet,
    vouchers: VoucherRule,
    now: dt.datetime,
    enterprise_id: int,
    datasets: DatasetCatalog | None = None,
) -> dict[str, object]:
    """The ranked suggestions for a key enterprise the caller may read, each with its reason."""
    entry = registries.get_entry(uow, who, packs, now, "enterprises", enterprise_id)
    values = registries.stored_entry(uow, "enterprises", enterprise_id)
    org_name = str(values["title"])
    if values.get("org_id") is not None:
        org = uow.session.get(OrganizationRow, values["org_id"])
        if org is None:
            raise NotFoundError("the enterprise's organization is gone", field="org_id")
        org_name = org.name
    city = values.get("city") if isinstance(values.get("city"), str) else None
    wanted = values.get("accelerator") if isinstance(values.get("accelerator"), str) else None
    cards = values.get("cards_wanted") if isinstance(values.get("cards_wanted"), int) else None
    pools = rank_pools(pool_offers(uow, vouchers, now, org_name, city), accelerator=wanted, cards=cards)
    sector = values.get("sector")
    found = (datasets or NoDatasets()).fitting(sector if isinstance(sector, str) else None, city)
    return {
        "enterprise": entry,
        "on": shanghai_date(now).isoformat(),
        "compute": [
            {
                "pool": o.pool,
                "center": o.center,
                "city": o.city_code,
                "accelerator": o.accelerator,
                "free_cards": o.free_cards,
                "price_yuan_per_card_hour": str(o.gross),
                "net_yuan_per_card_hour": str(o.net),
                "reason": o.reason("en"),
                "reason_zh": o.reason("zh"),
            }
            for o in pools[:TOP]
        ],
        "datasets": [
            {"ref": d.ref, "title": d.title, "reason": d.reason_en, "reason_zh": d.reason_zh}
            for d in found[:TOP]
        ],
        "scenarios": _scenarios(uow, sector),
        "funds": _funds(uow, sector),
        "parks": _parks(uow, packs, city),
    }


__all__ = ["pool_offers", "suggest"]
