"""Art. 8's priority for key enterprises in the live scheduler, on both databases: off with the shipped
pack, and when a pack in force sets ``key_enterprise_priority_weight`` the firm's job goes first."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import TestDatabase
from tests.factories.registries import PROVINCE
from tests.integration.matching.test_services import _center, _org
from zhisuan import compute
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import OrgKind
from zhisuan.matching.priority import priority_weight
from zhisuan.policy import builtin_pack_dir
from zhisuan.registries import services as registries

ADMIN = Principal(None, "test-admin", Role.ADMIN)
SHIPPED = "key_enterprise_priority_weight:\n        type: number\n        min: 1\n        value: 1\n"


def _job(uow, org: int, now: dt.datetime) -> int:  # type: ignore[no-untyped-def]
    body = {"name": "train", "command": "python train.py", "cards": 8, "runtime_s": 3600}
    member = Principal(None, f"user-{org}", Role.USER, OrgId(org))
    return compute.submit_job(uow, member, compute.JobInput.model_validate(body), now).id


def _with_weight(platform: Platform, weight: str) -> None:
    """An administrator's pack replacing the 2023 art. 8 from 2025-06-01 with the weight set."""
    text = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")
    art8 = text[text.index("  art8:\n") : text.index("  art9:\n")]
    assert art8.count(SHIPPED) == 1
    art8 = art8.replace(SHIPPED, SHIPPED.replace("value: 1\n", f"value: {weight}\n"))
    art8 = art8.replace(
        "effective: {from: 2023-11-08, to: 2025-12-31}", "effective: {from: 2025-06-01, to: 2025-12-31}"
    )
    head = text[: text.index("articles:\n")].replace("id: anhui-2023\n", "id: anhui-2023-art8-test\n")
    head += "supersedes:\n  anhui-2023:\n    art8: 2025-06-01\n"
    folder = platform.settings.packs_dir
    assert folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "art8-test.yaml").write_text(head + "articles:\n" + art8, encoding="utf-8")


@pytest.mark.parametrize(("weight", "first"), [(None, "plain"), ("2", "key")])
def test_the_live_scheduler_places_a_key_enterprise_first_when_the_pack_says_so(
    db: TestDatabase, clock: ManualClock, platform: Platform, weight: str | None, first: str
) -> None:
    if weight is not None:
        _with_weight(platform, weight)
    now = clock.now()
    assert priority_weight(platform.packs.current(), now.date()) == (int(weight) if weight else 1)
    with db.uow() as uow:
        key = _org(uow, "合肥智元大模型有限公司", "91340100MA2PP0001", OrgKind.ENTERPRISE, "340100", now)
        plain = _org(uow, "合肥普通科技有限公司", "91340100MA2PP0002", OrgKind.ENTERPRISE, "340100", now)
        op = _org(uow, "合肥算力运营有限公司", "91340100MA2PP0003", OrgKind.CENTER_OPERATOR, "340100", now)
        _center(uow, op, "hf", "340100", [("hf-a100", "a100-sxm4-80gb", 1, "10")], now)
        registries.create_entry(
            uow,
            PROVINCE,
            platform.packs.current(),
            clock,
            "enterprises",
            {
                "title": "合肥智元大模型有限公司",
                "city": "340100",
                "org_id": key,
                "category": "general_llm",
                "sector": "health",
                "introduced_on": "2025-03-01",
            },
        )
        # the ordinary firm's job is older; both want the whole pool for the same time
        jobs = {"plain": _job(uow, plain, now), "key": _job(uow, key, now + dt.timedelta(seconds=1))}
        report = compute.schedule_once(
            uow, now + dt.timedelta(seconds=2), vouchers=platform.vouchers, priority=platform.priority
        )
        uow.commit()
    assert [job for job, _pool in report.placed] == [jobs[first]]
    assert platform.worker(schedule=False).priority is platform.priority  # the worker's steps use it too


def test_a_weight_below_one_is_refused_by_the_pack_schema(platform: Platform) -> None:
    _with_weight(platform, "0.5")
    packs = platform.packs
    assert priority_weight(packs.current(), dt.date(2025, 6, 15)) == 1  # the shipped packs stay in force
    assert packs.error is not None
    assert "key_enterprise_priority_weight.value: must be at least 1, got 0.5" in str(packs.error)
