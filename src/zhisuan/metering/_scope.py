"""Listing filters shared by metering's queries: what a caller's access scope lets them read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_, select

from zhisuan.core.access import Scope
from zhisuan.store.models.compute import CenterRow
from zhisuan.store.models.core import OrganizationRow

# ids per ``IN (…)`` list: well under SQLite's and PostgreSQL's bound-parameter limits
CHUNK = 5000


def apply_scope(
    q: Any,
    scope: Scope | None,
    org_col: Any,
    operator_col: Any = None,
    center_col: Any = None,
    city_col: Any = None,
) -> Any:
    """Filter a listing to what :func:`zhisuan.core.access.visible_scope` lets the caller read."""
    if scope is None or scope.everything:
        return q
    if scope.nothing:
        return q.where(false())
    conds = []
    if scope.org_ids:
        conds.append(org_col.in_(sorted(scope.org_ids)))
    if scope.operator_org_ids:
        ops = sorted(scope.operator_org_ids)
        if operator_col is not None:
            conds.append(operator_col.in_(ops))
        elif center_col is not None:
            conds.append(center_col.in_(select(CenterRow.id).where(CenterRow.operator_org_id.in_(ops))))
    if scope.city_code:
        if city_col is not None:
            conds.append(city_col == scope.city_code)
        else:
            conds.append(
                org_col.in_(select(OrganizationRow.id).where(OrganizationRow.city_code == scope.city_code))
            )
    return q.where(or_(*conds)) if conds else q.where(false())


__all__ = ["CHUNK", "apply_scope"]
