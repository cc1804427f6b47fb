"""Double-entry ledger: accounts with floors, balanced postings of integer fen, idempotency keys.

Sign convention: a line's ``fen`` is positive for a debit and negative for a credit; a posting's
lines sum to zero. Every account kind has a *normal side*; its balance is reported on that side
(a credit-normal account with credits of 100 fen has balance +100), and its *floor* bounds that
normal-side balance (a program budget never goes below zero: no overspending).

The accounts the platform keeps:

=====================  ======  =================================================================
kind                   normal  meaning
=====================  ======  =================================================================
org_receivable         debit   what an organization owes for issued compute bills (negative: a
                               credit note owed back to it, e.g. after a correction)
center_revenue         credit  a center's compute revenue, net of VAT
vat_payable            credit  output VAT on a center's compute bills
center_cash            debit   payments received for a center's bills (clearing)
program_budget         credit  available provincial program budget per article and year (floor 0)
city_budget            credit  available city budget per city, article and year (floor 0)
appropriation          debit   where budget comes from (treasury side; unbounded)
subsidy_payable        credit  vouchers owed to an organization, not yet disbursed (floor none: a
                               claw-back after payment leaves the org owing it back)
subsidy_disbursed      credit  vouchers paid out to an organization, cumulative
award_payable          credit  awards approved for a payee (``org:7`` or ``city:340200``), not yet
                               paid (floor 0: nothing is paid that was not committed)
award_paid             credit  awards paid out to a payee, cumulative
=====================  ======  =================================================================

Money for a program moves budget → payable → paid: funding credits the budget from its appropriation;
a grant (a settled voucher line, an approved award) spends the budget into the payee's payable; a
payment batch moves the payable into paid. So at any time, per program and year,
funded = budget left + payable + paid.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from zhisuan.core.errors import ConflictError, ValidationError


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountKind(StrEnum):
    ORG_RECEIVABLE = "org_receivable"
    CENTER_REVENUE = "center_revenue"
    VAT_PAYABLE = "vat_payable"
    CENTER_CASH = "center_cash"
    PROGRAM_BUDGET = "program_budget"
    CITY_BUDGET = "city_budget"
    APPROPRIATION = "appropriation"
    SUBSIDY_PAYABLE = "subsidy_payable"
    SUBSIDY_DISBURSED = "subsidy_disbursed"
    AWARD_PAYABLE = "award_payable"
    AWARD_PAID = "award_paid"


@dataclass(frozen=True, slots=True)
class KindRule:
    """Normal side and floor (minimum normal-side balance in fen; None = unbounded)."""

    side: Side
    floor: int | None


KIND_RULES: Mapping[AccountKind, KindRule] = {
    # a correction can issue a credit note before it is refunded: the receivable may turn negative
    AccountKind.ORG_RECEIVABLE: KindRule(Side.DEBIT, None),
    AccountKind.CENTER_REVENUE: KindRule(Side.CREDIT, None),
    AccountKind.VAT_PAYABLE: KindRule(Side.CREDIT, None),
    AccountKind.CENTER_CASH: KindRule(Side.DEBIT, None),
    AccountKind.PROGRAM_BUDGET: KindRule(Side.CREDIT, 0),
    AccountKind.CITY_BUDGET: KindRule(Side.CREDIT, 0),
    AccountKind.APPROPRIATION: KindRule(Side.DEBIT, None),
    # may turn negative when a correction claws back a voucher already disbursed: the org owes it back
    AccountKind.SUBSIDY_PAYABLE: KindRule(Side.CREDIT, None),
    AccountKind.SUBSIDY_DISBURSED: KindRule(Side.CREDIT, None),
    AccountKind.AWARD_PAYABLE: KindRule(Side.CREDIT, 0),
    AccountKind.AWARD_PAID: KindRule(Side.CREDIT, None),
}


@dataclass(frozen=True, slots=True, order=True)
class Account:
    """An account: a kind and a key naming whose it is (``"42"``, ``"art2:2025"``, ``"340100:art2:2025"``).

    >>> Account.parse("program_budget:art2:2025")
    Account(kind=<AccountKind.PROGRAM_BUDGET: 'program_budget'>, key='art2:2025')
    >>> str(Account.org_receivable(7))
    'org_receivable:7'
    """

    kind: AccountKind
    key: str

    def __post_init__(self) -> None:
        if not self.key or any(c.isspace() for c in self.key):
            raise ValidationError(
                f"account key must be non-empty without spaces: {self.key!r}", field="account"
            )

    @classmethod
    def parse(cls, text: str) -> Account:
        kind, sep, key = text.partition(":")
        if not sep:
            raise ValidationError(f"account must look like kind:key, got {text!r}", field="account")
        try:
            return cls(AccountKind(kind), key)
        except ValueError:
            known = ", ".join(k.value for k in AccountKind)
            raise ValidationError(
                f"unknown account kind {kind!r} (known: {known})", field="account"
            ) from None

    @property
    def rule(self) -> KindRule:
        return KIND_RULES[self.kind]

    def normal(self, signed_fen: int) -> int:
        """A debit-positive amount seen on this account's normal side."""
        return signed_fen if self.rule.side is Side.DEBIT else -signed_fen

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.key}"

    # named constructors -----------------------------------------------------------------------
    @classmethod
    def org_receivable(cls, org: int) -> Account:
        return cls(AccountKind.ORG_RECEIVABLE, str(org))

    @classmethod
    def center_revenue(cls, center: int) -> Account:
        return cls(AccountKind.CENTER_REVENUE, str(center))

    @classmethod
    def vat_payable(cls, center: int) -> Account:
        return cls(AccountKind.VAT_PAYABLE, str(center))

    @classmethod
    def center_cash(cls, center: int) -> Account:
        return cls(AccountKind.CENTER_CASH, str(center))

    @classmethod
    def program_budget(cls, article: str, year: int) -> Account:
        return cls(AccountKind.PROGRAM_BUDGET, f"{article}:{year}")

    @classmethod
    def city_budget(cls, city: str, article: str, year: int) -> Account:
        return cls(AccountKind.CITY_BUDGET, f"{city}:{article}:{year}")

    @classmethod
    def appropriation(cls, article: str, year: int) -> Account:
        return cls(AccountKind.APPROPRIATION, f"{article}:{year}")

    @classmethod
    def subsidy_payable(cls, org: int) -> Account:
        return cls(AccountKind.SUBSIDY_PAYABLE, str(org))

    @classmethod
    def subsidy_disbursed(cls, org: int) -> Account:
        return cls(AccountKind.SUBSIDY_DISBURSED, str(org))

    @classmethod
    def award_payable(cls, payee: str) -> Account:
        return cls(AccountKind.AWARD_PAYABLE, payee)

    @classmethod
    def award_paid(cls, payee: str) -> Account:
        return cls(AccountKind.AWARD_PAID, payee)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a posting: debit-positive integer fen on an account."""

    account: Account
    fen: int

    def __post_init__(self) -> None:
        if isinstance(self.fen, bool) or not isinstance(self.fen, int):
            raise ValidationError(f"ledger amounts are integer fen, got {self.fen!r}", field="fen")


def debit(account: Account, fen: int) -> Line:
    return Line(account, fen)


def credit(account: Account, fen: int) -> Line:
    return Line(account, -fen)


@dataclass(frozen=True, slots=True)
class Posting:
    """A balanced set of lines, posted once under its idempotency key, caused by one thing.

    ``cause`` names what caused it (``"bill_line:12"``, ``"voucher_line:7"``, ``"budget:art2:2025"``).

    >>> p = Posting("k1", "bill_line:1", dt.date(2025, 6, 30),
    ...             (debit(Account.org_receivable(1), 106), credit(Account.center_revenue(2), 106)))
    >>> p.total_debit
    106
    >>> Posting("k2", "x:1", dt.date(2025, 6, 30), (debit(Account.org_receivable(1), 5),))
    Traceback (most recent call last):
    ...
    zhisuan.core.errors.ValidationError: lines: a posting needs at least two lines
    """

    key: str
    cause: str
    on: dt.date
    lines: tuple[Line, ...]
    memo: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValidationError("a posting needs an idempotency key", field="key")
        if not self.cause or ":" not in self.cause:
            raise ValidationError(f"a posting's cause looks like kind:id, got {self.cause!r}", field="cause")
        if len(self.lines) < 2:
            raise ValidationError("a posting needs at least two lines", field="lines")
        total = sum(line.fen for line in self.lines)
        if total != 0:
            raise ValidationError(
                f"posting {self.key} does not balance: debits − credits = {total} fen", field="lines"
            )
        if all(line.fen == 0 for line in self.lines):
            raise ValidationError(f"posting {self.key} moves no money", field="lines")

    @property
    def total_debit(self) -> int:
        return sum(line.fen for line in self.lines if line.fen > 0)

    @property
    def cause_kind(self) -> str:
        return self.cause.partition(":")[0]

    def same_as(self, other: Posting) -> bool:
        """Whether two postings carry the same content (for idempotent re-posting)."""
        return (
            self.cause == other.cause
            and self.on == other.on
            and sorted((str(x.account), x.fen) for x in self.lines)
            == sorted((str(x.account), x.fen) for x in other.lines)
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """Something ``verify`` found wrong."""

    code: str
    message: str


def floor_breaches(balances: Mapping[Account, int]) -> list[Problem]:
    """Accounts whose normal-side balance is below their floor."""
    out: list[Problem] = []
    for account, bal in sorted(balances.items()):
        floor = account.rule.floor
        if floor is not None and bal < floor:
            out.append(Problem("below_floor", f"{account} is {bal} fen, below its floor {floor}"))
    return out


def posted_once(expected_causes: Iterable[str], cause_counts: Mapping[str, int]) -> list[Problem]:
    """Each expected cause (a bill line, a voucher line …) has exactly one posting."""
    out: list[Problem] = []
    for cause in sorted(set(expected_causes)):
        n = cause_counts.get(cause, 0)
        if n != 1:
            out.append(Problem("posted_once", f"{cause} is posted {n} times, expected once"))
    return out


@dataclass
class Ledger:
    """An in-memory ledger: the rules of the book, which the database-backed service follows too."""

    postings: list[Posting] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_key: dict[str, Posting] = {}
        self._balances: dict[Account, int] = defaultdict(int)
        existing, self.postings = self.postings, []
        for p in existing:
            self.post(p)

    def post(self, posting: Posting) -> bool:
        """Post once: True if new, False if this exact posting was already there.

        The same key with different content is a conflict; a posting that would take an account
        below its floor is refused and changes nothing.
        """
        known = self._by_key.get(posting.key)
        if known is not None:
            if known.same_as(posting):
                return False
            raise ConflictError(f"idempotency key {posting.key} was already used for a different posting")
        moved: dict[Account, int] = defaultdict(int)
        for line in posting.lines:
            moved[line.account] += line.fen
        for account, fen in moved.items():
            after = account.normal(self._balances[account] + fen)
            floor = account.rule.floor
            if floor is not None and after < floor and fen != 0 and account.normal(fen) < 0:
                raise ConflictError(
                    f"posting {posting.key} would take {account} to {after} fen, below its floor {floor}",
                    field=str(account),
                )
        for account, fen in moved.items():
            self._balances[account] += fen
        self._by_key[posting.key] = posting
        self.postings.append(posting)
        return True

    def balance(self, account: Account, on: dt.date | None = None) -> int:
        """Normal-side balance in fen, of all postings dated on or before ``on`` (all when None)."""
        if on is None:
            return account.normal(self._balances.get(account, 0))
        signed = sum(
            line.fen for p in self.postings if p.on <= on for line in p.lines if line.account == account
        )
        return account.normal(signed)

    def balances(self, on: dt.date | None = None) -> dict[Account, int]:
        """Every account's normal-side balance."""
        signed: dict[Account, int] = defaultdict(int)
        for p in self.postings:
            if on is None or p.on <= on:
                for line in p.lines:
                    signed[line.account] += line.fen
        return {a: a.normal(v) for a, v in sorted(signed.items())}

    def trial_balance(self) -> int:
        """Σ of every debit-positive line: zero in a sound book."""
        return sum(self._balances.values())

    def cause_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for p in self.postings:
            counts[p.cause] += 1
        return dict(counts)

    def verify(self, expected_causes: Sequence[str] = ()) -> list[Problem]:
        """All postings balance, no account below its floor, each expected cause posted once."""
        problems: list[Problem] = []
        for p in self.postings:
            total = sum(line.fen for line in p.lines)
            if total != 0:
                problems.append(Problem("unbalanced", f"posting {p.key} is off by {total} fen"))
        if self.trial_balance() != 0:
            problems.append(Problem("unbalanced", f"the book is off by {self.trial_balance()} fen"))
        problems += floor_breaches(self.balances())
        problems += posted_once(expected_causes, self.cause_counts())
        return problems


# posting builders: the one place that says which accounts each business event moves ---------------


def bill_line_posting(
    line_id: int, org: int, center: int, gross_fen: int, vat_fen: int, on: dt.date
) -> Posting:
    """An issued bill line: the org owes the tax-inclusive amount; the center earns it net of VAT.

    A negative line (a correction reversing earlier usage) moves the same accounts the other way.
    """
    lines = [
        debit(Account.org_receivable(org), gross_fen),
        credit(Account.center_revenue(center), gross_fen - vat_fen),
    ]
    if vat_fen:
        lines.append(credit(Account.vat_payable(center), vat_fen))
    return Posting(f"bill_line:{line_id}", f"bill_line:{line_id}", on, tuple(lines), "bill line issued")


def bill_void_posting(
    line_id: int, org: int, center: int, gross_fen: int, vat_fen: int, on: dt.date
) -> Posting:
    """Reverse an issued bill line when its bill is voided."""
    lines = [
        credit(Account.org_receivable(org), gross_fen),
        debit(Account.center_revenue(center), gross_fen - vat_fen),
    ]
    if vat_fen:
        lines.append(debit(Account.vat_payable(center), vat_fen))
    return Posting(f"bill_line_void:{line_id}", f"bill_line_void:{line_id}", on, tuple(lines), "bill voided")


def payment_posting(bill_id: int, org: int, center: int, fen: int, on: dt.date) -> Posting:
    """A bill paid: the center's cash goes up, the org's receivable down."""
    return Posting(
        f"bill_payment:{bill_id}",
        f"bill_payment:{bill_id}",
        on,
        (debit(Account.center_cash(center), fen), credit(Account.org_receivable(org), fen)),
        "bill paid",
    )


@dataclass(frozen=True, slots=True)
class PostingShape:
    """The posting of one source row, for posting many rows set-wise in SQL
    (:func:`zhisuan.ledger.services.post_rows`): key ``<prefix>:<id>`` (cause the same), a memo, and
    lines as (account kind, the column holding the account key, debit-positive fen as an arithmetic
    expression over the row's columns). Each shape mirrors a posting function above."""

    prefix: str
    memo: str
    lines: tuple[tuple[AccountKind, str, str], ...]


#: :func:`bill_line_posting` per bill line row (id, org_id, center_id, gross_fen, vat_fen)
BILL_LINE_SHAPE = PostingShape(
    "bill_line",
    "bill line issued",
    (
        (AccountKind.ORG_RECEIVABLE, "org_id", "gross_fen"),
        (AccountKind.CENTER_REVENUE, "center_id", "vat_fen - gross_fen"),
        (AccountKind.VAT_PAYABLE, "center_id", "0 - vat_fen"),
    ),
)
#: :func:`payment_posting` per bill row (id, org_id, center_id, gross_fen)
PAYMENT_SHAPE = PostingShape(
    "bill_payment",
    "bill paid",
    (
        (AccountKind.CENTER_CASH, "center_id", "gross_fen"),
        (AccountKind.ORG_RECEIVABLE, "org_id", "0 - gross_fen"),
    ),
)


def budget_posting(article: str, year: int, fen: int, on: dt.date, ref: str) -> Posting:
    """Fund (or, negative, withdraw) a provincial program budget from its appropriation."""
    return Posting(
        f"budget:{article}:{year}:{ref}",
        f"budget:{article}:{year}:{ref}",
        on,
        (
            debit(Account.appropriation(article, year), fen),
            credit(Account.program_budget(article, year), fen),
        ),
        "program budget funded",
    )


def voucher_posting(
    voucher_line_id: int, org: int, article: str, year: int, fen: int, on: dt.date
) -> Posting:
    """A voucher line: the program budget is spent and the org is owed the subsidy.

    A negative amount (claw-back after a correction) returns money to the budget.
    """
    return Posting(
        f"voucher_line:{voucher_line_id}",
        f"voucher_line:{voucher_line_id}",
        on,
        (debit(Account.program_budget(article, year), fen), credit(Account.subsidy_payable(org), fen)),
        "compute voucher",
    )


#: :func:`voucher_posting` per voucher line row (id, org_id, ``budget`` = ``<program>:<usage year>``,
#: amount_fen)
VOUCHER_SHAPE = PostingShape(
    "voucher_line",
    "compute voucher",
    (
        (AccountKind.PROGRAM_BUDGET, "budget", "amount_fen"),
        (AccountKind.SUBSIDY_PAYABLE, "org_id", "0 - amount_fen"),
    ),
)


def city_budget_posting(city: str, article: str, year: int, fen: int, on: dt.date, ref: str) -> Posting:
    """Fund (or, negative, withdraw) a city's budget for an article and year from its appropriation."""
    key = f"city_budget:{city}:{article}:{year}:{ref}"
    return Posting(
        key,
        key,
        on,
        (
            debit(Account.appropriation(f"{city}:{article}", year), fen),
            credit(Account.city_budget(city, article, year), fen),
        ),
        "city budget funded",
    )


def voucher_payment_posting(batch_id: int, org: int, fen: int, on: dt.date) -> Posting:
    """Vouchers paid out to an organization in a payment batch: payable → disbursed."""
    key = f"voucher_payment:{batch_id}:{org}"
    return Posting(
        key,
        key,
        on,
        (debit(Account.subsidy_payable(org), fen), credit(Account.subsidy_disbursed(org), fen)),
        "compute vouchers paid",
    )


def award_commit_posting(award_id: int, budget: Account, payee: str, fen: int, on: dt.date) -> Posting:
    """An approved award commits its budget: budget → the payee's award payable."""
    return Posting(
        f"award_commit:{award_id}",
        f"award_commit:{award_id}",
        on,
        (debit(budget, fen), credit(Account.award_payable(payee), fen)),
        "award approved",
    )


def award_release_posting(award_id: int, budget: Account, payee: str, fen: int, on: dt.date) -> Posting:
    """An approved award withdrawn before payment (an upheld objection): payable → back to budget."""
    return Posting(
        f"award_release:{award_id}",
        f"award_release:{award_id}",
        on,
        (debit(Account.award_payable(payee), fen), credit(budget, fen)),
        "award withdrawn",
    )


def award_payment_posting(award_id: int, payee: str, fen: int, on: dt.date) -> Posting:
    """An award paid in a payment batch: payable → paid."""
    return Posting(
        f"award_payment:{award_id}",
        f"award_payment:{award_id}",
        on,
        (debit(Account.award_payable(payee), fen), credit(Account.award_paid(payee), fen)),
        "award paid",
    )


__all__ = [
    "BILL_LINE_SHAPE",
    "KIND_RULES",
    "PAYMENT_SHAPE",
    "VOUCHER_SHAPE",
    "Account",
    "AccountKind",
    "KindRule",
    "Ledger",
    "Line",
    "Posting",
    "PostingShape",
    "Problem",
    "Side",
    "award_commit_posting",
    "award_payment_posting",
    "award_release_posting",
    "bill_line_posting",
    "bill_void_posting",
    "budget_posting",
    "city_budget_posting",
    "credit",
    "debit",
    "floor_breaches",
    "payment_posting",
    "posted_once",
    "voucher_payment_posting",
    "voucher_posting",
]
