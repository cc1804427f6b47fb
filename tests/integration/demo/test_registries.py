"""The demo's registries step on both databases: every registry filled, both bulletins published and
frozen, parks' shares, a fund's sub-funds, and matching that changes when the wanted pool fills up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from zhisuan.bootstrap import Platform
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.demo.compute import load_compute
from zhisuan.demo.organizations import load_organizations
from zhisuan.demo.registries import load_registries
from zhisuan.registries.specs import SPECS
from zhisuan.store.models.registries import RegistryEntryRow, ScenarioBulletinRow


def test_the_registries_step_fills_every_registry_and_matching_follows_the_pool(
    platform: Platform, clock: ManualClock
) -> None:
    clock.set(dt.datetime(2026, 3, 20, 2, tzinfo=UTC))
    load_organizations(platform)
    load_compute(platform)
    out = load_registries(platform)
    with platform.uow() as uow:
        counts = dict(
            uow.session.execute(
                select(RegistryEntryRow.registry_name, func.count()).group_by(RegistryEntryRow.registry_name)
            ).all()
        )
        published = uow.session.execute(
            select(ScenarioBulletinRow.kind, ScenarioBulletinRow.period).where(
                ScenarioBulletinRow.state == "published"
            )
        ).all()
    assert set(counts) == set(SPECS) and min(counts.values()) >= 1
    assert sorted(published) == [("annual", "2025"), ("quarterly", "2025Q4")]
    text = "\n".join(out)
    assert "芜湖人工智能产业园 60.00%" in text and "芜湖人工智能产业园 60.00% ✓" not in text  # > 60% only
    assert "中国声谷 64.13% ✓" in text
    assert "with 3 sub-funds" in text
    assert "H20 96GB pool in Wuhu: 256 free cards, 9.00 →" in text
    assert "filled wh-telecom-h20: dropped" in text
