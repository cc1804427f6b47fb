"""Distributions and downloads (art. 3): files stored once by SHA-256 under the data directory, or links.

Unconditional data is for anyone, conditional data only under a grant in force; every download is
recorded, and one of conditional or unopened data is also audited in the caller's transaction. The
callers commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhisuan import audit
from zhisuan.core.access import Principal
from zhisuan.core.clock import Clock, shanghai_date
from zhisuan.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from zhisuan.core.text import clean_name
from zhisuan.opendata import _common as c
from zhisuan.opendata import model as m
from zhisuan.opendata.sharing import active_grant
from zhisuan.store.models.opendata import DatasetRow, DistributionRow, DownloadRow, SharingRequestRow
from zhisuan.store.uow import UnitOfWork

MAX_FILE = 50 * 1024 * 1024
MEDIA_TYPES = {
    "CSV": "text/csv",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "JSON": "application/json",
    "XML": "application/xml",
    "PDF": "application/pdf",
    "TXT": "text/plain",
    "API": "application/json",
    "SHP": "application/zip",
    "ZIP": "application/zip",
}


def dataset_distributions(s: Session, dataset_id: int) -> Sequence[DistributionRow]:
    """A dataset's distributions, in the order they were added."""
    return list(
        s.execute(
            select(DistributionRow)
            .where(DistributionRow.dataset_id == dataset_id)
            .order_by(DistributionRow.id)
        ).scalars()
    )


def distribution_dict(d: DistributionRow) -> dict[str, object]:
    return {
        "id": d.id,
        "title": d.title,
        "format": d.format,
        "media_type": d.media_type,
        "access_url": d.access_url,
        "byte_size": d.byte_size,
        "file": d.sha256 is not None,
    }


def file_path(root: Path, sha256: str) -> Path:
    return root / "opendata" / sha256[:2] / sha256


def add_distribution(
    uow: UnitOfWork,
    who: Principal,
    clock: Clock,
    root: Path,
    identifier: str,
    data: Mapping[str, Any],
    content: bytes | None = None,
) -> dict[str, object]:
    """A file (stored once by SHA-256) or a link by which the dataset is had."""
    row = c.managed(uow.session, who, identifier)
    fmt = str(data.get("format") or "").upper()
    if fmt not in m.FORMATS:
        raise ValidationError(f"one of {', '.join(m.FORMATS)}", field="format")
    title = clean_name(str(data.get("title") or row.title), "title", max_length=200)
    url = data.get("access_url")
    if (content is None) == (not url):
        raise ValidationError("give either a file or an access_url", field="access_url")
    dist = DistributionRow(
        dataset_id=row.id, title=title, format=fmt, media_type=MEDIA_TYPES[fmt], created_at=clock.now()
    )
    if content is not None:
        if len(content) > MAX_FILE:
            raise ValidationError(f"a file is at most {MAX_FILE // 1024 // 1024} MiB", field="file")
        digest = hashlib.sha256(content).hexdigest()
        path = file_path(root, digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        dist.sha256, dist.byte_size = digest, len(content)
    else:
        text_url = clean_name(str(url), "access_url", max_length=500)
        if not text_url.startswith(("https://", "http://")):
            raise ValidationError("an http(s) address", field="access_url")
        dist.access_url = text_url
    uow.session.add(dist)
    uow.session.flush()
    return distribution_dict(dist)


def download(
    uow: UnitOfWork, who: Principal, clock: Clock, root: Path, distribution_id: int
) -> tuple[DistributionRow, bytes | None]:
    """A distribution's file (or its link): unconditional data for anyone; conditional data only under
    an active grant of the caller's organization (its publisher and the data bureau always). Every
    download is recorded; a conditional one is audited with its grant."""
    now = clock.now()
    s = uow.session
    dist = s.get(DistributionRow, distribution_id) if c.fits(distribution_id) else None
    if dist is None:
        raise NotFoundError("no such distribution", field="distribution")
    row = s.get(DatasetRow, dist.dataset_id)
    if row is None or (
        row.state != m.DatasetState.PUBLISHED.value and not m.may_manage(who, row.publisher_key)
    ):
        raise NotFoundError("no such distribution", field="distribution")
    openness = m.Openness(row.openness)
    grant: SharingRequestRow | None = None
    if not m.may_manage(who, row.publisher_key):
        if openness is m.Openness.NOT_OPEN:
            raise PermissionDeniedError("this dataset is not open; it is listed, not shared")
        if openness is m.Openness.CONDITIONAL:
            if not who.authenticated:
                raise PermissionDeniedError(
                    "conditional data: log in as a member of an organization with a grant"
                )
            grant = active_grant(s, who, row.id, shanghai_date(now))
            if grant is None:
                raise PermissionDeniedError(
                    "conditional data: your organization needs a grant in force; request one on the "
                    "dataset's page"
                )
    s.add(
        DownloadRow(
            dataset_id=row.id,
            distribution_id=dist.id,
            request_id=grant.id if grant else None,
            org_id=who.org_id,
            username=who.username,
            at=now,
        )
    )
    if openness is not m.Openness.UNCONDITIONAL:
        audit.record(
            uow,
            now,
            who.username,
            "dataset.download",
            f"dataset:{row.identifier}",
            {"distribution": dist.id, "grant": grant.id if grant else None},
        )
    content = file_path(root, dist.sha256).read_bytes() if dist.sha256 else None
    return dist, content


__all__ = [
    "MAX_FILE",
    "MEDIA_TYPES",
    "add_distribution",
    "dataset_distributions",
    "distribution_dict",
    "download",
    "file_path",
]
