"""Compute federation, jobs: submit, list, count, show and cancel (what the API, pages and CLI call).

A request no pool can ever satisfy is refused at submission; the rest wait in the platform queue
until :func:`zhisuan.compute.scheduling.schedule_once` binds them to a pool.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import cache

from sqlalchemy import ColumnElement, Insert, Select, bindparam, func, insert, literal_column, or_, select

from zhisuan import audit
from zhisuan.accounts.services import find_org
from zhisuan.compute._context import PROVINCE_DIGEST_PG, _Context, province
from zhisuan.compute._rows import _event, _job_row, _open_run, _transition
from zhisuan.compute.model import JobState
from zhisuan.compute.schemas import MAX_RUNTIME_S, JobInput, _yuan
from zhisuan.compute.services import find_center
from zhisuan.compute.views import JobView, _quota_row_view
from zhisuan.core.access import Action, Kind, Principal, Resource, authorize, visible_scope
from zhisuan.core.catalog import accelerator
from zhisuan.core.clock import ensure_aware
from zhisuan.core.errors import NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.ids import OrgId
from zhisuan.core.regions import city as lookup_city
from zhisuan.store.models.compute import CenterRow, JobEventRow, JobRow, PoolRow, QuotaRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork


def submit_job(
    uow: UnitOfWork, who: Principal, data: JobInput, now: dt.datetime, *, actor: str | None = None
) -> JobView:
    """Queue a job, or refuse it with the reason if no pool can ever satisfy it (nothing is written)."""
    s = uow.session
    if data.org is not None:
        org_id = find_org(uow, data.org).id
    elif who.org_id is not None:
        org_id = who.org_id
    else:
        raise ValidationError("say which organization submits the job", field="org")
    # the organization and whether it has a quota, in one query (PostgreSQL: and whether the province
    # changed and the new job's id, so that the job, its event and its audit event are one INSERT below)
    pg = s.get_bind().dialect.name == "postgresql"
    s.flush()  # as an ORM query would (nothing to do unless the caller left changes pending)
    found = s.connection().execute(_submitter(pg), {"org_id": org_id}).first()
    if found is None:
        raise NotFoundError(f"no organization {org_id}", field="org")
    org_id, org_name, org_city, quota_of, province_digest, job_id = found
    authorize(who, Action.WRITE, Resource(Kind.JOB, org_id=OrgId(org_id), city_code=org_city))
    for key in data.accelerators:
        accelerator(key, field="accelerators")
    accelerator(data.reference, field="reference")
    ceiling = _yuan(data.price_ceiling, "price_ceiling") if data.price_ceiling is not None else None
    deadline = ensure_aware(data.deadline, "deadline") if data.deadline is not None else None
    if deadline is not None and deadline <= now:
        raise ValidationError("the deadline has already passed", field="deadline")
    if deadline is not None and deadline > now + dt.timedelta(seconds=MAX_RUNTIME_S):
        raise ValidationError("a deadline is at most a year ahead", field="deadline")
    if data.data_city is not None:
        lookup_city(data.data_city, field="data_city")
    data_center = find_center(uow, data.data_center) if data.data_center else None
    if not data.command.strip():
        raise ValidationError("the command is empty", field="command")
    row = JobRow(
        org_id=org_id,
        user_id=who.user_id,
        name=data.name.strip(),
        command=data.command,
        cards=data.cards,
        accelerators=json.dumps(sorted(set(data.accelerators))),
        min_memory_gb=data.min_memory_gb,
        domestic_only=data.domestic_only,
        runtime_s=data.runtime_s,
        reference=data.reference,
        price_ceiling_fen=ceiling.to_fen() if ceiling is not None else None,
        deadline=deadline,
        data_city=data.data_city,
        data_center_id=data_center.id if data_center is not None else None,
        retries=data.retries,
        attempts=0,
        state=JobState.QUEUED.value,
        submitted_at=now,
        updated_at=now,
        engine_cancel_pending=False,
    )
    model = province(uow, province_digest)
    ctx = model.context({org_id: (org_name, org_city)})
    try:
        spec = ctx.spec(row)
    except ZhisuanError as exc:
        raise ValidationError(exc.message, field=exc.field) from None
    # the compute core decides feasibility: every pool (an unavailable one comes back), and the quota
    quotas = {}
    if quota_of is not None:  # the quota's rows, only for an organization that has one
        org, quota_row = s.get_one(OrganizationRow, org_id), s.get_one(QuotaRow, org_id)
        quotas[org_name] = _quota_row_view(quota_row, org).quota()
    refusal = model.refusal(spec, quotas)
    if refusal is not None:
        raise ValidationError(f"no pool can ever run this job: {refusal.text()}", field=refusal.field)
    by = actor or who.username
    if job_id is not None:  # PostgreSQL: one statement
        row.id = int(job_id)
        values = audit.deferred_event(uow, now, by, "job.submit", f"job:{row.id}", _submit_detail(row))
        values.update({f"j_{c.key}": getattr(row, c.key) for c in JobRow.__table__.c})
        values.update(e_job_id=row.id, e_at=now, e_to_state=JobState.QUEUED.value, e_actor=by)
        s.connection().execute(_submission(), values)
        return ctx.view(row)
    s.add(row)
    s.flush()
    _event(uow, row, now, None, JobState.QUEUED.value, by, "submitted")
    s.flush()
    # the hot path: one INSERT here, chained right after the commit
    audit.record(uow, now, by, "job.submit", f"job:{row.id}", _submit_detail(row), deferred=True)
    return ctx.view(row)


#: PostgreSQL: the next job id, read beside the submitting organization
_NEXT_JOB_ID_PG = "nextval(pg_get_serial_sequence('compute_jobs', 'id'))"


@cache
def _submitter(pg: bool) -> Select[int, str, str | None, int, str | None, int | None]:
    """The submitting organization's id, name and city and whether it has a quota (PostgreSQL: with the
    province's digest and the new job's id), as columns of one statement built once."""
    digest: ColumnElement[str | None] = literal_column(PROVINCE_DIGEST_PG if pg else "NULL")
    next_id: ColumnElement[int | None] = literal_column(_NEXT_JOB_ID_PG if pg else "NULL")
    return (
        select(
            OrganizationRow.id,
            OrganizationRow.name,
            OrganizationRow.city_code,
            QuotaRow.org_id,
            digest,
            next_id,
        )
        .outerjoin(QuotaRow, QuotaRow.org_id == OrganizationRow.id)
        .where(OrganizationRow.id == bindparam("org_id"))
    )


def _submit_detail(row: JobRow) -> dict[str, object]:
    return {
        "org": row.org_id,
        "cards": row.cards,
        "runtime_s": row.runtime_s,
        "price_ceiling_fen": row.price_ceiling_fen,
    }


@cache
def _submission() -> Insert:
    """The job (its id given), its ``submitted`` event and its deferred audit event as one statement:
    ``WITH j AS (INSERT …), e AS (INSERT …) INSERT INTO audit_pending …`` (one round trip; built once)."""
    jobs = JobRow.__table__
    job = insert(JobRow).values({c.key: bindparam(f"j_{c.key}", type_=c.type) for c in jobs.c}).cte("j")
    events = JobEventRow.__table__
    event = (
        insert(JobEventRow)
        .values(
            job_id=bindparam("e_job_id", type_=events.c.job_id.type),
            at=bindparam("e_at", type_=events.c.at.type),
            from_state=None,
            to_state=bindparam("e_to_state", type_=events.c.to_state.type),
            pool_id=None,
            actor=bindparam("e_actor", type_=events.c.actor.type),
            note="submitted",
        )
        .cte("e")
    )
    return audit.DEFERRED_INSERT.add_cte(job, event)


def _job_filter(who: Principal) -> list[ColumnElement[bool]] | None:
    """The WHERE clauses matching ``visible_scope`` for jobs (None: nothing; []: everything)."""
    scope = visible_scope(who, Kind.JOB)
    if scope.nothing:
        return None
    if scope.everything:
        return []
    if scope.city_code is not None:
        orgs_in_city = select(OrganizationRow.id).where(OrganizationRow.city_code == scope.city_code)
        return [JobRow.org_id.in_(orgs_in_city)]
    conds = [JobRow.org_id.in_(scope.org_ids)]
    if scope.operator_org_ids:
        operated = (
            select(PoolRow.id)
            .join(CenterRow, CenterRow.id == PoolRow.center_id)
            .where(CenterRow.operator_org_id.in_(scope.operator_org_ids))
        )
        conds.append(JobRow.pool_id.in_(operated))
    return [or_(*conds)]


def list_jobs(
    uow: UnitOfWork,
    who: Principal,
    *,
    states: Sequence[JobState | str] = (),
    org: str | int | None = None,
    center: str | int | None = None,
    held_only: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[JobView]:
    """Jobs the caller may see, newest first (filters: states, organization, center, held only)."""
    where = _job_filter(who)
    if where is None:
        return []
    q = select(JobRow).where(*where)
    if states:
        q = q.where(JobRow.state.in_([JobState(s).value for s in states]))
    if org is not None:
        q = q.where(JobRow.org_id == find_org(uow, org).id)
    if center is not None:
        c = find_center(uow, center)
        q = q.where(JobRow.pool_id.in_(select(PoolRow.id).where(PoolRow.center_id == c.id)))
    if held_only:
        q = q.where(JobRow.state == JobState.QUEUED.value, JobRow.hold_reason.is_not(None))
    q = (
        q.order_by(JobRow.submitted_at.desc(), JobRow.id.desc())
        .limit(max(1, min(limit, 5000)))
        .offset(offset)
    )
    rows = list(uow.session.execute(q).scalars())
    ctx = _Context.of_jobs(uow, rows)
    return [ctx.view(r) for r in rows]


def count_jobs(uow: UnitOfWork, who: Principal) -> dict[str, int]:
    """How many jobs the caller may see, per state."""
    where = _job_filter(who)
    if where is None:
        return {}
    q = select(JobRow.state, func.count()).where(*where).group_by(JobRow.state)
    return dict(uow.session.execute(q).all())


def get_job(uow: UnitOfWork, who: Principal, job_id: int | str) -> JobView:
    """One job with its events; another organization's job is not found (404)."""
    row = _job_row(uow, job_id)
    ctx = _Context.of_jobs(uow, [row])
    authorize(who, Action.READ, ctx.view(row).resource())
    events = uow.session.execute(
        select(JobEventRow).where(JobEventRow.job_id == row.id).order_by(JobEventRow.id)
    ).scalars()
    return ctx.view(row, list(events))


def cancel_job(uow: UnitOfWork, who: Principal, job_id: int | str, now: dt.datetime) -> JobView:
    """Cancel a queued, placed or running job; an engine job is stopped by the dispatcher afterwards."""
    row = _job_row(uow, job_id)
    ctx = _Context.of_jobs(uow, [row])
    authorize(who, Action.WRITE, ctx.view(row).resource())
    old = JobState(row.state)
    _transition(uow, row, JobState.CANCELLED, now, who.username, "cancelled by the user")
    row.ended_at = now if old is not JobState.QUEUED else None
    row.hold_reason = row.hold_kind = None
    row.held_since = None
    row.engine_cancel_pending = row.engine_job_id is not None
    run = _open_run(uow, row)
    if run is not None and run.ended_at is None:
        run.ended_at = now if run.started_at is not None else None
        run.outcome = "cancelled"
    uow.session.flush()
    audit.record(uow, now, who.username, "job.cancel", f"job:{row.id}", {"org": row.org_id, "was": old.value})
    return get_job(uow, who, row.id)


__all__ = [
    "cancel_job",
    "count_jobs",
    "get_job",
    "list_jobs",
    "submit_job",
]
