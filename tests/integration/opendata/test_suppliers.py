"""Art. 4: the city's ratio feeds the engine's subsidy; the application runs the awards workflow; the
province's reward follows its table from the recorded payouts."""

from __future__ import annotations

import pytest

from tests.conftest import TestDatabase
from tests.factories.opendata import BUREAU, HEFEI, WUHU, org_member
from zhisuan.awards import calls, payouts
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.opendata import suppliers
from zhisuan.policy import load_pack_set

PROVINCE = Principal(None, "prov", Role.PROVINCE)


def test_the_subsidy_is_the_engines_art4_with_the_citys_ratio_and_goes_to_awards(
    db: TestDatabase,
    clock: ManualClock,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    packs = load_pack_set()
    with db.uow() as uow:
        firm = org_member(uow, clock.now(), "91340100MA8Q0RD09", name="合肥标注科技有限公司")
        code = make_credit_code("91340100MA8Q0RD09")
        s = suppliers.register_supplier(
            uow,
            BUREAU,
            clock,
            {
                "name": "合肥标注科技有限公司",
                "credit_code": code,
                "city": "340100",
                "services": ["labelling"],
            },
        )
        with pytest.raises(NotFoundError):  # Wuhu keeps (and sees) its own registry only
            suppliers.record_transactions(uow, WUHU, clock, tmp_path, int(str(s["id"])), 2024, "100")
        suppliers.record_transactions(uow, HEFEI, clock, tmp_path, int(str(s["id"])), 2024, "1000000.10")
        with pytest.raises(ConflictError):  # no ratio yet: nothing to compute
            suppliers.subsidy(uow, BUREAU, packs, int(str(s["id"])), 2024)
        with pytest.raises(ValidationError) as err:
            suppliers.set_city_ratio(uow, HEFEI, clock, packs, "340100", 2024, "150%")
        assert err.value.field == "ratio"
        with pytest.raises(PermissionDeniedError):
            suppliers.set_city_ratio(uow, WUHU, clock, packs, "340100", 2024, "5%")
        suppliers.set_city_ratio(uow, HEFEI, clock, packs, "340100", 2024, "12.5%")
        out = suppliers.subsidy(uow, BUREAU, packs, int(str(s["id"])), 2024)
        assert out["decision"]["amount"] == "125000.01"  # 12.5% × 1,000,000.10 = 125,000.0125, rounded down
        call = calls.create_call(
            uow,
            PROVINCE,
            packs,
            clock,
            program="art4",
            title="2024 数据供应商补贴",
            opens_on="2025-06-01",
            closes_on="2025-12-31",
        )
        app = suppliers.apply_for_subsidy(
            uow, firm, packs, clock, int(str(s["id"])), 2024, int(str(call["id"]))
        )
        assert app["state"] == "city_review" and app["maximum"] == "125000.01"
        with pytest.raises(ConflictError):  # once filed, the year is not filed again
            suppliers.apply_for_subsidy(
                uow, firm, packs, clock, int(str(s["id"])), 2024, int(str(call["id"]))
            )
        # the province's reward from the city's recorded payouts
        suppliers.set_reward_tiers(uow, PROVINCE, clock, 2025, [{"threshold": "100000", "reward": "300000"}])
        payouts.record_payout(
            uow,
            HEFEI,
            clock,
            tmp_path,
            {
                "program": "art4",
                "kind": "supplier_subsidy",
                "project_ref": "supplier-x-2024",
                "project_name": "补贴",
                "recipient": "合肥标注科技有限公司",
                "amount": "125000.01",
                "paid_on": "2025-06-01",
            },
        )
        rewards = suppliers.performance_rewards(uow, PROVINCE, 2025)
    assert rewards["cities"] == [
        {
            "city": "340100",
            "city_name": "合肥市",
            "payouts": 1,
            "recorded": "125000.01",
            "reward": "300000.00",
        }
    ]
