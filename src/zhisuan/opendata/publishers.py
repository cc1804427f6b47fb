"""Who an entry belongs to: a city's users publish for the city, a department's members for the department,
the data bureau for whichever publisher it names."""

from __future__ import annotations

from sqlalchemy.orm import Session

from zhisuan.core.access import Principal
from zhisuan.core.errors import PermissionDeniedError, ValidationError
from zhisuan.core.orgs import OrgKind
from zhisuan.core.regions import city as city_of
from zhisuan.opendata import _common as c
from zhisuan.opendata import model as m
from zhisuan.store.models.core import OrganizationRow

#: organizations whose members publish as a department
PUBLISHING_KINDS = frozenset({OrgKind.GOVERNMENT.value, OrgKind.PUBLIC_INSTITUTION.value})


def publisher_for(s: Session, who: Principal, chosen: object = None) -> m.Publisher:
    """The publisher a new entry belongs to: the caller's own, or (data bureau) the one it names."""
    if m.is_steward(who) and chosen:
        return publisher_by_key(s, str(chosen))
    key = m.own_publisher_key(who)
    if key is None:
        raise PermissionDeniedError(
            "datasets are published by a city's users, a department's members or the data bureau"
        )
    publisher = publisher_by_key(s, key)
    if key.startswith("org:"):
        org = s.get(OrganizationRow, who.org_id)
        if org is None or org.kind not in PUBLISHING_KINDS:
            raise PermissionDeniedError("only government departments and public institutions publish data")
    return publisher


def may_publish(s: Session, who: Principal) -> bool:
    """Whether the caller may register entries (the data bureau, a city's users, a department's members)."""
    if m.is_steward(who):
        return True
    try:
        publisher_for(s, who)
    except PermissionDeniedError:
        return False
    return True


def publisher_by_key(s: Session, key: str) -> m.Publisher:
    kind, _, ref = key.partition(":")
    if kind == "city":
        code = m.check_city(ref, "publisher")
        return m.city_publisher(code, f"{city_of(code).name_zh}人民政府")
    if kind == "org" and ref.isdigit() and c.fits(int(ref)):
        org = s.get(OrganizationRow, int(ref))
        if org is not None:
            return m.org_publisher(org.id, org.name, org.city_code)
    raise ValidationError("a publisher is city:CODE or org:ID of a known organization", field="publisher")


__all__ = ["PUBLISHING_KINDS", "may_publish", "publisher_by_key", "publisher_for"]
