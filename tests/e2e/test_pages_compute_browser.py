"""Compute pages in a real browser: the center list, submitting a job with the form, its events, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import running_server
from zhisuan.core.credit_code import make_credit_code

pytestmark = pytest.mark.browser

OPERATOR = make_credit_code("91340100MA2PG0001")
USER = make_credit_code("91340100MA2PG0002")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("compute-pages")
    setup = [
        ["init"],
        ["org", "add", "--name", "己算力运营", "--code", OPERATOR, "--kind", "center_operator",
         "--city", "340100"],
        ["org", "add", "--name", "庚智能科技", "--code", USER, "--kind", "enterprise", "--city", "340100"],
        ["center", "add", "--key", "hf-page", "--name", "合肥页面中心", "--operator", OPERATOR,
         "--city", "340100"],
        ["pool", "add", "hf-page", "--key", "hf-page-a100", "--accelerator", "a100-sxm4-80gb", "--nodes", "2",
         "--price", "18.00"],
        ["user", "add", "gina", "--role", "user", "--org", USER, "--password", "gina-password-1"],
    ]  # fmt: skip
    with running_server(data_dir, *setup) as base:
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def login_as_gina(page: Any, server: str, then: str) -> None:
    page.goto(f"{server}/login?next={then}")
    page.fill("input[name=username]", "gina")
    page.fill("input[name=password]", "gina-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(server + then)


def test_center_list_shows_capacity_and_pools_to_anyone(server: str, page: Any) -> None:
    page.goto(server + "/centers")
    assert page.locator("#capacity-p").inner_text() == "4.992"
    assert page.locator("#centers tr.pool-row").count() == 1
    assert "hf-page-a100" in page.locator("#centers").inner_text()


def test_submit_a_job_with_the_form_see_its_events_and_cancel_it(server: str, page: Any) -> None:
    login_as_gina(page, server, "/jobs")
    form = page.locator("#submit-form")
    form.locator("input[name=name]").fill("browser-job")
    form.locator("input[name=command]").fill("python train.py")
    form.locator("input[name=cards]").fill("64")
    form.locator("input[name=runtime]").fill("90m")
    form.locator("button[type=submit]").click()
    assert "64" in page.locator("#submit-error").inner_text()  # no pool has 64 cards at once
    form = page.locator("#submit-form")
    form.locator("input[name=cards]").fill("8")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/jobs/*?submitted=1")
    assert "browser-job" in page.locator("h1").inner_text()
    assert page.locator("#events tbody tr").count() >= 1
    page.locator("#cancel-form button").click()
    page.wait_for_load_state()
    assert page.locator("#job-state").inner_text() == "已取消"
    assert page.locator("#events tbody tr").last.inner_text().count("已取消") == 1


def test_home_dashboard_draws_capacity_by_city(server: str, page: Any) -> None:
    page.goto(server + "/")
    assert page.locator("#dash-p").inner_text() == "4.992"
    assert page.locator("#dash-cards").inner_text() == "16"
    page.wait_for_selector("#chart-cities canvas")  # ECharts (vendored) drew the chart
    assert page.locator("#money-login").count() == 1  # no money figures for an anonymous visitor


def test_engine_page_is_for_staff_and_operators(server: str, page: Any) -> None:
    login_as_gina(page, server, "/operations")
    assert "hf-page" not in page.locator("#engines").inner_text()  # a compute user watches no engine
