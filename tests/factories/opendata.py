"""Small factories for the open-data tests: principals of each kind and a dataset's fields."""

from __future__ import annotations

from typing import Any

from zhisuan import accounts
from zhisuan.core.access import Principal, Role
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.ids import OrgId
from zhisuan.core.orgs import OrgKind
from zhisuan.store.uow import UnitOfWork

ADMIN = Principal(user_id=None, username="admin", role=Role.ADMIN)
BUREAU = Principal(user_id=None, username="bureau", role=Role.DATA_BUREAU)
HEFEI = Principal(user_id=None, username="hefei", role=Role.CITY, city_code="340100")
WUHU = Principal(user_id=None, username="wuhu", role=Role.CITY, city_code="340200")


def org_member(
    uow: UnitOfWork,
    now: Any,
    code17: str,
    *,
    kind: OrgKind = OrgKind.ENTERPRISE,
    city: str = "340100",
    in_province: bool = True,
    name: str | None = None,
) -> Principal:
    """An organization and one of its members (a principal; no password needed in services tests)."""
    org = accounts.create_org(
        uow,
        ADMIN,
        accounts.OrgInput(
            name=name or f"测试单位{code17[-4:]}",
            credit_code=make_credit_code(code17),
            kind=kind,
            city_code=city,
            in_province=in_province,
        ),
        now,
    )
    return Principal(user_id=None, username=f"u{code17[-4:]}", role=Role.ORG_ADMIN, org_id=OrgId(org.id))


def fields(**over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": "合肥市公共交通线路数据",
        "description": "全市公交线路、站点和发车时刻表，按月更新。",
        "themes": ["transport"],
        "keywords": ["公交", "线路"],
        "openness": "unconditional",
        "formats": ["CSV", "JSON"],
        "update_frequency": "monthly",
        "records": 12000,
        "contact_name": "王工",
        "contact_email": "data@hefei.gov.cn",
    }
    data.update(over)
    return data
