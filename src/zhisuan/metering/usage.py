# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Usage records on the database: price file rows, store records once each, list and sum them.

Every function takes a :class:`UnitOfWork` already entered; none commits. The caller commits once,
so an import is all-or-nothing: a crash leaves the database as before.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Scope
from zhisuan.core.clock import Month
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.money import Money
from zhisuan.metering._scope import CHUNK, apply_scope
from zhisuan.metering.model import RawUsage, UsageKind, UsageRecord, split_usage
from zhisuan.metering.rates import policy_edges, rate_card
from zhisuan.metering.usage_file import parse_usage_row, read_usage_file
from zhisuan.policy import PackSet
from zhisuan.store.bulk import insert_staged, stage
from zhisuan.store.models.compute import PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import UsageRecordRow
from zhisuan.store.uow import UnitOfWork

#: the columns of a usage record row, in the order :func:`record_row` gives its values
RECORD_COLUMNS = (
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


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import or a collection did: rows (or runs) read, records made, records new."""

    rows: int
    records: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.records - self.inserted


def record_row(r: UsageRecord) -> tuple[object, ...]:
    """A usage record as a row of ``usage_records`` (columns in the bulk writer's order)."""
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


def record_from_row(row: Any) -> UsageRecord:
    """A stored ``usage_records`` row as the usage record it holds."""
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


class _References:
    """The organizations and pools a batch of rows names, loaded once for the whole batch."""

    def __init__(self, s: Session, org_ids: Iterable[int]) -> None:
        ids = sorted(set(org_ids))
        self.orgs: set[int] = set()
        for i in range(0, len(ids), CHUNK):
            part = ids[i : i + CHUNK]
            self.orgs.update(
                s.execute(select(OrganizationRow.id).where(OrganizationRow.id.in_(part))).scalars()
            )
        self.pools = {
            pid: (cid, acc, nodes * per_node)
            for pid, cid, acc, nodes, per_node in s.execute(
                select(
                    PoolRow.id, PoolRow.center_id, PoolRow.accelerator, PoolRow.nodes, PoolRow.cards_per_node
                )
            )
        }

    def check(self, n: int, raw: RawUsage) -> None:
        """The row's organization exists; its pool belongs to its center and has its accelerator."""
        if raw.org_id not in self.orgs:
            raise ValidationError(f"no organization {raw.org_id}", row=n, column="org_id")
        pool = self.pools.get(raw.pool_id)
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
        if raw.cards > pool[2]:
            raise ValidationError(
                f"pool {raw.pool_id} has {pool[2]} cards, not {raw.cards}", row=n, column="cards"
            )


def _corrections(s: Session, corrections: Mapping[str, Sequence[UsageRecord]]) -> list[UsageRecord]:
    """For each corrected key: the reversal of the stored record, then its replacement pieces."""
    t = UsageRecordRow
    found = {
        r.key: record_from_row(r) for r in s.execute(select(t).where(t.key.in_(list(corrections)))).scalars()
    }
    out: list[UsageRecord] = []
    for key, pieces in corrections.items():
        original = found.get(key)
        if original is None or original.kind is not UsageKind.USAGE:
            raise NotFoundError(f"no usage record {key} to correct", field="corrects")
        out.append(original.reversal())
        out.extend(
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
    return out


def prepare_records(
    uow: UnitOfWork, rows: Iterable[tuple[int, Mapping[str, str]]], packs: PackSet
) -> tuple[int, list[UsageRecord]]:
    """Parse, validate, split and price file rows into usage records (nothing written)."""
    s = uow.session
    card = rate_card(uow)
    edges = policy_edges(packs)
    parsed = [(n, *parse_usage_row(n, row)) for n, row in rows]
    refs = _References(s, (raw.org_id for _, raw, _ in parsed))
    records: list[UsageRecord] = []
    corrections: dict[str, list[UsageRecord]] = defaultdict(list)
    for n, raw, corrects in parsed:
        refs.check(n, raw)
        try:
            pieces = split_usage(raw, card, edges)
        except ZhisuanError as exc:
            raise ValidationError(exc.message, row=n, column=exc.column or exc.field or "pool_id") from None
        if corrects is None:
            records.extend(pieces)
        else:
            corrections[corrects].extend(pieces)
    if corrections:
        records.extend(_corrections(s, corrections))
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
    tmp = stage(s, table, RECORD_COLUMNS, [record_row(r) for r in batch])  # type: ignore[arg-type]
    _check_against_stored(s, tmp)
    return insert_staged(s, table, tmp, RECORD_COLUMNS, ("key",))  # type: ignore[arg-type]


def import_usage(
    uow: UnitOfWork, path: Path, packs: PackSet, *, actor: str = "system", at: dt.datetime | None = None
) -> ImportResult:
    """Import a usage file: all rows or none; importing it again changes nothing. Audited when ``at``."""
    n, records = prepare_records(uow, read_usage_file(path), packs)
    inserted = store_records(uow, records)
    if at is not None:
        detail = {"rows": n, "records": len(records), "inserted": inserted}
        audit.record(uow, at, actor, "usage.import", f"file:{path.name}"[:128], detail)
    return ImportResult(n, len(records), inserted)


def list_usage(
    uow: UnitOfWork, org_id: int | None = None, month: Month | None = None, limit: int = 200
) -> list[dict[str, object]]:
    """Usage records, oldest first (of an organization, of a month)."""
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
    q = apply_scope(q, scope, t.org_id, center_col=t.center_id)
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


__all__ = [
    "RECORD_COLUMNS",
    "ImportResult",
    "import_usage",
    "list_usage",
    "prepare_records",
    "record_from_row",
    "record_row",
    "store_records",
    "usage_summary",
]
