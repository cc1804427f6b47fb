"""Double-entry ledger: accounts, balanced postings of integer fen, budgets, verification."""

from zhisuan.ledger.model import Account, AccountKind, Ledger, Line, Posting, Problem, credit, debit

__all__ = ["Account", "AccountKind", "Ledger", "Line", "Posting", "Problem", "credit", "debit"]
