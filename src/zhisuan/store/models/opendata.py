"""Tables of the open-data context (art. 3, 4): datasets and their history, distributions, sharing
requests and downloads, opening bulletins, data suppliers, their transactions and the cities' ratios.

Search: ``search_title`` and ``search_body`` hold the title and description segmented by jieba (words
separated by spaces). The migration indexes them per database — an FTS5 table kept by triggers on
SQLite, a weighted ``tsvector`` column kept by a trigger with a GIN index on PostgreSQL — so no
service ever writes an index by hand.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhisuan.store.base import Base
from zhisuan.store.types import UTCDateTime


class DatasetRow(Base):
    """A catalog entry (开放清单 item) of a publisher: a city or a provincial department."""

    __tablename__ = "opendata_datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)  # stable: the dataset's address
    title: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text)
    publisher_key: Mapped[str] = mapped_column(String(32), index=True)  # "city:340100" or "org:12"
    publisher_name: Mapped[str] = mapped_column(String(200))
    city_code: Mapped[str] = mapped_column(String(6), index=True)  # the publisher's city (340000: province)
    themes: Mapped[str] = mapped_column(Text)  # JSON list of theme codes
    keywords: Mapped[str] = mapped_column(Text)  # JSON list
    openness: Mapped[str] = mapped_column(String(16), index=True)  # unconditional, conditional, not_open
    conditions: Mapped[str] = mapped_column(Text, default="")
    formats: Mapped[str] = mapped_column(Text)  # JSON list: CSV, XLSX, JSON, API …
    update_frequency: Mapped[str] = mapped_column(String(16))
    records: Mapped[int | None] = mapped_column(BigInteger)
    byte_size: Mapped[int | None] = mapped_column(BigInteger)
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_email: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)  # draft, published, withdrawn
    issued_on: Mapped[dt.date | None] = mapped_column(Date)  # first published (Asia/Shanghai)
    version: Mapped[int] = mapped_column(Integer, default=1)
    search_title: Mapped[str] = mapped_column(Text)
    search_body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    modified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DatasetVersionRow(Base):
    """The history of a dataset: every saved version as it was, who saved it and when."""

    __tablename__ = "opendata_dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("opendata_datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    snapshot: Mapped[str] = mapped_column(Text)  # JSON


class DistributionRow(Base):
    """A way to get a dataset: a link (``access_url``) or a file stored under the data directory."""

    __tablename__ = "opendata_distributions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("opendata_datasets.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(16))
    media_type: Mapped[str] = mapped_column(String(100))
    access_url: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    byte_size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SharingRequestRow(Base):
    """An enterprise asks for a conditional dataset; the publisher or the data bureau answers."""

    __tablename__ = "opendata_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("opendata_datasets.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending, granted, refused
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    grant_conditions: Mapped[str | None] = mapped_column(Text)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)  # the grant's last day (Asia/Shanghai)
    refusal_reason: Mapped[str | None] = mapped_column(Text)


class DownloadRow(Base):
    """One download of a distribution (every one is recorded; conditional ones name their grant)."""

    __tablename__ = "opendata_downloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("opendata_datasets.id"), index=True)
    distribution_id: Mapped[int] = mapped_column(ForeignKey("opendata_distributions.id"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("opendata_requests.id"))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class BulletinRow(Base):
    """An opening bulletin (定期通报) of one quarter: its figures frozen when generated and published."""

    __tablename__ = "opendata_bulletins"
    __table_args__ = (UniqueConstraint("period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(8))  # "2025Q2"
    state: Mapped[str] = mapped_column(String(16))  # draft, published
    figures: Mapped[str] = mapped_column(Text)  # JSON: rows per publisher and the ranking
    generated_by: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class SupplierRow(Base):
    """An in-province data collection, cleaning or labelling vendor (art. 4)."""

    __tablename__ = "opendata_suppliers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    services: Mapped[str] = mapped_column(Text)  # JSON list: collection, cleaning, labelling
    in_province: Mapped[bool] = mapped_column(Boolean)
    registered_by: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SupplierTransactionRow(Base):
    """A supplier's data-transaction amount of one year, with its evidence file."""

    __tablename__ = "opendata_supplier_transactions"
    __table_args__ = (UniqueConstraint("supplier_id", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("opendata_suppliers.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_name: Mapped[str | None] = mapped_column(String(200))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CityRatioRow(Base):
    """The ratio a city's art. 4 program pays of a supplier's annual transactions (a dated parameter)."""

    __tablename__ = "opendata_city_ratios"
    __table_args__ = (UniqueConstraint("city_code", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    ratio: Mapped[str] = mapped_column(String(32))  # as the city wrote it: "5%", "0.05", "1/3"
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RewardTierRow(Base):
    """The province's performance reward to cities (art. 4): a city whose recorded supplier subsidies of
    the year reach ``threshold_fen`` earns ``reward_fen`` (the highest tier reached counts)."""

    __tablename__ = "opendata_reward_tiers"
    __table_args__ = (UniqueConstraint("year", "threshold_fen"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    threshold_fen: Mapped[int] = mapped_column(BigInteger)
    reward_fen: Mapped[int] = mapped_column(BigInteger)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
