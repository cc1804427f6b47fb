"""Placement: the platform's meta-scheduler and its pluggable policies.

Two ways to bind a job to a pool: early binding (a pool chosen at submission, then that pool's own
FIFO + EASY queue) and late binding (one platform queue, bound when a pool can start the job). Both
run on :class:`QueueEngine`. :class:`Scheduler` offers the same logic to a database-backed dispatcher
over plain values: ``Scheduler(...).decide(queue, pool_states, now) -> list[Placement | Hold]``.
Hold reasons are typed (:class:`HoldReason`); :meth:`HoldReason.text` words them. What a user pays
after the art. 2 voucher comes through the :class:`VoucherEstimate` port.

Modules: ``values`` (plain values in and out), ``queue`` (the engine), ``commitments`` (quotas,
budgets, fair share), ``policies`` (rankings, choosers, the registry), ``estimates`` (run-time
estimates from each organization's history), ``federation``.
"""

from __future__ import annotations

from zhisuan.compute.model import Refusal
from zhisuan.compute.placement.estimates import RunTimeHistory
from zhisuan.compute.placement.federation import Federation, Scheduler
from zhisuan.compute.placement.policies import (
    DEFAULT_POLICY,
    POLICIES,
    PolicyInfo,
    policy_info,
    policy_names,
)
from zhisuan.compute.placement.queue import QueueEngine
from zhisuan.compute.placement.values import (
    DEFAULT_AGING_S,
    CardQuota,
    Decision,
    EngineRefused,
    Hold,
    HoldDetail,
    HoldKind,
    HoldReason,
    HourBudget,
    ModelQuota,
    MonthUsage,
    NotEnoughCards,
    NotQueued,
    NoVoucher,
    OrgDirectory,
    Patience,
    Placement,
    PoolState,
    QueuedBehind,
    Quota,
    Reserved,
    RunningJob,
    Start,
    Unavailable,
    Unrunnable,
    VoucherEstimate,
    VoucherRule,
    WaitingForPool,
    Weights,
    YuanBudget,
)

__all__ = [
    "DEFAULT_AGING_S",
    "DEFAULT_POLICY",
    "POLICIES",
    "CardQuota",
    "Decision",
    "EngineRefused",
    "Federation",
    "Hold",
    "HoldDetail",
    "HoldKind",
    "HoldReason",
    "HourBudget",
    "ModelQuota",
    "MonthUsage",
    "NoVoucher",
    "NotEnoughCards",
    "NotQueued",
    "OrgDirectory",
    "Patience",
    "Placement",
    "PolicyInfo",
    "PoolState",
    "QueueEngine",
    "QueuedBehind",
    "Quota",
    "Refusal",
    "Reserved",
    "RunTimeHistory",
    "RunningJob",
    "Scheduler",
    "Start",
    "Unavailable",
    "Unrunnable",
    "VoucherEstimate",
    "VoucherRule",
    "WaitingForPool",
    "Weights",
    "YuanBudget",
    "policy_info",
    "policy_names",
]
