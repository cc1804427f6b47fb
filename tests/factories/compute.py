"""Small builders for compute tests: pools, provinces, jobs, traces, invariant checks and art. 2 doubles."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction

from zhisuan.compute import VoucherRule
from zhisuan.compute.model import Center, JobSpec, JobState, Pool
from zhisuan.compute.province import OrgSpec, Province
from zhisuan.compute.simulator import SimulationResult
from zhisuan.compute.traces import Trace
from zhisuan.core.money import Money, Rounding
from zhisuan.metering.estimate import pack_voucher_rule
from zhisuan.policy import PackSource

#: art. 2 as the platform estimates it for placement, from the shipped packs (tests without a Platform)
VOUCHERS: VoucherRule = pack_voucher_rule(PackSource(None).current)


@dataclass(frozen=True)
class FlatVoucher:
    """A test double of the voucher port: ``rate`` off for everyone but the pool's operator itself
    (and ``outside`` organizations); the real estimate comes from the policy pack."""

    rate: Fraction
    outside: frozenset[str] = field(default_factory=frozenset)

    def keep(self, org: str, operator: str, on: dt.date) -> Fraction:
        return Fraction(1) if org == operator or org in self.outside else 1 - self.rate

    def net(self, org: str, operator: str, on: dt.date, gross: Money) -> Money:
        return (gross * self.keep(org, operator, on)).round(Rounding.HALF_UP)

    def used_provisional(self) -> dict[str, tuple[str, ...]]:
        return {}


def pool(
    pid: str,
    center: str = "c1",
    *,
    model: str = "a100-sxm4-80gb",
    nodes: int = 1,
    cpn: int = 8,
    price: str = "10",
    city: str = "340100",
    operator: str = "op",
) -> Pool:
    return Pool(pid, center, city, operator, model, nodes, cpn, Money(price))


def province(*pools: Pool, orgs: tuple[OrgSpec, ...] = ()) -> Province:
    by_center: dict[str, list[Pool]] = defaultdict(list)
    for p in pools:
        by_center[p.center].append(p)
    centers = tuple(
        Center(cid, cid, ps[0].city, ps[0].operator, "", tuple(ps)) for cid, ps in by_center.items()
    )
    return Province("test", "test", "340000", centers, orgs)


def job(
    jid: str, org: str = "a", cards: int = 1, runtime: int = 100, submit: int = 0, **kw: object
) -> JobSpec:
    return JobSpec(
        id=jid, org=org, cards=cards, runtime_s=runtime, submit_s=submit, reference="a100-sxm4-80gb", **kw
    )  # type: ignore[arg-type]


def trace(*jobs: JobSpec) -> Trace:
    return Trace(
        "t", tuple(sorted(jobs, key=lambda j: (j.submit_s, j.id))), epoch_s=0, reference="a100-sxm4-80gb"
    )


def max_cards_in_use(result: SimulationResult, prov: Province) -> dict[str, int]:
    """Per pool, the most cards ever held at one instant (ends free cards before starts take them)."""
    pools = {p.id: p for p in prov.pools}
    events: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in result.jobs:
        if r.pool_id is None or r.start_s is None or r.end_s is None:
            continue
        nc = pools[r.pool_id].node_cards(r.cards)
        events[r.pool_id].append((r.start_s, nc))
        events[r.pool_id].append((r.end_s, -nc))
    peak: dict[str, int] = {}
    for pid, evs in events.items():
        evs.sort(key=lambda e: (e[0], e[1]))
        level = top = 0
        for _t, delta in evs:
            level += delta
            top = max(top, level)
        peak[pid] = top
    return peak


def accounted(result: SimulationResult) -> bool:
    """Every job ended somewhere: completed, or refused with a reason."""
    return all(
        r.state is JobState.COMPLETED or (r.state in (JobState.CANCELLED, JobState.QUEUED) and r.reason)
        for r in result.jobs
    )
