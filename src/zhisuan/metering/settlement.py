"""Monthly art. 2 voucher settlement on the database: gather the facts, ask the rule, write and post.

The rule and the budget split are :mod:`zhisuan.metering.vouchers`' (which asks the policy engine);
this module loads the paid bill lines not settled yet, the queued parts, the organizations, what each
has been awarded this year and the program budget left, then writes the voucher lines and posts them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, case, func, select, text
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.accounts import ownership_graph
from zhisuan.core.access import Scope
from zhisuan.core.clock import Clock, Month, parse_date, shanghai_date
from zhisuan.core.errors import ConflictError
from zhisuan.core.money import Money
from zhisuan.core.regions import UNKNOWN_CITY
from zhisuan.metering import postings
from zhisuan.metering._scope import CHUNK, apply_scope
from zhisuan.metering.vouchers import (
    BUDGET_PROGRAM,
    Art2Answer,
    Art2Case,
    Art2Evaluator,
    OrgFacts,
    PaidLine,
    VoucherLine,
    VoucherStatus,
    Waiting,
    settle,
)
from zhisuan.policy import COMPUTE_VOUCHER, PackSet, Step, apply_budget, evaluate, voucher_version
from zhisuan.store.bulk import allocate_ids, insert_rows
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import VoucherLineRow, VoucherSettlementRow
from zhisuan.store.uow import UnitOfWork


def budget_program(packs: PackSet, pack_id: str) -> str:
    """The budget account key of a pack's compute voucher: ``art2`` for the province's; for a city's,
    the id of the first pack of its line of versions (a confirming version keeps the account and the
    annual cap of the version it replaces)."""
    known = {p.id: p for p in packs}
    pack = known.get(pack_id)
    if pack is None or not pack.city_scoped():
        return BUDGET_PROGRAM
    seen = {pack.id}
    while True:
        older = next((o for o in sorted(pack.supersedes) if o in known and known[o].city_scoped()), None)
        if older is None or older in seen:
            return pack.id
        seen.add(older)
        pack = known[older]


def policy_evaluator(packs: PackSet) -> Art2Evaluator:
    """The policy engine's compute-voucher rules, as the settlement asks them: one answer per program.

    The province's article is the one carrying the compute-voucher measure on the usage day (2023 art. 2
    up to 2025-08-10, 2.0 art. 3 from 2025-08-11, or an administrator's revision), never a fixed number;
    after it come the city programs in force for the user's city (POLICY position 19).

    Each distinct case is evaluated once (the engine is pure: the same facts on the same day under the
    same packs give the same decision), the programs in force once per (day, city), and a step the
    engine gives in many decisions is converted once: month-end asks this for every paid bill line.
    """
    programs: dict[tuple[dt.date, str], tuple[tuple[str, str], ...]] = {}
    not_with: dict[str, tuple[str, ...]] = {}
    modes: dict[tuple[str, str, dt.date], str] = {}
    steps: dict[Step, dict[str, str]] = {}
    answers: dict[tuple[Art2Case, str, str], Art2Answer] = {}

    def shown(step: Step) -> dict[str, str]:
        got = steps.get(step)
        if got is None:
            got = steps[step] = step.to_dict() | {"result_zh": step.text("zh")}
        return got

    def in_force(case: Art2Case) -> tuple[tuple[str, str], ...]:
        """(program, budget account) of each program judging the case, the province's first."""
        key = (case.on, case.city)
        got = programs.get(key)
        if got is None:
            version = voucher_version(packs, case.on)
            out = [(version.qualified if version else BUDGET_PROGRAM, BUDGET_PROGRAM)]
            for city in packs.all_for_measure(COMPUTE_VOUCHER, case.on, case.city):
                if packs.pack(city.pack_id).city_scoped():
                    out.append((city.qualified, budget_program(packs, city.pack_id)))
            got = programs[key] = tuple(out)
        return got

    def answer(program: str, case: Art2Case, account: str) -> Art2Answer:
        key = (case, program, account)
        got = answers.get(key)
        if got is not None:
            return got
        d = evaluate(program, case.facts(account), case.on, packs)
        mode = "queued"
        if d.version is not None:
            mkey = (d.version.qualified, d.version.pack_id, case.on)
            if mkey not in modes:
                modes[mkey] = str(d.version.param("budget_exhausted", case.on))
            mode = modes[mkey]
        got = answers[key] = Art2Answer(
            in_force=d.in_force,
            eligible=d.eligible,
            amount_fen=d.amount_fen,
            pack=d.pack or "",
            steps=tuple(shown(s) for s in d.steps),
            reasons=tuple(r.text("both") for r in d.reasons),
            budget_mode=mode,
            article=d.program,
            provisional_parameters=d.provisional_parameters,
            program=account,
            not_with=(not_with.get(d.pack) or not_with.setdefault(d.pack, packs.pack(d.pack).not_with))
            if d.pack
            else (),
        )
        return got

    def run(case: Art2Case) -> list[Art2Answer]:
        return [answer(program, case, account) for program, account in in_force(case)]

    return run


@dataclass
class SettlementResult:
    """A month's settlement: whether this call made it, its lines, granted and queued fen."""

    month: str
    created: bool
    lines: int
    granted_fen: int
    queued_fen: int
    by_status: dict[str, int] = field(default_factory=dict)
    #: estimates on provisional parameters (shown, not granted: POLICY position 16)
    provisional_fen: int = 0
    #: settling a settled month again: its provisional lines re-judged under the packs in force now
    rejudged: int = 0
    rejudged_granted_fen: int = 0
    still_provisional: int = 0

    def rejudged_text(self) -> str:
        """What re-judging the provisional lines did, in one line (the CLI's and the demo's)."""
        got = self.by_status
        granted = got.get(VoucherStatus.GRANTED.value, 0) + got.get(VoucherStatus.PRO_RATED.value, 0)
        parts = [f"{granted} granted {Money.from_fen(self.rejudged_granted_fen).to_decimal():,} yuan"]
        for status, label in (
            (VoucherStatus.QUEUED, "queued for budget"),
            (VoucherStatus.INELIGIBLE, "ineligible"),
        ):
            if got.get(status.value):
                parts.append(f"{got[status.value]} {label}")
        parts.append(f"{self.still_provisional} still provisional")
        return f"re-judged {self.rejudged} provisional lines: {', '.join(parts)}"


def _fund_from_pack(s: Session, packs: PackSet, year: int, clock: Clock) -> None:
    """A pack that sets ``program_budget_per_year`` funds that year's budget once (a ledger posting):
    the province's compute-voucher pack, and each city program's own account."""
    on = dt.date(year, 1, 1)
    province = [v for v in packs.measure_versions(COMPUTE_VOUCHER) if not packs.pack(v.pack_id).city_scoped()]
    version = voucher_version(packs, on) or next((v for v in province if v.effective_from.year <= year), None)
    cities = [
        v
        for v in packs.measure_versions(COMPUTE_VOUCHER)
        if packs.pack(v.pack_id).city_scoped() and v.effective_from.year <= year
    ]
    for v in [version, *cities] if version is not None else cities:
        value = v.param("program_budget_per_year", max(on, v.effective_from))
        if value is None:
            continue
        fen = Money(Fraction(str(value)) if not isinstance(value, Fraction) else value).to_fen()
        if fen > 0:
            program = budget_program(packs, v.pack_id)
            today = shanghai_date(clock.now())
            postings.fund_program(s, year, fen, today, f"pack-{v.pack_id}", clock, program)


# gather ------------------------------------------------------------------------------------------


def _date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else parse_date(str(value))


# the paid bill lines settlement judges: not settled yet, or by id (re-judging provisional lines)
_UNSETTLED = text(
    "SELECT l.id, b.org_id, b.center_id, b.operator_org_id, l.usage_month, l.policy_on, "
    "l.gross_fen, b.paid_on FROM bill_lines l JOIN bills b ON b.id = l.bill_id "
    "WHERE b.state = 'paid' AND l.usage_month <= :m AND l.gross_fen <> 0 "
    "AND NOT EXISTS (SELECT 1 FROM voucher_lines v WHERE v.bill_line_id = l.id)"
)
_BY_ID = text(
    "SELECT l.id, b.org_id, b.center_id, b.operator_org_id, l.usage_month, l.policy_on, "
    "l.gross_fen, b.paid_on FROM bill_lines l JOIN bills b ON b.id = l.bill_id WHERE l.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _paid_line(r: Sequence[Any], months: dict[str, Month] | None = None) -> PaidLine:
    """A row of ``_UNSETTLED`` or ``_BY_ID``; ``months`` keeps each month parsed once (a month's lines
    share a handful of months and days)."""
    months = {} if months is None else months
    month = months.get(r[4])
    if month is None:
        month = months[r[4]] = Month.parse(r[4])
    return PaidLine(r[0], r[1], r[2], r[3], month, _date(r[5]), r[6], _date(r[7]))


def _paid_lines(s: Session, month: Month) -> list[PaidLine]:
    """Non-zero lines of paid bills, usage up to ``month``, that no voucher line settled yet."""
    rows = s.execute(_UNSETTLED, {"m": str(month)}).all()
    months: dict[str, Month] = {}
    return [_paid_line(r, months) for r in rows]


def _provisional(s: Session, month: Month) -> tuple[list[VoucherLineRow], list[PaidLine]]:
    """The ``provisional`` voucher lines settled in ``month`` and the paid bill lines they judged."""
    rows = list(
        s.execute(
            select(VoucherLineRow)
            .where(
                VoucherLineRow.settlement_month == str(month),
                VoucherLineRow.status == VoucherStatus.PROVISIONAL.value,
            )
            .order_by(VoucherLineRow.id)
        ).scalars()
    )
    ids = sorted({r.bill_line_id for r in rows})  # a bill line may have a provisional line per program
    paid = [
        _paid_line(r)
        for i in range(0, len(ids), CHUNK)
        for r in s.execute(_BY_ID, {"ids": ids[i : i + CHUNK]})
    ]
    return rows, paid


def _waiting(s: Session) -> list[Waiting]:
    """Queued voucher parts of earlier settlements (their entitlement decided, their money not)."""
    rows = s.execute(select(VoucherLineRow).where(VoucherLineRow.status == VoucherStatus.QUEUED.value))
    return [
        Waiting(
            w.id,
            w.bill_line_id,
            w.part,
            w.org_id,
            w.usage_year,
            w.entitled_fen,
            w.program,
        )
        for w in rows.scalars()
    ]


def _orgs(s: Session, org_ids: Sequence[int]) -> dict[int, OrgFacts]:
    """City and in-province flag of each organization (art. 2's facts about the user)."""
    orgs: dict[int, OrgFacts] = {}
    for i in range(0, len(org_ids), CHUNK):
        q = select(OrganizationRow.id, OrganizationRow.city_code, OrganizationRow.in_province).where(
            OrganizationRow.id.in_(org_ids[i : i + CHUNK])
        )
        for oid, city, inprov in s.execute(q):
            orgs[oid] = OrgFacts(oid, city or UNKNOWN_CITY, bool(inprov))
    return orgs


def _awarded(s: Session, years: Sequence[int]) -> dict[tuple[int, int, str], int]:
    """Granted or promised per (org, usage year, program) so far: a queued part counts against the
    annual cap of its program."""
    q = (
        select(
            VoucherLineRow.org_id,
            VoucherLineRow.usage_year,
            VoucherLineRow.program,
            func.sum(
                case(
                    (VoucherLineRow.status == VoucherStatus.QUEUED.value, VoucherLineRow.entitled_fen),
                    else_=VoucherLineRow.amount_fen,
                )
            ),
        )
        .where(VoucherLineRow.usage_year.in_(years))
        .group_by(VoucherLineRow.org_id, VoucherLineRow.usage_year, VoucherLineRow.program)
    )
    return {(o, y, program): int(v or 0) for o, y, program, v in s.execute(q)}


def _budgets(s: Session, packs: PackSet, years: Sequence[int]) -> dict[tuple[int, str], int]:
    """What is left of each program's budget per usage year: the province's and each city program's."""
    programs = [BUDGET_PROGRAM, *sorted({budget_program(packs, p.id) for p in packs if p.city_scoped()})]
    return {(y, p): postings.program_budget_left(s, y, p) for y in years for p in programs}


# write -------------------------------------------------------------------------------------------

_VOUCHER_COLUMNS = (
    "id",
    "bill_line_id",
    "program",
    "part",
    "settlement_id",
    "org_id",
    "city",
    "usage_month",
    "usage_year",
    "settlement_month",
    "spend_fen",
    "entitled_fen",
    "amount_fen",
    "status",
    "pack",
    "adjustment",
    "steps",
    "reasons",
)


class _ListEncoder:
    """JSON of lists whose items are often the very same objects (the policy engine's steps and reasons
    of a case are shared by every line judged by it): each item is encoded once. The text is exactly
    ``json.dumps(items, ensure_ascii=False)``'s."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[object, str]] = {}
        self._json = json.JSONEncoder(ensure_ascii=False)  # what json.dumps builds anew on every call

    def __call__(self, items: Sequence[object]) -> str:
        parts = []
        for item in items:
            got = self._done.get(id(item))
            if got is None or got[0] is not item:  # the object is kept, so its id is not reused
                got = self._done[id(item)] = (item, self._json.encode(item))
            parts.append(got[1])
        return f"[{', '.join(parts)}]"


def _write(
    s: Session,
    month: Month,
    lines: Sequence[VoucherLine],
    clock: Clock,
    settlement: VoucherSettlementRow | None = None,
) -> SettlementResult:
    """The settlement row (or ``settlement``'s totals grown), new voucher lines (set-wise), queued
    parts updated, and their postings."""
    today = shanghai_date(clock.now())
    new = [vl for vl in lines if vl.existing_id is None]
    updated = [vl for vl in lines if vl.existing_id is not None]
    granted = sum(vl.amount_fen for vl in lines)
    queued = sum(vl.entitled_fen for vl in new if vl.status is VoucherStatus.QUEUED)
    if settlement is None:
        settlement = VoucherSettlementRow(
            month=str(month), settled_at=clock.now(), lines=len(lines), granted_fen=granted, queued_fen=queued
        )
        s.add(settlement)
    else:
        settlement.lines += len(lines)
        settlement.granted_fen += granted
        settlement.queued_fen += queued
    s.flush()
    ids = allocate_ids(s, VoucherLineRow.__table__, len(new))  # type: ignore[arg-type]
    encode = _ListEncoder()
    insert_rows(
        s,
        VoucherLineRow.__table__,  # type: ignore[arg-type]
        _VOUCHER_COLUMNS,
        [
            (
                i,
                vl.bill_line_id,
                vl.program,
                vl.part,
                settlement.id,
                vl.org_id,
                vl.city,
                str(vl.usage_month),
                vl.year,
                str(month),
                vl.spend_fen,
                vl.entitled_fen,
                vl.amount_fen,
                vl.status.value,
                vl.pack,
                vl.adjustment,
                encode(vl.steps),
                encode(vl.reasons),
            )
            for i, vl in zip(ids, new, strict=True)
        ],
    )
    for vl in updated:
        row = s.get(VoucherLineRow, vl.existing_id)
        assert row is not None
        row.amount_fen, row.entitled_fen, row.status = vl.amount_fen, vl.entitled_fen, vl.status.value
        row.settlement_id, row.settlement_month = settlement.id, str(month)
        row.steps = json.dumps(json.loads(row.steps) + vl.steps, ensure_ascii=False)
    s.flush()
    # the lines of this settlement, new and queued parts granted now, posted set-wise from their rows
    postings.post_settled(s, settlement.id, today, clock)
    by_status: dict[str, int] = defaultdict(int)
    for vl in lines:
        by_status[vl.status.value] += 1
    estimated = sum(vl.entitled_fen for vl in lines if vl.status is VoucherStatus.PROVISIONAL)
    return SettlementResult(str(month), True, len(lines), granted, queued, dict(by_status), estimated)


def settle_vouchers(
    uow: UnitOfWork,
    month: Month,
    clock: Clock,
    packs: PackSet,
    progress: Callable[[str], None] | None = None,
    *,
    actor: str = "system",
) -> SettlementResult:
    """Settle art. 2 vouchers for a month once; settling it again re-judges only its ``provisional``
    lines under the packs in force (see :func:`_rejudge`) and otherwise changes nothing. Audited as
    ``voucher.settle`` (or ``voucher.rejudge``) when anything was written."""
    result = _settle(uow, month, clock, packs, progress)
    if result.created or result.rejudged_granted_fen or result.rejudged != result.still_provisional:
        audit.record(
            uow,
            clock.now(),
            actor,
            "voucher.settle" if result.created else "voucher.rejudge",
            f"month:{month}",
            {
                "lines": result.lines,
                "granted_fen": result.granted_fen if result.created else result.rejudged_granted_fen,
                "queued_fen": result.queued_fen,
                "by_status": result.by_status,
            },
        )
    return result


def _settle(
    uow: UnitOfWork, month: Month, clock: Clock, packs: PackSet, progress: Callable[[str], None] | None
) -> SettlementResult:
    s = uow.session
    done = s.execute(select(VoucherSettlementRow).where(VoucherSettlementRow.month == str(month))).scalar()
    if done is not None:
        return _rejudge(uow, done, month, clock, packs)
    later = s.execute(select(func.max(VoucherSettlementRow.month))).scalar()
    if later is not None and Month.parse(later) > month:
        raise ConflictError(
            f"{later} is already settled; late items of {month} go into the next settlement", field="month"
        )
    paid = _paid_lines(s, month)
    waiting = _waiting(s)
    org_ids = sorted({p.org_id for p in paid} | {w.org_id for w in waiting})
    years = sorted({p.usage_month.year for p in paid} | {w.year for w in waiting})
    for y in years:
        _fund_from_pack(s, packs, y, clock)
    lines = settle(
        month,
        paid,
        _orgs(s, org_ids),
        ownership_graph(uow),
        policy_evaluator(packs),
        lambda claims, left, mode: apply_budget(list(claims), left, mode),  # type: ignore[arg-type,return-value]
        _budgets(s, packs, years),
        _awarded(s, years) if org_ids else {},
        waiting,
    )
    if progress is not None:
        progress(f"evaluated {len(lines)} voucher lines; writing")
    return _write(s, month, lines, clock)


def _rejudge(
    uow: UnitOfWork, done: VoucherSettlementRow, month: Month, clock: Clock, packs: PackSet
) -> SettlementResult:
    """Re-judge a settled month's ``provisional`` lines under the packs in force now.

    A line whose decision no longer rests on a provisional parameter is settled as a first settlement
    would (the program budget, the annual cap, the postings), written as the bill line's next part; the
    provisional line stays as history, marked ``replaced``. Lines still provisional stay so, nothing
    else of the month is touched, and a second run changes nothing. Not a late item: an earlier month
    may be re-judged after later months are settled.
    """
    s = uow.session
    rows, paid = _provisional(s, month)
    result = SettlementResult(str(month), False, done.lines, done.granted_fen, done.queued_fen)
    if not rows:
        return result
    years = sorted({p.usage_month.year for p in paid})
    for y in years:
        _fund_from_pack(s, packs, y, clock)
    org_ids = sorted({p.org_id for p in paid})
    judged = settle(
        month,
        paid,
        _orgs(s, org_ids),
        ownership_graph(uow),
        policy_evaluator(packs),
        lambda claims, left, mode: apply_budget(list(claims), left, mode),  # type: ignore[arg-type,return-value]
        _budgets(s, packs, years),
        _awarded(s, years),
    )
    old = {(r.bill_line_id, r.program): r for r in rows}
    # a line of a program that was not provisional (settled for money already) is not judged again
    judged = [vl for vl in judged if (vl.bill_line_id, vl.program) in old]
    confirmed = {(vl.bill_line_id, vl.program) for vl in judged if vl.status is not VoucherStatus.PROVISIONAL}
    today = shanghai_date(clock.now())
    lines = []
    for vl in judged:
        if (vl.bill_line_id, vl.program) not in confirmed:
            continue
        was = old[(vl.bill_line_id, vl.program)]
        # after the provisional part (a queued remainder one further), among the program's own parts
        vl.part = was.part + 1 + vl.part
        vl.adjustment = True
        step = {
            "article": BUDGET_PROGRAM,
            "rule": "rejudged",
            "parameter": f"provisional voucher line {was.id}",
            "value": today.isoformat(),
            "result": "re-judged under the packs in force",
            "result_zh": "按现行政策包重新核算",
        }
        vl.steps.insert(0, step)
        lines.append(vl)
    for key in sorted(confirmed):
        was = old[key]
        was.status = VoucherStatus.REPLACED.value
        new = next(vl for vl in lines if (vl.bill_line_id, vl.program) == key)
        step = {
            "article": BUDGET_PROGRAM,
            "rule": "replaced",
            "parameter": "packs in force",
            "value": today.isoformat(),
            "result": f"confirmed: part {new.part} is {new.status.value}",
            "result_zh": f"已确认：第 {new.part} 部分为 {new.status.value}",
        }
        was.steps = json.dumps([*json.loads(was.steps), step], ensure_ascii=False)
    written = _write(s, month, lines, clock, settlement=done) if lines else None
    result.lines, result.granted_fen, result.queued_fen = done.lines, done.granted_fen, done.queued_fen
    result.rejudged = len(rows)
    result.rejudged_granted_fen = written.granted_fen if written else 0
    result.still_provisional = len(rows) - len(confirmed)
    if written is not None:
        result.by_status = written.by_status
    return result


def list_vouchers(
    uow: UnitOfWork,
    month: Month | None = None,
    org_id: int | None = None,
    limit: int = 500,
    scope: Scope | None = None,
) -> list[dict[str, object]]:
    """Voucher lines in settlement order (of a settlement month, an organization), with their reasons."""
    q = select(VoucherLineRow).order_by(VoucherLineRow.id).limit(limit)
    q = apply_scope(q, scope, VoucherLineRow.org_id, city_col=VoucherLineRow.city)
    if month is not None:
        q = q.where(VoucherLineRow.settlement_month == str(month))
    if org_id is not None:
        q = q.where(VoucherLineRow.org_id == org_id)
    return [
        {
            "id": v.id,
            "bill_line_id": v.bill_line_id,
            "program": v.program,
            "part": v.part,
            "org_id": v.org_id,
            "city": v.city,
            "usage_month": v.usage_month,
            "settlement_month": v.settlement_month,
            "spend": str(Money.from_fen(v.spend_fen)),
            "entitled": str(Money.from_fen(v.entitled_fen)),
            "amount": str(Money.from_fen(v.amount_fen)),
            "status": v.status,
            "pack": v.pack,
            "adjustment": v.adjustment,
            "steps": json.loads(v.steps),
            "reasons": json.loads(v.reasons),
        }
        for v in uow.session.execute(q).scalars()
    ]


def budget_burn(uow: UnitOfWork) -> list[dict[str, object]]:
    """Vouchers granted per article, usage year and city, with the program budget left."""
    s = uow.session
    q = (
        select(
            VoucherLineRow.usage_year, VoucherLineRow.city, func.sum(VoucherLineRow.amount_fen), func.count()
        )
        .group_by(VoucherLineRow.usage_year, VoucherLineRow.city)
        .order_by(VoucherLineRow.usage_year, VoucherLineRow.city)
    )
    out = []
    for year, city, fen, n in s.execute(q):
        out.append(
            {
                "article": BUDGET_PROGRAM,
                "year": year,
                "city": city,
                "granted": str(Money.from_fen(int(fen or 0))),
                "lines": int(n),
                "budget_left": str(Money.from_fen(postings.program_budget_left(s, year))),
            }
        )
    return out


__all__ = [
    "SettlementResult",
    "budget_burn",
    "budget_program",
    "list_vouchers",
    "policy_evaluator",
    "settle_vouchers",
]
