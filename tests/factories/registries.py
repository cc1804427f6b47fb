"""Small factories for registry entries: plausible values a test overrides where it matters."""

from __future__ import annotations

from typing import Any

from zhisuan.core.access import Principal, Role

PROVINCE = Principal(None, "province-office", Role.PROVINCE)
HEFEI = Principal(None, "hefei-official", Role.CITY, city_code="340100")
WUHU = Principal(None, "wuhu-official", Role.CITY, city_code="340200")


def scenario(**over: Any) -> dict[str, object]:
    base: dict[str, object] = {
        "title": "智能工厂质检大模型场景",
        "city": "340100",
        "department": "市经信局",
        "kind": "opening",
        "sector": "manufacturing",
        "status": "opened",
        "opened_on": "2025-04-10",
    }
    return base | over


def park(**over: Any) -> dict[str, object]:
    base: dict[str, object] = {
        "title": "合肥高新区人工智能产业园",
        "city": "340100",
        "ai_enterprises": 61,
        "total_enterprises": 100,
        "roster_on": "2025-06-30",
        "sites_m2": 12000,
    }
    return base | over


def standard(**over: Any) -> dict[str, object]:
    base: dict[str, object] = {
        "title": "大模型服务能力评估规范",
        "city": "340100",
        "standard_no": "GB/T 45000-2025",
        "level": "national",
        "lead_org": "科大讯飞股份有限公司",
        "leading_drafter": True,
        "general_ai_enterprise": True,
        "published_on": "2025-03-01",
    }
    return base | over
