"""Scenario bulletins, pure: periods as half-open days, counts by each step's day, ranks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhisuan.core.errors import ValidationError
from zhisuan.registries.bulletins import period_days, tally

CITIES = ("340100", "340200", "341300")


def test_quarters_and_years_are_half_open_and_malformed_periods_are_refused() -> None:
    assert period_days("quarterly", "2025Q1") == (dt.date(2025, 1, 1), dt.date(2025, 4, 1))
    assert period_days("annual", "2025") == (dt.date(2025, 1, 1), dt.date(2026, 1, 1))
    for kind, period in (("quarterly", "2025Q5"), ("annual", "25"), ("monthly", "2025")):
        with pytest.raises(ValidationError):
            period_days(kind, period)


days = st.dates(min_value=dt.date(2024, 10, 1), max_value=dt.date(2025, 6, 30))


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, object]:
    opened = draw(days)
    steps = draw(st.integers(0, 2))
    out: dict[str, object] = {
        "city": draw(st.sampled_from(CITIES)),
        "department": draw(st.sampled_from("ABC")),
        "opened_on": opened.isoformat(),
    }
    if steps >= 1:
        out["matched_on"] = (opened + dt.timedelta(days=draw(st.integers(0, 60)))).isoformat()
    if steps == 2:
        out["completed_on"] = (opened + dt.timedelta(days=draw(st.integers(60, 120)))).isoformat()
    return out


@given(st.lists(scenario(), max_size=40), st.sampled_from(["2025Q1", "2025Q2", "2024Q4"]))
def test_the_quarters_figures_are_the_steps_inside_it_and_ranks_follow_them(
    rows: list[dict[str, object]], period: str
) -> None:
    start, end = period_days("quarterly", period)
    out = tally(rows, start, end)
    for step in ("opened", "matched", "completed"):
        inside = sum(
            1
            for r in rows
            if r.get(f"{step}_on") and start <= dt.date.fromisoformat(str(r[f"{step}_on"])) < end
        )
        assert out["totals"][step] == inside  # type: ignore[index]
        assert sum(c[step] for c in out["cities"]) == inside  # type: ignore[attr-defined, index]
        assert sum(d[step] for d in out["departments"]) == inside  # type: ignore[attr-defined, index]
    keyed = [(-c["completed"], -c["matched"], -c["opened"]) for c in out["cities"]]  # type: ignore[attr-defined, index]
    assert keyed == sorted(keyed)
    ranks = [c["rank"] for c in out["cities"]]  # type: ignore[attr-defined, index]
    assert all(
        ranks[i] == ranks[i - 1] if keyed[i] == keyed[i - 1] else ranks[i] == i + 1
        for i in range(1, len(ranks))
    )
