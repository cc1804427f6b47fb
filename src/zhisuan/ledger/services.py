# ruff: noqa: S608  -- SQL text is built only from our own table/column names and constant fragments; every value is a bound parameter
"""The ledger on the database: post once, balances per account and date, verify the whole book.

Same rules as :class:`zhisuan.ledger.model.Ledger`, applied set-wise so that a settlement can post
hundreds of thousands of lines in one transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from zhisuan.core.clock import Clock
from zhisuan.core.errors import ConflictError
from zhisuan.ledger.model import (
    KIND_RULES,
    Account,
    AccountKind,
    Posting,
    PostingShape,
    Problem,
    floor_breaches,
)
from zhisuan.store.bulk import insert_rows
from zhisuan.store.models.ledger import LedgerAccountRow, LedgerLineRow, LedgerPostingRow

_CHUNK = 5000


def account_ids(session: Session, accounts: set[Account]) -> dict[Account, int]:
    """Ids of ``accounts``, creating the missing ones."""
    if not accounts:
        return {}
    table = LedgerAccountRow.__table__
    insert_rows(
        session,
        table,  # type: ignore[arg-type]
        ("kind", "key"),
        [(a.kind.value, a.key) for a in sorted(accounts)],
        conflict=("kind", "key"),
    )
    out: dict[Account, int] = {}
    kinds = {a.kind.value for a in accounts}
    for kind, key, ident in session.execute(
        select(LedgerAccountRow.kind, LedgerAccountRow.key, LedgerAccountRow.id).where(
            LedgerAccountRow.kind.in_(kinds)
        )
    ):
        acc = Account(AccountKind(kind), key)
        if acc in accounts:
            out[acc] = ident
    return out


def _existing(session: Session, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        found.update(
            session.execute(select(LedgerPostingRow.key).where(LedgerPostingRow.key.in_(part))).scalars()
        )
    return found


def _balances_of(session: Session, ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        rows = session.execute(
            select(LedgerLineRow.account_id, func.sum(LedgerLineRow.fen))
            .where(LedgerLineRow.account_id.in_(part))
            .group_by(LedgerLineRow.account_id)
        )
        out.update({a: int(s) for a, s in rows})
    return out


def post(session: Session, postings: Sequence[Posting], clock: Clock) -> int:
    """Post each posting once (known keys are skipped); refuse the lot if any floor would be breached.

    Returns how many postings were new. Nothing is committed here: the caller's unit of work decides.
    """
    seen: set[str] = set()
    unique: list[Posting] = []
    for p in postings:
        if p.key not in seen:
            seen.add(p.key)
            unique.append(p)
    known = _existing(session, [p.key for p in unique])
    new = [p for p in unique if p.key not in known]
    if not new:
        return 0
    ids = account_ids(session, {line.account for p in new for line in p.lines})
    moved: dict[Account, int] = defaultdict(int)
    for p in new:
        for line in p.lines:
            moved[line.account] += line.fen
    floored = [a for a, fen in moved.items() if a.rule.floor is not None and a.normal(fen) < 0]
    if floored:
        current = _balances_of(session, [ids[a] for a in floored])
        after = {a: a.normal(current.get(ids[a], 0) + moved[a]) for a in floored}
        breaches = floor_breaches(after)
        if breaches:
            raise ConflictError(f"refused, nothing posted: {breaches[0].message}")
    now = clock.now()
    insert_rows(
        session,
        LedgerPostingRow.__table__,  # type: ignore[arg-type]
        ("key", "cause", "on", "memo", "created_at"),
        [(p.key, p.cause, p.on, p.memo, now) for p in new],
    )
    insert_rows(
        session,
        LedgerLineRow.__table__,  # type: ignore[arg-type]
        ("posting_key", "account_id", "on", "fen"),
        [(p.key, ids[line.account], p.on, line.fen) for p in new for line in p.lines if line.fen],
    )
    return len(new)


def post_rows(session: Session, shape: PostingShape, source: str, on: dt.date, clock: Clock) -> int:
    """Post ``shape`` once per row of ``source`` (SQL: a subquery with ``id`` and the shape's columns)
    with ``INSERT … SELECT``: no Python object per posting. Rows whose posting exists are skipped; a
    posting that would not balance, or that would take an account below its floor, refuses the lot.

    Returns how many postings were new. ``source`` is our own SQL text; values are bound parameters.
    """
    tmp = f"tmp_post_{uuid.uuid4().hex[:8]}"
    accounts = ", ".join(f"CAST(src.{col} AS TEXT) AS a{i}" for i, (_, col, _) in enumerate(shape.lines))
    amounts = ", ".join(f"({fen}) AS f{i}" for i, (_, _, fen) in enumerate(shape.lines))
    key = f"'{shape.prefix}:' || CAST(src.id AS TEXT)"
    session.execute(
        text(
            f"CREATE TEMP TABLE {tmp} AS SELECT {key} AS pkey, {accounts}, {amounts} FROM {source} "
            f"WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.key = {key})"
        )
    )
    try:
        n = int(session.execute(text(f"SELECT COUNT(*) FROM {tmp}")).scalar_one())
        if not n:
            return 0
        total = " + ".join(f"f{i}" for i in range(len(shape.lines)))
        unbalanced = session.execute(text(f"SELECT pkey FROM {tmp} WHERE {total} <> 0 LIMIT 1")).first()
        if unbalanced is not None:
            raise ConflictError(f"refused, nothing posted: posting {unbalanced[0]} does not balance")
        for i, (kind, _, _) in enumerate(shape.lines):
            session.execute(
                text(
                    f"INSERT INTO ledger_accounts (kind, key) SELECT DISTINCT :kind, a{i} FROM {tmp} "
                    "WHERE true ON CONFLICT (kind, key) DO NOTHING"
                ),
                {"kind": kind.value},
            )
        for i, (kind, _, _) in enumerate(shape.lines):
            if KIND_RULES[kind].floor is None:
                continue
            moved = {
                Account(kind, k): int(v)
                for k, v in session.execute(text(f"SELECT a{i}, SUM(f{i}) FROM {tmp} GROUP BY a{i}"))
            }
            ids = account_ids(session, set(moved))
            current = _balances_of(session, list(ids.values()))
            breaches = floor_breaches({a: a.normal(current.get(ids[a], 0) + fen) for a, fen in moved.items()})
            if breaches:
                raise ConflictError(f"refused, nothing posted: {breaches[0].message}")
        session.execute(
            text(
                'INSERT INTO ledger_postings (key, cause, "on", memo, created_at) '
                f"SELECT pkey, pkey, :on, :memo, :now FROM {tmp}"
            ),
            {"on": on, "memo": shape.memo, "now": clock.now()},
        )
        # every line of every posting in one statement (one pass over the stage and the accounts)
        lines = " UNION ALL ".join(
            f"SELECT pkey, :kind{i} AS kind, a{i} AS acc, f{i} AS fen FROM {tmp} WHERE f{i} <> 0"
            for i in range(len(shape.lines))
        )
        session.execute(
            text(
                'INSERT INTO ledger_lines (posting_key, account_id, "on", fen) '
                f"SELECT x.pkey, a.id, :on, x.fen FROM ({lines}) x "
                "JOIN ledger_accounts a ON a.kind = x.kind AND a.key = x.acc"
            ),
            {"on": on, **{f"kind{i}": kind.value for i, (kind, _, _) in enumerate(shape.lines)}},
        )
        return n
    finally:
        session.execute(text(f"DROP TABLE {tmp}"))


def balances(session: Session, on: dt.date | None = None) -> dict[Account, int]:
    """Normal-side balance of every account, from postings dated on or before ``on``."""
    q = (
        select(LedgerAccountRow.kind, LedgerAccountRow.key, func.coalesce(func.sum(LedgerLineRow.fen), 0))
        .join(LedgerLineRow, LedgerLineRow.account_id == LedgerAccountRow.id)
        .group_by(LedgerAccountRow.kind, LedgerAccountRow.key)
    )
    if on is not None:
        q = q.where(LedgerLineRow.on <= on)
    out = {}
    for kind, key, signed in session.execute(q):
        acc = Account(AccountKind(kind), key)
        out[acc] = acc.normal(int(signed))
    return dict(sorted(out.items()))


def balance(session: Session, account: Account, on: dt.date | None = None) -> int:
    q = (
        select(func.coalesce(func.sum(LedgerLineRow.fen), 0))
        .join(LedgerAccountRow, LedgerLineRow.account_id == LedgerAccountRow.id)
        .where(LedgerAccountRow.kind == account.kind.value, LedgerAccountRow.key == account.key)
    )
    if on is not None:
        q = q.where(LedgerLineRow.on <= on)
    return account.normal(int(session.execute(q).scalar_one()))


# what must be posted exactly once, as SQL: (label, cause prefix, query of ids that need a posting)
_EXPECTED: tuple[tuple[str, str, str], ...] = (
    (
        "bill line",
        "bill_line:",
        "SELECT l.id FROM bill_lines l JOIN bills b ON b.id = l.bill_id "
        "WHERE b.issued_on IS NOT NULL AND l.gross_fen <> 0",
    ),
    (
        "voided bill line",
        "bill_line_void:",
        "SELECT l.id FROM bill_lines l JOIN bills b ON b.id = l.bill_id "
        "WHERE b.state = 'void' AND b.issued_on IS NOT NULL AND l.gross_fen <> 0",
    ),
    ("bill payment", "bill_payment:", "SELECT id FROM bills WHERE state = 'paid' AND gross_fen <> 0"),
    ("voucher line", "voucher_line:", "SELECT id FROM voucher_lines WHERE amount_fen <> 0"),
    (
        "approved award",
        "award_commit:",
        "SELECT id FROM applications WHERE state IN ('approved', 'paid', 'withdrawn') AND approved_fen > 0",
    ),
    (
        "withdrawn award",
        "award_release:",
        "SELECT id FROM applications WHERE state = 'withdrawn' AND approved_fen > 0",
    ),
    ("paid award", "award_payment:", "SELECT id FROM applications WHERE state = 'paid' AND approved_fen > 0"),
    (
        "voucher payment",
        "voucher_payment:",
        "SELECT i.batch_id || ':' || SUBSTR(i.payee, 5) AS id FROM payment_items i "
        "JOIN payment_batches b ON b.id = i.batch_id WHERE b.state = 'paid' AND b.kind = 'vouchers' "
        "GROUP BY i.batch_id, i.payee HAVING SUM(i.fen) <> 0",
    ),
)


def verify(session: Session) -> list[Problem]:
    """All postings balance, no account below its floor; every bill and voucher line, award and payment
    posted once."""
    problems: list[Problem] = []
    for key, total in session.execute(
        text("SELECT posting_key, SUM(fen) FROM ledger_lines GROUP BY posting_key HAVING SUM(fen) <> 0")
    ):
        problems.append(Problem("unbalanced", f"posting {key} is off by {total} fen"))
    orphans = session.execute(
        text(
            "SELECT COUNT(*) FROM ledger_postings p WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger_lines l WHERE l.posting_key = p.key)"
        )
    ).scalar_one()
    if orphans:
        problems.append(Problem("empty", f"{orphans} postings have no lines"))
    problems += floor_breaches(balances(session))
    for label, prefix, ids_sql in _EXPECTED:
        expected = f"SELECT '{prefix}' || CAST(x.id AS VARCHAR(20)) AS k FROM ({ids_sql}) x"
        posted = f"SELECT key AS k FROM ledger_postings WHERE cause LIKE '{prefix}%'"
        missing = session.execute(text(f"SELECT COUNT(*) FROM ({expected} EXCEPT {posted}) m")).scalar_one()
        if missing:
            problems.append(Problem("posted_once", f"{missing} {label}(s) have no posting"))
        stray = session.execute(text(f"SELECT COUNT(*) FROM ({posted} EXCEPT {expected}) s")).scalar_one()
        if stray:
            problems.append(Problem("posted_once", f"{stray} {label} posting(s) have no {label} behind them"))
    return problems


__all__ = ["account_ids", "balance", "balances", "post", "post_rows", "verify"]
