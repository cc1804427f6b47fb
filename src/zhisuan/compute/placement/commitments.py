"""What organizations have committed: cards in use, quotas, monthly budgets, fair shares, user prices."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Final

from zhisuan.compute.model import SECONDS_PER_DAY, SHANGHAI_OFFSET_S, JobSpec, Refusal
from zhisuan.compute.placement._runtime import Job, PoolRt, aged_log_work, run_estimate
from zhisuan.compute.placement.values import (
    CardQuota,
    HoldKind,
    HoldReason,
    HourBudget,
    MonthUsage,
    Quota,
    VoucherEstimate,
    YuanBudget,
)
from zhisuan.core.errors import ValidationError

_EPOCH_ORDINAL: Final = dt.date(1970, 1, 1).toordinal()


class Commitments:
    """Per-organization usage and limits for one queue engine (floats: this is the hot path)."""

    def __init__(
        self,
        pools: Sequence[PoolRt],
        *,
        vouchers: VoucherEstimate,
        quotas: Mapping[str, Quota],
        org_weights: Mapping[str, float],
        fair_share: bool,
        aging_s: int,
        epoch_s: int,
        halving_s: int = 0,
        priority_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.pools = pools
        self.vouchers = vouchers
        self.quotas = dict(quotas)
        self.org_weights = dict(org_weights)
        for org, w in (priority_weights or {}).items():
            if not w > 0:
                raise ValidationError(f"{org}'s priority weight must be positive, got {w}", field="priority")
        #: art. 8: an organization's priority weight divides its jobs' expected work in the order
        #: (absent = 1); only the order: reservations still bound every job's wait
        self.priority_weights = {o: w for o, w in (priority_weights or {}).items() if w != 1.0}
        self.fair_share = fair_share
        self.aging_s = aging_s
        self.halving_s = halving_s
        self.epoch_s = epoch_s
        self.by_model = any(q.max_cards_by_model for q in self.quotas.values())
        self.total_tflops = sum(p.cards * p.tflops for p in pools) or 1.0
        self.org_cards: dict[str, int] = {}
        self.org_tflops: dict[str, float] = {}
        self.org_model_cards: dict[tuple[str, str], int] = {}
        self.month: tuple[int, int, int] = (-1, -1, -1)  # (key, start_s, end_s) on the engine's axis
        self.month_yuan: dict[str, float] = {}
        self.month_card_h: dict[str, float] = {}
        self.budget_blocked = False
        self._fair: dict[str, float] = {}
        self._keep_day = -1
        self._keeps: dict[str, tuple[tuple[float, ...], int]] = {}
        self._keep_ids: dict[tuple[float, ...], int] = {}  # interned: a ranking cache key part

    # ---- the price the user bears (art. 2, through the voucher port) ------------------------------
    def keeps(self, org: str, now: int) -> tuple[tuple[float, ...], int]:
        """Per pool index, the share of the price ``org`` bears on the day of ``now``; and its id."""
        day = (self.epoch_s + now + SHANGHAI_OFFSET_S) // SECONDS_PER_DAY
        if day != self._keep_day:
            self._keep_day = day
            self._keeps.clear()
        found = self._keeps.get(org)
        if found is None:
            on = dt.date.fromordinal(_EPOCH_ORDINAL + day)
            by_operator: dict[str, float] = {}
            for p in self.pools:
                if p.operator not in by_operator:
                    by_operator[p.operator] = float(self.vouchers.keep(org, p.operator, on))
            vec = tuple(by_operator[p.operator] for p in self.pools)
            kid = self._keep_ids.setdefault(vec, len(self._keep_ids))
            found = self._keeps[org] = (vec, kid)
        return found

    def user_price(self, job: Job, pool: PoolRt, now: int) -> float:
        """Yuan per card-hour ``job``'s org bears on ``pool`` after the voucher."""
        return pool.price_f * self.keeps(job.org, now)[0][pool.idx]

    # ---- usage -----------------------------------------------------------------------------------
    def account(self, org: str, p: PoolRt, nc: int, sign: int) -> None:
        """``org`` takes (+1) or frees (-1) ``nc`` cards of ``p``."""
        self.org_cards[org] = self.org_cards.get(org, 0) + sign * nc
        self.org_tflops[org] = self.org_tflops.get(org, 0.0) + sign * nc * p.tflops
        key = (org, p.model)
        self.org_model_cards[key] = self.org_model_cards.get(key, 0) + sign * nc

    def started(self, job: Job, p: PoolRt, nc: int, est: int, now: int) -> None:
        """``job`` started on ``p`` for an estimated ``est`` seconds: its cards and month spend count."""
        self.account(job.org, p, nc, +1)
        hours = job.cards * est / 3600
        org = job.org
        self.month_yuan[org] = self.month_yuan.get(org, 0.0) + self.user_price(job, p, now) * hours
        self.month_card_h[org] = self.month_card_h.get(org, 0.0) + hours

    def set_month_usage(self, org: str, usage: MonthUsage) -> None:
        """What ``org`` has already committed this month (from outside the engine)."""
        self.month_yuan[org] = float(usage.yuan.exact)
        self.month_card_h[org] = float(usage.card_hours)

    def roll_month(self, now: int) -> bool:
        """Enter the Shanghai month of ``now``; True when budgets were reset (a new month began)."""
        if self.month[1] <= now < self.month[2]:
            return False
        local = dt.datetime.fromtimestamp(self.epoch_s + now + SHANGHAI_OFFSET_S, dt.UTC)
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        start = int(first.timestamp()) - SHANGHAI_OFFSET_S - self.epoch_s
        end = int(nxt.timestamp()) - SHANGHAI_OFFSET_S - self.epoch_s
        reset = self.month[0] != -1
        if reset:
            self.month_yuan.clear()
            self.month_card_h.clear()
        self.month = (first.year * 12 + first.month, start, end)
        return reset

    # ---- fair share ------------------------------------------------------------------------------
    def priority(self, job: Job, now: int) -> tuple[int, float, int, int]:
        """Priority (smallest first). FIFO queues: submit order. Fair share: the smallest expected work
        (cards × run time), scaled up by how far the org is above its fair share of the province's
        throughput (1 + in use / share) and divided by its priority weight (art. 8 key enterprises);
        with ``halving_s``, every ``halving_s`` a job has waited counts as halving its work
        (:func:`aged_log_work`). Waiting is bounded by reservations, not by this order (see
        ``QueueEngine``)."""
        if not self.fair_share:
            return (0, 0.0, job.submit, job.seq)
        org = job.org
        target = self._fair.get(org) or self._fair_tflops(org)
        factor = 1.0 + self.org_tflops.get(org, 0.0) / target
        if self.priority_weights:
            factor /= self.priority_weights.get(org, 1.0)
        if self.halving_s <= 0:
            return (1, factor * job.cards * job.rt, job.submit, job.seq)
        aged = aged_log_work(job.cards, job.rt, job.submit, self.halving_s) + math.log2(factor)
        return (1, aged, job.submit, job.seq)

    def _fair_tflops(self, org: str) -> float:
        found = self._fair.get(org)
        if found is None:
            if org not in self.org_weights:
                self.org_weights[org] = 1.0
                self._fair.clear()
            total_w = sum(self.org_weights.values())
            found = self.total_tflops * self.org_weights[org] / total_w
            self._fair[org] = found
        return found

    # ---- quotas and budgets ----------------------------------------------------------------------
    def admit(self, spec: JobSpec, pools: tuple[PoolRt, ...]) -> tuple[tuple[PoolRt, ...], Refusal | None]:
        """The pools ``spec``'s card quotas leave it, or why its quotas can never let it run."""
        quota = self.quotas.get(spec.org)
        if quota is None:
            return pools, None
        if quota.max_cards is not None and spec.cards > quota.max_cards:
            why = f"{spec.org} may use at most {quota.max_cards} cards at once; the job needs {spec.cards}"
            return pools, Refusal("cards", why)
        if quota.max_cards_by_model:
            pools = tuple(
                p
                for p in pools
                if quota.max_cards_by_model.get(p.model, spec.cards) >= p.node_cards(spec.cards)
            )
            if not pools:
                why = (
                    f"{spec.org}'s per-model quotas leave no matching pool wide enough for {spec.cards} cards"
                )
                return pools, Refusal("cards", why)
        return pools, None

    def over_budget_alone(self, job: Job, pools: tuple[PoolRt, ...]) -> Refusal | None:
        """Why a job can never fit its org's monthly budget, even alone in a fresh month (or None)."""
        quota = self.quotas.get(job.org)
        if quota is None:
            return None
        cards = job.cards
        hours = min(cards * run_estimate(job, p) / 3600 for p in pools)
        if quota.monthly_card_hours is not None and hours > float(quota.monthly_card_hours):
            return Refusal(
                "job",
                f"the job needs at least {hours:.1f} card-hours; {job.org}'s monthly budget is "
                f"{quota.monthly_card_hours} card-hours",
            )
        if quota.monthly_budget_yuan is not None:
            now = job.submit
            yuan = min(self.user_price(job, p, now) * cards * run_estimate(job, p) / 3600 for p in pools)
            if yuan > float(quota.monthly_budget_yuan.exact):
                return Refusal(
                    "job",
                    f"the job costs at least {yuan:.2f} yuan; {job.org}'s monthly budget is "
                    f"{quota.monthly_budget_yuan.round()} yuan",
                )
        return None

    def block(self, job: Job, now: int) -> HoldReason | None:
        """Why ``job``'s org may not start it now: its card quota or this month's budget (or None)."""
        quota = self.quotas.get(job.org)
        if quota is None:
            return None
        cards = job.cards
        in_use = self.org_cards.get(job.org, 0)
        if quota.max_cards is not None and in_use + cards > quota.max_cards:
            return HoldReason(HoldKind.QUOTA, CardQuota(job.org, in_use, quota.max_cards, cards))
        if quota.monthly_budget_yuan is not None or quota.monthly_card_hours is not None:
            best_h = min(cards * run_estimate(job, p) / 3600 for p in job.pools)
            if quota.monthly_budget_yuan is not None:
                keep = self.keeps(job.org, now)[0]
                best_yuan = min(
                    p.price_f * keep[p.idx] * cards * run_estimate(job, p) / 3600 for p in job.pools
                )
                cap = float(quota.monthly_budget_yuan.exact)
                spent = self.month_yuan.get(job.org, 0.0)
                if spent + best_yuan > cap:
                    self.budget_blocked = True
                    return HoldReason(HoldKind.BUDGET, YuanBudget(job.org, spent, cap, best_yuan))
            if quota.monthly_card_hours is not None:
                cap_h = float(quota.monthly_card_hours)
                used = self.month_card_h.get(job.org, 0.0)
                if used + best_h > cap_h:
                    self.budget_blocked = True
                    return HoldReason(HoldKind.BUDGET, HourBudget(job.org, used, cap_h, best_h))
        return None

    def model_ok(self, job: Job, p: PoolRt, nc: int) -> bool:
        """Whether ``job`` may take ``nc`` more cards of ``p``'s model under its per-model quota."""
        if not self.by_model:
            return True
        quota = self.quotas.get(job.org)
        if quota is None or not quota.max_cards_by_model:
            return True
        cap = quota.max_cards_by_model.get(p.model)
        return cap is None or self.org_model_cards.get((job.org, p.model), 0) + nc <= cap
