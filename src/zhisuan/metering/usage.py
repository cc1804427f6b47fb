# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Usage records on the database: price file rows, store records once each, list and sum them.

Every function takes a :class:`UnitOfWork` already entered; none commits. The caller commits once,
so an import is all-or-nothing: a crash leaves the database as before.

An import reads the file as plain tuples of text and prices a row straight into the tuple it is
stored as (:class:`~zhisuan.metering._pricer.Pricer`) when nothing splits it and every check passes;
any other row (one that crosses a month, policy, price or band edge, a correction, or a bad row, whose
error names its line and column) goes through the model (:func:`~zhisuan.metering.model.split_usage`),
which gives the same records. Rows are stored in batches (:func:`store_rows`), checked set-wise against
what is stored (a second metered once here; a pool's cards by :mod:`~zhisuan.metering.overcommit`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Scope
from zhisuan.core.clock import Month
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.money import Money
from zhisuan.metering import rollups
from zhisuan.metering._pricer import Pricer, References
from zhisuan.metering._scope import CHUNK, apply_scope
from zhisuan.metering.model import RateCard, UsageKind, UsageRecord, split_usage
from zhisuan.metering.overcommit import Events, OverCommit, over_committed, row_events
from zhisuan.metering.rates import policy_edges, rate_card
from zhisuan.metering.usage_file import ROW_COLUMNS, Values, parse_usage_row, read_usage_values
from zhisuan.policy import PackSet
from zhisuan.store.bulk import allocate_ids, copy_new, insert_rows, stage
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


def _model_rows(
    n: int, v: Values, refs: References, card: RateCard, edges: Sequence[dt.date]
) -> tuple[list[UsageRecord], str | None]:
    """A file row through the model: parsed, checked, split and priced (errors name line and column)."""
    raw, corrects = parse_usage_row(n, dict(zip(ROW_COLUMNS, v, strict=True)))
    refs.check(n, raw)
    try:
        return split_usage(raw, card, edges), corrects
    except ZhisuanError as exc:
        raise ValidationError(exc.message, row=n, column=exc.column or exc.field or "pool_id") from None


_FIRST_BATCH = 5_000


def import_usage(
    uow: UnitOfWork,
    path: Path,
    packs: PackSet,
    *,
    batch: int = 50_000,
    progress: Callable[[int, int], None] | None = None,
    actor: str = "system",
    at: dt.datetime | None = None,
) -> ImportResult:
    """Import a usage file: all rows or none; importing it again changes nothing. Audited when ``at``.

    Rows are read, priced and stored ``batch`` records at a time in the caller's transaction (the
    first batch at most ``_FIRST_BATCH``, so the database starts while the rest is priced);
    ``progress(batch number, records so far)`` follows each stored batch. Corrections are applied
    after every other row (each reverses a stored record). Set-based queries at the end check that
    no second is metered twice and no pool runs more cards than it has.
    """
    s = uow.session
    card = rate_card(uow)
    edges = policy_edges(packs)
    refs = References.load(s)
    corrections: dict[str, list[UsageRecord]] = defaultdict(list)
    repeated: set[tuple[str, str]] = set()  # jobs with more than one record in this import
    read = [0]
    # Pricing (Python) and storing (the database) overlap: a thread prices the next batch while
    # this one waits for the database to take the last (the driver releases the GIL meanwhile).
    batches: queue.Queue[Priced | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def price_file() -> None:
        try:
            pricer = Pricer(card, edges, refs)
            seen: set[int] = set()  # hashes of (engine, job id): a repeat is listed, a collision harmless
            pending: list[tuple[object, ...]] = []
            size = min(batch, _FIRST_BATCH)
            for n, v in read_usage_values(path):
                if stop.is_set():
                    return
                read[0] += 1
                priced = pricer.row(v)
                if priced is None:
                    pieces, corrects = _model_rows(n, v, refs, card, edges)
                    if corrects is not None:
                        corrections[corrects].extend(pieces)
                        continue
                    priced = [record_row(p) for p in pieces]
                pending.extend(priced)
                if len(pending) >= size:
                    batches.put(_priced(pending, seen, repeated))
                    pending, size = [], batch
            batches.put(_priced(pending, seen, repeated))
            batches.put(None)
        except BaseException as exc:  # handed to the storing thread, raised there
            batches.put(exc)

    pricing = threading.Thread(target=price_file, name="usage-import-pricing", daemon=True)
    pricing.start()
    made = inserted = stored = 0
    before = _last_id(s)
    events: list[Events] = []  # what was written, for the over-commit sweep
    # PostgreSQL: rows are copied straight into the table until one batch holds a known key (the
    # same file again); from then on they go through a stage and ON CONFLICT DO NOTHING
    direct = s.get_bind().dialect.name == "postgresql"
    try:
        while (got := batches.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            rows, written, summed = got
            if not rows:  # the last batch may be empty
                continue
            copied = _copy_new_rows(s, rows, summed) if direct else None
            if copied is None:
                direct = False
                copied = _write_rows(uow, rows)
            inserted += copied
            made += len(rows)
            events.append(written)
            stored += 1
            if progress is not None:
                progress(stored, made)
    finally:
        stop.set()
        while pricing.is_alive():  # let a pricer blocked on a full queue finish
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.05)
    if corrections:
        fixed = [record_row(r) for r in _corrections(s, corrections)]
        repeated.update((str(r[1]), str(r[2])) for r in fixed)  # a replacement may meet this file's rows
        inserted += _write_rows(uow, fixed)
        made += len(fixed)
        events.append(row_events(fixed))
        if progress is not None:
            progress(stored + 1, made)
    if inserted:
        _check_new_usage(s, before, repeated)
        # every record made was new (no key known before): the sweep reads only the older usage
        over = over_committed(s, before, np.concatenate(events) if inserted == made else None)
        if over is not None:
            raise over.error(_line_of(path, over))
    if at is not None:
        detail = {"rows": read[0], "records": made, "inserted": inserted}
        audit.record(uow, at, actor, "usage.import", f"file:{path.name}"[:128], detail)
    return ImportResult(read[0], made, inserted)


# positions in a stored row (RECORD_COLUMNS)
_KEY = 0
_FIGURE_AT = (3, 4, 7, 11, 12)  # org, center, cards, price, discount
_FIGURES = ("org_id", "center_id", "cards", "price_fen_per_card_hour", "discount_bp")


def _last_id(s: Session) -> int:
    return int(s.execute(select(func.coalesce(func.max(UsageRecordRow.id), 0))).scalar_one())


def _known_figures_agree(s: Session, rows: Sequence[Sequence[object]]) -> None:
    """Rows whose key was already stored carry its figures (SQLite: looked up by key)."""
    t = UsageRecordRow
    mine = {r[_KEY]: tuple(r[i] for i in _FIGURE_AT) for r in rows}
    keys = list(mine)
    cols = (t.key, t.org_id, t.center_id, t.cards, t.price_fen_per_card_hour, t.discount_bp)
    for i in range(0, len(keys), CHUNK):
        for key, *figures in s.execute(select(*cols).where(t.key.in_(keys[i : i + CHUNK]))):
            if tuple(figures) != mine[key]:
                raise ConflictError(f"usage {key} was already reported with different figures")


#: a batch of stored rows, priced: the rows, the over-commit sweep's records of them, their roll-ups
Priced = tuple[list[tuple[object, ...]], Events, list[rollups.Summed]]


def _priced(rows: list[tuple[object, ...]], seen: set[int], repeated: set[tuple[str, str]]) -> Priced:
    """A priced batch, with what the storing thread needs of it worked out beforehand (in the pricing
    thread, while the database takes the previous batch); its repeated jobs noted."""
    _note_jobs(rows, seen, repeated)
    events = row_events(rows)
    return rows, events, rollups.sum_rows(rows, RECORD_COLUMNS, events[:, 1].tolist())


def _note_jobs(rows: Sequence[Sequence[object]], seen: set[int], repeated: set[tuple[str, str]]) -> None:
    """Add the jobs of ``rows`` met before (in ``seen``, hashes of (engine, job id)) to ``repeated``."""
    for r in rows:
        job = (str(r[1]), str(r[2]))
        h = hash(job)
        if h in seen:
            repeated.add(job)
        else:
            seen.add(h)


def _copy_new_rows(
    s: Session, rows: Sequence[Sequence[object]], summed: Sequence[rollups.Summed]
) -> int | None:
    """PostgreSQL: copy rows none of whose keys is stored straight into ``usage_records`` and store
    their roll-ups (``summed``: :func:`~zhisuan.metering.rollups.sum_rows` of them); None (nothing
    written) when a key is already stored or appears twice.

    The ids are reserved first, so the roll-ups name exactly these records even while another
    transaction writes usage.
    """
    table = UsageRecordRow.__table__
    rollups.writing_usage(s)
    ids = sorted(allocate_ids(s, table, len(rows)))  # type: ignore[arg-type]
    with_ids = [(i, *r) for i, r in zip(ids, rows, strict=True)]
    if not copy_new(s, table, ("id", *RECORD_COLUMNS), with_ids):  # type: ignore[arg-type]
        return None
    rollups.write_summed(s, summed, ids)
    return len(rows)


def _write_rows(uow: UnitOfWork, rows: Sequence[Sequence[object]]) -> int:
    """Insert rows once each (a known key is skipped, and must carry the same figures); how many new.

    PostgreSQL: binary COPY into a temporary table, then ``INSERT … SELECT … ON CONFLICT (key) DO
    NOTHING``; SQLite: ``INSERT … ON CONFLICT (key) DO NOTHING`` with ``executemany``. Only when some
    keys were known are their figures compared with what is stored.
    """
    s = uow.session
    unique: dict[object, Sequence[object]] = {}
    for r in rows:
        prev = unique.setdefault(r[_KEY], r)
        if prev is not r and any(prev[i] != r[i] for i in _FIGURE_AT):
            raise ConflictError(f"usage {r[_KEY]} appears twice with different figures")
    if not unique:
        return 0
    batch = rows if len(unique) == len(rows) else list(unique.values())
    table = UsageRecordRow.__table__
    rollups.writing_usage(s)
    if s.get_bind().dialect.name != "postgresql":
        last = _last_id(s)
        inserted = insert_rows(s, table, RECORD_COLUMNS, batch, conflict=("key",))  # type: ignore[arg-type]
        if inserted:
            rollups.roll_up_after(s, last)
        if inserted < len(batch):
            _known_figures_agree(s, batch)
        return inserted
    tmp = stage(s, table, RECORD_COLUMNS, batch)  # type: ignore[arg-type]
    cols = ", ".join(RECORD_COLUMNS)
    returned = ", ".join(("id", "start_at", "card_seconds", *rollups.KEY))
    # the records this statement wrote (a known key writes nothing), rolled up in the same statement
    inserted = int(
        s.execute(
            text(
                f"WITH new AS (INSERT INTO usage_records ({cols}) SELECT {cols} FROM {tmp} "
                f"ON CONFLICT (key) DO NOTHING RETURNING {returned}), "
                f"summed AS ({rollups.insert_sql('postgresql', 'new')} RETURNING records) "
                "SELECT COALESCE(SUM(records), 0) FROM summed"
            )
        ).scalar_one()
    )
    if inserted < len(batch):
        differs = " OR ".join(f"u.{c} <> t.{c}" for c in _FIGURES)
        clash = s.execute(
            text(f"SELECT t.key FROM {tmp} t JOIN usage_records u ON u.key = t.key WHERE {differs} LIMIT 1")
        ).first()
        if clash is not None:
            raise ConflictError(f"usage {clash[0]} was already reported with different figures")
    s.execute(text(f"DROP TABLE {tmp}"))
    return inserted


_SAME_JOB_OVERLAPPING = (
    "u.engine = t.engine AND u.engine_job_id = t.engine_job_id AND u.pool_id = t.pool_id "
    "AND u.id <> t.id AND u.start_at < t.end_at AND t.start_at < u.end_at"
)
_NEW_USAGE = "t.id > :before AND t.kind = 'usage' AND u.kind = 'usage'"
_OVERLAPS = (
    f"SELECT t.id, u.id, t.key, u.key FROM usage_records t JOIN usage_records u ON {_SAME_JOB_OVERLAPPING} "
    f"WHERE {_NEW_USAGE}"
)
# PostgreSQL, the new usage of the listed jobs against itself: driven by the list, so the planner
# probes the job index (it has no statistics yet for rows written in this transaction)
_OVERLAPS_OF_JOBS = (
    "SELECT t.id, u.id, t.key, u.key FROM unnest(CAST(:engines AS text[]), CAST(:jobs AS text[])) "
    "AS j(engine, job) JOIN usage_records t ON t.engine = j.engine AND t.engine_job_id = j.job "
    f"JOIN usage_records u ON {_SAME_JOB_OVERLAPPING} WHERE {_NEW_USAGE} AND u.id > :before"
)
#: more jobs than this repeated inside one import: its own rows are checked against each other whole
_REPEATS_LISTED = 20_000


def _check_new_usage(s: Session, before: int, repeated: set[tuple[str, str]] | None = None) -> None:
    """The usage written after id ``before`` overlaps no other usage of its job on its pool, unless one
    of the two is reversed: a second is metered once. Raising aborts the unit of work, so nothing of
    the import stays written.

    Set-based: the new usage against the older usage of its jobs, and against itself. An import that
    knows which of its jobs came more than once (``repeated``: (engine, job id), a superset will do)
    checks its own rows only among those jobs' — a job written once overlaps nothing it wrote.
    """
    t = UsageRecordRow
    found: list[Any] = []
    if repeated is None or len(repeated) > _REPEATS_LISTED:
        found += s.execute(text(_OVERLAPS), {"before": before}).all()
    else:
        if before > 0:  # ids start at 1: before 0, no older usage (the planner cannot tell)
            found += s.execute(text(f"{_OVERLAPS} AND u.id <= :before"), {"before": before}).all()
        listed = sorted(repeated)
        postgres = s.get_bind().dialect.name == "postgresql"
        within = text(
            _OVERLAPS_OF_JOBS
            if postgres
            else f"{_OVERLAPS} AND u.id > :before AND t.engine IN :engines AND t.engine_job_id IN :jobs"
        )
        if not postgres:
            within = within.bindparams(
                bindparam("engines", expanding=True), bindparam("jobs", expanding=True)
            )
        for i in range(0, len(listed), CHUNK):
            engines, jobs = zip(*listed[i : i + CHUNK], strict=True)
            found += s.execute(within, {"before": before, "engines": list(engines), "jobs": list(jobs)}).all()
    pairs = [(tk, uk) for _t, _u, tk, uk in sorted(found, key=lambda p: (p[0], p[1]))]
    if not pairs:
        return
    keys = sorted({k for pair in pairs for k in pair})
    reversed_keys: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        reversed_keys.update(
            s.execute(select(t.reverses).where(t.reverses.in_(keys[i : i + CHUNK]))).scalars()  # type: ignore[arg-type]
        )
    for new_key, other_key in pairs:
        if new_key not in reversed_keys and other_key not in reversed_keys:
            raise ConflictError(
                f"usage {new_key} overlaps {other_key}: a second is metered once; "
                "send a correction (column corrects) instead",
                field="start",
            )


def _line_of(path: Path, over: OverCommit) -> int | None:
    """The file line of the over-committing record's job (read again, only when refusing)."""
    for n, v in read_usage_values(path):
        if v[0].strip() == over.engine and v[1].strip() == over.engine_job_id:
            return n
    return None


#: ``Session.info`` key of what this transaction's ``store_rows`` calls wrote, for the next call's sweep
_WRITTEN = "zhisuan.metering.usage_written"


def store_rows(uow: UnitOfWork, rows: Sequence[Sequence[object]]) -> int:
    """Write usage record rows (``RECORD_COLUMNS`` order) once each, known keys skipped; refuse
    double-metered seconds, a pool running more cards than it has and a known key with other figures.
    Returns how many were new.

    Calls in one transaction (a writer storing batch after batch) remember what they wrote, while
    nothing else writes usage in between, so each sweep reads back only the usage from before them.
    """
    s = uow.session
    before = _last_id(s)
    inserted = _write_rows(uow, rows)
    if not inserted:
        return 0
    _check_new_usage(s, before)
    tx = s.get_transaction()
    kept = s.info.pop(_WRITTEN, None)
    since, new = before, row_events(rows) if inserted == len(rows) else None
    if new is not None and kept is not None and kept[0] is tx and kept[2] == before:
        since, new = kept[1], np.concatenate([kept[3], new])
    over = over_committed(s, since, new)
    if over is not None:
        raise over.error()
    if new is not None:
        s.info[_WRITTEN] = (tx, since, _last_id(s), new)
    return inserted


def store_records(uow: UnitOfWork, records: Sequence[UsageRecord]) -> int:
    """Write usage records once each (known keys skipped); refuse double-metered seconds."""
    return store_rows(uow, [record_row(r) for r in records])


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
    "record_from_row",
    "record_row",
    "store_records",
    "store_rows",
    "usage_summary",
]
