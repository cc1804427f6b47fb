"""Compute-voucher settlement (art. 2): which paid bill lines earn how much, within the budget.

The rule itself (eligibility, the 20% rate, the annual cap, the pack in force) is the policy engine's:
this module only gathers the facts of each paid bill line, asks the engine through an ``Art2Evaluator``,
and then applies the program budget, which is money the ledger holds, not a policy figure. It never
computes a voucher amount on its own.

Stacking (POLICY position 19): the evaluator answers once per program in force for the user's city —
the province's first, then the city's own — and every program judges the same paid spend. Each program
has its own budget account (``program_budget:art2:YEAR`` for the province, the pack id for a city's) and
its own annual cap; a later program is capped by what the earlier ones left of the spend, so all lines of
a bill line together never exceed it. A program that does not stack with an earlier one granting on the
same usage (either pack's ``not_with`` names the other) gives way: the earlier program wins.

Budget exhaustion (the pack's ``budget_exhausted`` mode, applied by the policy engine's
``apply_budget``): ``queued`` pays claims in order (waiting remainders first, then first paid first)
until the budget is spent; what does not fit waits as a *queued* voucher part retried by the next
settlement. ``pro_rated`` scales every claim by remaining/claimed, down to the fen. Either way the
program budget is never overspent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zhisuan.core.clock import Month
from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.money import Money
from zhisuan.core.orgs import OwnershipGraph

#: the compute-voucher program's name in the ledger (``program_budget:art2:YEAR``): the 2023 article
#: number, kept as the account name; which article judges a month is found by its measure, not by this
BUDGET_PROGRAM = "art2"


class VoucherStatus(StrEnum):
    GRANTED = "granted"
    PRO_RATED = "pro_rated"
    QUEUED = "queued"
    INELIGIBLE = "ineligible"
    NOT_IN_FORCE = "not_in_force"
    #: the decision rests on a provisional parameter: the estimate is shown, nothing is granted
    PROVISIONAL = "provisional"
    #: a provisional estimate re-judged once its parameters were confirmed: the next part decides
    REPLACED = "replaced"
    CLAWBACK = "clawback"


def yuan(fen: int) -> str:
    """Integer fen as a yuan decimal string with two places (no rounding is involved).

    >>> yuan(-5), yuan(4_999_999_999)
    ('-0.05', '49999999.99')
    """
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


@dataclass(frozen=True, slots=True)
class Art2Case:
    """The facts of one bill line, in the policy engine's terms (POLICY.md evaluation contract)."""

    city: str
    in_province: bool
    self_use: bool
    spend_fen: int
    subsidy_this_year_fen: int
    on: dt.date
    #: (program, granted this year) of the city programs stacking on the province's (their own caps)
    stacked_this_year_fen: tuple[tuple[str, int], ...] = ()

    def facts(self, program: str = BUDGET_PROGRAM) -> dict[str, object]:
        """The case as ``program``'s facts; amounts as exact Money (the engine takes it as it is)."""
        got = dict(self.stacked_this_year_fen).get(program, 0)
        return {
            "city": self.city,
            "in_province": self.in_province,
            "self_use": self.self_use,
            "spend": Money.from_fen(self.spend_fen),
            "subsidy_this_year": Money.from_fen(
                self.subsidy_this_year_fen if program == BUDGET_PROGRAM else got
            ),
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
    budget_mode: str = "queued"  # the pack's ``budget_exhausted``: queued or pro_rated
    article: str = BUDGET_PROGRAM  # the article that judged the case, e.g. art2 or art3
    provisional_parameters: tuple[str, ...] = ()  # non-empty: an estimate, no money (position 16)
    program: str = BUDGET_PROGRAM  # the budget account it is funded from: art2, or a city pack's id
    not_with: tuple[str, ...] = ()  # programs (``pack/artN``) this one does not stack with

    @property
    def qualified(self) -> str:
        """``pack/artN``, as ``not_with`` names programs."""
        return f"{self.pack}/{self.article}"


#: one answer, or one per program in force for the case's city (the province's first)
Art2Evaluator = Callable[[Art2Case], "Art2Answer | Sequence[Art2Answer]"]


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


@dataclass(frozen=True, slots=True)
class Waiting:
    """A queued voucher part from an earlier settlement: its entitlement is decided, its money is not."""

    voucher_line_id: int
    bill_line_id: int
    part: int
    org_id: int
    year: int
    entitled_fen: int
    program: str = BUDGET_PROGRAM


@dataclass
class VoucherLine:
    """One settled part of a bill line: what the policy allows, what is granted, and why.

    ``existing_id`` is set when the line is a queued part of an earlier settlement being settled now.
    """

    bill_line_id: int
    part: int
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
    steps: list[Mapping[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    existing_id: int | None = None
    program: str = BUDGET_PROGRAM

    @property
    def year(self) -> int:
        return self.usage_month.year


def _step(
    rule: str, parameter: str, value: object, result: object, article: str = BUDGET_PROGRAM, *, zh: str = ""
) -> dict[str, str]:
    """A settlement step; ``zh`` is its result in Chinese for the pages (the policy engine's steps carry
    theirs as ``result_zh`` too)."""
    return {
        "article": article,
        "rule": rule,
        "parameter": parameter,
        "value": str(value),
        "result": str(result),
        "result_zh": zh or str(result),
    }


#: a program budget's modes in Chinese, for the budget step
_MODE_ZH = {"queued": "预算用尽时排队", "pro_rated": "预算用尽时按比例"}

BudgetFn = Callable[[Sequence[int], int, str], tuple[Sequence[int], Sequence[int]]]


def _answers(got: Art2Answer | Sequence[Art2Answer]) -> list[Art2Answer]:
    return [got] if isinstance(got, Art2Answer) else list(got)


def _excluded(answer: Art2Answer, earlier: Sequence[Art2Answer]) -> Art2Answer | None:
    """The earlier program granting on the same usage that this one does not stack with, if any."""
    for other in earlier:
        if not (other.in_force and other.eligible and other.amount_fen > 0):
            continue
        if other.qualified in answer.not_with or answer.qualified in other.not_with:
            return other
    return None


def _keyed(mapping: Mapping[Any, int], width: int) -> dict[Any, int]:
    """Keys without a program (``(org, year)`` or ``year``) mean the province's program."""
    out: dict[Any, int] = defaultdict(int)
    for key, value in mapping.items():
        parts = key if isinstance(key, tuple) else (key,)
        out[parts if len(parts) > width else (*parts, BUDGET_PROGRAM)] += value
    return out


def _judge(
    month: Month,
    line: PaidLine,
    org: OrgFacts,
    answer: Art2Answer,
    head: list[Mapping[str, str]],
    room: int,
    excluded_by: Art2Answer | None,
    awarded: dict[tuple[int, int, str], int],
    left: dict[tuple[int, str], int],
) -> tuple[VoucherLine, bool]:
    """One program's line for a paid bill line, and whether it claims budget (granted later, in order).

    ``room``: what the earlier programs left of the spend (the stacking cap).
    """
    year, program = line.usage_month.year, answer.program
    vl = VoucherLine(
        bill_line_id=line.bill_line_id,
        part=0,
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
        # the engine's steps as it gave them: one dict shared by every line showing that step (read-only)
        steps=[*head, *answer.steps],
        reasons=list(answer.reasons),
        program=program,
    )
    if not answer.in_force:
        vl.status = VoucherStatus.NOT_IN_FORCE
        return vl, False
    amount = answer.amount_fen if answer.eligible else 0
    if excluded_by is not None and amount > 0:
        vl.steps.append(
            _step(
                "not_with",
                excluded_by.qualified,
                "does not stack",
                "granted 0",
                answer.article,
                zh="不叠加：给予 0",
            )
        )
        vl.reasons.append(
            f"不与 {excluded_by.qualified} 叠加 / does not stack with {excluded_by.qualified}, which applies"
        )
        return vl, False
    if amount > room:
        vl.steps.append(
            _step(
                "stacking",
                "spend left by earlier programs",
                yuan(room),
                yuan(room),
                answer.article,
                zh=f"按前序政策剩余费用计：{yuan(room)}",
            )
        )
        amount = room
    if answer.provisional_parameters:
        # POLICY position 16: no money on a provisional parameter; the estimate is kept, granted 0
        names = ", ".join(answer.provisional_parameters)
        vl.status = VoucherStatus.PROVISIONAL
        vl.entitled_fen = amount if line.gross_fen > 0 else 0
        vl.steps.append(
            _step(
                "provisional",
                names,
                yuan(vl.entitled_fen),
                "no money until confirmed",
                answer.article,
                zh="参数确认前不发放",
            )
        )
        vl.reasons.append(
            f"暂定参数（{names}）：估算 {yuan(vl.entitled_fen)} 元，确认前不发放 / rests on provisional "
            f"parameter(s) {names}; estimate {yuan(vl.entitled_fen)}, no money until confirmed"
        )
        return vl, False
    if amount <= 0:
        return vl, False
    already = awarded[(line.org_id, year, program)]
    if line.gross_fen < 0:
        # a correction reduced the spend: take back the voucher it had earned, never more than granted
        back = min(amount, max(already, 0))
        vl.entitled_fen = vl.amount_fen = -back
        vl.status = VoucherStatus.CLAWBACK
        awarded[(line.org_id, year, program)] -= back
        left[(year, program)] += back
        vl.steps.append(
            _step(
                "clawback",
                "granted this year",
                yuan(already),
                yuan(-back),
                answer.article,
                zh=f"追回：{yuan(-back)}",
            )
        )
        return vl, False
    vl.entitled_fen = amount
    awarded[(line.org_id, year, program)] += amount
    return vl, True


def _split(
    month: Month,
    key: tuple[int, str],
    group: Sequence[VoucherLine],
    mode: str,
    left: dict[tuple[int, str], int],
    apply_budget: BudgetFn,
    out: list[VoucherLine],
) -> None:
    """Pay one program's claims of one year from its budget: granted, pro-rated or queued."""
    year, program = key
    budget = max(left[key], 0)
    paid, deferred = apply_budget([vl.entitled_fen for vl in group], budget, mode)
    param = f"program_budget:{program}:{year}"
    for vl, got, rest in zip(group, paid, deferred, strict=True):
        got, rest = int(got), int(rest)
        vl.steps.append(
            _step(
                "budget",
                param,
                yuan(budget),
                f"{mode}: granted {yuan(got)}",
                zh=f"{_MODE_ZH.get(mode, mode)}；给予 {yuan(got)}",
            )
        )
        if rest == 0:
            vl.amount_fen, vl.status = got, VoucherStatus.GRANTED
        elif mode == "pro_rated":
            vl.amount_fen, vl.status = got, VoucherStatus.PRO_RATED
            vl.reasons.append(f"program budget {year} exhausted: pro-rated to {yuan(got)}")
        elif got == 0:
            if vl.existing_id is not None:
                continue  # still waiting, nothing changes
            vl.status = VoucherStatus.QUEUED
            vl.reasons.append(f"program budget {year} exhausted: queued until it is funded")
        else:
            # paid in part: this part is granted what fits, the rest waits as a new queued part
            vl.entitled_fen, vl.amount_fen, vl.status = got, got, VoucherStatus.GRANTED
            vl.reasons.append(f"program budget {year} exhausted: {yuan(rest)} queued")
            out.append(
                VoucherLine(
                    bill_line_id=vl.bill_line_id,
                    part=vl.part + 1,
                    org_id=vl.org_id,
                    city=vl.city,
                    usage_month=vl.usage_month,
                    settlement_month=month,
                    spend_fen=0,
                    entitled_fen=rest,
                    amount_fen=0,
                    status=VoucherStatus.QUEUED,
                    pack=vl.pack,
                    adjustment=True,
                    steps=[_step("budget", param, yuan(0), "queued until funded", zh="排队，待资金到位")],
                    reasons=[f"program budget {year} exhausted: queued until it is funded"],
                    program=program,
                )
            )
        if vl.existing_id is not None:
            out.append(vl)
        budget -= got
    left[key] = budget


def settle(
    month: Month,
    lines: Sequence[PaidLine],
    orgs: Mapping[int, OrgFacts],
    graph: OwnershipGraph,
    evaluate: Art2Evaluator,
    apply_budget: BudgetFn,
    budget_left_fen: Mapping[Any, int],
    awarded_this_year_fen: Mapping[Any, int],
    waiting: Sequence[Waiting] = (),
    budget_modes: Mapping[int, str] | None = None,
) -> list[VoucherLine]:
    """Voucher lines for paid bill lines (usage months up to ``month``) and for queued parts.

    ``budget_left_fen``: budget still available per usage year (the province's program) or per
    (year, program); ``awarded_this_year_fen``: what each (org, year) or (org, year, program) has been
    granted or promised so far; ``apply_budget``: the policy engine's split of claims into (paid,
    deferred) for a mode. One line per program in force per paid bill line (see the module docstring).
    """
    for line in lines:
        if line.usage_month > month:
            raise ValidationError(
                f"bill line {line.bill_line_id} is for {line.usage_month}, after {month}", field="month"
            )
    awarded: dict[tuple[int, int, str], int] = _keyed(awarded_this_year_fen, 2)
    left: dict[tuple[int, str], int] = _keyed(budget_left_fen, 1)
    modes: dict[tuple[int, str], str] = {(y, BUDGET_PROGRAM): m for y, m in (budget_modes or {}).items()}
    out: list[VoucherLine] = []
    claims: dict[tuple[int, str], list[VoucherLine]] = defaultdict(list)
    for w in sorted(waiting, key=lambda w: w.voucher_line_id):
        holder = orgs[w.org_id]
        vl = VoucherLine(
            bill_line_id=w.bill_line_id,
            part=w.part,
            org_id=w.org_id,
            city=holder.city,
            usage_month=Month(w.year, 1),
            settlement_month=month,
            spend_fen=0,
            entitled_fen=w.entitled_fen,
            amount_fen=0,
            status=VoucherStatus.QUEUED,
            pack="",
            adjustment=True,
            existing_id=w.voucher_line_id,
            program=w.program,
        )
        claims[(w.year, w.program)].append(vl)
    related: dict[tuple[int, int], bool] = {}
    # the self-use step of each (user, operator), one object shared by its lines (read-only)
    heads: dict[tuple[int, int], list[Mapping[str, str]]] = {}
    programs = {p for (_, _, p) in awarded}
    # claw-backs first, so the budget they return is there for this month's grants
    ordered = sorted(lines, key=lambda x: (x.gross_fen >= 0, x.usage_month, x.paid_on, x.bill_line_id))
    for line in ordered:
        org = orgs.get(line.org_id)
        if org is None:
            raise ValidationError(f"organization {line.org_id} is unknown", field="org_id")
        pair = (line.org_id, line.operator_org_id)
        self_use = related.get(pair)
        if self_use is None:
            self_use = related[pair] = graph.related(OrgId(line.org_id), OrgId(line.operator_org_id))
        year = line.usage_month.year
        # by program (a handful), not a scan of every org's awards: that made settlement quadratic
        mine = {
            p: max(awarded[(line.org_id, year, p)], 0) for p in programs if (line.org_id, year, p) in awarded
        }
        case = Art2Case(
            city=org.city,
            in_province=org.in_province,
            self_use=self_use,
            spend_fen=abs(line.gross_fen),
            subsidy_this_year_fen=mine.get(BUDGET_PROGRAM, 0),
            on=line.policy_on,
            stacked_this_year_fen=tuple(sorted((p, v) for p, v in mine.items() if p != BUDGET_PROGRAM)),
        )
        head = heads.get(pair)
        if head is None:
            head = heads[pair] = [
                _step(
                    "self_use",
                    "operator related to user (art. 2: self-use includes related parties)",
                    f"user {line.org_id}, operator {line.operator_org_id}",
                    self_use,
                    zh="是" if self_use else "否",
                )
            ]
        room = abs(line.gross_fen)
        earlier: list[Art2Answer] = []
        for answer in _answers(evaluate(case)):
            vl, claims_budget = _judge(
                month, line, org, answer, head, room, _excluded(answer, earlier), awarded, left
            )
            earlier.append(answer)
            room -= abs(vl.entitled_fen)
            out.append(vl)
            programs.add(vl.program)
            if claims_budget:
                modes.setdefault((year, vl.program), answer.budget_mode)
                claims[(year, vl.program)].append(vl)
    for key, group in sorted(claims.items()):
        _split(month, key, group, modes.get(key, "queued"), left, apply_budget, out)
    return out


__all__ = [
    "BUDGET_PROGRAM",
    "Art2Answer",
    "Art2Case",
    "Art2Evaluator",
    "BudgetFn",
    "OrgFacts",
    "PaidLine",
    "VoucherLine",
    "VoucherStatus",
    "Waiting",
    "settle",
]
