"""A stateful test of the book: bills, payments, budgets and vouchers in any order."""

import datetime as dt
import itertools
from collections import defaultdict
from fractions import Fraction

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from zhisuan.core.clock import UTC
from zhisuan.core.errors import ConflictError
from zhisuan.ledger.model import (
    Account,
    Ledger,
    bill_line_posting,
    budget_posting,
    payment_posting,
    voucher_posting,
)
from zhisuan.metering.bill_lines import line_amount_fen, vat_fen
from zhisuan.metering.model import UsageBook, UsageRecord

DAY = dt.date(2025, 6, 30)
T0 = dt.datetime(2025, 6, 1, tzinfo=UTC)
RATE = Fraction(20, 100)


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.book = Ledger()
        self.usage = UsageBook()
        self.next_id = 1
        self.funded = 0
        self.billed: dict[int, tuple[int, int]] = {}  # line id -> (org, gross)
        self.paid: set[int] = set()
        self.vouchered: dict[int, int] = {}
        self.billed_keys: set[str] = set()

    @rule(
        org=st.integers(1, 3),
        job=st.integers(1, 4),
        hour=st.integers(0, 40),
        hours=st.integers(1, 5),
        cards=st.integers(1, 16),
        price=st.integers(0, 500_000),
    )
    def bill_usage(self, org, job, hour, hours, cards, price):
        start = T0 + dt.timedelta(hours=hour)
        rec = UsageRecord(
            "sim",
            f"j{job}",
            org,
            9,
            1,
            "a100-sxm4-80gb",
            cards,
            start,
            start + dt.timedelta(hours=hours),
            price,
        )
        try:
            added = self.usage.add(rec)
        except ConflictError:
            return  # overlaps usage of the same job already recorded: refused, never billed twice
        if not added:
            return
        gross = line_amount_fen(rec.card_seconds, price, 0)
        if gross == 0:
            return
        line = self.next_id
        self.next_id += 1
        self.book.post(bill_line_posting(line, org, 9, gross, vat_fen(gross), DAY))
        self.billed[line] = (org, gross)
        self.billed_keys.add(rec.key)

    @rule(data=st.data())
    @precondition(lambda self: any(i not in self.paid for i in self.billed))
    def pay(self, data):
        line = data.draw(st.sampled_from(sorted(i for i in self.billed if i not in self.paid)))
        org, gross = self.billed[line]
        self.book.post(payment_posting(line, org, 9, gross, DAY))
        self.book.post(payment_posting(line, org, 9, gross, DAY))  # a retry changes nothing
        self.paid.add(line)

    @rule(fen=st.integers(1, 10_000_000))
    def fund(self, fen):
        self.book.post(budget_posting("art2", 2025, fen, DAY, f"r{self.next_id}"))
        self.next_id += 1
        self.funded += fen

    @rule(data=st.data())
    @precondition(lambda self: any(i not in self.vouchered for i in self.paid))
    def voucher(self, data):
        line = data.draw(st.sampled_from(sorted(i for i in self.paid if i not in self.vouchered)))
        org, gross = self.billed[line]
        amount = gross * RATE.numerator // RATE.denominator
        if amount == 0:
            return
        try:
            self.book.post(voucher_posting(line, org, "art2", 2025, amount, DAY))
        except ConflictError:
            return  # budget exhausted: refused, nothing posted
        self.vouchered[line] = amount

    @invariant()
    def balances(self):
        assert self.book.trial_balance() == 0

    @invariant()
    def nothing_created_or_lost(self):
        bals = self.book.balances()
        budget = Account.program_budget("art2", 2025)
        spent = sum(self.vouchered.values())
        assert bals.get(budget, 0) == self.funded - spent
        by_org = defaultdict(int)
        for line, (org, gross) in self.billed.items():
            if line not in self.paid:
                by_org[org] += gross
        for org in (1, 2, 3):
            assert bals.get(Account.org_receivable(org), 0) == by_org[org]
        assert sum(v for a, v in bals.items() if a.kind.value == "subsidy_payable") == spent

    @invariant()
    def usage_second_billed_once(self):
        spans = defaultdict(list)
        for rec in self.usage.active():
            spans[(rec.engine_job_id, rec.pool_id)].append((rec.start, rec.end))
        for intervals in spans.values():
            intervals.sort()
            for (_, e1), (s2, _) in itertools.pairwise(intervals):
                assert e1 <= s2

    @invariant()
    def voucher_within_twenty_percent(self):
        for line, amount in self.vouchered.items():
            assert 0 <= amount * 5 <= self.billed[line][1]

    @invariant()
    def verify_is_clean(self):
        causes = [f"bill_line:{i}" for i in self.billed] + [f"voucher_line:{i}" for i in self.vouchered]
        assert self.book.verify(causes) == []


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase
