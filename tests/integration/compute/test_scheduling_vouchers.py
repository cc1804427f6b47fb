"""Art. 2 at dispatch is settlement's rule: the pack's rate, only in province, never for related parties.

Before one rule was shared, placement discounted every organization by a fixed 20% and knew self-use
only as "the operator itself": an out-of-province organization was counted at 80% of its real cost
against its budget (the demo's 7,987.19 yuan against 8,000 while it really cost 9,983.99).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from zhisuan import accounts, compute
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.ids import OrgId
from zhisuan.core.money import Money
from zhisuan.core.orgs import OrgKind
from zhisuan.metering.estimate import pack_voucher_rule
from zhisuan.policy import PackSource

ADMIN = Principal(None, "test-admin", Role.ADMIN)
ADMIN_PACK = Path(__file__).parents[2] / "unit" / "policy" / "packs" / "anhui-2025-art3-test.yaml"


@dataclass
class World:
    local: int  # an in-province enterprise (earns the voucher)
    outside: int  # registered outside the province (no voucher)
    related: int  # 35% owned by the center's operator (self-use: no voucher)


def _org(uow, name: str, body: str, kind: OrgKind, now: dt.datetime, *, in_province: bool = True) -> int:  # type: ignore[no-untyped-def]
    data = accounts.OrgInput(
        name=name,
        credit_code=make_credit_code(body),
        kind=kind,
        city_code="340100" if in_province else None,
        in_province=in_province,
    )
    return accounts.create_org(uow, ADMIN, data, now).id


@pytest.fixture
def world(db: TestDatabase, clock: ManualClock) -> World:
    now = clock.now()
    with db.uow() as uow:
        local = _org(uow, "本省科技有限公司", "91340100MA2DD0001", OrgKind.ENTERPRISE, now)
        outside = _org(
            uow, "外省科技有限公司", "91310000MA2DD0002", OrgKind.ENTERPRISE, now, in_province=False
        )
        related = _org(uow, "关联科技有限公司", "91340100MA2DD0003", OrgKind.ENTERPRISE, now)
        op = _org(uow, "算力运营有限公司", "91340100MA2DD0004", OrgKind.CENTER_OPERATOR, now)
        accounts.add_ownership(uow, ADMIN, op, related, "35", now)
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(key="hf-x", name="合肥X", operator=str(op), city_code="340100"),
            now,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "hf-x",
            compute.PoolInput(
                key="hf-x-a100", accelerator="a100-sxm4-80gb", nodes=4, cards_per_node=8, price="10"
            ),
            now,
        )
        uow.commit()
    return World(local, outside, related)


def _member(org: int) -> Principal:
    return Principal(None, f"user-{org}", Role.USER, OrgId(org))


def _job(cards: int = 8, runtime_s: int = 3600) -> compute.JobInput:
    return compute.JobInput.model_validate(
        {"name": "train", "command": "python train.py", "cards": cards, "runtime_s": runtime_s}
    )


def _committed(db: TestDatabase, org: int, now: dt.datetime, vouchers: compute.VoucherRule) -> Money:
    with db.uow() as uow:
        return compute.get_quota(uow, ADMIN, org, now, vouchers).month_committed


def test_only_an_in_province_unrelated_user_is_counted_after_the_voucher(
    db: TestDatabase, world: World, clock: ManualClock
) -> None:
    rule = pack_voucher_rule(PackSource(None).current)
    now = clock.now()
    with db.uow() as uow:
        for org in (world.local, world.outside, world.related):
            compute.submit_job(uow, _member(org), _job(), now)
        assert len(compute.schedule_once(uow, now, vouchers=rule).placed) == 3
        uow.commit()
    gross = _committed(db, world.outside, now, rule)
    assert Money() < gross
    assert _committed(db, world.related, now, rule) == gross  # self-use through a 35% shareholding
    assert _committed(db, world.local, now, rule) == gross - (gross * Decimal("0.2")).round()  # art. 2: 20%


def test_the_budget_check_refuses_an_out_of_province_job_before_it_overspends(
    db: TestDatabase, world: World, clock: ManualClock
) -> None:
    rule = pack_voucher_rule(PackSource(None).current)
    now = clock.now()
    with db.uow() as uow:
        compute.submit_job(uow, _member(world.outside), _job(), now)
        compute.schedule_once(uow, now, vouchers=rule)
        uow.commit()
    one_job = _committed(db, world.outside, now, lambda _orgs: compute.NoVoucher())  # the list price
    # a budget for 1.9 such jobs: with a flat 20% for everyone the two looked like 1.6 and both ran
    budget = (one_job * Decimal("1.9")).round()
    with db.uow() as uow:
        compute.set_quota(
            uow, ADMIN, world.outside, compute.QuotaInput(monthly_budget=str(budget)), now, rule
        )
        second = compute.submit_job(uow, _member(world.outside), _job(), now)
        compute.schedule_once(uow, now, vouchers=rule)
        held = compute.get_job(uow, ADMIN, second.id)
        uow.commit()
    assert held.state == "queued"
    assert held.hold_kind == "budget"
    assert _committed(db, world.outside, now, rule) <= budget


def test_dispatch_follows_an_administrators_pack(
    db: TestDatabase, world: World, clock: ManualClock, tmp_path: Path
) -> None:
    """The rule reads the packs in force from the platform's source: a published rate is what counts."""
    (tmp_path / ADMIN_PACK.name).write_text(ADMIN_PACK.read_text(encoding="utf-8"), encoding="utf-8")
    rule = pack_voucher_rule(PackSource(tmp_path).current)
    clock.set(dt.datetime(2025, 11, 15, 2, 0, tzinfo=dt.UTC))  # the test pack pays 30% from 2025-11-01
    now = clock.now()
    with db.uow() as uow:
        compute.submit_job(uow, _member(world.local), _job(), now)
        compute.submit_job(uow, _member(world.outside), _job(), now)
        compute.schedule_once(uow, now, vouchers=rule)
        uow.commit()
    gross = _committed(db, world.outside, now, rule)
    assert _committed(db, world.local, now, rule) == gross - (gross * Decimal("0.3")).round()


def test_a_step_says_when_prices_rest_on_provisional_parameters(
    db: TestDatabase, world: World, clock: ManualClock
) -> None:
    """2.0 art. 3's rate is provisional: dispatch may price with it, and the step's report says so."""
    rule = pack_voucher_rule(PackSource(None).current)
    with db.uow() as uow:
        compute.submit_job(uow, _member(world.local), _job(), clock.now())
        confirmed = compute.schedule_once(uow, clock.now(), vouchers=rule)  # 2025-06: 2023 art. 2
        uow.commit()
    assert confirmed.provisional == {}
    clock.set(dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.UTC))
    with db.uow() as uow:
        compute.submit_job(uow, _member(world.local), _job(), clock.now())
        report = compute.schedule_once(uow, clock.now(), vouchers=rule)
        uow.commit()
    assert "rate" in report.provisional["anhui-2025/art3"]
    assert report.as_dict()["provisional_estimate"]["anhui-2025/art3"] == list(  # type: ignore[index]
        report.provisional["anhui-2025/art3"]
    )
