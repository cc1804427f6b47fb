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

__all__ = [
    "AcceleratorModel",
    "AccountId",
    "BillId",
    "CenterId",
    "CityCode",
    "JobId",
    "OrgId",
    "PoolId",
    "UserId",
]
