"""Compute-voucher settlement (art. 2): which paid bill lines earn how much, within the budget.

The rule itself (eligibility, the 20% rate, the annual cap, the pack in force) is the policy engine's:
this module only gathers the facts of each paid bill line, asks the engine through an ``Art2Evaluator``,
and then applies the program budget, which is money the ledger holds, not a policy figure. It never
computes a voucher amount on its own.

Budget exhaustion (the pack names the mode):
- ``queued``: lines are granted first-paid first until the budget would be overspent; that line and
  every later one of the same year wait as *queued* and are retried in the next settlement.
- ``pro_rated``: when the month's entitlements exceed what is left, each is scaled by left / total,
  rounded down to the fen, so the sum never exceeds the budget.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from zhisuan.core.clock import Month
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.money import Money
from zhisuan.core.orgs import OwnershipGraph

ARTICLE = "art2"


class VoucherStatus(StrEnum):
    GRANTED = "granted"
    PRO_RATED = "pro_rated"
    QUEUED = "queued"
    INELIGIBLE = "ineligible"
    NOT_IN_FORCE = "not_in_force"
    CLAWBACK = "clawback"


class Exhaustion(StrEnum):
    QUEUED = "queued"
    PRO_RATED = "pro_rated"


@dataclass(frozen=True, slots=True)
class Art2Case:
    """The facts of one bill line, in the policy engine's terms (POLICY.md evaluation contract)."""

    city: str
    in_province: bool
    self_use: bool
    spend: Money
    subsidy_this_year: Money
    on: dt.date

    def facts(self) -> dict[str, object]:
        return {
            "city": self.city,
            "in_province": self.in_province,
            "self_use": self.self_use,
            "spend": str(self.spend.round()),
            "subsidy_this_year": str(self.subsidy_this_year.round()),
        }


@dataclass(frozen=True, slots=True)
class Art2Answer:
    """What the policy engine answered for one case."""

    in_force: bool
    eligible: bool
    amount_fen: int
    pack: str
    steps: tuple[Mapping[str, str], ...] = ()
    reasons: tuple[str, ...] = ()
    exhaustion: Exhaustion = Exhaustion.QUEUED


Art2Evaluator = Callable[[Art2Case], Art2Answer]


@dataclass(frozen=True, slots=True)
class PaidLine:
    """A bill line whose bill is paid: the base of a voucher."""

    bill_line_id: int
    org_id: int
    center_id: int
    operator_org_id: int
    usage_month: Month
    policy_on: dt.date
    gross_fen: int
    paid_on: dt.date


@dataclass(frozen=True, slots=True)
class OrgFacts:
    org_id: int
    city: str
    in_province: bool


@dataclass
class VoucherLine:
    """One settled bill line: what the policy allows, what is granted, and why."""

    bill_line_id: int
    org_id: int
    city: str
    usage_month: Month
    settlement_month: Month
    spend_fen: int
    entitled_fen: int
    amount_fen: int
    status: VoucherStatus
    pack: str
    adjustment: bool
    steps: list[dict[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def year(self) -> int:
        return self.usage_month.year


def _step(rule: str, parameter: str, value: object, result: object) -> dict[str, str]:
    return {
        "article": ARTICLE,
        "rule": rule,
        "parameter": parameter,
        "value": str(value),
        "result": str(result),
    }


def settle(
    month: Month,
    lines: Sequence[PaidLine],
    orgs: Mapping[int, OrgFacts],
    graph: OwnershipGraph,
    evaluate: Art2Evaluator,
    budget_left_fen: Mapping[int, int],
    awarded_this_year_fen: Mapping[tuple[int, int], int],
) -> list[VoucherLine]:
    """Voucher lines for the paid bill lines of usage months up to ``month`` not yet settled.

    ``budget_left_fen`` is the program budget still available per usage year (the ledger's balance);
    ``awarded_this_year_fen`` is what each (org, year) has already been granted.
    """
    for line in lines:
        if line.usage_month > month:
            raise ValidationError(
                f"bill line {line.bill_line_id} is for {line.usage_month}, after {month}", field="month"
            )
    awarded: dict[tuple[int, int], int] = defaultdict(int, awarded_this_year_fen)
    left: dict[int, int] = defaultdict(int, budget_left_fen)
    out: list[VoucherLine] = []
    positive: list[VoucherLine] = []
    modes: dict[int, Exhaustion] = {}
    # claw-backs first, so the budget they return is there for this month's grants
    ordered = sorted(lines, key=lambda x: (x.gross_fen >= 0, x.usage_month, x.paid_on, x.bill_line_id))
    for line in ordered:
        org = orgs.get(line.org_id)
        if org is None:
            raise ValidationError(f"organization {line.org_id} is unknown", field="org_id")
        self_use = graph.related(OrgId(line.org_id), OrgId(line.operator_org_id))
        year = line.usage_month.year
        already = awarded[(line.org_id, year)]
        case = Art2Case(
            city=org.city,
            in_province=org.in_province,
            self_use=self_use,
            spend=Money.from_fen(abs(line.gross_fen)),
            subsidy_this_year=Money.from_fen(max(already, 0)),
            on=line.policy_on,
        )
        answer = evaluate(case)
        steps = [
            _step(
                "self_use",
                "operator related to user (POLICY position 6)",
                f"user {line.org_id}, operator {line.operator_org_id}",
                self_use,
            ),
            *({k: str(v) for k, v in s.items()} for s in answer.steps),
        ]
        vl = VoucherLine(
            bill_line_id=line.bill_line_id,
            org_id=line.org_id,
            city=org.city,
            usage_month=line.usage_month,
            settlement_month=month,
            spend_fen=line.gross_fen,
            entitled_fen=0,
            amount_fen=0,
            status=VoucherStatus.INELIGIBLE,
            pack=answer.pack,
            adjustment=line.usage_month < month or line.gross_fen < 0,
            steps=steps,
            reasons=list(answer.reasons),
        )
        out.append(vl)
        if not answer.in_force:
            vl.status = VoucherStatus.NOT_IN_FORCE
            continue
        if not answer.eligible or answer.amount_fen <= 0:
            continue
        if line.gross_fen < 0:
            # a correction reduced the spend: take back the voucher it had earned, never more than granted
            back = min(answer.amount_fen, max(already, 0))
            vl.entitled_fen = vl.amount_fen = -back
            vl.status = VoucherStatus.CLAWBACK
            awarded[(line.org_id, year)] -= back
            left[year] += back
            vl.steps.append(
                _step("clawback", "granted this year", Money.from_fen(already), Money.from_fen(-back))
            )
            continue
        vl.entitled_fen = answer.amount_fen
        awarded[(line.org_id, year)] += answer.amount_fen
        modes.setdefault(year, answer.exhaustion)
        positive.append(vl)
    _apply_budget(positive, left, modes)
    return out


def _apply_budget(lines: list[VoucherLine], left: dict[int, int], modes: Mapping[int, Exhaustion]) -> None:
    by_year: dict[int, list[VoucherLine]] = defaultdict(list)
    for vl in lines:
        by_year[vl.year].append(vl)
    for year, group in by_year.items():
        budget = max(left[year], 0)
        total = sum(vl.entitled_fen for vl in group)
        param = f"program_budget:{ARTICLE}:{year}"
        mode = modes.get(year, Exhaustion.QUEUED)
        if total <= budget:
            for vl in group:
                vl.amount_fen, vl.status = vl.entitled_fen, VoucherStatus.GRANTED
                vl.steps.append(_step("budget", param, Money.from_fen(budget), "enough budget"))
                budget -= vl.entitled_fen
        elif mode is Exhaustion.PRO_RATED:
            start = budget
            for vl in group:
                vl.amount_fen = vl.entitled_fen * start // total  # rounded down: never overspends
                vl.status = VoucherStatus.PRO_RATED
                vl.steps.append(
                    _step("budget", param, Money.from_fen(start), f"pro-rated {start}/{total} of entitlement")
                )
                vl.reasons.append("program budget exhausted: the voucher is pro-rated")
                budget -= vl.amount_fen
        else:
            blocked = False
            for vl in group:
                if not blocked and vl.entitled_fen <= budget:
                    vl.amount_fen, vl.status = vl.entitled_fen, VoucherStatus.GRANTED
                    vl.steps.append(_step("budget", param, Money.from_fen(budget), "enough budget"))
                    budget -= vl.entitled_fen
                else:
                    blocked = True
                    vl.amount_fen, vl.status = 0, VoucherStatus.QUEUED
                    vl.steps.append(_step("budget", param, Money.from_fen(budget), "queued until funded"))
                    vl.reasons.append(
                        "program budget exhausted: the voucher is queued until the budget is funded"
                    )
        left[year] = budget


__all__ = [
    "ARTICLE",
    "Art2Answer",
    "Art2Case",
    "Art2Evaluator",
    "Exhaustion",
    "OrgFacts",
    "PaidLine",
    "VoucherLine",
    "VoucherStatus",
    "settle",
]
