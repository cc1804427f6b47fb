"""API: the dashboard's figures (public compute figures; money as far as the caller's scope allows)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zhisuan.reports.dashboard import dashboard
from zhisuan.reports.province import province_figures
from zhisuan.web.deps import PlatformDep, PrincipalDep, UowDep

router = APIRouter()


@router.get("/dashboard", tags=["reports"])
def get_dashboard(uow: UowDep, who: PrincipalDep, platform: PlatformDep) -> dict[str, object]:
    """Capacity by city, load and queue now; billed compute and vouchers per usage month in the
    caller's scope (`money_scope`: province, city, own or none)."""
    return dashboard(uow, who, platform.clock.now()).as_dict()


@router.get("/dashboard/province", tags=["reports"])
def get_province_dashboard(
    uow: UowDep, who: PrincipalDep, platform: PlatformDep, days: Annotated[int, Query(ge=1, le=92)] = 14
) -> dict[str, object]:
    """The province dashboard's figures: capacity by city and vendor class, utilisation and mean wait by
    Shanghai day over `days`, the queue; vouchers and awards by measure, city and month, and budget burn
    in the caller's scope (`money_scope`: province, city or none)."""
    return province_figures(uow, who, platform.clock.now(), days).as_dict()
