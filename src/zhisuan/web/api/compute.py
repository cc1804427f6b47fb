"""API: centers, pools, capacity, jobs (submit, list, show, cancel), held jobs, quotas, scheduling."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zhisuan import compute
from zhisuan.compute.model import JobState
from zhisuan.compute.placement import DEFAULT_POLICY
from zhisuan.compute.worker import current_worker, engine_status
from zhisuan.core.access import Role, require_role
from zhisuan.web.deps import MAX_OFFSET, LoginDep, PlatformDep, UowDep

router = APIRouter()


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    available: bool
    reason: str | None = Field(default=None, description="why the pool is unavailable (shown to users)")


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = DEFAULT_POLICY


@router.get("/engines/health", tags=["compute"])
def engines_health(uow: UowDep, who: LoginDep) -> dict[str, Any]:
    """Engine health per center (staff, the center's city and its operator): pools out of service and
    the in-process worker's last check (reachable, message, free cards per model)."""
    worker = current_worker()
    return {
        "worker": None if worker is None else worker.name,
        "centers": engine_status(uow, who, worker),
    }


@router.get("/centers", tags=["compute"])
def list_centers(uow: UowDep, platform: PlatformDep) -> list[dict[str, Any]]:
    """Every center with its pools, capacity (P), load now and utilization over 24 h (public)."""
    return [c.as_dict() for c in compute.overview(uow, platform.clock.now()).centers]


@router.post("/centers", tags=["compute"], status_code=201)
def create_center(
    body: compute.CenterInput, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> dict[str, Any]:
    view = compute.create_center(uow, who, body, platform.clock.now())
    uow.commit()
    return view.as_dict()


@router.get("/centers/{ref}", tags=["compute"])
def get_center(ref: str, uow: UowDep, platform: PlatformDep) -> dict[str, Any]:
    center = compute.get_center(uow, ref)
    load = next(c for c in compute.overview(uow, platform.clock.now()).centers if c.center.id == center.id)
    return load.as_dict()


@router.post("/centers/{ref}/pools", tags=["compute"], status_code=201)
def add_pool(
    ref: str, body: compute.PoolInput, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> dict[str, Any]:
    view = compute.add_pool(uow, who, ref, body, platform.clock.now())
    uow.commit()
    return view.as_dict()


@router.get("/pools", tags=["compute"])
def list_pools(uow: UowDep) -> list[dict[str, Any]]:
    return [p.as_dict() for c in compute.list_centers(uow) for p in c.pools]


@router.put("/pools/{ref}/availability", tags=["compute"])
def set_availability(
    ref: str, body: AvailabilityIn, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> dict[str, Any]:
    view = compute.set_pool_available(uow, ref, body.available, body.reason, platform.clock.now(), who)
    uow.commit()
    return view.as_dict()


@router.get("/capacity", tags=["compute"])
def capacity(uow: UowDep) -> dict[str, object]:
    """Capacity in P (peak dense FP16) and cards per pool, center, city and province."""
    return compute.capacity(uow).as_dict()


@router.get("/overview", tags=["compute"])
def overview(uow: UowDep, platform: PlatformDep) -> dict[str, object]:
    """Load, utilization and the platform queue (counts per hold kind)."""
    return compute.overview(uow, platform.clock.now()).as_dict()


@router.get("/jobs", tags=["jobs"])
def list_jobs(
    uow: UowDep,
    who: LoginDep,
    state: list[JobState] = Query(default=[]),  # noqa: B008 (FastAPI's way to declare a repeated query)
    org: str | None = None,
    center: str | None = None,
    limit: int = Query(default=200, ge=1, le=5000),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[dict[str, object]]:
    """Jobs the caller may see, newest first."""
    jobs = compute.list_jobs(uow, who, states=state, org=org, center=center, limit=limit, offset=offset)
    return [j.as_dict() for j in jobs]


@router.post("/jobs", tags=["jobs"], status_code=201, response_model=dict[str, object])
def submit_job(body: compute.JobInput, uow: UowDep, who: LoginDep, platform: PlatformDep) -> JSONResponse:
    """Queue a job; 422 with the reason if no pool can ever run it."""
    view = compute.submit_job(uow, who, body, platform.clock.now())
    uow.commit()
    # the hot path: a response, not a dict that FastAPI would check and encode in a thread of its own
    return JSONResponse(view.as_dict(), status_code=201)


@router.get("/jobs/held", tags=["jobs"])
def held_jobs(uow: UowDep, who: LoginDep) -> list[dict[str, object]]:
    """Queued jobs with the reason they wait (admins see every organization's)."""
    return [j.as_dict() for j in compute.list_jobs(uow, who, held_only=True, limit=5000)]


@router.get("/jobs/{job_id}", tags=["jobs"])
def get_job(job_id: str, uow: UowDep, who: LoginDep) -> dict[str, object]:
    """One job with its events (404 if the caller may not see it)."""
    return compute.get_job(uow, who, job_id).as_dict()


@router.post("/jobs/{job_id}/cancel", tags=["jobs"])
def cancel_job(job_id: str, uow: UowDep, who: LoginDep, platform: PlatformDep) -> dict[str, object]:
    view = compute.cancel_job(uow, who, job_id, platform.clock.now())
    uow.commit()
    return view.as_dict()


@router.get("/quotas", tags=["quotas"])
def list_quotas(uow: UowDep, who: LoginDep, platform: PlatformDep) -> list[dict[str, object]]:
    return [q.as_dict() for q in compute.list_quotas(uow, who, platform.clock.now(), platform.vouchers)]


@router.get("/quotas/{org}", tags=["quotas"])
def get_quota(org: str, uow: UowDep, who: LoginDep, platform: PlatformDep) -> dict[str, object]:
    return compute.get_quota(uow, who, org, platform.clock.now(), platform.vouchers).as_dict()


@router.put("/quotas/{org}", tags=["quotas"])
def set_quota(
    org: str, body: compute.QuotaInput, uow: UowDep, who: LoginDep, platform: PlatformDep
) -> dict[str, object]:
    view = compute.set_quota(uow, who, org, body, platform.clock.now(), platform.vouchers)
    uow.commit()
    return view.as_dict()


@router.post("/schedule", tags=["compute"])
def schedule(body: ScheduleIn, uow: UowDep, who: LoginDep, platform: PlatformDep) -> dict[str, object]:
    """Run one scheduling step now (platform staff)."""
    require_role(who, Role.DATA_BUREAU)
    report = compute.schedule_once(
        uow,
        platform.clock.now(),
        body.policy,
        actor=who.username,
        vouchers=platform.vouchers,
        priority=platform.priority,
    )
    uow.commit()
    return report.as_dict()
