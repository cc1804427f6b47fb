"""Organizations and ownership: who is who, and who is related to whom.

Related parties (POLICY.md, position 6): the same ultimate controller, or a shareholding of at least
20% either way, direct or through a chain (look-through: products along each path, summed over paths).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from zhisuan.core.errors import ValidationError
from zhisuan.core.ids import OrgId
from zhisuan.core.money import bounded_decimal

RELATED_PARTY_SHARE = Fraction(20, 100)
CONTROL_SHARE = Fraction(50, 100)


class OrgKind(StrEnum):
    ENTERPRISE = "enterprise"
    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    PUBLIC_INSTITUTION = "public_institution"
    GOVERNMENT = "government"
    CENTER_OPERATOR = "center_operator"


ORG_KIND_ZH: Mapping[OrgKind, str] = {
    OrgKind.ENTERPRISE: "企业",
    OrgKind.UNIVERSITY: "高校",
    OrgKind.RESEARCH_INSTITUTE: "科研院所",
    OrgKind.PUBLIC_INSTITUTION: "事业单位",
    OrgKind.GOVERNMENT: "政府部门",
    OrgKind.CENTER_OPERATOR: "智算中心运营方",
}


@dataclass(frozen=True, slots=True)
class Ownership:
    """``owner`` holds ``share`` (0–1] of ``owned``; ``controls`` marks a parent link whatever the share."""

    owner: OrgId
    owned: OrgId
    share: Fraction
    controls: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValidationError("a shareholding is a percentage above 0 and at most 100", field="share")
        if self.owner == self.owned:
            raise ValidationError("an organization cannot own itself", field="owner")


def share_from_percent(percent: str | int | Decimal, field: str = "percent") -> Fraction:
    """Exact fraction from a percentage such as '20' or '33.5'."""
    if isinstance(percent, float):
        raise ValidationError("give the percentage as a decimal string, not a float", field=field)
    try:
        value = Fraction(bounded_decimal(str(percent), field, limit=100, places=6))
    except ValidationError:
        raise ValidationError(f"not a percentage: {str(percent)[:40]!r}", field=field) from None
    if not 0 < value <= 100:
        raise ValidationError(f"a shareholding is above 0% and at most 100%, got {percent}%", field=field)
    return value / 100


@dataclass
class OwnershipGraph:
    """The ownership links among organizations, queried for control and related parties."""

    links: list[Ownership] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._owners: dict[OrgId, list[Ownership]] = defaultdict(list)
        self._holdings: dict[OrgId, list[Ownership]] = defaultdict(list)
        for link in self.links:
            self._owners[link.owned].append(link)
            self._holdings[link.owner].append(link)
        #: organizations in any link: one in none controls itself alone and holds nothing
        self._linked = frozenset(self._owners) | frozenset(self._holdings)

    @classmethod
    def of(cls, links: Iterable[Ownership]) -> OwnershipGraph:
        return cls(list(links))

    def parent(self, org: OrgId) -> OrgId | None:
        """The direct controller: an explicit parent link, else a shareholder above 50%."""
        for link in self._owners.get(org, []):
            if link.controls:
                return link.owner
        for link in self._owners.get(org, []):
            if link.share > CONTROL_SHARE:
                return link.owner
        return None

    def ultimate_controller(self, org: OrgId) -> OrgId:
        """Follow controllers up to the top (an organization with no controller controls itself)."""
        seen = {org}
        current = org
        while (up := self.parent(current)) is not None and up not in seen:
            seen.add(up)
            current = up
        return current

    def effective_share(self, owner: OrgId, owned: OrgId) -> Fraction:
        """Look-through shareholding of ``owner`` in ``owned``: Σ over paths of Π shares (no cycles)."""
        total = Fraction(0)
        stack: list[tuple[OrgId, Fraction, frozenset[OrgId]]] = [(owner, Fraction(1), frozenset({owner}))]
        while stack:
            node, acc, path = stack.pop()
            for link in self._holdings.get(node, []):
                if link.owned in path:
                    continue
                share = acc * link.share
                if link.owned == owned:
                    total += share
                else:
                    stack.append((link.owned, share, path | {link.owned}))
        return min(total, Fraction(1))

    def related(self, a: OrgId, b: OrgId) -> bool:
        """Whether two organizations are related parties (or the same one)."""
        if a == b:
            return True
        if a not in self._linked or b not in self._linked:
            return False  # a relation needs a chain of links touching both
        if self.ultimate_controller(a) == self.ultimate_controller(b):
            return True
        return (
            self.effective_share(a, b) >= RELATED_PARTY_SHARE
            or self.effective_share(b, a) >= RELATED_PARTY_SHARE
        )
