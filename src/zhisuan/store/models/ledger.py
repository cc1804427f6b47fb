"""Tables of the ledger: accounts, postings (idempotency key, cause) and their integer-fen lines."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhisuan.store.base import Base
from zhisuan.store.types import UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class LedgerAccountRow(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))


class LedgerPostingRow(Base):
    """A balanced posting; its ``key`` makes posting the same thing twice a no-op."""

    __tablename__ = "ledger_postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    cause: Mapped[str] = mapped_column(String(120), index=True)
    on: Mapped[dt.date] = mapped_column(Date, index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LedgerLineRow(Base):
    """Debit-positive integer fen on an account, belonging to a posting (by its key).

    Both references are foreign keys on SQLite; on PostgreSQL they are checked once per statement by
    triggers (migration ``ledger_0002``), the same guarantee without a lookup per inserted line.
    """

    __tablename__ = "ledger_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    posting_key: Mapped[str] = mapped_column(ForeignKey("ledger_postings.key"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    on: Mapped[dt.date] = mapped_column(Date)
    fen: Mapped[int] = mapped_column(BigInteger)
