# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Metering on the database: import usage, reconcile, draft/issue/pay/void bills, settle vouchers.

Every function takes a :class:`UnitOfWork` already entered; none commits. The caller commits once,
so an import or a settlement is all-or-nothing: a crash leaves the database as before.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import case, false, func, or_, select, text, update
from sqlalchemy.orm import Session

from zhisuan.accounts import ownership_graph
from zhisuan.core.access import Scope
from zhisuan.core.clock import Clock, Month, parse_date, parse_timestamp, shanghai_date
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.ids import MAX_ID
from zhisuan.core.money import Money
from zhisuan.ledger import services as ledger
from zhisuan.ledger.bulk import allocate_ids, insert_rows, insert_staged, stage
from zhisuan.ledger.model import (
    Account,
    Posting,
    bill_line_posting,
    bill_void_posting,
    budget_posting,
    payment_posting,
    voucher_posting,
)
from zhisuan.metering.model import (
    BP,
    DEFAULT_VAT_RATE,
    Band,
    BillState,
    Discount,
    DisputeState,
    LineKey,
    ObservedRun,
    PoolRate,
    RateCard,
    RawUsage,
    Tolerance,
    UsageKind,
    UsageRecord,
    check_transition,
    line_amount_fen,
    reconcile,
    split_usage,
    vat_fen,
)
from zhisuan.metering.vouchers import (
    ARTICLE,
    Art2Answer,
    Art2Case,
    Art2Evaluator,
    OrgFacts,
    PaidLine,
    VoucherStatus,
    Waiting,
    settle,
)
from zhisuan.policy import PackSet, apply_budget, default_packs, evaluate
from zhisuan.store.models.compute import CenterRow, JobRow, JobRunRow, PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import (
    BillingRunRow,
    BillLineRow,
    BillRow,
    BillSourceRow,
    DiscountRow,
    PoolRateRow,
    UsageDisputeRow,
    UsageHoldRow,
    UsageRecordRow,
    VoucherLineRow,
    VoucherSettlementRow,
)
from zhisuan.store.uow import UnitOfWork

_CHUNK = 5000
USAGE_COLUMNS = (
    "engine",
    "engine_job_id",
    "org_id",
    "center_id",
    "pool_id",
    "accelerator",
    "cards",
    "start",
    "end",
)
_RECORD_COLUMNS = (
    "key",
    "engine",
    "engine_job_id",
    "org_id",
    "center_id",
    "pool_id",
    "accelerator",
    "cards",
    "start_at",
    "end_at",
    "card_seconds",
    "price_fen_per_card_hour",
    "discount_bp",
    "amount_fen",
    "kind",
    "revision",
    "reverses",
    "usage_month",
    "policy_on",
)


def _today(clock: Clock) -> dt.date:
    return shanghai_date(clock.now())


def _apply_scope(
    q: Any,
    scope: Scope | None,
    org_col: Any,
    operator_col: Any = None,
    center_col: Any = None,
    city_col: Any = None,
) -> Any:
    """Filter a listing to what :func:`zhisuan.core.access.visible_scope` lets the caller read."""
    if scope is None or scope.everything:
        return q
    if scope.nothing:
        return q.where(false())
    conds = []
    if scope.org_ids:
        conds.append(org_col.in_(sorted(scope.org_ids)))
    if scope.operator_org_ids:
        ops = sorted(scope.operator_org_ids)
        if operator_col is not None:
            conds.append(operator_col.in_(ops))
        elif center_col is not None:
            conds.append(center_col.in_(select(CenterRow.id).where(CenterRow.operator_org_id.in_(ops))))
    if scope.city_code:
        if city_col is not None:
            conds.append(city_col == scope.city_code)
        else:
            conds.append(
                org_col.in_(select(OrganizationRow.id).where(OrganizationRow.city_code == scope.city_code))
            )
    return q.where(or_(*conds)) if conds else q.where(false())


# centers, prices ---------------------------------------------------------------------------------


def _band_json(b: Band) -> dict[str, object]:
    return {
        "start": b.start.strftime("%H:%M"),
        "end": b.end.strftime("%H:%M"),
        "price_fen": b.price_fen_per_card_hour,
        "name": b.name,
    }


def set_pool_rate(uow: UnitOfWork, rate: PoolRate) -> None:
    """Add a price version for a pool (a new effective date; earlier usage keeps its price)."""
    s = uow.session
    clash = s.execute(
        select(PoolRateRow).where(
            PoolRateRow.pool_id == rate.pool_id, PoolRateRow.effective_from == rate.effective_from
        )
    ).scalar()
    bands = json.dumps([_band_json(b) for b in rate.bands])
    if clash is not None:
        clash.bands = bands
    else:
        s.add(PoolRateRow(pool_id=rate.pool_id, effective_from=rate.effective_from, bands=bands))
    s.flush()


def set_discount(uow: UnitOfWork, discount: Discount) -> None:
    s = uow.session
    if s.get(OrganizationRow, discount.org_id) is None:
        raise NotFoundError(f"no organization {discount.org_id}", field="org_id")
    s.add(
        DiscountRow(
            org_id=discount.org_id,
            pool_id=discount.pool_id,
            effective_from=discount.effective_from,
            discount_bp=discount.discount_bp,
        )
    )
    s.flush()


def _time(text_: str) -> dt.time:
    return dt.time.fromisoformat(text_)


BASE_PRICE_FROM = dt.date(1970, 1, 1)


def _pool_base_rate(pool: PoolRow) -> PoolRate:
    """A compute pool's own list price (and its hourly bands) as the first version of its rate."""
    cuts: list[tuple[int, int, int]] = []
    for b in json.loads(pool.bands or "[]"):
        cuts.append((int(b["from"]), int(b["to"]), int(b["price_fen"])))
    cuts.sort()
    bands: list[Band] = []
    hour = 0
    for lo, hi, price in cuts:
        if lo > hour:
            bands.append(Band(dt.time(hour), dt.time(lo), pool.price_fen, "list"))
        bands.append(Band(dt.time(lo), dt.time(0) if hi >= 24 else dt.time(hi), price, f"{lo:02d}-{hi:02d}"))
        hour = hi
    if hour < 24:
        bands.append(Band(dt.time(hour), dt.time(0), pool.price_fen, "list"))
    return PoolRate(pool.id, BASE_PRICE_FROM, tuple(bands))


def rate_card(uow: UnitOfWork) -> RateCard:
    """The whole rate card: each compute pool's list price, its dated changes, negotiated discounts."""
    s = uow.session
    rates = [_pool_base_rate(p) for p in s.execute(select(PoolRow)).scalars()]
    rates += [
        PoolRate(
            r.pool_id,
            r.effective_from,
            tuple(
                Band(_time(b["start"]), _time(b["end"]), int(b["price_fen"]), str(b.get("name", "")))
                for b in json.loads(r.bands)
            ),
        )
        for r in s.execute(select(PoolRateRow)).scalars()
    ]
    discounts = [
        Discount(d.org_id, d.pool_id, d.effective_from, d.discount_bp)
        for d in s.execute(select(DiscountRow)).scalars()
    ]
    return RateCard(rates, discounts)


def policy_edges(packs: PackSet | None = None) -> list[dt.date]:
    """Days on which art. 2 versions start or stop: usage is split there."""
    packs = packs or default_packs()
    out: set[dt.date] = set()
    for v in packs.versions(ARTICLE):
        out.add(v.effective_from)
        if v.effective_to is not None:
            out.add(v.effective_to + dt.timedelta(days=1))
    return sorted(out)


# import ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    records: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.records - self.inserted


def read_usage_file(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) from a CSV with a header or from JSON lines."""
    if not path.exists():
        raise NotFoundError(f"no such file: {path}", field="file")
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as fh:
        if suffix in {".jsonl", ".ndjson", ".json"}:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"not JSON: {exc.msg}", row=n) from None
                if not isinstance(obj, dict):
                    raise ValidationError("each line must be a JSON object", row=n)
                yield n, {str(k): "" if v is None else str(v) for k, v in obj.items()}
        elif suffix == ".csv":
            reader = csv.DictReader(fh)
            missing = [c for c in USAGE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValidationError(f"the CSV header lacks {', '.join(missing)}", row=1, column=missing[0])
            for row in reader:
                yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}
        else:
            raise ValidationError("usage files are .csv or .jsonl", field="file")


def _int_col(row: Mapping[str, str], col: str, n: int) -> int:
    raw = row.get(col, "").strip()
    if not raw:
        raise ValidationError("is missing", row=n, column=col)
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"not an integer: {raw!r}", row=n, column=col) from None
    if abs(value) > MAX_ID:
        raise ValidationError(f"out of range: {raw!r}", row=n, column=col)
    return value


def parse_usage_row(n: int, row: Mapping[str, str]) -> tuple[RawUsage, str | None]:
    """A file row as raw usage (and the key of the record it corrects); errors name line and column."""
    for col in ("engine", "engine_job_id", "accelerator", "start", "end"):
        if not row.get(col, "").strip():
            raise ValidationError("is missing", row=n, column=col)
    try:
        start = parse_timestamp(row["start"])
    except ZhisuanError as exc:
        raise ValidationError(exc.message, row=n, column="start") from None
    try:
        end = parse_timestamp(row["end"])
    except ZhisuanError as exc:
        raise ValidationError(exc.message, row=n, column="end") from None
    try:
        raw = RawUsage(
            engine=row["engine"].strip(),
            engine_job_id=row["engine_job_id"].strip(),
            org_id=_int_col(row, "org_id", n),
            center_id=_int_col(row, "center_id", n),
            pool_id=_int_col(row, "pool_id", n),
            accelerator=row["accelerator"].strip(),
            cards=_int_col(row, "cards", n),
            start=start,
            end=end,
        )
    except ValidationError as exc:
        if exc.row is not None:
            raise
        raise ValidationError(exc.message, row=n, column=exc.field) from None
    corrects = row.get("corrects", "").strip() or None
    return raw, corrects


def _record_row(r: UsageRecord) -> tuple[object, ...]:
    return (
        r.key,
        r.engine,
        r.engine_job_id,
        r.org_id,
        r.center_id,
        r.pool_id,
        r.accelerator,
        r.cards,
        r.start,
        r.end,
        r.card_seconds,
        r.price_fen_per_card_hour,
        r.discount_bp,
        r.amount_fen,
        r.kind.value,
        r.revision,
        r.reverses,
        str(r.month),
        r.policy_date,
    )


def _from_row(row: Any) -> UsageRecord:
    return UsageRecord(
        row.engine,
        row.engine_job_id,
        row.org_id,
        row.center_id,
        row.pool_id,
        row.accelerator,
        row.cards,
        row.start_at,
        row.end_at,
        row.price_fen_per_card_hour,
        row.discount_bp,
        row.revision,
        UsageKind(row.kind),
        row.reverses,
        row.policy_on,
    )


def _same_figures(a: UsageRecord, b: UsageRecord) -> bool:
    return (a.org_id, a.center_id, a.cards, a.price_fen_per_card_hour, a.discount_bp) == (
        b.org_id,
        b.center_id,
        b.cards,
        b.price_fen_per_card_hour,
        b.discount_bp,
    )


def prepare_records(
    uow: UnitOfWork, rows: Iterable[tuple[int, Mapping[str, str]]], packs: PackSet | None = None
) -> tuple[int, list[UsageRecord]]:
    """Parse, validate, split and price file rows into usage records (nothing written)."""
    s = uow.session
    card = rate_card(uow)
    edges = policy_edges(packs)
    parsed: list[tuple[int, RawUsage, str | None]] = []
    for n, row in rows:
        raw, corrects = parse_usage_row(n, row)
        parsed.append((n, raw, corrects))
    org_ids = {raw.org_id for _, raw, _ in parsed}
    known: set[int] = set()
    ids = sorted(org_ids)
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        known.update(s.execute(select(OrganizationRow.id).where(OrganizationRow.id.in_(part))).scalars())
    pools = {
        pid: (cid, acc)
        for pid, cid, acc in s.execute(select(PoolRow.id, PoolRow.center_id, PoolRow.accelerator))
    }
    records: list[UsageRecord] = []
    corrections: dict[str, list[UsageRecord]] = defaultdict(list)
    for n, raw, corrects in parsed:
        if raw.org_id not in known:
            raise ValidationError(f"no organization {raw.org_id}", row=n, column="org_id")
        pool = pools.get(raw.pool_id)
        if pool is None:
            raise ValidationError(f"no pool {raw.pool_id}", row=n, column="pool_id")
        if pool[0] != raw.center_id:
            raise ValidationError(
                f"pool {raw.pool_id} belongs to center {pool[0]}", row=n, column="center_id"
            )
        if pool[1] != raw.accelerator:
            raise ValidationError(
                f"pool {raw.pool_id} has {pool[1]}, not {raw.accelerator}", row=n, column="accelerator"
            )
        try:
            pieces = split_usage(raw, card, edges)
        except ZhisuanError as exc:
            raise ValidationError(exc.message, row=n, column=exc.column or exc.field or "pool_id") from None
        if corrects is None:
            records.extend(pieces)
        else:
            corrections[corrects].extend(pieces)
    if corrections:
        t = UsageRecordRow
        found = {
            r.key: _from_row(r) for r in s.execute(select(t).where(t.key.in_(list(corrections)))).scalars()
        }
        for key, pieces in corrections.items():
            original = found.get(key)
            if original is None or original.kind is not UsageKind.USAGE:
                raise NotFoundError(f"no usage record {key} to correct", field="corrects")
            records.append(original.reversal())
            records.extend(
                UsageRecord(
                    p.engine,
                    p.engine_job_id,
                    p.org_id,
                    p.center_id,
                    p.pool_id,
                    p.accelerator,
                    p.cards,
                    p.start,
                    p.end,
                    p.price_fen_per_card_hour,
                    p.discount_bp,
                    original.revision + 1,
                    policy_on=p.policy_on,
                )
                for p in pieces
            )
    return len(parsed), records


def _check_batch(records: Sequence[UsageRecord]) -> None:
    """Within one batch: no second of a job on a pool twice among records not reversed in it."""
    reversed_keys = {r.reverses for r in records if r.reverses}
    spans: dict[tuple[str, str, int], list[UsageRecord]] = defaultdict(list)
    for r in records:
        if r.kind is UsageKind.USAGE and r.key not in reversed_keys:
            spans[(r.engine, r.engine_job_id, r.pool_id)].append(r)
    for group in spans.values():
        if len(group) > 1:
            group.sort(key=lambda r: r.start)
            for a, b in itertools.pairwise(group):
                if b.start < a.end:
                    raise ConflictError(
                        f"usage {b.key} overlaps {a.key}: a second is metered once; "
                        "send a correction (column corrects) instead",
                        field="start",
                    )


_FIGURES = ("org_id", "center_id", "cards", "price_fen_per_card_hour", "discount_bp")


def _check_against_stored(s: Session, tmp: str) -> None:
    """Set-based: a known key must carry the same figures; new usage must not overlap usage in force."""
    differs = " OR ".join(f"u.{c} <> t.{c}" for c in _FIGURES)
    clash = s.execute(
        text(f"SELECT t.key FROM {tmp} t JOIN usage_records u ON u.key = t.key WHERE {differs} LIMIT 1")
    ).first()
    if clash is not None:
        raise ConflictError(f"usage {clash[0]} was already reported with different figures")
    pairs = s.execute(
        text(
            f"SELECT t.key, u.key FROM {tmp} t JOIN usage_records u "
            "ON u.engine = t.engine AND u.engine_job_id = t.engine_job_id AND u.pool_id = t.pool_id "
            "AND u.key <> t.key AND u.start_at < t.end_at AND t.start_at < u.end_at "
            "WHERE t.kind = 'usage' AND u.kind = 'usage'"
        )
    ).all()
    if not pairs:
        return
    # overlaps are rare: a pair is fine only if one side is reversed (stored or in this batch)
    keys = sorted({k for pair in pairs for k in pair})
    reversed_keys = set(
        s.execute(select(UsageRecordRow.reverses).where(UsageRecordRow.reverses.in_(keys))).scalars()
    )
    reversed_keys |= set(s.execute(text(f"SELECT reverses FROM {tmp} WHERE reverses IS NOT NULL")).scalars())
    for new_key, old_key in pairs:
        if new_key not in reversed_keys and old_key not in reversed_keys:
            raise ConflictError(
                f"usage {new_key} overlaps {old_key}: a second is metered once; "
                "send a correction (column corrects) instead",
                field="start",
            )


def store_records(uow: UnitOfWork, records: Sequence[UsageRecord]) -> int:
    """Write usage records once each (known keys skipped); refuse double-metered seconds.

    Records are staged in a temporary table (COPY on PostgreSQL), checked against what is stored with
    two set-based queries, then moved with ``INSERT … ON CONFLICT DO NOTHING``.
    """
    s = uow.session
    unique: dict[str, UsageRecord] = {}
    for r in records:
        prev = unique.get(r.key)
        if prev is not None and not _same_figures(prev, r):
            raise ConflictError(f"usage {r.key} appears twice with different figures")
        unique[r.key] = r
    if not unique:
        return 0
    batch = list(unique.values())
    _check_batch(batch)
    table = UsageRecordRow.__table__
    tmp = stage(s, table, _RECORD_COLUMNS, [_record_row(r) for r in batch])  # type: ignore[arg-type]
    _check_against_stored(s, tmp)
    return insert_staged(s, table, tmp, _RECORD_COLUMNS, ("key",))  # type: ignore[arg-type]


def import_usage(uow: UnitOfWork, path: Path, packs: PackSet | None = None) -> ImportResult:
    """Import a usage file: all rows or none; importing it again changes nothing."""
    n, records = prepare_records(uow, read_usage_file(path), packs)
    inserted = store_records(uow, records)
    return ImportResult(n, len(records), inserted)


def list_usage(
    uow: UnitOfWork, org_id: int | None = None, month: Month | None = None, limit: int = 200
) -> list[dict[str, object]]:
    t = UsageRecordRow
    q = select(t).order_by(t.start_at, t.id).limit(limit)
    if org_id is not None:
        q = q.where(t.org_id == org_id)
    if month is not None:
        q = q.where(t.usage_month == str(month))
    return [
        {
            "key": r.key,
            "org_id": r.org_id,
            "center_id": r.center_id,
            "pool_id": r.pool_id,
            "accelerator": r.accelerator,
            "cards": r.cards,
            "start": r.start_at,
            "end": r.end_at,
            "card_seconds": r.card_seconds,
            "price_per_card_hour": str(Money.from_fen(r.price_fen_per_card_hour)),
            "discount_bp": r.discount_bp,
            "amount": str(Money.from_fen(r.amount_fen)),
            "kind": r.kind,
            "month": r.usage_month,
        }
        for r in uow.session.execute(q).scalars()
    ]


def usage_summary(
    uow: UnitOfWork, org_id: int | None = None, scope: Scope | None = None
) -> list[dict[str, object]]:
    """Card-hours and amount per org, center and month."""
    t = UsageRecordRow
    q = (
        select(
            t.org_id,
            t.center_id,
            t.usage_month,
            func.sum(t.card_seconds),
            func.sum(t.amount_fen),
            func.count(),
        )
        .group_by(t.org_id, t.center_id, t.usage_month)
        .order_by(t.usage_month, t.org_id, t.center_id)
    )
    q = _apply_scope(q, scope, t.org_id, center_col=t.center_id)
    if org_id is not None:
        q = q.where(t.org_id == org_id)
    return [
        {
            "org_id": o,
            "center_id": c,
            "month": m,
            "card_hours": str(Money(int(cs)) / 3600),
            "amount": str(Money.from_fen(int(a))),
            "records": int(k),
        }
        for o, c, m, cs, a, k in uow.session.execute(q)
    ]


def _runs_query(month: Month | None):  # type: ignore[no-untyped-def]
    q = (
        select(JobRunRow, JobRow.org_id, PoolRow.center_id, PoolRow.accelerator)
        .join(JobRow, JobRow.id == JobRunRow.job_id)
        .join(PoolRow, PoolRow.id == JobRunRow.pool_id)
        .where(JobRunRow.ended_at.is_not(None))
        .order_by(JobRunRow.id)
    )
    if month is not None:
        q = q.where(JobRunRow.ended_at > month.start, JobRunRow.dispatched_at < month.end)
    return q


def _engine_job(run: JobRunRow) -> str:
    return run.engine_job_id or f"run-{run.id}"


def collect_runs(uow: UnitOfWork, month: Month | None = None, packs: PackSet | None = None) -> ImportResult:
    """Turn ended job runs of the compute context into usage records (idempotent, like an import)."""
    from zhisuan.compute.feed import finished_runs

    rows: list[tuple[int, dict[str, str]]] = []
    after = 0
    while batch := finished_runs(uow, after_id=after, limit=5000):
        after = batch[-1].run_id
        for run in batch:
            start, end = run.start.replace(microsecond=0), run.end.replace(microsecond=0)
            if end <= start or (month is not None and (end <= month.start or start >= month.end)):
                continue
            rows.append(
                (
                    run.run_id,
                    {
                        "engine": run.engine,
                        "engine_job_id": run.engine_job_id,
                        "org_id": str(run.org_id),
                        "center_id": str(run.center_id),
                        "pool_id": str(run.pool_id),
                        "accelerator": run.accelerator,
                        "cards": str(run.cards),
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                    },
                )
            )
    n, records = prepare_records(uow, rows, packs)
    return ImportResult(n, len(records), store_records(uow, records))


def observed_runs(uow: UnitOfWork, month: Month) -> list[ObservedRun]:
    """What the platform itself saw of each run: dispatch to completion."""
    out = []
    for run, _org, center_id, _acc in uow.session.execute(_runs_query(month)):
        assert run.ended_at is not None
        out.append(
            ObservedRun(
                run.engine,
                _engine_job(run),
                center_id,
                run.pool_id,
                run.cards,
                run.dispatched_at.replace(microsecond=0),
                run.ended_at.replace(microsecond=0),
            )
        )
    return out


# reconciliation ----------------------------------------------------------------------------------


def read_observed_file(path: Path) -> list[ObservedRun]:
    """Observed runs (CSV: engine, engine_job_id, center_id, pool_id, cards, dispatched_at, completed_at)."""
    out = []
    for n, row in read_usage_file(path) if path.suffix == ".jsonl" else _csv_rows(path):
        try:
            out.append(
                ObservedRun(
                    row["engine"],
                    row["engine_job_id"],
                    _int_col(row, "center_id", n),
                    _int_col(row, "pool_id", n),
                    _int_col(row, "cards", n),
                    parse_timestamp(row["dispatched_at"]),
                    parse_timestamp(row["completed_at"]),
                )
            )
        except KeyError as exc:
            raise ValidationError("is missing", row=n, column=str(exc.args[0])) from None
    return out


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}


def reconcile_month(
    uow: UnitOfWork,
    month: Month,
    observed: Sequence[ObservedRun],
    clock: Clock,
    tolerance: Tolerance | None = None,
) -> list[dict[str, object]]:
    """Compare observed runs with reported usage of a month; open a dispute for each difference."""
    s = uow.session
    jobs = {(o.engine, o.engine_job_id) for o in observed}
    t = UsageRecordRow
    reported_rows = s.execute(select(t).where(t.usage_month == str(month))).scalars()
    reported = [_from_row(r) for r in reported_rows]
    jobs |= {(r.engine, r.engine_job_id) for r in reported}
    found = [d for d in reconcile(observed, reported, tolerance or Tolerance()) if d.month == month]
    now = clock.now()
    out = []
    for d in found:
        row = s.execute(
            select(UsageDisputeRow).where(
                UsageDisputeRow.engine == d.engine,
                UsageDisputeRow.engine_job_id == d.engine_job_id,
                UsageDisputeRow.usage_month == str(d.month),
            )
        ).scalar()
        if row is None:
            row = UsageDisputeRow(
                engine=d.engine,
                engine_job_id=d.engine_job_id,
                center_id=d.center_id,
                usage_month=str(d.month),
                observed_card_seconds=d.observed_card_seconds,
                reported_card_seconds=d.reported_card_seconds,
                state=DisputeState.OPEN.value,
                opened_at=now,
                note="",
            )
            s.add(row)
        elif row.state == DisputeState.OPEN.value:
            row.observed_card_seconds = d.observed_card_seconds
            row.reported_card_seconds = d.reported_card_seconds
        s.flush()
        out.append(_dispute_dict(row))
    return out


def _dispute_dict(row: UsageDisputeRow) -> dict[str, object]:
    return {
        "id": row.id,
        "engine": row.engine,
        "engine_job_id": row.engine_job_id,
        "center_id": row.center_id,
        "month": row.usage_month,
        "observed_card_seconds": row.observed_card_seconds,
        "reported_card_seconds": row.reported_card_seconds,
        "difference": row.reported_card_seconds - row.observed_card_seconds,
        "state": row.state,
        "note": row.note,
    }


def list_disputes(uow: UnitOfWork, month: Month | None = None) -> list[dict[str, object]]:
    q = select(UsageDisputeRow).order_by(UsageDisputeRow.id)
    if month is not None:
        q = q.where(UsageDisputeRow.usage_month == str(month))
    return [_dispute_dict(r) for r in uow.session.execute(q).scalars()]


def resolve_dispute(
    uow: UnitOfWork, dispute_id: int, state: DisputeState, note: str, clock: Clock
) -> dict[str, object]:
    """Release a dispute (bill the engine's figures) or mark it corrected (a correction was imported)."""
    row = uow.session.get(UsageDisputeRow, dispute_id)
    if row is None:
        raise NotFoundError(f"no dispute {dispute_id}", field="dispute")
    if row.state != DisputeState.OPEN.value:
        raise ConflictError(f"dispute {dispute_id} is already {row.state}", field="state")
    if state is DisputeState.OPEN:
        raise ValidationError("resolve a dispute as released or corrected", field="state")
    row.state, row.note, row.resolved_at = state.value, note, clock.now()
    uow.session.flush()
    return _dispute_dict(row)


# bills -------------------------------------------------------------------------------------------


# Integer keys hash fastest (text aggregates cost more than the scan): the usage month follows from
# policy_on (a day inside that month), the accelerator from the pool, and the kind is split by two
# filtered sums instead of being a key.
_GROUP = "u.org_id, u.center_id, u.pool_id, u.price_fen_per_card_hour, u.discount_bp, u.policy_on"
_SUMS = (
    "SUM(u.card_seconds) FILTER (WHERE u.kind = 'usage'), "
    "SUM(u.card_seconds) FILTER (WHERE u.kind <> 'usage')"
)
_OPEN_DISPUTE = (
    "EXISTS (SELECT 1 FROM usage_disputes d WHERE d.state = 'open' AND d.engine = u.engine "
    "AND d.engine_job_id = u.engine_job_id AND d.usage_month = u.usage_month)"
)


def _region(run: BillingRunRow, alias: str = "u") -> tuple[str, dict[str, object]]:
    """SQL condition for the usage a run covers (before holds) and its parameters."""
    p = f"r{run.id}_"
    cond = f"({alias}.id <= :{p}w AND {alias}.usage_month <= :{p}m"
    params: dict[str, object] = {f"{p}w": run.watermark, f"{p}m": run.month}
    if run.prev_month is not None:
        cond += f" AND NOT ({alias}.usage_month <= :{p}pm AND {alias}.id <= :{p}pw)"
        params[f"{p}pm"] = run.prev_month
        params[f"{p}pw"] = run.prev_watermark
    return cond + ")", params


GroupKey = tuple[int, int, str, dt.date, int, str, int, int, str]


def _aggregate(s: Session, where: str, params: dict[str, object]) -> dict[GroupKey, int]:
    """Card-seconds per bill-line key of the usage matching ``where`` (one pass, in SQL)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SET LOCAL jit = off"))  # JIT compilation costs more than it saves here
    accelerators: dict[int, str] = dict(s.execute(select(PoolRow.id, PoolRow.accelerator)).all())
    sql = f"SELECT {_GROUP}, {_SUMS} FROM usage_records u WHERE {where} GROUP BY {_GROUP}"
    out: dict[GroupKey, int] = {}
    for org, center, pool, price, disc, on, used, reversed_ in s.execute(text(sql), params):
        policy_on = on if isinstance(on, dt.date) else parse_date(str(on))
        month = str(Month.of_date(policy_on))
        for kind, cs in ((UsageKind.USAGE.value, used), (UsageKind.REVERSAL.value, reversed_)):
            if cs is not None:
                key: GroupKey = (org, center, month, policy_on, pool, accelerators[pool], price, disc, kind)
                out[key] = out.get(key, 0) + int(cs)
    return out


@dataclass
class DraftResult:
    run_id: int | None
    bills: int
    lines: int
    gross_fen: int
    held_records: int


def draft_bills(
    uow: UnitOfWork, month: Month, clock: Clock, vat_rate: Fraction = DEFAULT_VAT_RATE
) -> DraftResult:
    """Draft the month's bills per org × center from usage not billed yet (aggregated in SQL).

    Usage of jobs in open dispute is held out; held usage that was released, and the usage of voided
    bills, is billed now. Months are drafted in order; late usage of an earlier month becomes
    adjustment lines on this month's bill.
    """
    s = uow.session
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
    region, params = _region(run)
    # hold the usage of jobs in open dispute (skipped, with its second scan, when there is none)
    disputes_open = s.execute(
        select(func.count())
        .select_from(UsageDisputeRow)
        .where(UsageDisputeRow.state == DisputeState.OPEN.value)
    ).scalar_one()
    held = 0
    if disputes_open:
        held = s.execute(
            text(
                f"INSERT INTO usage_holds (usage_id, held_in_run) SELECT u.id, :run FROM usage_records u "
                f"WHERE {region} AND {_OPEN_DISPUTE}"
            ),
            {**params, "run": run.id},
        ).rowcount  # type: ignore[attr-defined]
    groups = _aggregate(s, f"{region} AND NOT {_OPEN_DISPUTE}" if disputes_open else region, params)
    sources: dict[tuple[int, int], set[int]] = defaultdict(set)
    for k in groups:
        sources[(k[0], k[1])].add(run.id)
    # released holds
    released_where = (
        "u.id IN (SELECT h.usage_id FROM usage_holds h "
        "WHERE h.billed_in_run IS NULL AND h.held_in_run <> :run) "
        f"AND u.usage_month <= :m AND NOT {_OPEN_DISPUTE}"
    )
    rel_params = {"run": run.id, "m": str(month)}
    waiting_holds = s.execute(
        select(func.count()).select_from(UsageHoldRow).where(UsageHoldRow.billed_in_run.is_(None))
    ).scalar_one()
    if waiting_holds:
        for k, v in _aggregate(s, released_where, rel_params).items():
            groups[k] = groups.get(k, 0) + v
            sources[(k[0], k[1])].add(run.id)
        s.execute(
            text(
                "UPDATE usage_holds SET billed_in_run = :run "
                "WHERE billed_in_run IS NULL AND held_in_run <> :run "
                f"AND usage_id IN (SELECT u.id FROM usage_records u WHERE {released_where})"
            ),
            rel_params,
        )
    # voided bills: their usage is billed again
    voided = (
        s.execute(
            select(BillRow).where(BillRow.state == BillState.VOID.value, BillRow.reopened_in_run.is_(None))
        )
        .scalars()
        .all()
    )
    for bill in voided:
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
                groups[k] = groups.get(k, 0) + v
            sources[(bill.org_id, bill.center_id)].add(src.id)
        sources[(bill.org_id, bill.center_id)].add(run.id)
        bill.reopened_in_run = run.id
    if not groups:
        s.flush()
        return DraftResult(run.id, 0, 0, 0, int(held or 0))
    operators: dict[int, int] = dict(s.execute(select(CenterRow.id, CenterRow.operator_org_id)).all())
    missing = sorted({k[1] for k in groups} - set(operators))
    if missing:
        raise ValidationError(f"usage names center {missing[0]}, which is not registered", field="center_id")
    by_bill: dict[tuple[int, int], list[tuple[LineKey, int]]] = defaultdict(list)
    for k, cs in groups.items():
        if cs == 0 and k[8] != UsageKind.REVERSAL.value:
            continue
        um = Month.parse(k[2])
        lk = LineKey(um, k[3], k[4], k[5], k[6], k[7], um < month or k[8] == UsageKind.REVERSAL.value)
        by_bill[(k[0], k[1])].append((lk, cs))
    merged: dict[tuple[int, int], dict[LineKey, int]] = {}
    for scope, items in by_bill.items():
        acc: dict[LineKey, int] = defaultdict(int)
        for lk, cs in items:
            acc[lk] += cs
        merged[scope] = acc
    scopes = sorted(merged)
    bill_ids = allocate_ids(s, BillRow.__table__, len(scopes))  # type: ignore[arg-type]
    vat_ppm = int(vat_rate * 1_000_000)
    now = clock.now()
    bill_rows: list[tuple[object, ...]] = []
    line_rows: list[tuple[object, ...]] = []
    total = 0
    for bill_id, scope in zip(bill_ids, scopes, strict=True):
        gross_sum = vat_sum = 0
        for lk in sorted(
            merged[scope],
            key=lambda k: (
                k.adjustment,
                k.usage_month,
                k.policy_on,
                k.pool_id,
                k.price_fen_per_card_hour,
                k.discount_bp,
            ),
        ):
            cs = merged[scope][lk]
            gross = line_amount_fen(cs, lk.price_fen_per_card_hour, lk.discount_bp)
            vat = vat_fen(gross, vat_rate)
            gross_sum += gross
            vat_sum += vat
            line_rows.append(
                (
                    bill_id,
                    str(lk.usage_month),
                    lk.policy_on,
                    lk.pool_id,
                    lk.accelerator,
                    lk.price_fen_per_card_hour,
                    lk.discount_bp,
                    lk.adjustment,
                    cs,
                    gross,
                    vat,
                )
            )
        total += gross_sum
        bill_rows.append(
            (
                bill_id,
                run.id,
                scope[0],
                scope[1],
                operators[scope[1]],
                str(month),
                BillState.DRAFT.value,
                vat_ppm,
                gross_sum,
                vat_sum,
                now,
            )
        )
    insert_rows(
        s,
        BillRow.__table__,  # type: ignore[arg-type]
        (
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
        ),
        bill_rows,
    )
    insert_rows(
        s,
        BillLineRow.__table__,  # type: ignore[arg-type]
        (
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
        ),
        line_rows,
    )
    insert_rows(
        s,
        BillSourceRow.__table__,  # type: ignore[arg-type]
        ("bill_id", "run_id"),
        [
            (bid, r)
            for bid, scope in zip(bill_ids, scopes, strict=True)
            for r in sorted(sources[scope] or {run.id})
        ],
    )
    return DraftResult(run.id, len(scopes), len(line_rows), total, int(held or 0))


def _bill(s: Session, bill_id: int) -> BillRow:
    row = s.get(BillRow, bill_id)
    if row is None:
        raise NotFoundError(f"no bill {bill_id}", field="bill")
    return row


def _line_postings(s: Session, bills: Sequence[BillRow], on: dt.date, void: bool = False) -> list[Posting]:
    by_id = {b.id: b for b in bills}
    out: list[Posting] = []
    ids = list(by_id)
    for i in range(0, len(ids), _CHUNK):
        q = select(BillLineRow.id, BillLineRow.bill_id, BillLineRow.gross_fen, BillLineRow.vat_fen).where(
            BillLineRow.bill_id.in_(ids[i : i + _CHUNK]), BillLineRow.gross_fen != 0
        )
        for line_id, bill_id, gross, vat in s.execute(q):
            b = by_id[bill_id]
            make = bill_void_posting if void else bill_line_posting
            out.append(make(line_id, b.org_id, b.center_id, gross, vat, on))
    return out


def issue_bills(
    uow: UnitOfWork, clock: Clock, bill_ids: Sequence[int] = (), month: Month | None = None
) -> int:
    """Issue draft bills (by id, or every draft of a month) and post their lines to the ledger."""
    s = uow.session
    if month is not None:
        bills = list(
            s.execute(select(BillRow).where(BillRow.month == str(month), BillRow.state == "draft")).scalars()
        )
    else:
        bills = [_bill(s, b) for b in bill_ids]
    on = _today(clock)
    for b in bills:
        check_transition(BillState(b.state), BillState.ISSUED)
    if not bills:
        return 0
    ids = [b.id for b in bills]
    for i in range(0, len(ids), _CHUNK):
        s.execute(
            update(BillRow)
            .where(BillRow.id.in_(ids[i : i + _CHUNK]))
            .values(state="issued", issued_on=on)
            .execution_options(synchronize_session=False)
        )
    ledger.post(s, _line_postings(s, bills, on), clock)
    s.expire_all()
    return len(bills)


def pay_bill(
    uow: UnitOfWork, bill_id: int, reference: str, paid_on: dt.date, clock: Clock
) -> dict[str, object]:
    """Mark an issued bill paid (payment reference and date) and post the payment."""
    s = uow.session
    b = _bill(s, bill_id)
    if b.state == BillState.PAID.value and b.payment_ref == reference and b.paid_on == paid_on:
        return bill_detail(uow, bill_id)  # the same payment again changes nothing
    check_transition(BillState(b.state), BillState.PAID)
    if not reference.strip():
        raise ValidationError("a payment needs its reference", field="reference")
    b.state, b.payment_ref, b.paid_on = BillState.PAID.value, reference.strip(), paid_on
    if b.gross_fen:
        ledger.post(s, [payment_posting(b.id, b.org_id, b.center_id, b.gross_fen, paid_on)], clock)
    s.flush()
    return bill_detail(uow, bill_id)


def pay_all(uow: UnitOfWork, month: Month, reference: str, paid_on: dt.date, clock: Clock) -> int:
    """Mark every issued bill of a month paid with one reference (demo payments, bulk bank files)."""
    s = uow.session
    bills = list(
        s.execute(select(BillRow).where(BillRow.month == str(month), BillRow.state == "issued")).scalars()
    )
    if not bills:
        return 0
    ids = [b.id for b in bills]
    for i in range(0, len(ids), _CHUNK):
        s.execute(
            update(BillRow)
            .where(BillRow.id.in_(ids[i : i + _CHUNK]))
            .values(state="paid", payment_ref=reference, paid_on=paid_on)
            .execution_options(synchronize_session=False)
        )
    ledger.post(
        s,
        [payment_posting(b.id, b.org_id, b.center_id, b.gross_fen, paid_on) for b in bills if b.gross_fen],
        clock,
    )
    s.expire_all()
    return len(bills)


def void_bill(uow: UnitOfWork, bill_id: int, reason: str, clock: Clock) -> dict[str, object]:
    """Void a draft or issued bill; an issued one is reversed in the ledger. Its usage is billed again."""
    s = uow.session
    b = _bill(s, bill_id)
    check_transition(BillState(b.state), BillState.VOID)
    if not reason.strip():
        raise ValidationError("say why the bill is voided", field="reason")
    was_issued = b.state == BillState.ISSUED.value
    b.state, b.void_reason = BillState.VOID.value, reason.strip()
    if was_issued:
        ledger.post(s, _line_postings(s, [b], _today(clock), void=True), clock)
    s.flush()
    return bill_detail(uow, bill_id)


def _bill_dict(b: BillRow) -> dict[str, object]:
    return {
        "id": b.id,
        "org_id": b.org_id,
        "center_id": b.center_id,
        "operator_org_id": b.operator_org_id,
        "month": b.month,
        "state": b.state,
        "vat_rate": str(Fraction(b.vat_rate_ppm, 1_000_000) * 100) + "%",
        "total": str(Money.from_fen(b.gross_fen)),
        "vat": str(Money.from_fen(b.vat_fen)),
        "net": str(Money.from_fen(b.gross_fen - b.vat_fen)),
        "issued_on": b.issued_on,
        "paid_on": b.paid_on,
        "payment_ref": b.payment_ref,
        "void_reason": b.void_reason,
    }


def list_bills(
    uow: UnitOfWork,
    month: Month | None = None,
    org_id: int | None = None,
    state: str | None = None,
    limit: int = 500,
    scope: Scope | None = None,
) -> list[dict[str, object]]:
    q = select(BillRow).order_by(BillRow.month, BillRow.org_id, BillRow.center_id, BillRow.id).limit(limit)
    q = _apply_scope(q, scope, BillRow.org_id, operator_col=BillRow.operator_org_id)
    if month is not None:
        q = q.where(BillRow.month == str(month))
    if org_id is not None:
        q = q.where(BillRow.org_id == org_id)
    if state is not None:
        q = q.where(BillRow.state == state)
    return [_bill_dict(b) for b in uow.session.execute(q).scalars()]


def bill_detail(uow: UnitOfWork, bill_id: int) -> dict[str, object]:
    s = uow.session
    b = _bill(s, bill_id)
    lines = s.execute(
        select(BillLineRow).where(BillLineRow.bill_id == bill_id).order_by(BillLineRow.id)
    ).scalars()
    out = _bill_dict(b)
    out["lines"] = [
        {
            "id": ln.id,
            "usage_month": ln.usage_month,
            "pool_id": ln.pool_id,
            "accelerator": ln.accelerator,
            "card_hours": str((Money(ln.card_seconds) / 3600).round())
            if ln.card_seconds % 36 == 0
            else str(Money(ln.card_seconds) / 3600),
            "card_seconds": ln.card_seconds,
            "unit_price": str(Money.from_fen(ln.price_fen_per_card_hour) * Fraction(BP - ln.discount_bp, BP)),
            "list_price": str(Money.from_fen(ln.price_fen_per_card_hour)),
            "discount": f"{ln.discount_bp / 100:g}%",
            "adjustment": ln.adjustment,
            "amount": str(Money.from_fen(ln.gross_fen)),
            "vat": str(Money.from_fen(ln.vat_fen)),
            "net": str(Money.from_fen(ln.gross_fen - ln.vat_fen)),
        }
        for ln in lines
    ]
    return out


_EXPORT_HEADER = (
    "line",
    "usage month",
    "pool",
    "accelerator",
    "card-seconds",
    "list price / card-hour",
    "discount",
    "unit price / card-hour",
    "adjustment",
    "amount (tax incl.)",
    "VAT",
    "net",
)


def _export_rows(detail: Mapping[str, Any]) -> list[list[object]]:
    return [
        [
            ln["id"],
            ln["usage_month"],
            ln["pool_id"],
            ln["accelerator"],
            ln["card_seconds"],
            ln["list_price"],
            ln["discount"],
            ln["unit_price"],
            "yes" if ln["adjustment"] else "",
            ln["amount"],
            ln["vat"],
            ln["net"],
        ]
        for ln in detail["lines"]
    ]


def export_bill(uow: UnitOfWork, bill_id: int, path: Path) -> Path:
    """Write a bill as Excel (.xlsx) or CSV, by the file's suffix."""
    detail = bill_detail(uow, bill_id)
    head = [
        ["bill", detail["id"]],
        ["organization", detail["org_id"]],
        ["center", detail["center_id"]],
        ["month", detail["month"]],
        ["state", detail["state"]],
        ["VAT rate", detail["vat_rate"]],
        ["total (tax incl.)", detail["total"]],
        ["VAT", detail["vat"]],
        ["net", detail["net"]],
    ]
    rows = _export_rows(detail)
    if path.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerows(head)
        w.writerow([])
        w.writerow(_EXPORT_HEADER)
        w.writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        return path
    if path.suffix.lower() != ".xlsx":
        raise ValidationError("export to .xlsx or .csv", field="file")
    from decimal import Decimal

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = f"bill {detail['id']}"
    for r in head:
        ws.append([r[0], Decimal(str(r[1]))] if r[0] in {"total (tax incl.)", "VAT", "net"} else r)
        if r[0] in {"total (tax incl.)", "VAT", "net"}:
            ws.cell(ws.max_row, 2).number_format = "#,##0.00"
    ws.append([])
    ws.append(list(_EXPORT_HEADER))
    for r in rows:
        ws.append([Decimal(str(v)) if i in (9, 10, 11) else v for i, v in enumerate(r)])
        for cell in ws[ws.max_row][9:12]:
            cell.number_format = "#,##0.00"
    wb.save(path)
    return path


# vouchers ----------------------------------------------------------------------------------------


def policy_evaluator(packs: PackSet) -> Art2Evaluator:
    """The policy engine's art. 2 rule, as the settlement asks it (one explained case per bill line)."""

    def run(case: Art2Case) -> Art2Answer:
        d = evaluate(ARTICLE, case.facts(), case.on, packs)
        mode = str(d.version.param("budget_exhausted", case.on)) if d.version is not None else "queued"
        return Art2Answer(
            in_force=d.in_force,
            eligible=d.eligible,
            amount_fen=d.amount_fen,
            pack=d.pack or "",
            steps=tuple(s.to_dict() for s in d.steps),
            reasons=tuple(r.text("both") for r in d.reasons),
            budget_mode=mode,
        )

    return run


@dataclass
class SettlementResult:
    month: str
    created: bool
    lines: int
    granted_fen: int
    queued_fen: int
    by_status: dict[str, int] = field(default_factory=dict)


def _fund_from_pack(s: Session, packs: PackSet, year: int, clock: Clock) -> None:
    """A pack that sets ``program_budget_per_year`` funds that year's budget once (a ledger posting)."""
    on = dt.date(year, 1, 1)
    version = packs.resolve(ARTICLE, on) or next(
        (v for v in packs.versions(ARTICLE) if v.effective_from.year <= year), None
    )
    if version is None:
        return
    value = version.param("program_budget_per_year", max(on, version.effective_from))
    if value is None:
        return
    fen = Money(Fraction(str(value)) if not isinstance(value, Fraction) else value).to_fen()
    if fen > 0:
        ledger.post(s, [budget_posting(ARTICLE, year, fen, _today(clock), f"pack-{version.pack_id}")], clock)


def settle_vouchers(
    uow: UnitOfWork,
    month: Month,
    clock: Clock,
    packs: PackSet | None = None,
    progress: Callable[[str], None] | None = None,
) -> SettlementResult:
    """Settle art. 2 vouchers for a month: once; a second run finds the first and changes nothing."""
    s = uow.session
    packs = packs or default_packs()
    done = s.execute(select(VoucherSettlementRow).where(VoucherSettlementRow.month == str(month))).scalar()
    if done is not None:
        return SettlementResult(str(month), False, done.lines, done.granted_fen, done.queued_fen)
    later = s.execute(select(func.max(VoucherSettlementRow.month))).scalar()
    if later is not None and Month.parse(later) > month:
        raise ConflictError(
            f"{later} is already settled; late items of {month} go into the next settlement", field="month"
        )
    rows = s.execute(
        text(
            "SELECT l.id, b.org_id, b.center_id, b.operator_org_id, l.usage_month, l.policy_on, "
            "l.gross_fen, b.paid_on "
            "FROM bill_lines l JOIN bills b ON b.id = l.bill_id "
            "WHERE b.state = 'paid' AND l.usage_month <= :m AND l.gross_fen <> 0 "
            "AND NOT EXISTS (SELECT 1 FROM voucher_lines v WHERE v.bill_line_id = l.id)"
        ),
        {"m": str(month)},
    ).all()
    paid = [
        PaidLine(
            r[0],
            r[1],
            r[2],
            r[3],
            Month.parse(r[4]),
            r[5] if isinstance(r[5], dt.date) else parse_date(str(r[5])),
            r[6],
            r[7] if isinstance(r[7], dt.date) else parse_date(str(r[7])),
        )
        for r in rows
    ]
    waiting_rows = (
        s.execute(select(VoucherLineRow).where(VoucherLineRow.status == VoucherStatus.QUEUED.value))
        .scalars()
        .all()
    )
    waiting = [
        Waiting(w.id, w.bill_line_id, w.part, w.org_id, w.usage_year, w.entitled_fen) for w in waiting_rows
    ]
    org_ids = sorted({p.org_id for p in paid} | {w.org_id for w in waiting})
    orgs: dict[int, OrgFacts] = {}
    for i in range(0, len(org_ids), _CHUNK):
        q = select(OrganizationRow.id, OrganizationRow.city_code, OrganizationRow.in_province).where(
            OrganizationRow.id.in_(org_ids[i : i + _CHUNK])
        )
        for oid, city, inprov in s.execute(q):
            orgs[oid] = OrgFacts(oid, city or "000000", bool(inprov))
    years = sorted({p.usage_month.year for p in paid} | {w.year for w in waiting})
    for y in years:
        _fund_from_pack(s, packs, y, clock)
    budget_left = {y: ledger.balance(s, Account.program_budget(ARTICLE, y)) for y in years}
    awarded: dict[tuple[int, int], int] = {}
    if org_ids:
        q2 = (
            select(
                VoucherLineRow.org_id,
                VoucherLineRow.usage_year,
                # a queued part is promised: it counts against an annual cap
                func.sum(
                    case(
                        (VoucherLineRow.status == VoucherStatus.QUEUED.value, VoucherLineRow.entitled_fen),
                        else_=VoucherLineRow.amount_fen,
                    )
                ),
            )
            .where(VoucherLineRow.usage_year.in_(years))
            .group_by(VoucherLineRow.org_id, VoucherLineRow.usage_year)
        )
        awarded = {(o, y): int(v or 0) for o, y, v in s.execute(q2)}
    lines = settle(
        month,
        paid,
        orgs,
        ownership_graph(uow),
        policy_evaluator(packs),
        lambda claims, left, mode: apply_budget(list(claims), left, mode),  # type: ignore[arg-type,return-value]
        budget_left,
        awarded,
        waiting,
    )
    if progress is not None:
        progress(f"evaluated {len(lines)} voucher lines; writing")
    now = clock.now()
    today = _today(clock)
    new = [vl for vl in lines if vl.existing_id is None]
    updated = [vl for vl in lines if vl.existing_id is not None]
    granted = sum(vl.amount_fen for vl in lines)
    queued = sum(vl.entitled_fen for vl in new if vl.status is VoucherStatus.QUEUED)
    settlement = VoucherSettlementRow(
        month=str(month), settled_at=now, lines=len(lines), granted_fen=granted, queued_fen=queued
    )
    s.add(settlement)
    s.flush()
    ids = allocate_ids(s, VoucherLineRow.__table__, len(new))  # type: ignore[arg-type]
    insert_rows(
        s,
        VoucherLineRow.__table__,  # type: ignore[arg-type]
        (
            "id",
            "bill_line_id",
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
        ),
        [
            (
                i,
                vl.bill_line_id,
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
                json.dumps(vl.steps, ensure_ascii=False),
                json.dumps(vl.reasons, ensure_ascii=False),
            )
            for i, vl in zip(ids, new, strict=True)
        ],
    )
    postings: list[Posting] = []
    for i, vl in zip(ids, new, strict=True):
        if vl.amount_fen:
            postings.append(voucher_posting(i, vl.org_id, ARTICLE, vl.year, vl.amount_fen, today))
    for vl in updated:
        row = s.get(VoucherLineRow, vl.existing_id)
        assert row is not None
        row.amount_fen, row.entitled_fen, row.status = vl.amount_fen, vl.entitled_fen, vl.status.value
        row.settlement_id, row.settlement_month = settlement.id, str(month)
        row.steps = json.dumps(json.loads(row.steps) + vl.steps, ensure_ascii=False)
        if vl.amount_fen:
            postings.append(
                voucher_posting(row.id, row.org_id, ARTICLE, row.usage_year, vl.amount_fen, today)
            )
    ledger.post(s, postings, clock)
    s.flush()
    by_status: dict[str, int] = defaultdict(int)
    for vl in lines:
        by_status[vl.status.value] += 1
    return SettlementResult(str(month), True, len(lines), granted, queued, dict(by_status))


def list_vouchers(
    uow: UnitOfWork,
    month: Month | None = None,
    org_id: int | None = None,
    limit: int = 500,
    scope: Scope | None = None,
) -> list[dict[str, object]]:
    q = select(VoucherLineRow).order_by(VoucherLineRow.id).limit(limit)
    q = _apply_scope(q, scope, VoucherLineRow.org_id, city_col=VoucherLineRow.city)
    if month is not None:
        q = q.where(VoucherLineRow.settlement_month == str(month))
    if org_id is not None:
        q = q.where(VoucherLineRow.org_id == org_id)
    return [
        {
            "id": v.id,
            "bill_line_id": v.bill_line_id,
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


def revenue_by_month(uow: UnitOfWork, operator_org_id: int | None = None) -> list[dict[str, object]]:
    """Billed (issued or paid) revenue per center and month, tax-inclusive and net."""
    q = (
        select(
            BillRow.center_id,
            BillRow.month,
            func.sum(BillRow.gross_fen),
            func.sum(BillRow.vat_fen),
            func.count(),
        )
        .where(BillRow.state.in_(("issued", "paid")))
        .group_by(BillRow.center_id, BillRow.month)
        .order_by(BillRow.month, BillRow.center_id)
    )
    if operator_org_id is not None:
        q = q.where(BillRow.operator_org_id == operator_org_id)
    return [
        {
            "center_id": c,
            "month": m,
            "total": str(Money.from_fen(int(g))),
            "vat": str(Money.from_fen(int(v))),
            "net": str(Money.from_fen(int(g) - int(v))),
            "bills": int(n),
        }
        for c, m, g, v, n in uow.session.execute(q)
    ]


def monthly_totals(
    uow: UnitOfWork, bill_scope: Scope | None, voucher_scope: Scope | None, months: int = 24
) -> list[dict[str, object]]:
    """Per usage month, what the caller may see: billed (issued or paid, tax-inclusive) and vouchers paid.

    ``bill_scope`` / ``voucher_scope`` come from :func:`zhisuan.core.access.visible_scope` (dashboards).
    """
    s = uow.session
    bq = select(BillRow.month, func.sum(BillRow.gross_fen)).where(BillRow.state.in_(("issued", "paid")))
    bq = _apply_scope(bq, bill_scope, BillRow.org_id, operator_col=BillRow.operator_org_id)
    billed = {m: int(f or 0) for m, f in s.execute(bq.group_by(BillRow.month))}
    vq = select(VoucherLineRow.usage_month, func.sum(VoucherLineRow.amount_fen))
    vq = _apply_scope(vq, voucher_scope, VoucherLineRow.org_id, city_col=VoucherLineRow.city)
    granted = {m: int(f or 0) for m, f in s.execute(vq.group_by(VoucherLineRow.usage_month))}
    keys = sorted(set(billed) | set(granted))[-months:]
    return [
        {
            "month": m,
            "billed": str(Money.from_fen(billed.get(m, 0))),
            "vouchers": str(Money.from_fen(granted.get(m, 0))),
        }
        for m in keys
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
                "article": ARTICLE,
                "year": year,
                "city": city,
                "granted": str(Money.from_fen(int(fen or 0))),
                "lines": int(n),
                "budget_left": str(Money.from_fen(ledger.balance(s, Account.program_budget(ARTICLE, year)))),
            }
        )
    return out


__all__ = [
    "DraftResult",
    "ImportResult",
    "SettlementResult",
    "bill_detail",
    "budget_burn",
    "collect_runs",
    "draft_bills",
    "export_bill",
    "import_usage",
    "issue_bills",
    "list_bills",
    "list_disputes",
    "list_usage",
    "list_vouchers",
    "monthly_totals",
    "observed_runs",
    "pay_all",
    "pay_bill",
    "policy_evaluator",
    "rate_card",
    "reconcile_month",
    "resolve_dispute",
    "revenue_by_month",
    "set_discount",
    "set_pool_rate",
    "settle_vouchers",
    "usage_summary",
    "void_bill",
]
