"""Art. 8's priority matching of compute: the key enterprises' weight in placement (the scheduler's port).

The pack in force on the day says how much (``key_enterprise_priority_weight``, 1 = no priority, the
shipped value); the ``enterprises`` registry says who (the platform organizations of the firms
introduced by then). Placement divides those organizations' expected work in the queue's order by the
weight; reservations still bound every job's wait (``compute.placement``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Final

from zhisuan.compute import PriorityRule
from zhisuan.policy import PackSet, parameters
from zhisuan.registries import services as registries
from zhisuan.store.uow import UnitOfWork

#: the art. 8 parameter (a number, at least 1)
WEIGHT: Final = "key_enterprise_priority_weight"


def priority_weight(packs: PackSet, on: dt.date) -> Fraction:
    """The key enterprises' priority weight in placement on ``on`` (1 when art. 8 is not in force)."""
    found = parameters(packs, "art8", on)
    weight = found.get(WEIGHT) if found is not None else None
    return weight if isinstance(weight, Fraction) and weight > 1 else Fraction(1)


def key_enterprise_priority(packs: Callable[[], PackSet]) -> PriorityRule:
    """The scheduler's art. 8 rule: each key enterprise's organization id with the pack's weight."""

    def rule(uow: UnitOfWork, on: dt.date) -> Mapping[int, float]:
        weight = priority_weight(packs(), on)
        if weight == 1:
            return {}  # off: the registry is not read
        return dict.fromkeys(registries.key_enterprise_orgs(uow, on), float(weight))

    return rule


__all__ = ["WEIGHT", "key_enterprise_priority", "priority_weight"]
