# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""Usage records on the database: price file rows, store records once each, list and sum them.

Every function takes a :class:`UnitOfWork` already entered; none commits. The caller commits once,
so an import is all-or-nothing: a crash leaves the database as before.

An import reads the file as plain tuples of text and prices a row straight into the tuple it is stored
as (:class:`_Pricer`) when nothing splits it and every check passes; any other row (one that crosses
a month, policy, price or band edge, a correction, or a bad row, whose error names its line and
column) goes through the model (:func:`~zhisuan.metering.model.split_usage`), which gives the same
records. Rows are stored in batches (:func:`store_rows`), checked set-wise against what is stored.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Scope
from zhisuan.core.clock import Month, day_start
from zhisuan.core.errors import ConflictError, NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.ids import MAX_ID
from zhisuan.core.money import Money
from zhisuan.metering import rollups
from zhisuan.metering._scope import CHUNK, apply_scope
from zhisuan.metering.model import (
    BP,
    SECONDS_PER_HOUR,
    RateCard,
    RawUsage,
    UsageKind,
    UsageRecord,
    check_identity,
    half_up,
    split_usage,
)
from zhisuan.metering.rates import policy_edges, rate_card
from zhisuan.metering.usage_file import ROW_COLUMNS, Values, parse_usage_row, read_usage_values
from zhisuan.policy import PackSet
from zhisuan.store.bulk import insert_rows, stage
from zhisuan.store.models.compute import PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import UsageRecordRow
from zhisuan.store.types import UTCDateTime
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


class _References:
    """The organizations and pools (id → center, accelerator) rows may name."""

    def __init__(self, orgs: set[int], pools: Mapping[int, tuple[int, str, int]]) -> None:
        self.orgs = orgs
        self.pools = pools

    @classmethod
    def load(cls, s: Session) -> _References:
        """Every organization and pool, loaded once for a whole import."""
        pools = s.execute(
            select(PoolRow.id, PoolRow.center_id, PoolRow.accelerator, PoolRow.nodes, PoolRow.cards_per_node)
        )
        return cls(
            set(s.execute(select(OrganizationRow.id)).scalars()),
            {p: (c, a, nodes * per_node) for p, c, a, nodes, per_node in pools},
        )

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


_FIRST_PERIOD = Month(1970, 1)
_LAST_PERIOD = Month(2100, 12)


_DAY_STAMP: dict[int, str] = {}
_CLOCK_STAMP = [f"T{h:02d}{m:02d}{sec:02d}Z" for h in range(24) for m in range(60) for sec in range(60)]
_USAGE = UsageKind.USAGE.value


def _stamp(seconds: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` of a Unix second (the key's form, as the model's ``_stamp``)."""
    day = seconds // 86400
    text_ = _DAY_STAMP.get(day)
    if text_ is None:
        text_ = _DAY_STAMP[day] = time.strftime("%Y%m%d", time.gmtime(day * 86400))
    return text_ + _CLOCK_STAMP[seconds % 86400]


class _Pricer:
    """Prices a file row straight into its stored tuple, when nothing splits it and every check passes.

    Month starts and policy-validity edges are one sorted list of Unix seconds (the start of each
    period, with its ``policy_on`` day and usage month); price versions and discounts are steps per
    (organization, pool). A row whose interval contains any of these edges, on a banded pool, a
    correction or a row that fails a check answers ``None``: the model splits, prices or refuses it.
    """

    def __init__(self, card: RateCard, edges: Sequence[dt.date], refs: _References) -> None:
        self.card = card
        self.refs = refs
        days = set(edges)
        month = _FIRST_PERIOD
        while month <= _LAST_PERIOD:
            days.add(month.first_day)
            month = month.next()
        ordered = sorted(days)
        self.period_s = [int(day_start(d).timestamp()) for d in ordered]
        self.period = [(d, str(Month.of_date(d))) for d in ordered]
        self.engines: set[str] = set()
        self.steps: dict[tuple[int, int], tuple[list[int], list[tuple[int, int]]] | None] = {}

    def _steps(self, org: int, pool: int) -> tuple[list[int], list[tuple[int, int]]] | None:
        """Days on which the pool's price or the org's discount changes, with (price, discount) from
        each; None for a banded pool (its pieces split at band edges)."""
        if self.card.banded(pool):
            return None
        cuts: list[int] = []
        terms: list[tuple[int, int]] = []
        for day in self.card.version_days(pool, org):
            try:
                price = self.card.rate_on(pool, day).bands[0].price_fen_per_card_hour
            except NotFoundError:
                continue  # a discount before the pool's first price: no price yet
            cuts.append(int(day_start(day).timestamp()))
            terms.append((price, self.card.discount_on(org, pool, day)))
        return cuts, terms

    def row(self, v: Values) -> list[tuple[object, ...]] | None:
        """The stored row of a simple file row, or None (the model handles it)."""
        engine, job, org_t, center_t, pool_t, acc, cards_t, start_t, end_t, corrects = v
        if corrects:
            return None
        try:
            org, center, pool, cards = int(org_t), int(center_t), int(pool_t), int(cards_t)
            start, end = dt.datetime.fromisoformat(start_t), dt.datetime.fromisoformat(end_t)
        except ValueError:
            return None
        if start.tzinfo is None or end.tzinfo is None or start.microsecond or end.microsecond:
            return None
        if not 0 < cards <= MAX_ID:
            return None
        engine, job, acc = engine.strip(), job.strip(), acc.strip()
        if engine not in self.engines:
            try:
                check_identity(engine, "job")
            except ValidationError:
                return None
            self.engines.add(engine)
        if len(job.split()) != 1 or not (job.isascii() and job.isprintable()):  # the model says why
            return None
        known = self.refs.pools.get(pool)
        if org not in self.refs.orgs or known is None or known[:2] != (center, acc) or cards > known[2]:
            return None
        s, e = int(start.timestamp()), int(end.timestamp())
        if e <= s:
            return None
        key = (org, pool)
        steps = self.steps[key] if key in self.steps else self.steps.setdefault(key, self._steps(org, pool))
        if steps is None:
            return None
        period = self.period_s
        i = bisect_right(period, s)
        if i == 0 or i == len(period) or period[i] < e:
            return None  # a month or policy edge inside: split
        cuts, terms = steps
        j = bisect_right(cuts, s)
        if j == 0 or (j < len(cuts) and cuts[j] < e):
            return None  # no price yet, or the price or discount changes inside: split
        price, discount = terms[j - 1]
        policy_on, month = self.period[i - 1]
        card_seconds = cards * (e - s)
        return [
            (
                f"{engine}/{job}/{pool}/{_stamp(s)}-{_stamp(e)}",
                engine,
                job,
                org,
                center,
                pool,
                acc,
                cards,
                start,
                end,
                card_seconds,
                price,
                discount,
                half_up(card_seconds * price * (BP - discount), SECONDS_PER_HOUR * BP),
                _USAGE,
                0,
                None,
                month,
                policy_on,
            )
        ]


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
    n: int, v: Values, refs: _References, card: RateCard, edges: Sequence[dt.date]
) -> tuple[list[UsageRecord], str | None]:
    """A file row through the model: parsed, checked, split and priced (errors name line and column)."""
    raw, corrects = parse_usage_row(n, dict(zip(ROW_COLUMNS, v, strict=True)))
    refs.check(n, raw)
    try:
        return split_usage(raw, card, edges), corrects
    except ZhisuanError as exc:
        raise ValidationError(exc.message, row=n, column=exc.column or exc.field or "pool_id") from None


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

    Rows are read, priced and stored ``batch`` records at a time in the caller's transaction;
    ``progress(batch number, records so far)`` follows each stored batch. Corrections are applied
    after every other row (each reverses a stored record). One set-based query at the end checks
    that no second is metered twice.
    """
    s = uow.session
    card = rate_card(uow)
    edges = policy_edges(packs)
    refs = _References.load(s)
    corrections: dict[str, list[UsageRecord]] = defaultdict(list)
    read = [0]
    # Pricing (Python) and storing (the database) overlap: a thread prices the next batch while
    # this one waits for the database to take the last (the driver releases the GIL meanwhile).
    batches: queue.Queue[list[tuple[object, ...]] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def price_file() -> None:
        try:
            pricer = _Pricer(card, edges, refs)
            pending: list[tuple[object, ...]] = []
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
                if len(pending) >= batch:
                    batches.put(pending)
                    pending = []
            batches.put(pending)
            batches.put(None)
        except BaseException as exc:  # handed to the storing thread, raised there
            batches.put(exc)

    pricing = threading.Thread(target=price_file, name="usage-import-pricing", daemon=True)
    pricing.start()
    made = inserted = stored = 0
    before = _last_id(s)
    events: list[Events] = []  # what was written, for the over-commit sweep
    try:
        while (got := batches.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            if not got:  # the last batch may be empty
                continue
            inserted += _write_rows(uow, got)
            made += len(got)
            events.append(row_events(got))
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
        inserted += _write_rows(uow, fixed)
        made += len(fixed)
        events.append(row_events(fixed))
        if progress is not None:
            progress(stored + 1, made)
    if inserted:
        _check_new_usage(s, before)
        # every record made was new (no key known before): the sweep reads only the older usage
        over = over_committed(s, before, np.concatenate(events) if inserted == made else None)
        if over is not None:
            raise over.error(_line_of(path, over))
    rows = read[0]
    if at is not None:
        detail = {"rows": rows, "records": made, "inserted": inserted}
        audit.record(uow, at, actor, "usage.import", f"file:{path.name}"[:128], detail)
    return ImportResult(rows, made, inserted)


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


def _check_new_usage(s: Session, before: int) -> None:
    """The usage written after id ``before`` overlaps no other usage of its job on its pool, unless one
    of the two is reversed: a second is metered once. One set-based query for a whole import (its own
    rows included); raising aborts the unit of work, so nothing of the import stays written."""
    t = UsageRecordRow
    pairs = s.execute(
        text(
            "SELECT t.key, u.key FROM usage_records t JOIN usage_records u "
            "ON u.engine = t.engine AND u.engine_job_id = t.engine_job_id AND u.pool_id = t.pool_id "
            "AND u.id <> t.id AND u.start_at < t.end_at AND t.start_at < u.end_at "
            "WHERE t.id > :before AND t.kind = 'usage' AND u.kind = 'usage' ORDER BY t.id, u.id"
        ),
        {"before": before},
    ).all()
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


@dataclass(frozen=True, slots=True)
class OverCommit:
    """A moment at which a pool's usage takes more cards than it has, and a new record running then."""

    pool_id: int
    cards: int
    busy: int
    at: dt.datetime
    key: str
    engine: str
    engine_job_id: str

    def error(self, row: int | None = None) -> ValidationError:
        """The refusal, naming the line (or record) and its cards."""
        where = "" if row is not None else f"usage {self.key}: "
        return ValidationError(
            f"{where}pool {self.pool_id} has {self.cards} cards, but at {self.at.isoformat()} its usage "
            f"would take {self.busy} (job {self.engine}/{self.engine_job_id} among it): "
            "a pool cannot run more cards than it has",
            row=row,
            column="cards",
            field=None if row is not None else "cards",
        )


# The pools a write touched, with the span its new usage covers there.
_SPAN = (
    "SELECT pool_id, MIN(start_at), MAX(end_at) FROM usage_records "
    "WHERE id > :before AND kind = 'usage' GROUP BY pool_id ORDER BY pool_id"
)
_POOL, _START, _END, _CARDS, _KIND = 5, 8, 9, 7, 14  # positions in a stored row (RECORD_COLUMNS)

Events = npt.NDArray[np.int64]  # records as rows of (pool, start, end, cards; negative for a reversal)


def _seconds(values: Sequence[object]) -> npt.NDArray[np.int64]:
    """Timestamps as Unix seconds: SQLite's naive UTC text (parsed by numpy), aware datetimes, or
    PostgreSQL's ``EXTRACT(EPOCH …)`` already."""
    if values and isinstance(values[0], str):
        return np.array(values, dtype="datetime64[us]").astype("datetime64[s]").astype(np.int64)
    if values and isinstance(values[0], dt.datetime):
        return np.array([int(v.timestamp()) for v in values], dtype=np.int64)  # type: ignore[attr-defined]
    return np.array(values, dtype=np.int64)


def row_events(rows: Sequence[Sequence[object]]) -> Events:
    """Stored rows (``RECORD_COLUMNS`` order) as the sweep's records."""
    if not rows:
        return np.empty((0, 4), dtype=np.int64)
    return np.array(
        [
            (
                r[_POOL],
                int(r[_START].timestamp()),  # type: ignore[attr-defined]
                int(r[_END].timestamp()),  # type: ignore[attr-defined]
                r[_CARDS] if r[_KIND] == _USAGE else -r[_CARDS],  # type: ignore[operator]
            )
            for r in rows
        ],
        dtype=np.int64,
    )


def _spans(new: Events) -> tuple[list[int], Events, Events]:
    """The pools of the new usage (reversals aside) and, for each, the span it covers."""
    usage = new[new[:, 3] > 0]
    usage = usage[np.argsort(usage[:, 0], kind="stable")]
    cut = np.flatnonzero(np.diff(usage[:, 0])) + 1
    first = np.concatenate([[0], cut]).astype(np.int64)
    if not len(usage):
        return [], np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo = np.minimum.reduceat(usage[:, 1], first)
    hi = np.maximum.reduceat(usage[:, 2], first)
    return [int(p) for p in usage[first, 0]], lo, hi


def over_committed(s: Session, before: int, new: Events | None = None) -> OverCommit | None:
    """The first moment at which usage written after id ``before`` makes its pool run more cards than
    it has (stored usage overlapping it included), or None.

    ``new`` is what was written after ``before``, when the caller kept it (an import that stored every
    row it made): then only the older usage overlapping it is read, so an import into an empty period
    reads nothing back. Without it every record overlapping the new usage is read.

    A sweep over start (+cards) and end (-cards) events per pool (numpy: sorted by pool and instant,
    one running sum — each pool's events sum to zero, so the sum starts afresh at every pool — read
    after the last event of each instant, as intervals are half-open). A reversal cancels its record
    (-cards from its start, +cards at its end). Only instants inside the span of a pool's new usage
    count: an older over-commit elsewhere is not this write's.
    """
    if new is not None:
        pools, span_lo, span_hi = _spans(new)
    else:
        found = s.execute(text(_SPAN), {"before": before}).all()
        pools = [int(p) for p, _lo, _hi in found]
        span_lo, span_hi = _seconds([lo for _p, lo, _hi in found]), _seconds([hi for _p, _lo, hi in found])
    if not pools:
        return None
    postgres = s.get_bind().dialect.name == "postgresql"
    when = (
        "CAST(EXTRACT(EPOCH FROM start_at) AS BIGINT), CAST(EXTRACT(EPOCH FROM end_at) AS BIGINT)"
        if postgres
        else "start_at, end_at"
    )
    older = " AND id <= :before" if new is not None else ""
    stored = s.execute(
        text(
            f"SELECT pool_id, {when}, CASE WHEN kind = 'usage' THEN cards ELSE -cards END FROM usage_records "
            f"WHERE pool_id IN :pools AND start_at < :hi AND end_at > :lo{older}"
        ).bindparams(
            bindparam("pools", expanding=True),
            bindparam("lo", type_=UTCDateTime()),
            bindparam("hi", type_=UTCDateTime()),
        ),
        {
            "pools": pools,
            "lo": dt.datetime.fromtimestamp(int(span_lo.min()), dt.UTC),
            "hi": dt.datetime.fromtimestamp(int(span_hi.max()), dt.UTC),
            "before": before,
        },
    ).all()
    columns = list(zip(*stored, strict=True))  # a Row is a sequence; numpy would probe it as a mapping
    if columns:
        rec = np.column_stack(
            [
                np.array(columns[0], dtype=np.int64),
                _seconds(columns[1]),
                _seconds(columns[2]),
                np.array(columns[3]),
            ]
        ).astype(np.int64)
    else:
        rec = np.empty((0, 4), dtype=np.int64)
    if new is not None:
        rec = np.concatenate([rec, new])
    pool = np.concatenate([rec[:, 0], rec[:, 0]])
    at = np.concatenate([rec[:, 1], rec[:, 2]])
    order = np.lexsort((at, pool))
    pool, at = pool[order], at[order]
    busy = np.cumsum(np.concatenate([rec[:, 3], -rec[:, 3]])[order])
    last = np.ones(len(at), dtype=bool)  # the last event of each (pool, instant)
    last[:-1] = (pool[1:] != pool[:-1]) | (at[1:] != at[:-1])
    size = dict(
        s.execute(
            select(PoolRow.id, PoolRow.nodes * PoolRow.cards_per_node).where(PoolRow.id.in_(pools))
        ).all()
    )
    known = np.array(pools, dtype=np.int64)
    row = np.minimum(np.searchsorted(known, pool), len(known) - 1)
    touched = known[row] == pool  # a pool of older usage only (none here: all are the new usage's)
    limit = np.array([size.get(p, 0) for p in pools], dtype=np.int64)[row]
    inside = touched & (at >= span_lo[row]) & (at < span_hi[row])
    over = np.flatnonzero(last & inside & (busy > limit))
    if not len(over):
        return None
    first = over[np.argmin(at[over])]
    pool_id, instant = int(pool[first]), dt.datetime.fromtimestamp(int(at[first]), dt.UTC)
    t = UsageRecordRow
    running = s.execute(
        select(t.key, t.engine, t.engine_job_id)
        .where(
            t.id > before, t.kind == _USAGE, t.pool_id == pool_id, t.start_at <= instant, t.end_at > instant
        )
        .order_by(t.id.desc())
        .limit(1)
    ).first()
    key, engine, job = running if running is not None else ("?", "?", "?")
    return OverCommit(pool_id, int(limit[first]), int(busy[first]), instant, key, engine, job)


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
    "OverCommit",
    "import_usage",
    "list_usage",
    "over_committed",
    "record_from_row",
    "record_row",
    "store_records",
    "store_rows",
    "usage_summary",
]
