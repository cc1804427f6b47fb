"""API: the dashboard's figures (public compute figures; money as far as the caller's scope allows)."""

from __future__ import annotations

from fastapi import APIRouter

from zhisuan.reports.dashboard import dashboard
from zhisuan.web.deps import PlatformDep, PrincipalDep, UowDep

router = APIRouter()


@router.get("/dashboard", tags=["reports"])
def get_dashboard(uow: UowDep, who: PrincipalDep, platform: PlatformDep) -> dict[str, object]:
    """Capacity by city, load and queue now; billed compute and vouchers per usage month in the
    caller's scope (`money_scope`: province, city, own or none)."""
    return dashboard(uow, who, platform.clock.now()).as_dict()
