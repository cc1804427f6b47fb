"""The top bar groups an area's links into one menu, so a role with many pages gets one line of navigation."""

from __future__ import annotations

import pytest

from zhisuan.web.templating import NavItem, is_current, nav_entries


def test_an_area_with_two_links_is_one_menu_where_its_first_link_was() -> None:
    items = [
        NavItem("/", "Home", order=0),
        NavItem("/centers", "Computing centers", order=10, group="Compute"),
        NavItem("/billing", "Bills and vouchers", order=30, group="Funds"),
        NavItem("/jobs", "Jobs", order=20, group="Compute"),
        NavItem("/account", "My account", order=90),
    ]
    bar = nav_entries(items)
    assert [(e.label, [i.path for i in e.items]) for e in bar] == [
        ("Home", ["/"]),
        ("Compute", ["/centers", "/jobs"]),
        ("Bills and vouchers", ["/billing"]),  # an area with one link keeps the link on the bar
        ("My account", ["/account"]),
    ]
    assert [e.menu for e in bar] == [False, True, False, False]
    assert bar[1].active("/jobs/42") and not bar[1].active("/billing")


def test_the_home_link_is_current_only_on_the_home_page() -> None:
    home, jobs = NavItem("/", "Home"), NavItem("/jobs", "Jobs")
    assert is_current(home, "/") and not is_current(home, "/jobs")
    assert is_current(jobs, "/jobs/7") and not is_current(jobs, "/jobsheet")


def test_a_link_in_an_unknown_area_is_refused() -> None:
    with pytest.raises(ValueError, match="group"):
        NavItem("/x", "X", group="Elsewhere")
