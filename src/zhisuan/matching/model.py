"""Priority matching for key enterprises (art. 8), pure: ranking compute pools and wording the reasons.

A pool with no free card is dropped; the others rank by what the enterprise would pay per card-hour
after compute vouchers (cheapest first), then by free cards (most first). Pools of the accelerator the
enterprise asked for, and with enough free cards, come before the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from zhisuan.core.money import Money
from zhisuan.core.regions import city as city_of


@dataclass(frozen=True, slots=True)
class PoolOffer:
    """A pool as the enterprise would see it today: free cards, list and net price per card-hour."""

    pool: str
    center: str
    city_code: str
    accelerator: str
    model: str  # the accelerator's short model name (H20, 910B …)
    free_cards: int
    gross: Money
    net: Money

    def reason(self, lang: str = "en") -> str:
        """'H20 pool in Wuhu: 96 free cards, 9.00 → 7.20 yuan per card-hour after vouchers'."""
        where = city_of(self.city_code)
        if lang == "zh":
            return (
                f"{where.name_zh}{self.model}资源池：空闲{self.free_cards}卡，"
                f"算力券后每卡时{self.gross} → {self.net}元"
            )
        return (
            f"{self.model} pool in {where.name_en}: {self.free_cards} free cards, "
            f"{self.gross} → {self.net} yuan per card-hour after vouchers"
        )


def rank_pools(
    offers: Iterable[PoolOffer], *, accelerator: str | None = None, cards: int | None = None
) -> list[PoolOffer]:
    """Pools with free cards, best first (see the module's note); a full pool is dropped."""
    free = [o for o in offers if o.free_cards > 0]

    def key(o: PoolOffer) -> tuple[bool, bool, Money, int, str]:
        wrong_model = accelerator is not None and o.accelerator != accelerator
        too_small = cards is not None and o.free_cards < cards
        return (wrong_model, too_small, o.net, -o.free_cards, o.pool)

    return sorted(free, key=key)


@dataclass(frozen=True, slots=True)
class Dataset:
    """An open dataset a catalog offers, and why it fits."""

    ref: str
    title: str
    reason_zh: str
    reason_en: str


class DatasetCatalog(Protocol):
    """The open-data catalog's answer to "which open datasets fit this sector?" (art. 3 meets art. 8).

    The catalog lives in its own context; until it is plugged in, :class:`NoDatasets` answers.
    """

    def fitting(self, sector: str | None, city_code: str | None) -> Sequence[Dataset]:
        """Open datasets that fit an enterprise's sector (and city), best first."""
        ...


class NoDatasets:
    """No open-data catalog plugged in: no dataset suggestions.

    >>> NoDatasets().fitting("health", "340100")
    ()
    """

    def fitting(self, sector: str | None, city_code: str | None) -> Sequence[Dataset]:
        return ()


__all__ = ["Dataset", "DatasetCatalog", "NoDatasets", "PoolOffer", "rank_pools"]
