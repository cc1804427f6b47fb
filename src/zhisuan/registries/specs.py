"""The ten registries of art. 6–15, each a :class:`RegistrySpec` (fields, labels, scope, public flag).

Public registries are those whose lists the policy publishes (scenario openings and their bulletins,
first-use products, park titles, competition winners, funds, standards, training events); the others
(key enterprises, talents, start-up teams) are read by staff, the entry's city and its organization.
"""

from __future__ import annotations

from collections.abc import Mapping

from zhisuan.registries.spec import Choice, FieldSpec, FieldType, RegistrySpec

T, LT, N, Y, D, B, C, CITY, REF, ORG = (
    FieldType.TEXT,
    FieldType.LONG_TEXT,
    FieldType.COUNT,
    FieldType.MONEY,
    FieldType.DATE,
    FieldType.BOOL,
    FieldType.CHOICE,
    FieldType.CITY,
    FieldType.REF,
    FieldType.ORG,
)

SECTORS = (
    Choice("manufacturing", "智能制造", "manufacturing"),
    Choice("automotive", "智能网联汽车", "automotive"),
    Choice("health", "医疗健康", "health"),
    Choice("education", "教育", "education"),
    Choice("finance", "金融", "finance"),
    Choice("government", "政务服务", "government services"),
    Choice("energy", "能源", "energy"),
    Choice("agriculture", "农业", "agriculture"),
    Choice("transport", "交通物流", "transport"),
    Choice("culture", "文化旅游", "culture and tourism"),
    Choice("general", "通用", "general"),
)


def _title(zh: str, en: str) -> FieldSpec:
    return FieldSpec("title", zh, en, T, required=True)


def _must(name: str, zh: str, en: str, kind: FieldType = T) -> FieldSpec:
    """A required field."""
    return FieldSpec(name, zh, en, kind, required=True)


def _city(zh: str = "所在市", en: str = "city", *, required: bool = False) -> FieldSpec:
    return FieldSpec("city", zh, en, CITY, required=required)


def _choice(name: str, zh: str, en: str, *choices: Choice, required: bool = False) -> FieldSpec:
    return FieldSpec(name, zh, en, C, required=required, choices=choices)


def _kind(*choices: Choice) -> FieldSpec:
    """A registry's required ``kind`` (类型)."""
    return _choice("kind", "类型", "kind", *choices, required=True)


_CITY = _city()
_SECTOR = FieldSpec("sector", "行业领域", "sector", C, choices=SECTORS)
_ORG = FieldSpec("org_id", "平台机构编号", "platform organization id", ORG)

SCENARIOS = RegistrySpec(
    "scenarios",
    "art6",
    "应用场景",
    "application scenarios",
    "city",
    True,
    (
        _title("场景名称", "scenario"),
        _CITY,
        _must("department", "牵头部门", "department"),
        _kind(
            Choice("opening", "场景开放", "opening"),
            Choice("challenge", "揭榜挂帅", "open challenge"),
            Choice("benchmark", "标杆案例", "benchmark case"),
        ),
        _SECTOR,
        _choice(
            "status",
            "状态",
            "status",
            Choice("opened", "已开放", "opened"),
            Choice("matched", "已对接", "matched"),
            Choice("completed", "已落地", "completed"),
            required=True,
        ),
        _must("opened_on", "开放日期", "opened on", D),
        FieldSpec("matched_on", "对接日期", "matched on", D),
        FieldSpec("completed_on", "落地日期", "completed on", D),
        FieldSpec("winner", "揭榜/承接单位", "winner", T),
        FieldSpec("investment", "总投入（元）", "total investment (yuan)", Y),
        FieldSpec(
            "project_ref", "标杆案例申报编号", "benchmark application ref (awards)", T
        ),  # the project ref of its art. 6 / 2.0 art. 2 application
        FieldSpec("description", "场景说明", "description", LT),
    ),
    order="-opened_on",
)

PRODUCTS = RegistrySpec(
    "products",
    "art7",
    "首用产品（三首、三新）",
    "first-use products",
    "city",
    True,
    (
        _title("产品名称", "product"),
        _CITY,
        _must("company", "申报企业", "company"),
        _choice(
            "kind",
            "类别",
            "kind",
            Choice("first_set", "首台（套）", "first set"),
            Choice("first_batch", "首批次", "first batch"),
            Choice("first_version", "首版次", "first version"),
            Choice("new_technology", "新技术", "new technology"),
            Choice("new_product", "新产品", "new product"),
            Choice("new_model", "新模式", "new model"),
            required=True,
        ),
        _choice(
            "status",
            "认定状态",
            "status",
            Choice("declared", "已申报", "declared"),
            Choice("recognized", "已认定", "recognized"),
            Choice("rejected", "未认定", "not recognized"),
            required=True,
        ),
        _must("declared_on", "申报日期", "declared on", D),
        _choice(
            "purchase_mode",
            "政府采购方式",
            "government purchase",
            Choice("first_purchase", "首购", "first purchase"),
            Choice("ordering", "订购", "ordering"),
        ),
        FieldSpec("purchaser", "采购单位", "purchaser", T),
        FieldSpec("purchase_amount", "采购金额（元）", "purchase amount (yuan)", Y),
    ),
    order="-declared_on",
)

ENTERPRISE_CATEGORIES = (
    Choice("general_llm", "通用大模型", "general LLM"),
    Choice("industry_llm", "行业大模型", "industry LLM"),
    Choice("cross_domain", "跨领域应用", "cross-domain application"),
    Choice("emerging_compute", "新兴算力", "emerging compute"),
    Choice("secure_ai", "安全可控人工智能", "secure AI"),
)

ENTERPRISES = RegistrySpec(
    "enterprises",
    "art8",
    "引进重点企业",
    "key enterprises",
    "org",
    False,
    (
        _title("企业名称", "enterprise"),
        _city("引进市", "introducing city", required=True),
        _ORG,
        _choice("category", "类别", "category", *ENTERPRISE_CATEGORIES, required=True),
        _SECTOR,
        _must("introduced_on", "引进日期", "introduced on", D),
        FieldSpec("project", "关键技术项目", "key technology project", T),
        FieldSpec("project_ref", "项目编号（对应市兑现）", "project ref (the city's payouts)", T),
        FieldSpec("accelerator", "所需加速卡型号", "accelerator wanted", T),
        FieldSpec("cards_wanted", "所需卡数", "cards wanted", N),
    ),
    order="-introduced_on",
)

PARKS = RegistrySpec(
    "parks",
    "art9",
    "示范园区",
    "demonstration parks",
    "city",
    True,
    (
        _title("园区名称", "park"),
        _city(required=True),
        FieldSpec("district", "区县", "district", T),
        _must("ai_enterprises", "通用人工智能企业数", "general-AI enterprises", N),
        _must("total_enterprises", "入园企业总数", "enterprises in the park", N),
        _must("roster_on", "名录日期", "roster as of", D),
        FieldSpec("roster", "企业名录", "enterprise roster", LT),
        _choice(
            "title_status",
            "称号",
            "title",
            Choice("candidate", "申报中", "candidate"),
            Choice("titled", "已授牌", "titled"),
        ),
        FieldSpec("sites_m2", "可供场地（平方米）", "sites available (m²)", N),
    ),
    order="title",
)

#: the art. 10 instruments that count together against the cap per winner
_INSTRUMENTS = (
    FieldSpec("equity", "股权投资（元）", "equity (yuan)", Y),
    FieldSpec("debt", "债权融资（元）", "debt (yuan)", Y),
    FieldSpec("talent_award", "人才奖励（元）", "talent award (yuan)", Y),
    FieldSpec("prize", "奖金（元）", "prize money (yuan)", Y),
)
INSTRUMENTS = tuple(f.name for f in _INSTRUMENTS)

COMPETITIONS = RegistrySpec(
    "competitions",
    "art10",
    "创新大赛获奖项目",
    "competition winners",
    "city",
    True,
    (
        _title("项目/团队", "project or team"),
        _city("落地市", "landing city", required=True),
        _must("competition", "赛事", "competition"),
        FieldSpec("prize_rank", "获奖等级", "prize", T),
        _must("won_on", "获奖日期", "won on", D),
        _must("lands_in_province", "是否在皖落地", "lands in Anhui", B),
        *_INSTRUMENTS,
    ),
    order="-won_on",
)

TALENT_TRACKS = (
    Choice("recognition", "高层次人才认定", "high-level talent recognition"),
    Choice("title_channel", "职称评审绿色通道", "professional-title green channel"),
    Choice("talent_channel", "人才认定绿色通道", "talent-recognition green channel"),
)

TALENTS = RegistrySpec(
    "talents",
    "art11",
    "人才认定与绿色通道",
    "talent recognitions and green channels",
    "org",
    False,
    (
        _title("姓名", "name"),
        _CITY,
        _ORG,
        _must("employer", "工作单位", "employer"),
        _choice("track", "类别", "track", *TALENT_TRACKS, required=True),
        FieldSpec("level", "认定层次（仅认定）", "recognition level (recognitions only)", T),
        _choice(
            "channel_status",
            "通道进度（仅绿色通道）",
            "channel progress (green channels only)",
            Choice("applied", "已受理", "applied"),
            Choice("passed", "已通过", "passed"),
            Choice("declined", "未通过", "declined"),
        ),
        _must("decided_on", "日期", "date", D),
    ),
    order="-decided_on",
)

STARTUPS = RegistrySpec(
    "startups",
    "art12",
    "高层次人才团队创业",
    "high-level talent start-ups",
    "org",
    False,
    (
        _title("团队/企业", "team or firm"),
        _city(required=True),
        _ORG,
        _must("leader", "团队带头人", "team leader"),
        _SECTOR,
        _must("founded_on", "创办日期", "founded on", D),
        FieldSpec("support", "省级资金支持（元）", "provincial support (yuan)", Y),
        _choice(
            "stage",
            "阶段",
            "stage",
            Choice("incubating", "孵化中", "incubating"),
            Choice("registered", "已注册", "registered"),
            Choice("funded", "已获投资", "funded"),
        ),
    ),
    order="-founded_on",
)

FUNDS = RegistrySpec(
    "funds",
    "art13",
    "人工智能产业主题基金及子基金",
    "AI theme fund and sub-funds",
    "city",
    True,
    (
        _title("基金名称", "fund"),
        _CITY,
        FieldSpec("parent_id", "母基金编号", "parent fund id", REF),
        _choice(
            "level",
            "层级",
            "level",
            Choice("theme", "主题基金", "theme fund"),
            Choice("sub", "子基金", "sub-fund"),
            required=True,
        ),
        _must("manager", "管理机构", "manager"),
        FieldSpec("partners", "合作方（市县国资、市场主体）", "partners", T),
        FieldSpec("target_scale", "目标规模（元）", "target scale (yuan)", Y),
        _must("committed", "认缴出资（元）", "committed (yuan)", Y),
        FieldSpec("paid_in", "实缴出资（元）", "paid in (yuan)", Y),
        _must("established_on", "设立日期", "established on", D),
        _SECTOR,
    ),
    order="established_on",
)

STANDARD_LEVELS = (
    Choice("international", "国际标准", "international"),
    Choice("national", "国家标准", "national"),
    Choice("industry", "行业标准", "industry"),
    Choice("group", "团体标准", "group"),
    Choice("local", "地方标准", "local"),
)

STANDARDS = RegistrySpec(
    "standards",
    "art14",
    "主导制定标准",
    "standards led by firms",
    "city",
    True,
    (
        _title("标准名称", "standard"),
        _city("企业所在市", "the firm's city", required=True),
        _must("standard_no", "标准号", "standard number"),
        _choice("level", "标准级别", "level", *STANDARD_LEVELS, required=True),
        _must("lead_org", "主导制定单位", "leading drafting unit"),
        _must("leading_drafter", "是否排名第一", "ranked first", B),
        _must("general_ai_enterprise", "是否通用人工智能企业", "general-AI enterprise", B),
        _must("published_on", "发布日期", "published on", D),
    ),
    order="-published_on",
)

TRAININGS = RegistrySpec(
    "trainings",
    "art15",
    "宣传培训活动",
    "training and promotion events",
    "city",
    True,
    (
        _title("活动名称", "event"),
        _CITY,
        _kind(
            Choice("training", "培训", "training"),
            Choice("promotion", "推介", "promotion"),
            Choice("consulting", "战略咨询", "strategy consulting"),
        ),
        _must("organizer", "承办单位", "organizer"),
        _must("held_on", "举办日期", "held on", D),
        FieldSpec("participants", "参加人数", "participants", N),
        FieldSpec("purchase_amount", "政府购买服务金额（元）", "government purchase (yuan)", Y),
    ),
    order="-held_on",
)

#: every registry by its name in URLs and commands, in the article order
SPECS: Mapping[str, RegistrySpec] = {
    s.name: s
    for s in (
        SCENARIOS,
        PRODUCTS,
        ENTERPRISES,
        PARKS,
        COMPETITIONS,
        TALENTS,
        STARTUPS,
        FUNDS,
        STANDARDS,
        TRAININGS,
    )
}

__all__ = ["ENTERPRISE_CATEGORIES", "INSTRUMENTS", "SECTORS", "SPECS", "TALENT_TRACKS"]
