"""Ranking pools for a key enterprise: a full pool dropped, cheapest after vouchers first, reasons."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.money import Money
from zhisuan.matching.model import PoolOffer, rank_pools


def offer(pool: str, free: int, net: str, model: str = "h20-96gb", gross: str = "9") -> PoolOffer:
    return PoolOffer(pool, "中心", "340200", model, "H20 96GB", free, Money.parse(gross), Money.parse(net))


def test_a_cheaper_free_pool_ranks_above_a_dearer_one_and_a_full_pool_is_dropped() -> None:
    ranked = rank_pools([offer("dear", 10, "8"), offer("full", 0, "1"), offer("cheap", 5, "7.2")])
    assert [o.pool for o in ranked] == ["cheap", "dear"]


def test_the_wanted_model_and_enough_cards_come_first() -> None:
    ranked = rank_pools(
        [offer("other", 100, "1", model="a100"), offer("small", 8, "2"), offer("fits", 64, "5")],
        accelerator="h20-96gb",
        cards=64,
    )
    assert [o.pool for o in ranked] == ["fits", "small", "other"]


def test_the_reason_says_where_how_many_and_both_prices() -> None:
    o = offer("wh", 96, "7.2")
    assert o.reason() == "H20 96GB pool in Wuhu: 96 free cards, 9.00 → 7.20 yuan per card-hour after vouchers"
    assert o.reason("zh") == "芜湖市H20 96GB资源池：空闲96卡，算力券后每卡时9.00 → 7.20元"


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 5000)), max_size=20))
def test_ranked_pools_all_have_free_cards_and_never_get_cheaper_down_the_list(
    specs: list[tuple[int, int]],
) -> None:
    offers = [offer(f"p{i}", free, str(Money.from_fen(fen))) for i, (free, fen) in enumerate(specs)]
    ranked = rank_pools(offers)
    assert all(o.free_cards > 0 for o in ranked)
    assert len(ranked) == sum(1 for o in offers if o.free_cards > 0)
    assert [o.net for o in ranked] == sorted(o.net for o in ranked)
