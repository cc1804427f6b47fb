"""The demo's first step: compute-user organizations and an account for every role.

Also the demo's acting administrator and shared password, which the later steps use.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhisuan import accounts
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Principal, Role
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.store.uow import UnitOfWork

DEMO_ADMIN = Principal(user_id=None, username="demo", role=Role.ADMIN)
DEMO_PASSWORD = "zhisuan-demo"  # noqa: S105 — demo accounts only; printed by `zhisuan demo`


@dataclass(frozen=True, slots=True)
class DemoOrg:
    name: str
    name_en: str
    code17: str
    kind: OrgKind
    city: str | None
    in_province: bool = True


# Compute users across the province; one registered outside Anhui (earns no vouchers, art. 2).
DEMO_ORGS: tuple[DemoOrg, ...] = (
    DemoOrg(
        "合肥星河大模型科技有限公司",
        "Hefei Xinghe LLM Technology",
        "91340100MA8Q0XH01",
        OrgKind.ENTERPRISE,
        "340100",
    ),
    DemoOrg(
        "中国科学技术大学",
        "University of Science and Technology of China",
        "12100000485000012",
        OrgKind.UNIVERSITY,
        "340100",
    ),
    DemoOrg(
        "芜湖智驾视觉科技有限公司",
        "Wuhu AutoVision Technology",
        "91340200MA8Q0WH02",
        OrgKind.ENTERPRISE,
        "340200",
    ),
    DemoOrg(
        "蚌埠硅基材料研究院",
        "Bengbu Silicon Materials Institute",
        "12340300MB0Q0BB03",
        OrgKind.RESEARCH_INSTITUTE,
        "340300",
    ),
    DemoOrg(
        "宿州云图数据标注有限公司",
        "Suzhou Yuntu Data Labelling",
        "91341300MA8Q0XJ04",
        OrgKind.ENTERPRISE,
        "341300",
    ),
    DemoOrg(
        "阜阳农智科技有限公司", "Fuyang AgriAI Technology", "91341200MA8Q0FY05", OrgKind.ENTERPRISE, "341200"
    ),
    DemoOrg(
        "马鞍山钢铁智造研究院",
        "Ma'anshan Steel Smart Manufacturing Institute",
        "12340500MB0Q0MA06",
        OrgKind.RESEARCH_INSTITUTE,
        "340500",
    ),
    DemoOrg(
        "安庆石化大模型应用有限公司",
        "Anqing Petrochem LLM Applications",
        "91340800MA8Q0AQ07",
        OrgKind.ENTERPRISE,
        "340800",
    ),
    DemoOrg(
        "黄山文旅智能科技有限公司",
        "Huangshan Culture-Tourism AI",
        "91341000MA8Q0HX08",
        OrgKind.ENTERPRISE,
        "341000",
    ),
    DemoOrg(
        "上海浦江算法有限公司",
        "Shanghai Pujiang Algorithms",
        "91310000MA1Q0XH09",
        OrgKind.ENTERPRISE,
        None,
        False,
    ),
)


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: Role
    org_code17: str | None = None
    city: str | None = None


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("province", Role.PROVINCE),
    DemoUser("province2", Role.PROVINCE),  # a second province user approves what the first publishes
    DemoUser("finance", Role.FINANCE),
    DemoUser("databureau", Role.DATA_BUREAU),
    DemoUser("hefei", Role.CITY, city="340100"),
    DemoUser("suzhou", Role.CITY, city="341300"),
    DemoUser("wuhu", Role.CITY, city="340200"),  # the awards demo: each applicant's city reviews it
    DemoUser("fuyang", Role.CITY, city="341200"),
    DemoUser("xinghe", Role.ORG_ADMIN, "91340100MA8Q0XH01"),
    DemoUser("xinghe-dev", Role.USER, "91340100MA8Q0XH01"),
    DemoUser("ustc", Role.ORG_ADMIN, "12100000485000012"),
    DemoUser("autovision", Role.ORG_ADMIN, "91340200MA8Q0WH02"),
    DemoUser("yuntu", Role.ORG_ADMIN, "91341300MA8Q0XJ04"),  # 皖北 applicants (the 20 % uplift)
    DemoUser("nongzhi", Role.ORG_ADMIN, "91341200MA8Q0FY05"),
    DemoUser("pujiang", Role.ORG_ADMIN, "91310000MA1Q0XH09"),
)


def load_organizations(platform: Platform) -> list[str]:
    """Compute-user organizations and the people of every role."""
    now = platform.clock.now()
    with platform.uow() as uow:
        for item in DEMO_ORGS:
            accounts.create_org(
                uow,
                DEMO_ADMIN,
                accounts.OrgInput(
                    name=item.name,
                    name_en=item.name_en,
                    credit_code=make_credit_code(item.code17),
                    kind=item.kind,
                    city_code=item.city,
                    in_province=item.in_province,
                ),
                now,
            )
        for user in DEMO_USERS:
            add_demo_user(uow, platform, user.username, user.role, org=user.org_code17, city=user.city)
        uow.commit()
    return [
        f"{len(DEMO_ORGS)} compute-user organizations, {len(DEMO_USERS)} accounts "
        f"(password for every demo account: {DEMO_PASSWORD})"
    ]


def add_demo_user(
    uow: UnitOfWork,
    platform: Platform,
    username: str,
    role: Role,
    *,
    org: str | int | None = None,
    city: str | None = None,
) -> None:
    """A demo account with the shared demo password (``org`` may be the 17-character code body)."""
    if isinstance(org, str) and len(org) == 17:
        org = make_credit_code(org)
    accounts.add_user(
        uow,
        DEMO_ADMIN,
        username=username,
        password=DEMO_PASSWORD,
        role=role,
        now=platform.clock.now(),
        org=org,
        city_code=city,
    )


__all__ = [
    "DEMO_ADMIN",
    "DEMO_ORGS",
    "DEMO_PASSWORD",
    "DEMO_USERS",
    "DemoOrg",
    "DemoUser",
    "add_demo_user",
    "load_organizations",
]
