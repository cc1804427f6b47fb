"""Tables of the core context: organizations, ownership links, users, API tokens, the audit chain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhisuan.store.base import Base
from zhisuan.store.types import UTCDateTime


class OrganizationRow(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    city_code: Mapped[str | None] = mapped_column(String(6), index=True)
    in_province: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class OwnershipRow(Base):
    """``owner`` holds ``share_ppm`` millionths of ``owned``; ``controls`` marks a parent link."""

    __tablename__ = "ownership_links"
    __table_args__ = (
        UniqueConstraint("owner_id", "owned_id"),
        CheckConstraint("share_ppm > 0 AND share_ppm <= 1000000", name="share_range"),
        CheckConstraint("owner_id <> owned_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    owned_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    share_ppm: Mapped[int] = mapped_column(Integer)
    controls: Mapped[bool] = mapped_column(Boolean, default=False)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    city_code: Mapped[str | None] = mapped_column(String(6))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ApiTokenRow(Base):
    """A bearer token; only its SHA-256 is kept (the token is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AccountChangesRow(Base):
    """How many changes accounts and tokens have seen (one row, id 1): the database's triggers count
    every update or delete of a user and every token revoked, re-keyed, moved or deleted, in the
    transaction that makes it (migration core_0004). A process may reuse what it read of a token's
    account while this reads the same."""

    __tablename__ = "account_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class AuditEventRow(Base):
    """Append-only, hash-chained record of every change to money, eligibility or access."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditPendingRow(Base):
    """An audit event written with its change (one ``INSERT`` in the same transaction) and not chained
    yet: a sealer moves it into ``audit_events`` right after that transaction commits."""

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)
    #: the key's MAC of the event as written, so that a row put here by anyone without the key is
    #: never chained (the sealer leaves it and ``audit verify`` names it)
    mac: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The signed head of the audit chain: how many events and the last hash, with an HMAC over both.

    One row (id 1), locked by every writer (``SELECT … FOR UPDATE``) so the chain never forks; kept
    apart from the events so deleting the last ones, emptying the table or re-chaining is caught.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class WebSessionRow(Base):
    """A logged-in browser: the cookie holds only the random id, whose SHA-256 is kept here.

    Logging out, disabling the account or changing its role deletes the row, which ends the session.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LoginThrottleRow(Base):
    """Failed logins per key (``user:<name>`` or ``addr:<ip>``) in the current window."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
