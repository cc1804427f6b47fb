"""Usage, bills and vouchers over HTTP: each caller sees only what is theirs."""

from __future__ import annotations

import datetime as dt
import json

from zhisuan import metering
from zhisuan.core.clock import Month
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.policy import load_pack_set
from zhisuan.store.models.compute import CenterRow, PoolRow


def _bill_world(world, tmp_path):
    p = world.platform
    packs = load_pack_set()
    now = p.clock.now()
    with p.uow() as uow:
        uow.session.add(
            CenterRow(
                id=7,
                key="c7",
                name="合肥智算",
                operator_org_id=world.operator_org,
                city_code="340100",
                engine_config="{}",
                created_at=now,
            )
        )
        uow.session.flush()
        uow.session.add(
            PoolRow(
                id=70,
                key="p70",
                center_id=7,
                accelerator="a100-sxm4-80gb",
                nodes=4,
                cards_per_node=8,
                price_fen=1500,
                bands="[]",
                engine_kind="simulated",
                engine_config="{}",
                available=True,
                created_at=now,
            )
        )
        uow.session.flush()
        rows = [
            {
                "engine": "sim",
                "engine_job_id": f"j{org}",
                "org_id": org,
                "center_id": 7,
                "pool_id": 70,
                "accelerator": "a100-sxm4-80gb",
                "cards": 4,
                "start": "2025-06-03T09:00:00+08:00",
                "end": "2025-06-03T19:00:00+08:00",
            }
            for org in (world.org_a, world.org_b)
        ]
        f = tmp_path / "u.jsonl"
        f.write_text("".join(json.dumps(r) + "\n" for r in rows))
        metering.import_usage(uow, f, packs)
        ledger.post(uow.session, [budget_posting("art2", 2025, 10**8, dt.date(2025, 1, 1), "t")], p.clock)
        june = Month(2025, 6)
        metering.draft_bills(uow, june, p.clock)
        metering.issue_bills(uow, p.clock, month=june)
        metering.pay_all(uow, june, "BANK", dt.date(2025, 7, 1), p.clock)
        metering.settle_vouchers(uow, june, p.clock, packs)
        uow.commit()


def test_org_sees_only_its_bills_and_vouchers(world, tmp_path):
    _bill_world(world, tmp_path)
    c = world.client
    mine = c.get("/api/v1/bills", headers=world.auth("alice")).json()
    assert [b["org_id"] for b in mine] == [world.org_a]
    assert mine[0]["total"] == "600.00"  # 40 card-hours × 15 yuan
    theirs = c.get("/api/v1/bills", headers=world.auth("bob")).json()
    assert c.get(f"/api/v1/bills/{theirs[0]['id']}", headers=world.auth("alice")).status_code == 404
    assert c.get(f"/api/v1/bills/{mine[0]['id']}", headers=world.auth("alice")).json()["state"] == "paid"
    v = c.get("/api/v1/vouchers", headers=world.auth("alice")).json()
    assert [(x["org_id"], x["amount"], x["status"]) for x in v] == [(world.org_a, "120.00", "granted")]
    assert v[0]["steps"]
    xlsx = c.get(f"/api/v1/bills/{mine[0]['id']}/export.xlsx", headers=world.auth("alice"))
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    csv = c.get(f"/api/v1/bills/{mine[0]['id']}/export.csv", headers=world.auth("alice"))
    assert "600.00" in csv.text


def test_operator_sees_revenue_and_finance_sees_budget_burn(world, tmp_path):
    _bill_world(world, tmp_path)
    c = world.client
    rev = c.get("/api/v1/revenue", headers=world.auth("olga")).json()
    assert [(r["center_id"], r["month"], r["total"]) for r in rev] == [(7, "2025-06", "1200.00")]
    assert len(c.get("/api/v1/bills", headers=world.auth("olga")).json()) == 2  # its center's bills
    assert c.get("/api/v1/budget-burn", headers=world.auth("bob")).status_code == 403
    burn = c.get("/api/v1/budget-burn", headers=world.auth("root")).json()
    assert [(r["article"], r["year"], r["city"], r["granted"]) for r in burn] == [
        ("art2", 2025, "340100", "240.00")
    ]
    assert c.get("/api/v1/revenue", headers=world.auth("alice")).status_code == 403


def test_billing_pages_render(world, tmp_path):
    _bill_world(world, tmp_path)
    c = world.client
    page = c.get("/billing", headers=world.auth("alice"))
    assert page.status_code == 200 and "600.00" in page.text and "1200.00" not in page.text
    bill_id = c.get("/api/v1/bills", headers=world.auth("alice")).json()[0]["id"]
    detail = c.get(f"/billing/bills/{bill_id}", headers=world.auth("alice"))
    assert detail.status_code == 200 and "120.00" in detail.text


def test_dashboard_money_follows_the_callers_scope(world, tmp_path):
    _bill_world(world, tmp_path)
    c = world.client
    anon = c.get("/api/v1/dashboard").json()
    assert anon["money_scope"] == "none" and anon["money"] == []
    assert anon["cards"] == 32 and anon["cities"][0]["code"] == "340100"
    alice = c.get("/api/v1/dashboard", headers=world.auth("alice")).json()
    assert alice["money_scope"] == "own"
    assert alice["money"] == [{"month": "2025-06", "billed": "600.00", "vouchers": "120.00"}]
    root = c.get("/api/v1/dashboard", headers=world.auth("root")).json()
    assert root["money"] == [{"month": "2025-06", "billed": "1200.00", "vouchers": "240.00"}]
    olga = c.get("/api/v1/dashboard", headers=world.auth("olga")).json()  # its center's revenue
    assert olga["money"][0]["billed"] == "1200.00" and olga["money"][0]["vouchers"] == "0.00"
    page = c.get("/?lang=en", headers=world.auth("alice"))
    assert page.status_code == 200 and 'id="dashboard"' in page.text and "600.00" in page.text
    assert "1200.00" not in page.text
