"""Tables of the registries context: one table of entries for every registry (art. 6–15), and the
scenario bulletins and rankings, whose figures are frozen when they are published."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhisuan.store.base import Base
from zhisuan.store.types import UTCDateTime


class RegistryEntryRow(Base):
    """One entry of one registry (``registry_name`` names it: scenarios, parks, funds …).

    The scope columns (``city_code``, ``org_id``) decide who may read and change the entry; ``parent_id``
    ties a sub-fund to its fund. The registry's own fields are in ``data`` (JSON, money as integer fen),
    checked against the registry's spec on every write.
    """

    __tablename__ = "registry_entries"
    __table_args__ = (Index("ix_registry_entries_registry_name_city", "registry_name", "city_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_name: Mapped[str] = mapped_column(String(32))
    city_code: Mapped[str | None] = mapped_column(String(6))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("registry_entries.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ScenarioBulletinRow(Base):
    """A quarterly bulletin (period ``2025Q3``) or an annual ranking (``2025``) of scenario openings.

    A draft is recomputed from the entries whenever it is read; publishing stores its figures in
    ``figures`` (JSON) and they never change again.
    """

    __tablename__ = "scenario_bulletins"
    __table_args__ = (UniqueConstraint("kind", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "quarterly" or "annual"
    period: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))  # "draft" or "published"
    figures: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
