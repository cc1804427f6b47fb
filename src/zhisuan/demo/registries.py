"""The demo's registries step: plausible entries in all ten registries, a published quarterly scenario
bulletin and annual ranking, parks with their shares, a fund with sub-funds, and matching for an
introduced enterprise before and after the pool it wants fills up.

Everything goes through the registries' services as the demo's people: the province and the city
officials of 合肥 and 芜湖 (each in its own city). The training events come in as a CSV import. Scenario
dates sit in the last quarter that has ended and in the year before "now", so that both bulletins can
be published; dates that the policy judges (a park's roster, a win, a standard's publication) lie
inside the 2023 policy's validity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from zhisuan import compute
from zhisuan.accounts.services import find_org, user_principal
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal
from zhisuan.core.clock import shanghai_date
from zhisuan.demo.organizations import DEMO_ADMIN
from zhisuan.matching import services as matching
from zhisuan.registries import bulletins, services
from zhisuan.store.uow import UnitOfWork

#: the pool the introduced firm wants, and the organization whose job fills it in the demo
WANTED_POOL = "wh-telecom-h20"
FILLER_ORG = "安庆石化大模型应用有限公司"

TRAININGS_CSV = """活动名称,所在市,类型,承办单位,举办日期,参加人数,政府购买服务金额（元）
通用人工智能赋能制造业专题培训,合肥,培训,合肥市人工智能产业促进中心,2025-04-18,320,180000
大模型应用场景对接推介会,芜湖,推介,芜湖市数据资源局,2025-06-12,210,95000
人工智能产业发展战略咨询,合肥,战略咨询,安徽省科技情报研究所,2025-09-05,40,600000
"""


def _id(entry: Mapping[str, object]) -> int:
    value = entry["id"]
    assert isinstance(value, int)
    return value


def _last_ended_quarter(today: dt.date) -> tuple[str, dt.date]:
    """('2025Q4', its first day) for the quarter before the one ``today`` is in."""
    q = (today.month - 1) // 3  # 0-based quarter of today
    year, quarter = (today.year - 1, 4) if q == 0 else (today.year, q)
    return f"{year}Q{quarter}", dt.date(year, 3 * quarter - 2, 1)


def _days(start: dt.date, *offsets: int) -> list[str]:
    return [(start + dt.timedelta(days=n)).isoformat() for n in offsets]


def _scenarios(period_start: dt.date, year: int) -> list[tuple[str, dict[str, Any]]]:
    q = _days(period_start, 3, 10, 20, 35, 50, 70, 80)
    y = _days(dt.date(year, 1, 1), 40, 70, 120, 160, 200, 250, 300)
    return [
        (
            "hefei",
            {
                "title": "汽车焊装车间视觉质检",
                "department": "合肥市经信局",
                "kind": "opening",
                "sector": "manufacturing",
                "status": "completed",
                "opened_on": y[0],
                "matched_on": y[2],
                "completed_on": y[4],
                "winner": "合肥星河大模型科技有限公司",
                "investment": "3200000",
            },
        ),
        (
            "hefei",
            {
                "title": "政务热线智能分派",
                "department": "合肥市数据资源局",
                "kind": "challenge",
                "sector": "government",
                "status": "matched",
                "opened_on": y[1],
                "matched_on": y[3],
                "winner": "中国科学技术大学",
            },
        ),
        (
            "hefei",
            {
                "title": "医学影像辅助诊断",
                "department": "合肥市卫健委",
                "kind": "opening",
                "sector": "health",
                "status": "opened",
                "opened_on": q[0],
            },
        ),
        (
            "hefei",
            {
                "title": "智能制造工艺大模型揭榜",
                "department": "合肥市经信局",
                "kind": "challenge",
                "sector": "manufacturing",
                "status": "matched",
                "opened_on": q[1],
                "matched_on": q[4],
                "winner": "合肥星河大模型科技有限公司",
            },
        ),
        (
            "wuhu",
            {
                "title": "港口集装箱智能调度",
                "department": "芜湖市交通运输局",
                "kind": "opening",
                "sector": "transport",
                "status": "completed",
                "opened_on": y[2],
                "matched_on": y[3],
                "completed_on": y[5],
                "winner": "芜湖智驾视觉科技有限公司",
                "investment": "5600000",
            },
        ),
        (
            "wuhu",
            {
                "title": "新能源汽车智能座舱",
                "department": "芜湖市经信局",
                "kind": "opening",
                "sector": "automotive",
                "status": "completed",
                "opened_on": q[0],
                "matched_on": q[2],
                "completed_on": q[5],
                "winner": "芜湖智驾视觉科技有限公司",
                "investment": "2800000",
            },
        ),
        (
            "wuhu",
            {
                "title": "机器人产业链知识库",
                "department": "芜湖市科技局",
                "kind": "opening",
                "sector": "manufacturing",
                "status": "opened",
                "opened_on": q[3],
            },
        ),
        (
            "province",
            {
                "title": "全省教育大模型应用示范",
                "project_ref": "BM-EDU-2025",
                "department": "省教育厅",
                "kind": "benchmark",
                "sector": "education",
                "status": "matched",
                "opened_on": y[4],
                "matched_on": y[6],
            },
        ),
    ]


def _entries(enterprise_org: int | None) -> list[tuple[str, str, dict[str, Any]]]:
    """(who, registry, values) of every other registry's demo entries."""
    return [
        (
            "hefei",
            "products",
            {
                "title": "讯飞星火工业质检一体机",
                "company": "科大讯飞股份有限公司",
                "kind": "first_set",
                "status": "recognized",
                "declared_on": "2025-03-12",
                "purchase_mode": "first_purchase",
                "purchaser": "合肥市数据资源局",
                "purchase_amount": "1280000",
            },
        ),
        (
            "wuhu",
            "products",
            {
                "title": "车规级智驾感知软件",
                "company": "芜湖智驾视觉科技有限公司",
                "kind": "first_version",
                "status": "declared",
                "declared_on": "2025-07-01",
            },
        ),
        (
            "hefei",
            "enterprises",
            {
                "title": "合肥星河大模型科技有限公司",
                "org_id": enterprise_org,
                "category": "general_llm",
                "sector": "general",
                "introduced_on": "2024-05-20",
                "project": "千亿参数通用大模型训练",
                "project_ref": "XH-LLM-2024",
            },
        ),
        (
            "province",
            "parks",
            {
                "title": "中国声谷",
                "city": "340100",
                "district": "高新区",
                "ai_enterprises": 186,
                "total_enterprises": 290,
                "roster_on": "2025-09-30",
                "title_status": "titled",
                "sites_m2": 42000,
                "roster": "科大讯飞、合肥星河大模型……",
            },
        ),
        (
            "province",
            "parks",
            {
                "title": "芜湖人工智能产业园",
                "city": "340200",
                "district": "鸠江区",
                "ai_enterprises": 63,
                "total_enterprises": 105,
                "roster_on": "2025-09-30",
                "title_status": "candidate",
                "sites_m2": 18000,
            },
        ),
        (
            "province",
            "parks",
            {
                "title": "宿州数据标注基地",
                "city": "341300",
                "district": "埇桥区",
                "ai_enterprises": 31,
                "total_enterprises": 50,
                "roster_on": "2025-09-30",
                "sites_m2": 9000,
            },
        ),
        (
            "province",
            "competitions",
            {
                "title": "具身智能灵巧手团队",
                "city": "340100",
                "competition": "中国人工智能创新大赛",
                "prize_rank": "一等奖",
                "won_on": "2025-05-20",
                "lands_in_province": True,
                "equity": "15000000",
                "debt": "8000000",
                "talent_award": "2000000",
                "prize": "1000000",
            },
        ),
        (
            "province",
            "talents",
            {
                "title": "王某",
                "city": "340100",
                "employer": "合肥星河大模型科技有限公司",
                "track": "recognition",
                "level": "B类",
                "decided_on": "2025-06-01",
            },
        ),
        (
            "province",
            "talents",
            {
                "title": "李某",
                "city": "340200",
                "employer": "芜湖智驾视觉科技有限公司",
                "track": "title_channel",
                "channel_status": "passed",
                "decided_on": "2025-07-15",
            },
        ),
        (
            "province",
            "startups",
            {
                "title": "量子感知智能团队",
                "city": "340100",
                "leader": "陈某",
                "sector": "health",
                "founded_on": "2025-02-10",
                "support": "5000000",
                "stage": "registered",
            },
        ),
        (
            "hefei",
            "standards",
            {
                "title": "大模型服务能力评估规范",
                "standard_no": "GB/T 45288-2025",
                "level": "national",
                "lead_org": "科大讯飞股份有限公司",
                "leading_drafter": True,
                "general_ai_enterprise": True,
                "published_on": "2025-04-25",
            },
        ),
        (
            "wuhu",
            "standards",
            {
                "title": "智能网联汽车数据标注规范",
                "standard_no": "T/AHAI 003-2025",
                "level": "group",
                "lead_org": "芜湖智驾视觉科技有限公司",
                "leading_drafter": True,
                "general_ai_enterprise": True,
                "published_on": "2025-06-30",
            },
        ),
    ]


def _funds(uow: UnitOfWork, platform: Platform, who: Principal) -> list[str]:
    packs, clock = platform.packs.current(), platform.clock
    theme = services.create_entry(
        uow,
        who,
        packs,
        clock,
        "funds",
        {
            "title": "安徽省人工智能产业主题基金",
            "level": "theme",
            "manager": "安徽省投资集团控股有限公司",
            "target_scale": "20000000000",
            "committed": "6000000000",
            "paid_in": "2400000000",
            "established_on": "2024-03-28",
        },
    )
    for title, city, partners, amount, sector in (
        ("合肥人工智能产业子基金", "340100", "合肥市产业投资控股集团", "8000000000", "general"),
        ("芜湖智能网联汽车子基金", "340200", "芜湖市建设投资有限公司", "4000000000", "automotive"),
        ("宿州数据要素子基金", "341300", "宿州市城建投资集团、市场化出资人", "2500000000", None),
    ):
        services.create_entry(
            uow,
            who,
            packs,
            clock,
            "funds",
            {
                "title": title,
                "city": city,
                "level": "sub",
                "parent_id": theme["id"],
                "manager": partners,
                "partners": partners,
                "committed": amount,
                "established_on": "2024-09-01",
                "sector": sector,
            },
        )
    shown = services.get_entry(uow, who, packs, clock.now(), "funds", _id(theme))
    return [
        f"fund: {shown['title']} with {len(shown['sub_funds'])} sub-funds, tracked scale "  # type: ignore[arg-type]
        f"{shown['tracked_scale']} yuan (pack minimum {shown.get('minimum_scale')}: "
        f"{'reached' if shown.get('scale_reached') else 'not reached'})"
    ]


def _fill(uow: UnitOfWork, platform: Platform, free: int) -> bool:
    """Submit a job that takes every free card of the wanted pool, and schedule it."""
    now = platform.clock.now()
    job = compute.submit_job(
        uow,
        DEMO_ADMIN,
        compute.JobInput(
            name="石化大模型全量训练",
            command="python train.py --full",
            cards=free,
            accelerators=["h20-96gb"],
            runtime_s=12 * 3600,
            org=FILLER_ORG,
        ),
        now,
    )
    report = compute.schedule_once(
        uow, now, actor="demo", vouchers=platform.vouchers, priority=platform.priority
    )
    return any(j == job.id and pool == WANTED_POOL for j, pool in report.placed)


def load_registries(platform: Platform) -> list[str]:
    """The step: every registry, bulletins, parks' shares, a fund's sub-funds, matching before and after."""
    packs, clock = platform.packs.current(), platform.clock
    today = shanghai_date(clock.now())
    quarter, q_start = _last_ended_quarter(today)
    year = today.year - 1
    lines: list[str] = []
    with platform.uow() as uow:
        people = {name: user_principal(uow, name) for name in ("province", "hefei", "wuhu")}
        for who, values in _scenarios(q_start, year):
            services.create_entry(uow, people[who], packs, clock, "scenarios", values)
        xinghe = find_org(uow, "合肥星河大模型科技有限公司").id
        for who, name, values in _entries(xinghe):
            services.create_entry(
                uow, people[who], packs, clock, name, {k: v for k, v in values.items() if v is not None}
            )
        imported = services.import_file(
            uow, people["province"], packs, clock, "trainings", TRAININGS_CSV.encode()
        )
        lines += _funds(uow, platform, people["province"])
        firm = services.create_entry(
            uow,
            people["wuhu"],
            packs,
            clock,
            "enterprises",
            {
                "title": "安徽智元具身智能有限公司",
                "category": "cross_domain",
                "sector": "manufacturing",
                "introduced_on": "2025-06-18",
                "project": "具身智能基础模型",
                "accelerator": "h20-96gb",
                "cards_wanted": 64,
            },
        )
        for kind, period in (("quarterly", quarter), ("annual", str(year))):
            draft = bulletins.draft_bulletin(uow, people["province"], clock, kind, period)
            out = bulletins.publish_bulletin(uow, people["province"], clock, _id(draft))
            top = out["cities"][0] if out["cities"] else None  # type: ignore[index]
            lines.append(
                f"{out['kind_zh']} {period} published: opened {out['totals']['opened']}, "  # type: ignore[index]
                f"matched {out['totals']['matched']}, completed {out['totals']['completed']}"  # type: ignore[index]
                + (f"; first: {top['name']}" if top else "")
            )
        parks = services.list_entries(uow, people["province"], packs, clock.now(), "parks")["entries"]
        lines.append(
            "parks (art. 9 share > 60%): "
            + ", ".join(f"{p['title']} {p['share']}{' ✓' if p['above_threshold'] else ''}" for p in parks)  # type: ignore[attr-defined]
        )
        uow.commit()
    lines.append(f"registries: {imported['created']} training events imported from CSV; entries in all ten")
    firm_id = _id(firm)
    with platform.uow(read_only=True) as uow:
        before = matching.suggest(uow, people["province"], packs, platform.vouchers, clock.now(), firm_id)
    first = before["compute"][0] if before["compute"] else None  # type: ignore[index]
    lines.append(f"matching {firm['title']} (#{firm_id}): {first['reason'] if first else 'no free pool'}")
    free = next((p["free_cards"] for p in before["compute"] if p["pool"] == WANTED_POOL), 0)  # type: ignore[attr-defined]
    if free:
        with platform.uow() as uow:
            placed = _fill(uow, platform, int(free))
            uow.commit()
        with platform.uow(read_only=True) as uow:
            after = matching.suggest(uow, people["province"], packs, platform.vouchers, clock.now(), firm_id)
        gone = all(p["pool"] != WANTED_POOL for p in after["compute"])  # type: ignore[attr-defined]
        nxt = after["compute"][0]["reason"] if after["compute"] else "no free pool"  # type: ignore[index]
        lines.append(
            f"matching after a {free}-card job {'filled' if placed else 'was queued for'} {WANTED_POOL}: "
            f"{'dropped' if gone else 'still listed'}; now first: {nxt}"
        )
    return lines


__all__ = ["load_registries"]
