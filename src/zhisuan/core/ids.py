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


def parse_id(text: str) -> int | None:
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
    return value if value <= MAX_ID else None


__all__ = [
    "MAX_ID",
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
