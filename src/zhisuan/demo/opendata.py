"""The demo's open-data step: a catalog of several cities and departments, requests in every state, the
last quarter's published bulletin with its ranking, and data suppliers with a city subsidy (art. 3, 4).

Everything goes through the opendata and awards services as the demo's people: the cities' users
(``hefei``, ``wuhu``, ``suzhou``, ``fuyang``) and two departments' members (``dangan`` of the provincial
archives, ``fangzhi`` of the chronicles institute) publish; enterprises ask for conditional data;
``databureau`` answers some requests and publishes the bulletin; ``suzhou`` sets its art. 4 ratio, and
the labelling firm ``yuntu`` files its year through an art. 4 call that the city reviews, finance funds
and the province approves. Dates are spread over the last quarter on manual clocks, so the bulletin
counts something in every column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from zhisuan import accounts
from zhisuan.accounts.services import user_principal
from zhisuan.awards import calls, payments, payouts, review
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock, day_start, shanghai_date
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.demo.organizations import DEMO_ADMIN, add_demo_user
from zhisuan.opendata import bulletins, catalog, distributions, sharing, suppliers
from zhisuan.opendata.model import Quarter

#: (publisher login, title, description, themes, openness, formats, frequency)
DATASETS: Sequence[tuple[str, str, str, tuple[str, ...], str, tuple[str, ...], str]] = (
    (
        "hefei",
        "合肥市公共交通线路数据",
        "全市公交线路、站点坐标和首末班时间。",
        ("transport",),
        "unconditional",
        ("CSV", "JSON"),
        "monthly",
    ),
    (
        "hefei",
        "合肥市医疗机构名录",
        "医院、社区卫生服务中心的名称、等级和地址。",
        ("health",),
        "unconditional",
        ("XLSX",),
        "quarterly",
    ),
    (
        "hefei",
        "合肥市企业登记信息",
        "市场主体登记、变更和注销的基本信息（已脱敏）。",
        ("economy",),
        "conditional",
        ("API",),
        "daily",
    ),
    (
        "hefei",
        "合肥市空气质量监测数据",
        "各国控站点逐小时六项污染物浓度。",
        ("environment",),
        "unconditional",
        ("CSV",),
        "realtime",
    ),
    (
        "hefei",
        "合肥市政务公开文件库",
        "市政府及部门公开的规范性文件全文。",
        ("egov_documents",),
        "unconditional",
        ("PDF", "JSON"),
        "weekly",
    ),
    (
        "wuhu",
        "芜湖市道路运输车辆数据",
        "营运车辆的车型、核载和年审信息。",
        ("transport",),
        "conditional",
        ("CSV",),
        "monthly",
    ),
    (
        "wuhu",
        "芜湖市中小学校基本信息",
        "学校名称、学段、地址和办学规模。",
        ("education",),
        "unconditional",
        ("XLSX",),
        "yearly",
    ),
    (
        "wuhu",
        "芜湖市旅游景区客流统计",
        "A级景区每日接待人次。",
        ("culture_tourism",),
        "unconditional",
        ("CSV",),
        "daily",
    ),
    (
        "wuhu",
        "芜湖市不动产登记数据",
        "不动产权属信息，涉及个人隐私。",
        ("society",),
        "not_open",
        ("API",),
        "daily",
    ),
    (
        "suzhou",
        "宿州市农产品价格监测",
        "主要农贸市场蔬菜、粮油价格。",
        ("agriculture",),
        "unconditional",
        ("CSV",),
        "weekly",
    ),
    (
        "suzhou",
        "宿州市养老服务机构名录",
        "养老机构和社区养老服务站点。",
        ("society",),
        "unconditional",
        ("XLSX",),
        "quarterly",
    ),
    (
        "suzhou",
        "宿州市耕地质量等级数据",
        "耕地质量调查评价成果（按乡镇汇总）。",
        ("agriculture", "geography"),
        "conditional",
        ("SHP",),
        "yearly",
    ),
    (
        "fuyang",
        "阜阳市水质监测数据",
        "重点河流断面水质月度监测结果。",
        ("environment",),
        "unconditional",
        ("CSV",),
        "monthly",
    ),
    (
        "fuyang",
        "阜阳市行政许可事项",
        "行政许可事项清单及办理结果公示。",
        ("egov_documents",),
        "unconditional",
        ("JSON",),
        "daily",
    ),
    (
        "dangan",
        "安徽省馆藏档案目录",
        "省档案馆馆藏开放档案的案卷级目录。",
        ("archives",),
        "unconditional",
        ("CSV", "XLSX"),
        "yearly",
    ),
    (
        "dangan",
        "安徽省民国档案全文影像",
        "已开放民国档案的数字化影像（供模型训练申请使用）。",
        ("archives",),
        "conditional",
        ("ZIP",),
        "irregular",
    ),
    (
        "fangzhi",
        "安徽省地方志书全文",
        "省、市、县三级志书全文文本。",
        ("local_chronicles",),
        "conditional",
        ("TXT", "PDF"),
        "irregular",
    ),
    (
        "fangzhi",
        "安徽省年鉴资料库",
        "历年《安徽年鉴》条目文本。",
        ("local_chronicles",),
        "unconditional",
        ("TXT",),
        "yearly",
    ),
)
DEPARTMENTS = (
    ("安徽省档案馆", "Anhui Provincial Archives", "12340000MB0Q0DA01", "dangan"),
    ("安徽省地方志研究院", "Anhui Local Chronicles Institute", "12340000MB0Q0FW02", "fangzhi"),
)
SUPPLIERS = (
    ("宿州云图数据标注有限公司", "91341300MA8Q0XJ04", "341300", ["labelling", "cleaning"], "2860000.00"),
    ("合肥数智清洗科技有限公司", "91340100MA8Q0QX11", "340100", ["cleaning"], "1520000.00"),
    ("芜湖图谱数据采集有限公司", "91340200MA8Q0CJ12", "340200", ["collection", "labelling"], "980000.00"),
)
#: the demo's art. 4 call takes 2025 figures until a year after art. 4's last day (as the awards demo's calls)
ART4_LAST_DAY = dt.date(2025, 12, 31)
ART4_CLAIMS_UNTIL = ART4_LAST_DAY + dt.timedelta(days=365)
RATIOS = {"341300": "5%", "340100": "8%", "340200": "6%"}
EMAILS = {
    "hefei": "data@hefei.gov.cn",
    "wuhu": "data@wuhu.gov.cn",
    "suzhou": "data@ahsz.gov.cn",
    "fuyang": "data@fy.gov.cn",
}
EVIDENCE = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


class _People:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._who: dict[str, Principal] = {}

    def __call__(self, username: str) -> Principal:
        if username not in self._who:
            with self.platform.uow(read_only=True) as uow:
                self._who[username] = user_principal(uow, username)
        return self._who[username]


def _at(day: dt.date, hour: int) -> ManualClock:
    return ManualClock(day_start(day) + dt.timedelta(hours=hour))


def publish_catalog(platform: Platform) -> list[str]:
    """The catalog, requests in every state, the last quarter's bulletin, suppliers and a city subsidy."""
    who = _People(platform)
    now = platform.clock.now()
    today = shanghai_date(now)
    last = Quarter.of(today).previous()
    root = platform.settings.data_dir
    with platform.uow() as uow:
        for name, name_en, code17, login in DEPARTMENTS:
            org = accounts.create_org(
                uow,
                DEMO_ADMIN,
                accounts.OrgInput(
                    name=name,
                    name_en=name_en,
                    credit_code=make_credit_code(code17),
                    kind=OrgKind.PUBLIC_INSTITUTION,
                    city_code="340100",
                ),
                now,
            )
            add_demo_user(uow, platform, login, Role.USER, org=int(org.id))
        uow.commit()
    idents: dict[str, str] = {}
    with platform.uow() as uow:
        for i, (login, title, desc, themes, openness, formats, freq) in enumerate(DATASETS):
            # spread over the last quarter (most) and this one (a few)
            day = (
                last.start + dt.timedelta(days=(i * 11) % 88) if i % 5 else today - dt.timedelta(days=i % 20)
            )
            clock = _at(min(day, today), 2 + i % 6)
            out = catalog.create_dataset(
                uow,
                who(login),
                clock,
                {
                    "title": title,
                    "description": desc,
                    "themes": list(themes),
                    "keywords": [],
                    "openness": openness,
                    "conditions": "签订数据使用协议，仅用于人工智能模型研发，不得转让。"
                    if openness == "conditional"
                    else "",
                    "formats": list(formats),
                    "update_frequency": freq,
                    "records": 1000 + 137 * i,
                    "contact_name": "数据开放专员",
                    "contact_email": EMAILS.get(login, "open@data.ah.gov.cn"),
                },
                publish=True,
            )
            ident = str(out["identifier"])
            idents[title] = ident
            if "CSV" in formats:
                distributions.add_distribution(
                    uow,
                    who(login),
                    clock,
                    root,
                    ident,
                    {"format": "CSV"},
                    f"名称,数值\n{title},{i}\n".encode(),
                )
            else:
                distributions.add_distribution(
                    uow,
                    who(login),
                    clock,
                    root,
                    ident,
                    {"format": formats[0], "access_url": f"https://data.ah.gov.cn/api/{ident}"},
                )
        uow.commit()
    # requests: answered in the last quarter at various speeds, and some in every state today
    asks = (
        ("xinghe", "合肥市企业登记信息", "训练企业画像大模型", "hefei", "grant", 6),
        ("autovision", "芜湖市道路运输车辆数据", "自动驾驶场景仿真", "wuhu", "grant", 30),
        ("nongzhi", "宿州市耕地质量等级数据", "农业大模型土壤知识", "suzhou", "refuse", 52),
        ("xinghe", "安徽省地方志书全文", "中文古籍语料训练", "databureau", "grant", 20),
        ("ustc", "安徽省民国档案全文影像", "历史文献识别研究", "dangan", "grant", 75),
    )
    with platform.uow() as uow:
        for i, (org_user, title, purpose, answerer, action, hours) in enumerate(asks):
            asked = _at(last.start + dt.timedelta(days=10 + 17 * i), 1)
            req = sharing.request_access(uow, who(org_user), asked, idents[title], purpose)
            asked.advance(hours * 3600)
            # the archive's grant ended before today: shown as expired
            until = (last.end - dt.timedelta(days=1)) if i == 4 else dt.date(today.year + 1, 12, 31)
            sharing.answer_request(
                uow,
                who(answerer),
                asked,
                int(str(req["id"])),
                {
                    "action": action,
                    "conditions": "仅用于所述用途，不得转让",
                    "expires_on": until,
                    "reason": "涉及个人信息，暂不开放",
                },
            )
        pending = _at(today - dt.timedelta(days=2), 3)
        sharing.request_access(uow, who("yuntu"), pending, idents["合肥市企业登记信息"], "数据标注样本构建")
        uow.commit()
    with platform.uow() as uow:
        bulletins.generate(uow, who("databureau"), _at(last.end, 2), str(last))
        published = bulletins.publish(
            uow, who("databureau"), _at(last.end + dt.timedelta(days=3), 2), str(last)
        )
        uow.commit()
    subsidy_line = (
        _suppliers(platform, who, today)
        if today <= ART4_CLAIMS_UNTIL
        else f"art. 4 claims for 2025 closed on {ART4_CLAIMS_UNTIL}: no supplier subsidy shown"
    )
    top = published["lines"][0]  # type: ignore[index]
    return [
        f"{len(DATASETS)} datasets from {len({d[0] for d in DATASETS})} publishers "
        "(departments' logins: dangan, fangzhi); "
        f"5 answered requests, 1 pending; bulletin {published['period']} published, "
        f"first: {top['publisher']}",
        subsidy_line,
    ]


def _suppliers(platform: Platform, who: _People, today: dt.date) -> str:
    """Suppliers with their 2025 figures, the cities' ratios, and yuntu's subsidy through an art. 4 call."""
    year = 2025
    root = platform.settings.data_dir
    packs = platform.packs.current()
    clock = _at(today - dt.timedelta(days=20), 2)
    with platform.uow() as uow:
        for city, ratio in RATIOS.items():
            city_user = {"341300": "suzhou", "340100": "hefei", "340200": "wuhu"}[city]
            suppliers.set_city_ratio(uow, who(city_user), clock, packs, city, year, ratio)
        ids = []
        for name, code17, city, kinds, amount in SUPPLIERS:
            out = suppliers.register_supplier(
                uow,
                who("databureau"),
                clock,
                {
                    "name": name,
                    "credit_code": make_credit_code(code17),
                    "city": city,
                    "services": kinds,
                    "in_province": True,
                },
            )
            ids.append(int(str(out["id"])))
            suppliers.record_transactions(
                uow,
                who("databureau"),
                clock,
                root,
                ids[-1],
                year,
                amount,
                (EVIDENCE, f"{year}年度数据交易合同.pdf"),
            )
        call = calls.create_call(
            uow,
            who("province"),
            packs,
            clock,
            program="art4",
            title=f"{year} 年度数据供应商补贴（市级兑付）",
            # opens on art. 4's last day in force (or earlier): claims on 2025 figures come afterwards
            opens_on=min(today - dt.timedelta(days=20), ART4_LAST_DAY).isoformat(),
            closes_on=ART4_CLAIMS_UNTIL.isoformat(),
            budget_year=year,
        )
        payments.fund_budget(
            uow,
            who("finance"),
            clock,
            program="art4",
            year=year,
            amount="1000000",
            payer="341300",
            reference=f"DEMO-art4-341300-{year}",
        )
        uow.commit()
    applied_at = _at(today - dt.timedelta(days=15), 2)
    with platform.uow() as uow:
        app = suppliers.apply_for_subsidy(
            uow, who("yuntu"), packs, applied_at, ids[0], year, int(str(call["id"]))
        )
        app_id = int(str(app["id"]))
        review.review(
            uow, who("suzhou"), packs, _at(today - dt.timedelta(days=13), 3), app_id, {"action": "approve"}
        )
        decided = review.review(
            uow, who("province"), packs, _at(today - dt.timedelta(days=10), 3), app_id, {"action": "approve"}
        )
        subsidy = suppliers.subsidy(uow, who("databureau"), packs, ids[1], year)
        payouts.record_payout(
            uow,
            who("hefei"),
            _at(today - dt.timedelta(days=5), 3),
            root,
            {
                "program": "art4",
                "kind": "supplier_subsidy",
                "project_ref": f"supplier-{make_credit_code(SUPPLIERS[1][1])}-{year}",
                "project_name": f"{SUPPLIERS[1][0]} {year} 年度数据交易补贴",
                "recipient": SUPPLIERS[1][0],
                "amount": subsidy["decision"]["amount"],  # type: ignore[index]
                "paid_on": f"{year}-12-20",
            },
        )
        suppliers.set_reward_tiers(
            uow,
            who("province"),
            clock,
            year,
            [{"threshold": "100000", "reward": "500000"}, {"threshold": "1000000", "reward": "2000000"}],
        )
        uow.commit()
    return (
        f"{len(SUPPLIERS)} data suppliers; Suzhou's ratio {RATIOS['341300']}: yuntu's {year} subsidy "
        f"{decided['approved']} yuan approved through the art. 4 call ({decided['state']}); "
        "Hefei recorded a payout of "
        f"{subsidy['decision']['amount']} yuan"  # type: ignore[index]
    )


__all__ = ["DATASETS", "publish_catalog"]
