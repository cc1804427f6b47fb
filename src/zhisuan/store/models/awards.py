"""Tables of the awards context: calls, applications and their history, evidence, approvals, objections,
payment batches, and the cities' recorded payouts (the base of the art. 1, 4 and 8 matches)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhisuan.store.base import Base
from zhisuan.store.types import UTCDateTime


class AwardCallRow(Base):
    """A call (申报批次) for one program: who may apply between which days, paid from which budget."""

    __tablename__ = "award_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program: Mapped[str] = mapped_column(String(64), index=True)  # "art5", "anhui-2025/art1"
    title: Mapped[str] = mapped_column(String(200))
    opens_on: Mapped[dt.date] = mapped_column(Date)
    closes_on: Mapped[dt.date] = mapped_column(Date)
    budget_year: Mapped[int] = mapped_column(Integer)
    payer: Mapped[str] = mapped_column(String(16))  # "province" or a city code
    notice_days: Mapped[int] = mapped_column(Integer)
    max_awards: Mapped[int | None] = mapped_column(Integer)  # benchmark rounds: ten at most
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ApplicationRow(Base):
    """One application in a call: the facts as typed, then frozen with the engine's decision on submission.

    ``state`` is stored for the steps people take; "in notice", "held" and "final" follow from
    ``notice_ends`` and open objections (see :func:`zhisuan.awards.model.effective_state`).
    """

    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_program_project", "program", "project_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("award_calls.id"), index=True)
    program: Mapped[str] = mapped_column(String(64))
    applicant_kind: Mapped[str] = mapped_column(String(8))  # "org" or "city"
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    project_ref: Mapped[str] = mapped_column(String(100))
    project_name: Mapped[str] = mapped_column(String(200))
    event_on: Mapped[dt.date] = mapped_column(Date)
    facts: Mapped[str] = mapped_column(Text)  # JSON: what the applicant typed
    other_funding: Mapped[str] = mapped_column(Text)  # JSON list: other public funding declared
    state: Mapped[str] = mapped_column(String(16), index=True)
    round: Mapped[int] = mapped_column(Integer, default=0)  # submissions so far
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # frozen at submission
    decision: Mapped[str | None] = mapped_column(Text)  # JSON: the engine's answer and the facts it judged
    max_fen: Mapped[int | None] = mapped_column(BigInteger)
    max_plain_fen: Mapped[int | None] = mapped_column(BigInteger)  # the maximum without the 皖北 uplift
    lead_unit: Mapped[str | None] = mapped_column(String(100))
    # the decision
    approved_fen: Mapped[int | None] = mapped_column(BigInteger)
    case_by_case: Mapped[bool] = mapped_column(Boolean, default=False)
    case_reason: Mapped[str | None] = mapped_column(Text)
    uplift_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    notice_ends: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    budget_account: Mapped[str | None] = mapped_column(String(120))
    payee: Mapped[str | None] = mapped_column(String(32))  # "org:7" or "city:340200"
    paid_on: Mapped[dt.date | None] = mapped_column(Date)


class ApplicationEventRow(Base):
    """The history of an application: every step, who took it, from which state to which."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: facts before/after, amounts


class ApprovalRow(Base):
    """A reviewer's approval in one round of review; case-by-case needs two distinct province approvers."""

    __tablename__ = "application_approvals"
    __table_args__ = (UniqueConstraint("application_id", "round", "stage", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))  # "city" or "province"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    case_by_case: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class EvidenceRow(Base):
    """An evidence file of an application, stored under the data directory by its SHA-256."""

    __tablename__ = "application_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ObjectionRow(Base):
    """An objection lodged against a proposed award during its public notice; it holds the award."""

    __tablename__ = "award_objections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    by_username: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), index=True)  # open, dismissed, upheld
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(Text)


class PaymentBatchRow(Base):
    """A payment batch of one payer: final awards, or a month's granted compute vouchers."""

    __tablename__ = "payment_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "awards" or "vouchers"
    payer: Mapped[str] = mapped_column(String(16))  # "province" or a city code
    period: Mapped[str] = mapped_column(String(7))  # the month the batch belongs to
    state: Mapped[str] = mapped_column(String(16), index=True)  # draft, paid, cancelled
    total_fen: Mapped[int] = mapped_column(BigInteger)
    items: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reference: Mapped[str | None] = mapped_column(String(100))
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    paid_by: Mapped[str | None] = mapped_column(String(64))


class PaymentItemRow(Base):
    """One payment in a batch: an award, or a voucher line; each is in at most one live batch."""

    __tablename__ = "payment_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), unique=True)
    voucher_line_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_lines.id"), unique=True)
    payee: Mapped[str] = mapped_column(String(32))  # "org:7" or "city:340200"
    fen: Mapped[int] = mapped_column(BigInteger)


class CityPayoutRow(Base):
    """A payment a city actually made (loan interest, operating subsidy, supplier subsidy, project payout)."""

    __tablename__ = "city_payouts"
    __table_args__ = (Index("ix_city_payouts_project", "city_code", "program", "project_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    program: Mapped[str] = mapped_column(String(64))  # art1, art4, art8
    kind: Mapped[str] = mapped_column(String(32))
    project_ref: Mapped[str] = mapped_column(String(100))
    project_name: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_name: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MatchUseRow(Base):
    """How a city used an art. 8 match it was paid (compute build-out, attracting key firms)."""

    __tablename__ = "match_uses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    used_for: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
