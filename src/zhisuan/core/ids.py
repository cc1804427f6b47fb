"""Typed identifiers: an organization's id is never mistaken for a job's."""

from __future__ import annotations

from typing import NewType

OrgId = NewType("OrgId", int)
UserId = NewType("UserId", int)
CenterId = NewType("CenterId", int)
PoolId = NewType("PoolId", int)
JobId = NewType("JobId", int)
BillId = NewType("BillId", int)
AccountId = NewType("AccountId", int)
CityCode = NewType("CityCode", str)
AcceleratorModel = NewType("AcceleratorModel", str)

#: The largest id a database row can have (64-bit signed, as in PostgreSQL's BIGINT and SQLite).
MAX_ID = 2**63 - 1
#: The largest id of a table keyed by a 32-bit INTEGER on PostgreSQL (organizations, centers, pools,
#: tokens, pack versions): a larger one would be a database error, so it is simply not found.
MAX_INT_ID = 2**31 - 1


def parse_id(text: str, limit: int = MAX_ID) -> int | None:
    """``text`` as a row id if it is one (ASCII digits, at most :data:`MAX_ID`), else None.

    >>> parse_id("42"), parse_id(" 7 "), parse_id("²"), parse_id("99999999999999999999"), parse_id("hf-1")
    (42, 7, None, None, None)
    >>> parse_id("9" * 10_000) is None  # refused before int() (which stops at 4300 digits)
    True
    """
    text = text.strip()
    if len(text) > len(str(MAX_ID)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= limit else None


__all__ = [
    "MAX_ID",
    "MAX_INT_ID",
    "AcceleratorModel",
    "AccountId",
    "BillId",
    "CenterId",
    "CityCode",
    "JobId",
    "OrgId",
    "PoolId",
    "UserId",
    "parse_id",
]
