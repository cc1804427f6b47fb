# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Drafting a month's bills in three stages: select the usage to bill, price it, write the bills.

*Select* (in SQL): each billing run covers the usage records up to a watermark that the previous run
did not cover, minus the usage of jobs in open dispute (held), plus held usage since released and the
usage of voided bills; card-seconds are summed per bill-line key in one pass. *Price* (pure): lines
per organization × center, each rounded once (:func:`zhisuan.metering.bill_lines.price_lines`). *Write*:
bills, lines and their source runs, set-wise.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.clock import Clock, Month, parse_date
from zhisuan.core.errors import ConflictError, ValidationError
from zhisuan.metering import rollups
from zhisuan.metering.bill_lines import DEFAULT_VAT_RATE, BillLine, BillState, LineKey, price_lines
from zhisuan.metering.model import DisputeState, UsageKind
from zhisuan.store.bulk import allocate_ids, insert_rows
from zhisuan.store.models.compute import CenterRow, PoolRow
from zhisuan.store.models.metering import (
    BillingRunRow,
    BillLineRow,
    BillRow,
    BillSourceRow,
    UsageDisputeRow,
    UsageHoldRow,
    UsageRecordRow,
)
from zhisuan.store.uow import UnitOfWork

# Integer keys hash fastest (text aggregates cost more than the scan): the usage month follows from
# policy_on (a day inside that month), the accelerator from the pool, and the kind is split by
# filtered sums instead of being a key. Records count one each; a roll-up counts its records.
_GROUP = "u.org_id, u.center_id, u.pool_id, u.price_fen_per_card_hour, u.discount_bp, u.policy_on"
_RECORD_SUMS = (
    "COUNT(*) FILTER (WHERE u.kind = 'usage'), SUM(u.card_seconds) FILTER (WHERE u.kind = 'usage'), "
    "COUNT(*) FILTER (WHERE u.kind <> 'usage'), SUM(u.card_seconds) FILTER (WHERE u.kind <> 'usage')"
)
_ROLLUP_SUMS = (
    "SUM(u.records) FILTER (WHERE u.kind = 'usage'), SUM(u.card_seconds) FILTER (WHERE u.kind = 'usage'), "
    "SUM(u.records) FILTER (WHERE u.kind <> 'usage'), SUM(u.card_seconds) FILTER (WHERE u.kind <> 'usage')"
)
_OPEN_DISPUTE = (
    "EXISTS (SELECT 1 FROM usage_disputes d WHERE d.state = 'open' AND d.engine = u.engine "
    "AND d.engine_job_id = u.engine_job_id AND d.usage_month = u.usage_month)"
)

# (org, center, usage month, policy_on, pool, accelerator, price, discount, kind)
GroupKey = tuple[int, int, str, dt.date, int, str, int, int, str]
BillScope = tuple[int, int]  # (org, center): one bill


@dataclass
class DraftResult:
    """What drafting a month did: its billing run, bills and lines written, usage records held."""

    run_id: int | None
    bills: int
    lines: int
    gross_fen: int
    held_records: int


@dataclass
class _Selection:
    """Card-seconds per bill-line key, the billing runs each bill draws on, usage held out."""

    groups: dict[GroupKey, int] = field(default_factory=dict)
    sources: dict[BillScope, set[int]] = field(default_factory=lambda: defaultdict(set))
    held: int = 0

    def add(self, more: Mapping[GroupKey, int], run_id: int) -> None:
        for k, v in more.items():
            self.groups[k] = self.groups.get(k, 0) + v
            self.sources[(k[0], k[1])].add(run_id)


# select ------------------------------------------------------------------------------------------


def _region(run: BillingRunRow, alias: str = "u", id_column: str = "id") -> tuple[str, dict[str, object]]:
    """SQL condition for the usage a run covers (before holds) and its parameters (``id_column``:
    ``last_id`` for roll-ups, which a run covers whole or not at all)."""
    p = f"r{run.id}_"
    ident = f"{alias}.{id_column}"
    cond = f"({ident} <= :{p}w AND {alias}.usage_month <= :{p}m"
    params: dict[str, object] = {f"{p}w": run.watermark, f"{p}m": run.month}
    if run.prev_month is not None:
        cond += f" AND NOT ({alias}.usage_month <= :{p}pm AND {ident} <= :{p}pw)"
        params[f"{p}pm"] = run.prev_month
        params[f"{p}pw"] = run.prev_watermark
    return cond + ")", params


#: (records, card-seconds) per bill-line key
Counted = dict[GroupKey, tuple[int, int]]


def _counted(s: Session, where: str, params: dict[str, object], *, rollups: bool = False) -> Counted:
    """Records and card-seconds per bill-line key of the usage records (or roll-ups) matching ``where``
    (one pass, in SQL)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SET LOCAL jit = off"))  # JIT compilation costs more than it saves here
    accelerators: dict[int, str] = dict(s.execute(select(PoolRow.id, PoolRow.accelerator)).all())
    table, sums = ("usage_rollups", _ROLLUP_SUMS) if rollups else ("usage_records", _RECORD_SUMS)
    sql = f"SELECT {_GROUP}, {sums} FROM {table} u WHERE {where} GROUP BY {_GROUP}"
    out: Counted = {}
    for org, center, pool, price, disc, on, n_used, used, n_reversed, reversed_ in s.execute(
        text(sql), params
    ):
        policy_on = on if isinstance(on, dt.date) else parse_date(str(on))
        month = str(Month.of_date(policy_on))
        for kind, n, cs in (
            (UsageKind.USAGE.value, n_used, used),
            (UsageKind.REVERSAL.value, n_reversed, reversed_),
        ):
            if n:
                key: GroupKey = (org, center, month, policy_on, pool, accelerators[pool], price, disc, kind)
                had = out.get(key, (0, 0))
                out[key] = (had[0] + int(n), had[1] + int(cs))
    return out


def _aggregate(s: Session, where: str, params: dict[str, object]) -> dict[GroupKey, int]:
    """Card-seconds per bill-line key of the usage records matching ``where`` (one pass, in SQL)."""
    return {k: cs for k, (_n, cs) in _counted(s, where, params).items()}


def _less(whole: Counted, part: Counted) -> dict[GroupKey, int]:
    """Card-seconds per key of ``whole`` without ``part`` (a key left with no record is gone)."""
    out: dict[GroupKey, int] = {}
    for k, (n, cs) in whole.items():
        pn, pcs = part.get(k, (0, 0))
        if n - pn:
            out[k] = cs - pcs
    return out


def _open_run(s: Session, month: Month, clock: Clock) -> BillingRunRow:
    """A new billing run for ``month``: months are drafted in order; it covers usage up to now."""
    rollups.opening_run(s)
    prev = s.execute(select(BillingRunRow).order_by(BillingRunRow.id.desc()).limit(1)).scalar()
    if prev is not None and Month.parse(prev.month) > month:
        raise ConflictError(
            f"bills of {prev.month} are already drafted; "
            f"late usage of {month} goes on the next month's bills",
            field="month",
        )
    watermark = int(s.execute(select(func.coalesce(func.max(UsageRecordRow.id), 0))).scalar_one())
    run = BillingRunRow(
        month=str(month),
        watermark=watermark,
        prev_month=prev.month if prev else None,
        prev_watermark=prev.watermark if prev else 0,
        created_at=clock.now(),
    )
    s.add(run)
    s.flush()
    return run


def _select_new(s: Session, run: BillingRunRow, chosen: _Selection, *, from_records: bool) -> None:
    """The run's own usage, from the roll-ups (or, ``from_records``, the records themselves); that of
    jobs in open dispute is held: written to ``usage_holds`` and taken out of the sums."""
    region, params = _region(run)
    disputes_open = s.execute(
        select(func.count())
        .select_from(UsageDisputeRow)
        .where(UsageDisputeRow.state == DisputeState.OPEN.value)
    ).scalar_one()
    if disputes_open:
        chosen.held = int(
            s.execute(
                text(
                    "INSERT INTO usage_holds (usage_id, held_in_run) SELECT u.id, :run FROM usage_records u "
                    f"WHERE {region} AND {_OPEN_DISPUTE}"
                ),
                {**params, "run": run.id},
            ).rowcount  # type: ignore[attr-defined]
            or 0
        )
    if from_records:
        whole = _counted(s, region, params)
    else:
        whole = _counted(s, *_region(run, id_column="last_id"), rollups=True)
    held: Counted = {}
    if chosen.held:
        held_where = f"u.id IN (SELECT h.usage_id FROM usage_holds h WHERE h.held_in_run = {int(run.id)})"
        held = _counted(s, held_where, {})
    chosen.add(_less(whole, held), run.id)


def _select_released(s: Session, run: BillingRunRow, month: Month, chosen: _Selection) -> None:
    """Usage held by earlier runs whose dispute is no longer open: billed now, marked billed."""
    waiting_holds = s.execute(
        select(func.count()).select_from(UsageHoldRow).where(UsageHoldRow.billed_in_run.is_(None))
    ).scalar_one()
    if not waiting_holds:
        return
    released_where = (
        "u.id IN (SELECT h.usage_id FROM usage_holds h "
        "WHERE h.billed_in_run IS NULL AND h.held_in_run <> :run) "
        f"AND u.usage_month <= :m AND NOT {_OPEN_DISPUTE}"
    )
    params = {"run": run.id, "m": str(month)}
    chosen.add(_aggregate(s, released_where, params), run.id)
    s.execute(
        text(
            "UPDATE usage_holds SET billed_in_run = :run "
            "WHERE billed_in_run IS NULL AND held_in_run <> :run "
            f"AND usage_id IN (SELECT u.id FROM usage_records u WHERE {released_where})"
        ),
        params,
    )


def _select_voided(s: Session, run: BillingRunRow, chosen: _Selection) -> None:
    """The usage of bills voided since the last run (what their source runs covered), billed again."""
    voided = (
        s.execute(
            select(BillRow).where(BillRow.state == BillState.VOID.value, BillRow.reopened_in_run.is_(None))
        )
        .scalars()
        .all()
    )
    for bill in voided:
        scope = (bill.org_id, bill.center_id)
        runs = (
            s.execute(
                select(BillingRunRow)
                .join(BillSourceRow, BillSourceRow.run_id == BillingRunRow.id)
                .where(BillSourceRow.bill_id == bill.id)
            )
            .scalars()
            .all()
        )
        for src in runs:
            cond, p = _region(src)
            p = {**p, "org": bill.org_id, "center": bill.center_id}
            where = (
                f"{cond} AND u.org_id = :org AND u.center_id = :center AND NOT {_OPEN_DISPUTE} "
                f"AND u.id NOT IN (SELECT usage_id FROM usage_holds WHERE held_in_run = {src.id})"
            )
            for k, v in _aggregate(s, where, p).items():
                chosen.groups[k] = chosen.groups.get(k, 0) + v
            chosen.sources[scope].add(src.id)
        chosen.sources[scope].add(run.id)
        bill.reopened_in_run = run.id


# price -------------------------------------------------------------------------------------------


def price_bills(
    groups: Mapping[GroupKey, int], month: Month, vat_rate: Fraction = DEFAULT_VAT_RATE
) -> dict[BillScope, list[BillLine]]:
    """Bill lines per organization × center for ``month``: earlier months and reversals are adjustments."""
    sums: dict[BillScope, dict[LineKey, int]] = defaultdict(lambda: defaultdict(int))
    for k, cs in groups.items():
        if cs == 0 and k[8] != UsageKind.REVERSAL.value:
            continue
        um = Month.parse(k[2])
        lk = LineKey(um, k[3], k[4], k[5], k[6], k[7], um < month or k[8] == UsageKind.REVERSAL.value)
        sums[(k[0], k[1])][lk] += cs
    return {scope: price_lines(lines, vat_rate) for scope, lines in sums.items()}


# write -------------------------------------------------------------------------------------------

_BILL_COLUMNS = (
    "id",
    "run_id",
    "org_id",
    "center_id",
    "operator_org_id",
    "month",
    "state",
    "vat_rate_ppm",
    "gross_fen",
    "vat_fen",
    "created_at",
)
_LINE_COLUMNS = (
    "bill_id",
    "usage_month",
    "policy_on",
    "pool_id",
    "accelerator",
    "price_fen_per_card_hour",
    "discount_bp",
    "adjustment",
    "card_seconds",
    "gross_fen",
    "vat_fen",
)


def _operators(s: Session, centers: set[int]) -> dict[int, int]:
    """Each center's operator (the bill names it for art. 2's self-use test); every center known."""
    operators: dict[int, int] = dict(s.execute(select(CenterRow.id, CenterRow.operator_org_id)).all())
    missing = sorted(centers - set(operators))
    if missing:
        raise ValidationError(f"usage names center {missing[0]}, which is not registered", field="center_id")
    return operators


def _write(
    s: Session,
    run: BillingRunRow,
    bills: Mapping[BillScope, list[BillLine]],
    sources: Mapping[BillScope, set[int]],
    operators: Mapping[int, int],
    vat_rate: Fraction,
    clock: Clock,
) -> tuple[int, int]:
    """Draft bills, their lines and source runs, set-wise; (lines written, gross total in fen)."""
    scopes = sorted(bills)
    bill_ids = allocate_ids(s, BillRow.__table__, len(scopes))  # type: ignore[arg-type]
    vat_ppm = int(vat_rate * 1_000_000)
    now = clock.now()
    bill_rows: list[tuple[object, ...]] = []
    line_rows: list[tuple[object, ...]] = []
    total = 0
    for bill_id, (org, center) in zip(bill_ids, scopes, strict=True):
        lines = bills[(org, center)]
        gross_sum = sum(ln.gross_fen for ln in lines)
        vat_sum = sum(ln.vat_fen for ln in lines)
        line_rows.extend(
            (
                bill_id,
                str(ln.key.usage_month),
                ln.key.policy_on,
                ln.key.pool_id,
                ln.key.accelerator,
                ln.key.price_fen_per_card_hour,
                ln.key.discount_bp,
                ln.key.adjustment,
                ln.card_seconds,
                ln.gross_fen,
                ln.vat_fen,
            )
            for ln in lines
        )
        total += gross_sum
        bill_rows.append(
            (
                bill_id,
                run.id,
                org,
                center,
                operators[center],
                run.month,
                BillState.DRAFT.value,
                vat_ppm,
                gross_sum,
                vat_sum,
                now,
            )
        )
    insert_rows(s, BillRow.__table__, _BILL_COLUMNS, bill_rows)  # type: ignore[arg-type]
    insert_rows(s, BillLineRow.__table__, _LINE_COLUMNS, line_rows)  # type: ignore[arg-type]
    insert_rows(
        s,
        BillSourceRow.__table__,  # type: ignore[arg-type]
        ("bill_id", "run_id"),
        [
            (bid, r)
            for bid, scope in zip(bill_ids, scopes, strict=True)
            for r in sorted(sources.get(scope) or {run.id})
        ],
    )
    return len(line_rows), total


def draft_bills(
    uow: UnitOfWork,
    month: Month,
    clock: Clock,
    vat_rate: Fraction = DEFAULT_VAT_RATE,
    *,
    actor: str = "system",
    from_records: bool = False,
) -> DraftResult:
    """Draft the month's bills per org × center from usage not billed yet (aggregated in SQL).

    Usage of jobs in open dispute is held out; held usage that was released, and the usage of voided
    bills, is billed now. Months are drafted in order; late usage of an earlier month becomes
    adjustment lines on this month's bill. The run's new usage is read from the per-day roll-ups
    (:mod:`zhisuan.metering.rollups`); ``from_records`` sums the records instead (the same bills: a
    check, and what the tests compare).
    """
    s = uow.session
    run = _open_run(s, month, clock)
    chosen = _Selection()
    _select_new(s, run, chosen, from_records=from_records)
    _select_released(s, run, month, chosen)
    _select_voided(s, run, chosen)
    if not chosen.groups:
        s.flush()
        return DraftResult(run.id, 0, 0, 0, chosen.held)
    operators = _operators(s, {k[1] for k in chosen.groups})
    bills = price_bills(chosen.groups, month, vat_rate)
    lines, gross = _write(s, run, bills, chosen.sources, operators, vat_rate, clock)
    audit.record(
        uow,
        clock.now(),
        actor,
        "bill.draft",
        f"month:{month}",
        {"run": run.id, "bills": len(bills), "lines": lines, "gross_fen": gross, "vat_rate": str(vat_rate)},
    )
    return DraftResult(run.id, len(bills), lines, gross, chosen.held)


__all__ = ["DraftResult", "draft_bills", "price_bills"]
