"""Values every context shares: money, time, ids, errors, regions, the accelerator catalog, orgs."""

from zhisuan.core.catalog import Accelerator, accelerator, capacity_p, catalog
from zhisuan.core.clock import SHANGHAI, UTC, Clock, ManualClock, Month, SystemClock
from zhisuan.core.errors import (
    AuthenticationError,
    ConflictError,
    EngineError,
    NotFoundError,
    PermissionDeniedError,
    PolicyError,
    ValidationError,
    ZhisuanError,
)
from zhisuan.core.money import Money, Rounding
from zhisuan.core.orgs import OrgKind, Ownership, OwnershipGraph
from zhisuan.core.regions import City, Region, all_cities, city, is_northern_anhui

__all__ = [
    "SHANGHAI",
    "UTC",
    "Accelerator",
    "AuthenticationError",
    "City",
    "Clock",
    "ConflictError",
    "EngineError",
    "ManualClock",
    "Money",
    "Month",
    "NotFoundError",
    "OrgKind",
    "Ownership",
    "OwnershipGraph",
    "PermissionDeniedError",
    "PolicyError",
    "Region",
    "Rounding",
    "SystemClock",
    "ValidationError",
    "ZhisuanError",
    "accelerator",
    "all_cities",
    "capacity_p",
    "catalog",
    "city",
    "is_northern_anhui",
]
