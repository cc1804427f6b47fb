"""Compute federation, scheduling: the late-binding step that binds queued jobs to pools.

:func:`schedule_once` loads the queue, the available pools with the jobs they hold, the quotas and
this Shanghai month's commitments (:func:`_month_usage`, also behind the quota views), lets the
compute core's placement decide, and records the placements and why the other jobs wait
(typed :class:`HoldReason`, put into words once, as the row's ``hold_reason``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Final

from sqlalchemy import select, text

from zhisuan.compute._context import _Context, _from_unix, _PoolFacts, _unix
from zhisuan.compute._rows import _transition
from zhisuan.compute.model import JobState, Scaling, pool_refusal
from zhisuan.compute.placement import (
    DEFAULT_POLICY,
    Federation,
    Hold,
    HoldKind,
    HoldReason,
    ModelQuota,
    MonthUsage,
    Placement,
    PoolState,
    Quota,
    RunningJob,
    RunTimeHistory,
    Scheduler,
    Unavailable,
    VoucherEstimate,
    VoucherRule,
    policy_info,
)
from zhisuan.compute.views import PoolView, _core_pool, _quota_row_view, core_pools
from zhisuan.core.clock import Month, shanghai_date
from zhisuan.core.ids import PoolId
from zhisuan.core.money import Money
from zhisuan.store.models.compute import JobRow, QuotaRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

#: Art. 8's priority for key enterprises as one scheduling step needs it: each organization's priority
#: weight by organization id on a Shanghai day (absent = 1: none). The composition root builds it from
#: the policy packs and the key-enterprise registry (compute imports neither).
PriorityRule = Callable[[UnitOfWork, dt.date], Mapping[int, float]]

#: PostgreSQL advisory-lock key of the scheduling step ("zhisuan" in ASCII, as an integer)
SCHEDULER_LOCK: Final = int.from_bytes(b"zhisuan", "big")


@dataclass(frozen=True, slots=True)
class ScheduleReport:
    """What one scheduling step did."""

    at: dt.datetime
    policy: str
    queued: int
    placed: tuple[tuple[int, str], ...]  # (job id, pool key)
    held: Mapping[str, int]  # hold kind -> jobs
    pools: int
    #: the provisional parameters the art. 2 estimate behind prices and budgets rested on, per article
    #: (POLICY position 16: an estimate, no money on them until confirmed)
    provisional: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "policy": self.policy,
            "queued_before": self.queued,
            "placed": [{"job": j, "pool": p} for j, p in self.placed],
            "held": dict(self.held),
            "pools_available": self.pools,
            "provisional_estimate": {article: list(names) for article, names in self.provisional.items()},
        }


def _month_usage(
    uow: UnitOfWork, ctx: _Context, now: dt.datetime, vouchers: VoucherEstimate
) -> dict[str, MonthUsage]:
    """What each organization has committed this Shanghai month: jobs placed since the month began.

    Ended attempts count their real card-time, the others their expected end; yuan is the price the
    user bears after the expected compute voucher (``vouchers``, art. 2), as placement counts it.
    """
    start = Month.of(now).start
    rows = uow.session.execute(
        select(JobRow).where(JobRow.placed_at >= start, JobRow.pool_id.is_not(None))
    ).scalars()
    # gross per (user, operator, Shanghai day), exact; the estimate then prices each group once, as
    # settlement prices a bill line (one rounding per group, one policy answer per day)
    gross: dict[tuple[str, str, dt.date], Money] = {}
    hours: dict[str, Fraction] = {}
    for job in rows:
        pool = ctx.pool_by_id.get(PoolId(job.pool_id or 0))
        if pool is None:
            continue
        begin = job.started_at or job.placed_at
        end = job.ended_at or job.expected_end
        if begin is None or end is None or end <= begin:
            continue
        org = ctx.orgs.get(job.org_id, ("", None))[0]
        card_h = Fraction(job.cards * int((end - begin).total_seconds()), 3600)
        key = (org, ctx.center_by_id[pool.center_id].operator_name, shanghai_date(begin))
        gross[key] = gross.get(key, Money()) + pool.price * card_h
        hours[org] = hours.get(org, Fraction(0)) + card_h
    yuan: dict[str, Money] = {}
    for (org, operator, day), amount in gross.items():
        yuan[org] = yuan.get(org, Money()) + vouchers.net(org, operator, day, amount)
    return {
        org: MonthUsage(
            yuan=yuan[org], card_hours=Decimal(hours[org].numerator) / Decimal(hours[org].denominator)
        )
        for org in yuan
    }


def _model_quota_reason(
    ctx: _Context,
    row: JobRow,
    quotas: Mapping[str, Quota],
    in_use: Mapping[tuple[int, str], int],
    available: Sequence[PoolView],
) -> HoldReason | None:
    """Say so when per-model card quotas, not capacity, keep a job from every pool that could run it."""
    org = ctx.orgs.get(row.org_id, ("", None))[0]
    quota = quotas.get(org)
    if quota is None or not quota.max_cards_by_model:
        return None
    spec = ctx.spec(row)
    fits = [p for p in available if pool_refusal(spec, ctx.core_pool(p)) is None]
    blocked = []
    for p in fits:
        cap = quota.max_cards_by_model.get(p.accelerator)
        used = in_use.get((row.org_id, p.accelerator), 0)
        if cap is None or used + _PoolFacts(p).node_cards(row.cards) <= cap:
            return None
        blocked.append((used, cap, p.accelerator))
    if not blocked:
        return None
    return HoldReason(HoldKind.QUOTA, ModelQuota(org, tuple(blocked), row.cards))


#: how many of the most recently ended jobs the live scheduler learns run times from
HISTORY_JOBS: Final = 2000


def runtime_history(uow: UnitOfWork, ctx: _Context, limit: int = HISTORY_JOBS) -> RunTimeHistory:
    """Each organization's run-time history from the store: its last completed jobs (at most
    ``limit`` over all), each as requested run time against the time it ran on its pool converted
    to the reference accelerator (so a job that ran on a faster pool counts its reference time)."""
    history = RunTimeHistory()
    scaling = Scaling()
    rows = uow.session.execute(
        select(
            JobRow.org_id,
            JobRow.runtime_s,
            JobRow.reference,
            JobRow.pool_id,
            JobRow.started_at,
            JobRow.ended_at,
        )
        .where(
            JobRow.state == JobState.COMPLETED.value,
            JobRow.started_at.is_not(None),
            JobRow.ended_at.is_not(None),
            JobRow.pool_id.is_not(None),
        )
        .order_by(JobRow.ended_at.desc(), JobRow.id.desc())
        .limit(limit)
    ).all()
    for org_id, requested, reference, pool_id, started, ended in reversed(rows):
        org = ctx.orgs.get(org_id)
        pool = ctx.pool_by_id.get(PoolId(pool_id)) if pool_id is not None else None
        if org is None or pool is None or started is None or ended is None or ended <= started:
            continue
        ran = (ended - started).total_seconds() * float(scaling.speedup(reference, pool.accelerator))
        history.observe(org[0], requested, max(1, round(ran)))
    return history


def schedule_once(
    uow: UnitOfWork,
    now: dt.datetime,
    policy: str = DEFAULT_POLICY,
    *,
    seed: int = 0,
    actor: str = "scheduler",
    vouchers: VoucherRule,
    priority: PriorityRule | None = None,
) -> ScheduleReport:
    """One late-binding step: bind the queued jobs that can start now to pools, record why others wait.

    Loads the queue and every available pool with the jobs it holds, organization quotas and this
    month's commitments, and lets the compute core's placement (``Scheduler.decide``) choose. Placed
    jobs go ``queued → placed`` (the dispatcher then starts them on the pool's engine); held jobs
    keep their reason (``quota: …``, ``budget: …``, ``reserved …``, capacity) for owners and admins.
    On PostgreSQL a transaction-level advisory lock serialises scheduling steps (so no two of them
    hand out the same free cards) and the queued rows are locked SKIP LOCKED against a concurrent
    cancel. On SQLite the database's single writer does the same within one machine. ``vouchers``
    estimates art. 2 for prices and budgets from the packs in force (the platform's rule), so that
    placement, budgets and settlement apply one rule. ``priority`` gives key enterprises their art. 8
    weight in the queue's order (the platform's rule; None: no one has priority).
    """
    policy_info(policy)
    s = uow.session
    if s.get_bind().dialect.name == "postgresql":
        # one scheduling step at a time: a second one waits here and then sees the first's placements,
        # so two schedulers never hand out the same free cards (released at commit or rollback)
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEDULER_LOCK})
    ctx = _Context.load(uow)
    estimate = vouchers(ctx.directory(uow))
    now_s = _unix(now)
    queue_rows = list(
        s.execute(
            select(JobRow)
            .where(JobRow.state == JobState.QUEUED.value)
            .order_by(JobRow.submitted_at, JobRow.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    available = [p for c in ctx.centers for p in c.pools if p.available]
    running: dict[str, list[RunningJob]] = {p.key: [] for p in available}
    for job, facts in ctx.occupying(uow):
        if facts.pool.key not in running:
            continue
        end = job.expected_end or now
        running[facts.pool.key].append(
            RunningJob(
                str(job.id), ctx.orgs.get(job.org_id, ("", None))[0], job.cards, max(_unix(end), now_s)
            )
        )
    states = [PoolState(ctx.core_pool(p), tuple(running[p.key])) for p in available]
    quotas: dict[str, Quota] = {}
    for qrow in s.execute(select(QuotaRow)).scalars():
        name = ctx.orgs.get(qrow.org_id, (None, None))[0]
        if name is not None:
            org_row = s.get(OrganizationRow, qrow.org_id)
            assert org_row is not None
            quotas[name] = _quota_row_view(qrow, org_row).quota()
    weights = priority(uow, shanghai_date(now)) if priority is not None else {}
    priority_weights = {ctx.orgs[i][0]: w for i, w in weights.items() if i in ctx.orgs}
    specs = [ctx.spec(r) for r in queue_rows]
    by_id = {str(r.id): r for r in queue_rows}
    decisions = (
        Scheduler(
            policy,
            seed=seed,
            quotas=quotas,
            vouchers=estimate,
            history=runtime_history(uow, ctx),
            priority_weights=priority_weights,
        ).decide(specs, states, now_s, _month_usage(uow, ctx, now, estimate))
        if specs
        else []
    )
    everywhere = core_pools(ctx.centers)
    placed: list[tuple[int, str]] = []
    held: Counter[str] = Counter()
    in_use_by_model: Counter[tuple[int, str]] = Counter()
    for job, facts in ctx.occupying(uow):
        in_use_by_model[(job.org_id, facts.accelerator)] += facts.node_cards(job.cards)
    # placements first, so that the holds below see the cards this step hands out
    for decision in sorted(decisions, key=lambda d: not isinstance(d, Placement)):
        row = by_id[decision.job_id]
        if isinstance(decision, Placement):
            pool = ctx.pool_by_key[decision.pool_id]
            in_use_by_model[(row.org_id, pool.accelerator)] += _PoolFacts(pool).node_cards(row.cards)
            row.pool_id = pool.id
            note = f"placed on {pool.key}" + (" (backfilled)" if decision.backfilled else "")
            _transition(uow, row, JobState.PLACED, now, actor, note)
            row.placed_at = now
            row.expected_end = _from_unix(max(decision.end_s, now_s + 1))
            row.hold_reason = row.hold_kind = None
            row.held_since = None
            placed.append((row.id, pool.key))
            continue
        assert isinstance(decision, Hold)
        reason = decision.reason
        if not decision.unrunnable and reason.kind not in (HoldKind.QUOTA, HoldKind.BUDGET):
            reason = _model_quota_reason(ctx, row, quotas, in_use_by_model, available) or reason
        if decision.unrunnable:
            spec = ctx.spec(row)
            ever = Federation(DEFAULT_POLICY, everywhere, quotas=quotas).submit(spec)
            if ever is None:
                down = tuple(
                    (p.key, p.unavailable_reason)
                    for c in ctx.centers
                    for p in c.pools
                    if not p.available and pool_refusal(spec, _core_pool(p, c)) is None
                )
                reason = HoldReason(HoldKind.UNAVAILABLE, Unavailable(down))
        words = reason.text()
        if row.hold_reason != words:
            row.hold_reason = words
            row.hold_kind = reason.kind.value
            row.held_since = row.held_since or now
            row.updated_at = now
        held[row.hold_kind or "capacity"] += 1
    s.flush()
    return ScheduleReport(
        now,
        policy,
        len(queue_rows),
        tuple(placed),
        dict(held),
        len(available),
        dict(estimate.used_provisional()),
    )


__all__ = [
    "PriorityRule",
    "ScheduleReport",
    "schedule_once",
]
