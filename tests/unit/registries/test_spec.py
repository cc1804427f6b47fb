"""Values of a registry's fields: money to the fen, dates, choices by value or label, cities by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.errors import ValidationError
from zhisuan.policy import fen_text
from zhisuan.registries.spec import MAX_FEN, parse_entry, parse_value, show_value
from zhisuan.registries.specs import SPECS

FUNDS, PARKS, SCENARIOS = SPECS["funds"], SPECS["parks"], SPECS["scenarios"]


@given(st.integers(min_value=0, max_value=MAX_FEN))
def test_money_round_trips_through_its_text_to_the_fen(fen: int) -> None:
    field = FUNDS.field("committed")
    assert parse_value(field, fen_text(fen)) == fen
    assert parse_value(field, show_value(field, fen)) == fen


@pytest.mark.parametrize("raw", [1.5, "1.001", "-1", True, "abc", {"a": 1}])
def test_money_refuses_floats_fractions_of_a_fen_and_nonsense(raw: object) -> None:
    with pytest.raises(ValidationError) as err:
        parse_value(FUNDS.field("committed"), raw)
    assert err.value.field == "committed"


def test_choices_and_cities_are_read_by_value_or_label() -> None:
    kind = SCENARIOS.field("kind")
    assert {parse_value(kind, v) for v in ("challenge", "揭榜挂帅", "open challenge")} == {"challenge"}
    city = SCENARIOS.field("city")
    assert {parse_value(city, v) for v in ("340200", "芜湖市", "芜湖", "Wuhu")} == {"340200"}
    with pytest.raises(ValidationError, match="one of"):
        parse_value(kind, "开放")


def test_an_entry_names_an_unknown_field_and_a_missing_required_one() -> None:
    with pytest.raises(ValidationError) as err:
        parse_entry(PARKS, {"title": "园区", "colour": "red"})
    assert err.value.field == "colour"
    with pytest.raises(ValidationError) as err:
        parse_entry(PARKS, {"title": "园区"})
    assert err.value.field == "city"


def test_a_change_keeps_the_fields_it_does_not_name() -> None:
    current = parse_entry(
        PARKS,
        {
            "title": "园区",
            "city": "340100",
            "ai_enterprises": "7",
            "total_enterprises": "10",
            "roster_on": "2025-06-30",
        },
    )
    changed = parse_entry(PARKS, {"sites_m2": "500"}, current=current)
    assert changed == current | {"sites_m2": 500}


def test_every_registry_has_a_title_labels_in_both_languages_and_unique_fields() -> None:
    for spec in SPECS.values():
        assert spec.fields[0].name == "title" and spec.fields[0].required
        assert len(set(spec.names())) == len(spec.fields)
        assert all(f.zh and f.en for f in spec.fields)
        assert len({f.zh for f in spec.fields}) == len(spec.fields)  # Chinese headers name one field each
