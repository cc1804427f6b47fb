"""Matching a key enterprise with compute on both databases: the cheapest pool with free cards first,
priced after vouchers by the platform's art. 2 rule, and a pool that fills up dropped."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import TestDatabase
from tests.factories.registries import HEFEI, PROVINCE, WUHU
from zhisuan import accounts, compute
from zhisuan.core.access import ANONYMOUS, Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.errors import NotFoundError
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import OrgKind
from zhisuan.matching import services as matching
from zhisuan.matching.model import Dataset
from zhisuan.metering.estimate import pack_voucher_rule
from zhisuan.policy import PackSet, load_pack_set
from zhisuan.registries import services as registries

ADMIN = Principal(None, "test-admin", Role.ADMIN)
PACKS = load_pack_set()
RULE = pack_voucher_rule(lambda: PACKS)


def _org(uow, name: str, body: str, kind: OrgKind, city: str, now: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    data = accounts.OrgInput(
        name=name, credit_code=make_credit_code(body), kind=kind, city_code=city, in_province=True
    )
    return accounts.create_org(uow, ADMIN, data, now).id


def _center(
    uow, op: int, key: str, city: str, pools: list[tuple[str, str, int, str]], now: dt.datetime
) -> None:  # type: ignore[no-untyped-def]
    compute.create_center(
        uow, ADMIN, compute.CenterInput(key=key, name=f"{key}中心", operator=str(op), city_code=city), now
    )
    for pool, model, nodes, price in pools:
        compute.add_pool(
            uow,
            ADMIN,
            key,
            compute.PoolInput(key=pool, accelerator=model, nodes=nodes, cards_per_node=8, price=price),
            now,
        )


@pytest.fixture
def firm(db: TestDatabase, clock: ManualClock) -> tuple[int, int]:
    """(the enterprise's registry id, its organization id): a Hefei firm, two operators, three pools."""
    now = clock.now()
    with db.uow() as uow:
        org = _org(uow, "合肥智元大模型有限公司", "91340100MA2MM0001", OrgKind.ENTERPRISE, "340100", now)
        wuhu = _org(uow, "芜湖算力运营有限公司", "91340200MA2MM0002", OrgKind.CENTER_OPERATOR, "340200", now)
        hefei = _org(uow, "合肥算力运营有限公司", "91340100MA2MM0003", OrgKind.CENTER_OPERATOR, "340100", now)
        _center(uow, wuhu, "wh", "340200", [("wh-h20", "h20-96gb", 2, "9")], now)
        _center(
            uow,
            hefei,
            "hf",
            "340100",
            [("hf-a100", "a100-sxm4-80gb", 2, "12"), ("hf-910b", "ascend-910b3", 1, "6")],
            now,
        )
        entry = registries.create_entry(
            uow,
            PROVINCE,
            PACKS,
            clock,
            "enterprises",
            {
                "title": "合肥智元大模型有限公司",
                "city": "340100",
                "org_id": org,
                "category": "general_llm",
                "sector": "health",
                "introduced_on": "2025-03-01",
            },
        )
        registries.create_entry(
            uow,
            PROVINCE,
            PACKS,
            clock,
            "scenarios",
            {
                "title": "医学影像辅助诊断",
                "city": "340100",
                "department": "市卫健委",
                "kind": "challenge",
                "sector": "health",
                "status": "opened",
                "opened_on": "2025-05-01",
            },
        )
        uow.commit()
    return int(entry["id"]), org


def _suggest(
    db: TestDatabase, clock: ManualClock, who: Principal, entry: int, packs: PackSet = PACKS
) -> dict:  # type: ignore[type-arg]
    with db.uow() as uow:
        return matching.suggest(uow, who, packs, RULE, clock.now(), entry)


def test_a_cheaper_free_pool_ranks_above_a_dearer_one_and_a_full_pool_is_dropped(
    db: TestDatabase, clock: ManualClock, firm: tuple[int, int]
) -> None:
    entry, org = firm
    before = _suggest(db, clock, PROVINCE, entry)
    # art. 2 (2023 pack on 2025-06-15): an in-province firm bears 80% of the list price
    assert [(p["pool"], p["net_yuan_per_card_hour"]) for p in before["compute"]] == [
        ("hf-910b", "4.80"),
        ("wh-h20", "7.20"),
        ("hf-a100", "9.60"),
    ]
    assert before["compute"][1]["reason"] == (
        "H20 96GB pool in Wuhu: 16 free cards, 9.00 → 7.20 yuan per card-hour after vouchers"
    )
    with db.uow() as uow:  # the firm's job takes every card of the 910B pool
        job = compute.JobInput.model_validate(
            {
                "name": "sft",
                "command": "python sft.py",
                "cards": 8,
                "accelerators": ["ascend-910b3"],
                "runtime_s": 7200,
            }
        )
        compute.submit_job(uow, Principal(None, "member", Role.USER, OrgId(org)), job, clock.now())
        assert len(compute.schedule_once(uow, clock.now(), vouchers=RULE).placed) == 1
        uow.commit()
    after = _suggest(db, clock, PROVINCE, entry)
    assert [p["pool"] for p in after["compute"]] == ["wh-h20", "hf-a100"]
    assert [s["title"] for s in after["scenarios"]] == ["医学影像辅助诊断"]
    assert after["datasets"] == []


def test_the_enterprise_is_read_only_by_its_scope(
    db: TestDatabase, clock: ManualClock, firm: tuple[int, int]
) -> None:
    entry, org = firm
    assert _suggest(db, clock, HEFEI, entry)["enterprise"]["id"] == entry
    assert _suggest(db, clock, Principal(None, "member", Role.USER, OrgId(org)), entry)["compute"]
    for who in (WUHU, ANONYMOUS):
        with pytest.raises(NotFoundError):
            _suggest(db, clock, who, entry)


class OneDataset:
    """A catalog with one dataset for health firms (the port the open-data context will fill)."""

    def fitting(self, sector: str | None, city_code: str | None) -> tuple[Dataset, ...]:
        if sector != "health":
            return ()
        return (Dataset("ds-1", "全省医学影像脱敏数据集", "医疗健康领域开放数据", "open health data"),)


def test_datasets_come_through_the_catalog_port(
    db: TestDatabase, clock: ManualClock, firm: tuple[int, int]
) -> None:
    entry, _ = firm
    with db.uow() as uow:
        out = matching.suggest(uow, PROVINCE, PACKS, RULE, clock.now(), entry, datasets=OneDataset())
    assert [d["ref"] for d in out["datasets"]] == ["ds-1"]
