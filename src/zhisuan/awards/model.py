"""The award workflow's rules, as values: states and steps, who may take each, what an amount may be.

Pure: no database, no clock. The service layer (:mod:`zhisuan.awards.applications`, :mod:`.review`)
loads an application, asks these functions, and saves what they return.

States (stored) and the steps between them::

    draft ─submit─► city_review ─recommend─► province_review ─approve─► approved ─batch paid─► paid
      ▲                 │   │                    │   │                   │
      └─── returned ◄───┘   └──► rejected ◄──────┘   └─► returned        └─ objection upheld ─► withdrawn

A city's own application (the art. 1, 4 and 8 matches) skips ``city_review``. An approved award is
*in notice* (公示) until ``notice_ends``, *held* while an objection is open, and *final* after that:
those three are read from the row, not stored (:func:`effective_state`), so time passing writes nothing.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from zhisuan.core.access import Principal, Role
from zhisuan.core.errors import ConflictError, PermissionDeniedError, ValidationError

#: the largest amount anyone may type for an award (10^15 yuan in fen): a bound, not a budget
MAX_FEN = 10**17
#: the shortest written reason accepted for a rejection, a return, a case-by-case amount, an objection
MIN_REASON = 4
MAX_REASON = 4_000
#: the notice period when the pack names none (days)
DEFAULT_NOTICE_DAYS = 5
#: benchmark rounds (2023 art. 6, 2.0 art. 2): at most this many awards per round
TOP_TEN = 10


class State(StrEnum):
    DRAFT = "draft"
    CITY_REVIEW = "city_review"
    PROVINCE_REVIEW = "province_review"
    RETURNED = "returned"
    REJECTED = "rejected"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"
    PAID = "paid"
    # read from an approved row, never stored
    NOTICE = "notice"
    HELD = "held"
    FINAL = "final"


STORED = frozenset(
    {
        State.DRAFT,
        State.CITY_REVIEW,
        State.PROVINCE_REVIEW,
        State.RETURNED,
        State.REJECTED,
        State.APPROVED,
        State.WITHDRAWN,
        State.PAID,
    }
)
EDITABLE = frozenset({State.DRAFT, State.RETURNED})
IN_REVIEW = frozenset({State.CITY_REVIEW, State.PROVINCE_REVIEW})
#: states that count as money granted to a project (for already_awarded, duplicates, the top ten)
GRANTED = frozenset({State.APPROVED, State.PAID})
#: states in which an application still claims money (duplicate-funding flags look at these)
LIVE = frozenset({State.CITY_REVIEW, State.PROVINCE_REVIEW, State.APPROVED, State.PAID})

STATE_ZH: dict[State, str] = {
    State.DRAFT: "草稿",
    State.CITY_REVIEW: "市级审核",
    State.PROVINCE_REVIEW: "省级审核",
    State.RETURNED: "退回修改",
    State.REJECTED: "不予支持",
    State.APPROVED: "已批准",
    State.WITHDRAWN: "已撤销",
    State.PAID: "已拨付",
    State.NOTICE: "公示中",
    State.HELD: "异议暂停",
    State.FINAL: "已生效",
}


class Stage(StrEnum):
    CITY = "city"
    PROVINCE = "province"


def parse_state(text: str) -> State:
    try:
        return State(text)
    except ValueError:
        known = ", ".join(s.value for s in State)
        raise ValidationError(f"unknown state {text!r} (known: {known})", field="state") from None


def effective_state(
    stored: State, notice_ends: dt.datetime | None, open_objection: bool, now: dt.datetime
) -> State:
    """What an approved award is now: in notice, held by an objection, or final.

    >>> import datetime as dt
    >>> t = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    >>> effective_state(State.APPROVED, t, False, t - dt.timedelta(days=1))
    <State.NOTICE: 'notice'>
    >>> effective_state(State.APPROVED, t, True, t + dt.timedelta(days=9))
    <State.HELD: 'held'>
    >>> effective_state(State.APPROVED, t, False, t)
    <State.FINAL: 'final'>
    """
    if stored is not State.APPROVED:
        return stored
    if open_objection:
        return State.HELD
    if notice_ends is not None and now < notice_ends:
        return State.NOTICE
    return State.FINAL


def clean_reason(text: object, field: str = "reason") -> str:
    """A written reason: text of a sensible length, no control characters."""
    if not isinstance(text, str):
        raise ValidationError("a written reason is required", field=field)
    out = unicodedata.normalize("NFC", text).strip()  # NFC: keeps full-width Chinese punctuation
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in out):
        raise ValidationError("the reason contains control characters", field=field)
    if len(out) < MIN_REASON:
        raise ValidationError(f"give a written reason (at least {MIN_REASON} characters)", field=field)
    if len(out) > MAX_REASON:
        raise ValidationError(f"the reason is at most {MAX_REASON} characters", field=field)
    return out


def clean_ref(text: object, field: str = "project_ref") -> str:
    """A project reference, normalised so that the same project is found under one key.

    >>> clean_ref(" ＨＦ-2024-01 ")
    'HF-2024-01'
    """
    if not isinstance(text, str):
        raise ValidationError("the project reference is text", field=field)
    out = unicodedata.normalize("NFKC", text).strip().upper()
    if not out or len(out) > 100:
        raise ValidationError("the project reference is 1 to 100 characters", field=field)
    if any(unicodedata.category(c)[0] in "CZ" and c != " " for c in out):
        raise ValidationError("the project reference has no control or invisible characters", field=field)
    return out


# who may take which step ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applicant:
    """Who applies: an organization (in a city) or a city itself."""

    kind: str  # "org" or "city"
    city_code: str
    org_id: int | None = None

    @property
    def payee(self) -> str:
        return f"org:{self.org_id}" if self.kind == "org" else f"city:{self.city_code}"


def applicant_of(who: Principal, org_city: str | None, applicant_kind: str) -> Applicant:
    """The applicant ``who`` applies as, for a program whose applicants are ``applicant_kind``."""
    if applicant_kind == "city":
        if who.role is not Role.CITY or not who.city_code:
            raise PermissionDeniedError("a city applies for this measure: log in as the city's user")
        return Applicant("city", who.city_code)
    if who.org_id is None or who.role not in {Role.USER, Role.ORG_ADMIN, Role.OPERATOR}:
        raise PermissionDeniedError("an organization applies for this measure: log in as its member")
    if not org_city:
        raise ValidationError("the organization has no city on record; ask an administrator", field="city")
    return Applicant("org", org_city, who.org_id)


def may_edit(who: Principal, applicant: Applicant) -> bool:
    """The applicant's own people edit, submit and resubmit."""
    if applicant.kind == "city":
        return who.role is Role.CITY and who.city_code == applicant.city_code
    return (
        who.org_id is not None
        and who.org_id == applicant.org_id
        and who.role
        in {
            Role.USER,
            Role.ORG_ADMIN,
            Role.OPERATOR,
        }
    )


def check_may_review(who: Principal, state: State, applicant: Applicant) -> Stage:
    """The stage ``who`` reviews in, or why not: the city reviews its own applicants, then the province."""
    if state is State.CITY_REVIEW:
        if who.role is Role.CITY and who.city_code == applicant.city_code:
            return Stage.CITY
        raise PermissionDeniedError(f"city review is done by the city {applicant.city_code}'s users")
    if state is State.PROVINCE_REVIEW:
        if who.role in {Role.PROVINCE, Role.ADMIN}:
            return Stage.PROVINCE
        raise PermissionDeniedError("province review is done by province users")
    raise ConflictError(f"the application is {state.value}, not in review", field="state")


def first_review(applicant: Applicant) -> State:
    return State.PROVINCE_REVIEW if applicant.kind == "city" else State.CITY_REVIEW


# amounts ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frozen:
    """What the engine decided at submission: the maximum, with and without the 皖北 uplift."""

    eligible: bool
    max_fen: int
    max_plain_fen: int
    provisional: bool
    case_by_case_allowed: bool

    @property
    def uplifted(self) -> bool:
        return self.max_fen != self.max_plain_fen


def limit(frozen: Frozen, uplift_confirmed: bool) -> int:
    """The most a reviewer may approve on the formula: the uplift counts only once a reviewer confirms it."""
    return frozen.max_fen if uplift_confirmed or not frozen.uplifted else frozen.max_plain_fen


def check_amount(
    frozen: Frozen, amount_fen: int, *, uplift_confirmed: bool, case_by_case: bool, reason: str | None
) -> None:
    """Refuse an approved amount the policy does not allow (POLICY positions 2, 11, 16)."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError("the approved amount is a positive amount of yuan", field="amount")
    if amount_fen > MAX_FEN:
        raise ValidationError("the approved amount is at most 10^15 yuan", field="amount")
    if frozen.provisional:
        raise ConflictError(
            "the decision rests on a provisional parameter: no money is granted until it is confirmed",
            field="amount",
        )
    if case_by_case:
        if not frozen.case_by_case_allowed:
            raise ValidationError("this measure has no case-by-case decisions", field="case_by_case")
        clean_reason(reason, "case_reason")
        return
    if not frozen.eligible:
        raise ConflictError(
            "the application is not eligible under the formula; reject it"
            + (" or decide case by case with a written reason" if frozen.case_by_case_allowed else ""),
            field="amount",
        )
    top = limit(frozen, uplift_confirmed)
    if amount_fen > top:
        raise ValidationError(
            f"{_yuan(amount_fen)} is above the maximum the policy allows, {_yuan(top)}"
            + ("" if uplift_confirmed or not frozen.uplifted else " (the 皖北 uplift is not confirmed)"),
            field="amount",
        )


@dataclass(frozen=True, slots=True)
class Approval:
    user_id: int
    amount_fen: int | None
    case_by_case: bool


def approvals_complete(approvals: Sequence[Approval], case_by_case: bool) -> bool:
    """One province approval decides on the formula; case by case takes two distinct people, same amount."""
    if not case_by_case:
        return len(approvals) >= 1
    people = {a.user_id for a in approvals if a.case_by_case}
    amounts = {a.amount_fen for a in approvals if a.case_by_case}
    return len(people) >= 2 and len(amounts) == 1


def check_second_approver(approvals: Sequence[Approval], user_id: int, amount_fen: int) -> None:
    """A case-by-case amount needs two *distinct* approvers agreeing on it."""
    if any(a.user_id == user_id for a in approvals):
        raise ConflictError(
            "you already approved this case-by-case amount: a second, different province user must",
            field="approver",
        )
    earlier = {a.amount_fen for a in approvals if a.case_by_case}
    if earlier and amount_fen not in earlier:
        first = next(iter(earlier))
        raise ConflictError(
            f"the first approver set {_yuan(first or 0)}; approve the same amount or return the application",
            field="amount",
        )


def check_round_limit(granted_in_call: int, max_awards: int | None) -> None:
    """Benchmark rounds grant at most ``max_awards`` (ten) awards."""
    if max_awards is not None and granted_in_call >= max_awards:
        raise ConflictError(f"this round already has its {max_awards} awards", field="call")


# duplicate funding ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """Another application on the same project, as the reviewer is shown it."""

    application_id: int
    program: str
    state: str
    amount_fen: int | None


@dataclass(frozen=True, slots=True)
class Duplicate:
    kind: str  # same_program, other_program, after_2025_art1
    other: Claim

    def text_zh(self) -> str:
        what = {
            "same_program": "同一项目在同一条款下重复申报",
            "other_program": "同一项目在另一条款下申报",
            "after_2025_art1": "已获 2.0 第一条(一)支持的项目不再重复支持",
        }[self.kind]
        return f"{what}：申请 #{self.other.application_id}（{self.other.program}，{self.other.state}）"


#: 2.0 art. 2 is not funded again for a project funded under 2.0 art. 1(a) (POLICY position 18)
NO_REFUND_AFTER = {"anhui-2025/art2": "anhui-2025/art1"}


def duplicates(program: str, application_id: int, others: Iterable[Claim]) -> list[Duplicate]:
    """Other live claims on the same project: under this program, under another, or barred by 2.0 art. 2."""
    out: list[Duplicate] = []
    for c in others:
        if c.application_id == application_id or State(c.state) not in LIVE:
            continue
        if c.program == program:
            out.append(Duplicate("same_program", c))
        elif NO_REFUND_AFTER.get(program) == c.program:
            out.append(Duplicate("after_2025_art1", c))
        else:
            out.append(Duplicate("other_program", c))
    return out


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d} yuan"


__all__ = [
    "DEFAULT_NOTICE_DAYS",
    "EDITABLE",
    "GRANTED",
    "IN_REVIEW",
    "LIVE",
    "MAX_FEN",
    "STATE_ZH",
    "STORED",
    "TOP_TEN",
    "Applicant",
    "Approval",
    "Claim",
    "Duplicate",
    "Frozen",
    "Stage",
    "State",
    "applicant_of",
    "approvals_complete",
    "check_amount",
    "check_may_review",
    "check_round_limit",
    "check_second_approver",
    "clean_reason",
    "clean_ref",
    "duplicates",
    "effective_state",
    "first_review",
    "limit",
    "may_edit",
    "parse_state",
]
