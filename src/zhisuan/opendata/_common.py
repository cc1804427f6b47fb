"""What the opendata modules share: ids that fit the tables, an entry as the caller may read or change it."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhisuan.core.access import Principal
from zhisuan.core.errors import NotFoundError, PermissionDeniedError
from zhisuan.core.ids import MAX_INT_ID
from zhisuan.opendata import model as m
from zhisuan.store.models.opendata import DatasetRow

#: a dataset's identifier: its publisher's division code and ten hex digits
IDENTIFIER = re.compile(r"[0-9]{6}-[0-9a-f]{10}")


def fits(row_id: object) -> bool:
    """Whether an id can name a row of the opendata tables (32-bit ids): a larger one names nothing."""
    return isinstance(row_id, int) and not isinstance(row_id, bool) and 1 <= row_id <= MAX_INT_ID


def _row(s: Session, identifier: str) -> DatasetRow | None:
    if not IDENTIFIER.fullmatch(str(identifier)):
        return None  # not an identifier this catalog gives: nothing to look up
    return s.execute(select(DatasetRow).where(DatasetRow.identifier == identifier)).scalar_one_or_none()


def readable(s: Session, who: Principal, identifier: str) -> DatasetRow:
    """The entry ``identifier`` if published or managed by the caller; otherwise *not found*."""
    row = _row(s, str(identifier)[:64])
    if row is None or (
        row.state != m.DatasetState.PUBLISHED.value and not m.may_manage(who, row.publisher_key)
    ):
        raise NotFoundError("no such dataset", field="dataset")
    return row


def managed(s: Session, who: Principal, identifier: str) -> DatasetRow:
    """The entry ``identifier`` if the caller manages it (its publisher or the data bureau)."""
    row = readable(s, who, identifier)
    if not m.may_manage(who, row.publisher_key):
        raise PermissionDeniedError("only the dataset's publisher or the data bureau changes it")
    return row


__all__ = ["IDENTIFIER", "fits", "managed", "readable"]
