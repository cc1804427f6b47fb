import datetime as dt

import pytest

from zhisuan.core.errors import ConflictError, ValidationError
from zhisuan.ledger.model import (
    BILL_LINE_SHAPE,
    PAYMENT_SHAPE,
    VOUCHER_SHAPE,
    Account,
    AccountKind,
    Ledger,
    Posting,
    bill_line_posting,
    budget_posting,
    credit,
    debit,
    payment_posting,
    voucher_posting,
)

DAY = dt.date(2025, 6, 30)


def test_posting_that_does_not_balance_is_refused():
    with pytest.raises(ValidationError, match="does not balance"):
        Posting(
            "k", "x:1", DAY, (debit(Account.org_receivable(1), 100), credit(Account.center_revenue(2), 99))
        )


def test_posting_lines_are_integer_fen():
    with pytest.raises(ValidationError, match="integer fen"):
        debit(Account.org_receivable(1), 1.5)  # type: ignore[arg-type]


def test_posting_twice_under_the_same_key_changes_nothing():
    book = Ledger()
    p = bill_line_posting(1, org=7, center=3, gross_fen=10600, vat_fen=600, on=DAY)
    assert book.post(p) is True
    assert book.post(p) is False
    assert book.balance(Account.org_receivable(7)) == 10600
    assert book.balance(Account.center_revenue(3)) == 10000
    assert book.balance(Account.vat_payable(3)) == 600


def test_same_key_with_different_content_is_a_conflict():
    book = Ledger()
    book.post(bill_line_posting(1, 7, 3, 10600, 600, DAY))
    with pytest.raises(ConflictError, match="already used"):
        book.post(bill_line_posting(1, 7, 3, 10601, 600, DAY))


def test_budget_never_goes_below_zero():
    book = Ledger()
    book.post(budget_posting("art2", 2025, 1000, DAY, "initial"))
    book.post(voucher_posting(1, org=7, article="art2", year=2025, fen=800, on=DAY))
    with pytest.raises(ConflictError, match="below its floor"):
        book.post(voucher_posting(2, org=7, article="art2", year=2025, fen=201, on=DAY))
    assert book.balance(Account.program_budget("art2", 2025)) == 200
    assert len(book.postings) == 2


def test_balances_by_date_and_verify():
    book = Ledger()
    book.post(bill_line_posting(1, 7, 3, 10600, 600, dt.date(2025, 6, 30)))
    book.post(payment_posting(1, 7, 3, 10600, dt.date(2025, 7, 10)))
    assert book.balance(Account.org_receivable(7), on=dt.date(2025, 7, 1)) == 10600
    assert book.balance(Account.org_receivable(7)) == 0
    assert book.balance(Account.center_cash(3)) == 10600
    assert book.verify(["bill_line:1", "bill_payment:1"]) == []
    problems = book.verify(["bill_line:1", "bill_line:2"])
    assert [p.code for p in problems] == ["posted_once"]


def test_account_parse_round_trip_and_unknown_kind():
    acc = Account.city_budget("340100", "art2", 2025)
    assert Account.parse(str(acc)) == acc
    assert acc.kind is AccountKind.CITY_BUDGET
    with pytest.raises(ValidationError, match="unknown account kind"):
        Account.parse("nonsense:1")


def test_large_amounts_stay_exact():
    fen = 4_999_999_999  # 49,999,999.99 yuan
    book = Ledger()
    book.post(bill_line_posting(1, 7, 3, fen, 283_018_867, DAY))
    assert book.balance(Account.org_receivable(7)) == fen
    assert book.trial_balance() == 0


@pytest.mark.parametrize(("gross", "vat"), [(10_600, 600), (-5_300, -300), (999, 0)])
def test_set_wise_shapes_post_what_the_posting_functions_post(gross: int, vat: int) -> None:
    row = {
        "id": 17,
        "org_id": 4,
        "center_id": 9,
        "gross_fen": gross,
        "vat_fen": vat,
        "budget": "art2:2025",
        "amount_fen": vat or gross,  # a voucher line posts only a non-zero amount
    }
    on = dt.date(2025, 7, 1)
    for shape, posting in (
        (BILL_LINE_SHAPE, bill_line_posting(17, 4, 9, gross, vat, on)),
        (PAYMENT_SHAPE, payment_posting(17, 4, 9, gross, on)),
        (VOUCHER_SHAPE, voucher_posting(17, 4, "art2", 2025, vat or gross, on)),
    ):
        # each line's amount is an arithmetic expression over the row's columns (SQL and Python alike)
        shaped = {
            (Account(kind, str(row[col])), eval(fen, {}, dict(row)))  # noqa: S307 -- our own constant expressions
            for kind, col, fen in shape.lines
        }
        assert {(a, f) for a, f in shaped if f} == {(ln.account, ln.fen) for ln in posting.lines if ln.fen}
        assert f"{shape.prefix}:17" == posting.key == posting.cause and shape.memo == posting.memo
