# ruff: noqa: S608  -- SQL text is built only from our own table names; every value is a bound parameter
"""The ledger postings metering makes: bill lines issued or voided, payments, vouchers, program budget.

Each posting has a key derived from what it posts (a bill line, a bill, a voucher line, a year), so
posting the same thing again changes nothing. Nothing is committed here: the caller's unit of work is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from zhisuan.core.clock import Clock
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import (
    BILL_LINE_SHAPE,
    PAYMENT_SHAPE,
    VOUCHER_SHAPE,
    Account,
    Posting,
    bill_line_posting,
    bill_void_posting,
    budget_posting,
    payment_posting,
)
from zhisuan.metering._scope import CHUNK
from zhisuan.metering.vouchers import BUDGET_PROGRAM
from zhisuan.store.bulk import stage
from zhisuan.store.models.metering import BillLineRow, BillRow


def post_issued(s: Session, bill_ids: Sequence[int], on: dt.date, clock: Clock) -> int:
    """Post every non-zero line of the bills just issued (receivable, revenue, VAT) set-wise: one
    ``INSERT … SELECT`` per table, no Python object per line. Returns the postings made."""
    if not bill_ids:
        return 0
    tmp = stage(s, BillRow.__table__, ("id",), [(i,) for i in bill_ids])  # type: ignore[arg-type]
    source = (
        "(SELECT l.id, b.org_id, b.center_id, l.gross_fen, l.vat_fen FROM bill_lines l "
        f"JOIN bills b ON b.id = l.bill_id JOIN {tmp} t ON t.id = b.id WHERE l.gross_fen <> 0) src"
    )
    made = ledger.post_rows(s, BILL_LINE_SHAPE, source, on, clock)
    s.execute(text(f"DROP TABLE {tmp}"))
    return made


def post_paid(s: Session, bill_ids: Sequence[int], paid_on: dt.date, clock: Clock) -> int:
    """Post the payment of every bill just paid with a non-zero total, set-wise."""
    if not bill_ids:
        return 0
    tmp = stage(s, BillRow.__table__, ("id",), [(i,) for i in bill_ids])  # type: ignore[arg-type]
    source = (
        f"(SELECT b.id, b.org_id, b.center_id, b.gross_fen FROM bills b JOIN {tmp} t ON t.id = b.id "
        "WHERE b.gross_fen <> 0) src"
    )
    made = ledger.post_rows(s, PAYMENT_SHAPE, source, paid_on, clock)
    s.execute(text(f"DROP TABLE {tmp}"))
    return made


def post_bill_lines(
    s: Session, bills: Sequence[BillRow], on: dt.date, clock: Clock, *, void: bool = False
) -> None:
    """Post each non-zero line of ``bills`` as receivable and VAT (issue), or reverse it (``void``)."""
    by_id = {b.id: b for b in bills}
    make = bill_void_posting if void else bill_line_posting
    out: list[Posting] = []
    ids = list(by_id)
    for i in range(0, len(ids), CHUNK):
        q = select(BillLineRow.id, BillLineRow.bill_id, BillLineRow.gross_fen, BillLineRow.vat_fen).where(
            BillLineRow.bill_id.in_(ids[i : i + CHUNK]), BillLineRow.gross_fen != 0
        )
        for line_id, bill_id, gross, vat in s.execute(q):
            b = by_id[bill_id]
            out.append(make(line_id, b.org_id, b.center_id, gross, vat, on))
    ledger.post(s, out, clock)


def post_payments(s: Session, bills: Sequence[BillRow], paid_on: dt.date, clock: Clock) -> None:
    """Post the payment of each bill with a non-zero total."""
    ledger.post(
        s,
        [payment_posting(b.id, b.org_id, b.center_id, b.gross_fen, paid_on) for b in bills if b.gross_fen],
        clock,
    )


def post_settled(s: Session, settlement_id: int, on: dt.date, clock: Clock) -> int:
    """Post every voucher line of a settlement with a non-zero amount (a claw-back negative), set-wise:
    each is spent from its program's budget (``art2``, the province's, or a city program's pack id) of
    its usage year. Lines posted before (an earlier run of a re-judged settlement) are skipped."""
    source = (
        "(SELECT v.id, v.org_id, v.program || ':' || CAST(v.usage_year AS VARCHAR(10)) AS budget, "
        f"v.amount_fen FROM voucher_lines v WHERE v.settlement_id = {int(settlement_id)} "
        "AND v.amount_fen <> 0) src"
    )
    return ledger.post_rows(s, VOUCHER_SHAPE, source, on, clock)


def fund_program(
    s: Session, year: int, fen: int, on: dt.date, source: str, clock: Clock, program: str = BUDGET_PROGRAM
) -> None:
    """Fund a compute-voucher program's budget of a usage year (once per source); art. 2's by default."""
    ledger.post(s, [budget_posting(program, year, fen, on, source)], clock)


def program_budget_left(s: Session, year: int, program: str = BUDGET_PROGRAM) -> int:
    """What is left of a compute-voucher program's budget of a usage year (art. 2's by default), in fen."""
    return ledger.balance(s, Account.program_budget(program, year))


__all__ = [
    "fund_program",
    "post_bill_lines",
    "post_issued",
    "post_paid",
    "post_payments",
    "post_settled",
    "program_budget_left",
]
