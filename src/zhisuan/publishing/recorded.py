"""Recorded cases: decisions the platform already took, read back as (article, date, facts) to re-judge.

Each kind of recorded decision has a reader keyed by the article family it was decided under; today
the only recorded cases are art. 2 voucher lines (``voucher_lines``), whose facts are rebuilt from the
line, its organization, its bill line and the engine's recorded steps.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhisuan.core.clock import Month, parse_date
from zhisuan.metering.vouchers import BUDGET_PROGRAM, Art2Case, VoucherStatus
from zhisuan.policy import COMPUTE_VOUCHER
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import BillLineRow, VoucherLineRow, VoucherSettlementRow

VOUCHER_ARTICLE = "art2"


@dataclass(frozen=True, slots=True)
class RecordedCase:
    """One recorded decision: where it is stored, the article and pack that decided it, and its facts."""

    kind: str
    ref: int
    article: str
    pack: str | None
    on: dt.date
    facts: Mapping[str, object]
    recorded_fen: int
    label: str
    #: the measure the case was judged by (voucher lines: the compute-voucher article in force on the
    #: usage day, whatever its pack and number), or None when it was judged by its article
    measure: str | None = None


#: a reader: the recorded cases of one settlement month
Reader = Callable[[Session, Month], list[RecordedCase]]


def latest_month(s: Session) -> Month | None:
    """The most recently settled month (normally last month), or None before any settlement."""
    month = s.execute(select(func.max(VoucherSettlementRow.month))).scalar()
    return Month.parse(month) if month else None


def _article_of(steps: list[dict[str, str]]) -> str:
    """The article the engine judged the line under (its 'in_force' step names it)."""
    for step in steps:
        if step.get("rule") == "in_force" and step.get("article"):
            return step["article"]
    return VOUCHER_ARTICLE


def _self_use(steps: list[dict[str, str]]) -> bool:
    for step in steps:
        if step.get("rule") == "self_use":
            return step.get("result") == "True"
    return False


def _granted(row: VoucherLineRow) -> int:
    """What a line counts against its organization's annual cap (a queued part: its entitlement)."""
    return row.entitled_fen if row.status == VoucherStatus.QUEUED.value else row.amount_fen


def voucher_line_cases(s: Session, month: Month) -> list[RecordedCase]:
    """The first parts of voucher lines settled in ``month`` with a positive spend, as art. 2 cases.

    ``subsidy_this_year`` is rebuilt as settlement saw it: what the organization's earlier lines of the
    same usage year were granted (or promised, when queued).
    """
    rows = (
        s.execute(
            select(VoucherLineRow, BillLineRow.policy_on, OrganizationRow.in_province)
            .join(BillLineRow, BillLineRow.id == VoucherLineRow.bill_line_id)
            .join(OrganizationRow, OrganizationRow.id == VoucherLineRow.org_id)
            .where(
                VoucherLineRow.settlement_month == str(month),
                VoucherLineRow.program == BUDGET_PROGRAM,
                VoucherLineRow.part == 0,
                VoucherLineRow.spend_fen > 0,
            )
            .order_by(VoucherLineRow.id)
        )
    ).all()
    if not rows:
        return []
    keys = {(r[0].org_id, r[0].usage_year) for r in rows}
    earlier: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    orgs = sorted({k[0] for k in keys})
    for line in s.execute(
        select(VoucherLineRow).where(VoucherLineRow.org_id.in_(orgs)).order_by(VoucherLineRow.id)
    ).scalars():
        # a stacked (city) program's parts count against its own cap, not the province's
        if (line.org_id, line.usage_year) in keys and line.program == BUDGET_PROGRAM:
            earlier[(line.org_id, line.usage_year)].append((line.id, _granted(line)))
    out: list[RecordedCase] = []
    for row, policy_on, in_province in rows:
        steps = json.loads(row.steps)
        before = sum(fen for i, fen in earlier[(row.org_id, row.usage_year)] if i < row.id)
        on = policy_on if isinstance(policy_on, dt.date) else parse_date(str(policy_on))
        case = Art2Case(
            city=row.city,
            in_province=bool(in_province),
            self_use=_self_use(steps),
            spend_fen=row.spend_fen,
            subsidy_this_year_fen=max(before, 0),
            on=on,
        )
        out.append(
            RecordedCase(
                kind="voucher_line",
                ref=row.id,
                article=_article_of(steps),
                pack=row.pack or None,
                on=on,
                facts=case.facts(),
                recorded_fen=row.entitled_fen,
                label=f"org {row.org_id}, usage {row.usage_month}",
                measure=COMPUTE_VOUCHER,
            )
        )
    return out


#: the readers of recorded cases (one per kind of recorded decision)
READERS: tuple[Reader, ...] = (voucher_line_cases,)


def recorded_cases(s: Session, month: Month) -> list[RecordedCase]:
    """Every recorded case of a settlement month, of every kind."""
    return [case for reader in READERS for case in reader(s, month)]
