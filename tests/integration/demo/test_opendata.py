"""The demo's open-data step: a populated catalog, requests in every state, a published bulletin with
its ranking, and a supplier's city subsidy through the awards workflow."""

from __future__ import annotations

import datetime as dt

from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.demo.opendata import DATASETS, publish_catalog
from zhisuan.demo.organizations import load_organizations
from zhisuan.opendata import bulletins, catalog, sharing, suppliers

BUREAU = Principal(None, "databureau", Role.DATA_BUREAU)


def test_the_open_data_step_fills_the_catalog_and_pays_a_supplier(
    platform: Platform, clock: ManualClock
) -> None:
    clock.set(dt.datetime(2026, 3, 20, 2, tzinfo=UTC))
    load_organizations(platform)
    lines = publish_catalog(platform)
    assert "bulletin 2025Q4 published" in lines[0]
    with platform.uow(read_only=True) as uow:
        found = catalog.find_datasets(uow, "档案")
        assert found["total"] == 2
        assert catalog.find_datasets(uow, None)["total"] == len(DATASETS)
        states = {r["state"] for r in sharing.list_requests(uow, BUREAU, clock)}
        assert states == {"pending", "granted", "refused", "expired"}
        (b,) = bulletins.list_bulletins(uow, Principal(None, "anyone", None))
        assert b["state"] == "published" and [x["rank"] for x in b["lines"]] == list(
            range(1, len(b["lines"]) + 1)
        )
        assert b["totals"]["answered"] == 5 and b["totals"]["refused"] == 1
        (yuntu, *_) = suppliers.list_suppliers(uow, BUREAU, "341300")
        assert yuntu["transactions"][0]["application_id"] is not None
        rewards = suppliers.performance_rewards(uow, Principal(None, "p", Role.PROVINCE), 2025)
    assert [c["city"] for c in rewards["cities"]] == ["340100"] and rewards["cities"][0][
        "reward"
    ] == "500000.00"
    assert "yuntu's 2025 subsidy 143000.00 yuan approved" in lines[1]
