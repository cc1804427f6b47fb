"""The registries' rules: scenario steps in order, talents kept apart, funds, and the policy engine's
answers for parks (> 60%) and competition support (the cap per winner)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.errors import ValidationError
from zhisuan.policy import load_pack_set
from zhisuan.registries import rules

PACKS = load_pack_set()


@pytest.mark.parametrize(
    ("ai", "total", "above", "shown"),
    [
        (60, 100, False, "60.00%"),
        (6001, 10000, True, "60.01%"),
        (3, 5, False, "60.00%"),
        (2, 3, True, "66.66%"),
    ],
)
def test_a_park_is_above_the_threshold_only_beyond_60_percent(
    ai: int, total: int, above: bool, shown: str
) -> None:
    share = rules.park_share(
        PACKS, {"ai_enterprises": ai, "total_enterprises": total, "roster_on": "2025-06-30"}
    )
    assert (share.above, share.percent(), share.in_force) == (above, shown, True)


def test_a_roster_outside_the_policy_is_not_judged() -> None:
    share = rules.park_share(PACKS, {"ai_enterprises": 9, "total_enterprises": 10, "roster_on": "2023-01-01"})
    assert (share.in_force, share.above) == (False, False)


@given(st.integers(min_value=1, max_value=10**6).flatmap(lambda t: st.tuples(st.integers(0, t), st.just(t))))
def test_the_shown_share_is_never_above_the_true_share(pair: tuple[int, int]) -> None:
    ai, total = pair
    share = rules.ParkShare(ai, total, True, False, "")
    shown = Fraction(share.percent().rstrip("%"))
    assert shown <= Fraction(ai * 100, total) < shown + Fraction(1, 100)


def _winner(**support_fen: int) -> dict[str, object]:
    return {"city": "340100", "won_on": "2025-05-01", "lands_in_province": True, **support_fen}


def test_competition_support_is_judged_together_against_the_cap() -> None:
    rules.check_competition(PACKS, _winner(equity=2_900_000_000, prize=100_000_000))  # 30,000,000 yuan
    with pytest.raises(ValidationError) as err:
        rules.check_competition(PACKS, _winner(equity=2_900_000_000, debt=100_000_001))
    assert err.value.field == "debt" and "30000000.01" in err.value.message
    with pytest.raises(ValidationError, match="does not land in Anhui"):
        rules.check_competition(PACKS, _winner(prize=100) | {"lands_in_province": False})


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"status": "matched", "opened_on": "2025-01-01"}, "matched_on"),
        ({"status": "matched", "opened_on": "2025-02-01", "matched_on": "2025-01-01"}, "matched_on"),
        ({"status": "completed", "opened_on": "2025-01-01", "matched_on": "2025-02-01"}, "completed_on"),
        ({"status": "opened", "opened_on": "2025-01-01", "matched_on": "2025-02-01"}, "status"),
    ],
)
def test_a_scenarios_status_follows_its_days(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        rules.check("scenarios", values)
    assert err.value.field == field


def test_recognitions_and_green_channels_are_kept_apart() -> None:
    rules.check("talents", {"track": "recognition", "level": "A类"})
    rules.check("talents", {"track": "talent_channel", "channel_status": "applied"})
    for bad in (
        {"track": "recognition", "level": "A类", "channel_status": "applied"},
        {"track": "title_channel", "channel_status": "passed", "level": "A类"},
        {"track": "title_channel"},
    ):
        with pytest.raises(ValidationError):
            rules.check("talents", bad)


def test_a_sub_fund_names_its_fund_and_pays_in_no_more_than_it_committed() -> None:
    with pytest.raises(ValidationError):
        rules.check("funds", {"level": "sub"})
    with pytest.raises(ValidationError):
        rules.check("funds", {"level": "theme", "parent_id": 3})
    with pytest.raises(ValidationError) as err:
        rules.check("funds", {"level": "theme", "committed": 100, "paid_in": 101})
    assert err.value.field == "paid_in"
