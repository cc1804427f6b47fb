"""Awards pages in a real browser: an applicant fills the form made from the facts (an inline error on a
bad value), the city recommends, the province approves, and the public notice shows the award."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import running_server
from zhisuan import accounts
from zhisuan.accounts.services import user_principal
from zhisuan.awards import calls, payments
from zhisuan.bootstrap import bootstrap
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import shanghai_date
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.settings import Settings

pytestmark = pytest.mark.browser

APPLICANT = make_credit_code("91341300MA2BW0001")
PASSWORD = "page-password-1"
ROOT = Principal(None, "fixture", Role.ADMIN)


def _prepare(data_dir: Path) -> None:
    """`zhisuan init`, then an applicant in 宿州, its city's reviewer, a province user and an open call of
    2.0 art. 1 (in force with no end date, so the call is open on the server's today)."""
    env = os.environ | {"ZHISUAN_DATA_DIR": str(data_dir), "ZHISUAN_ADMIN_PASSWORD": "admin-password"}
    env.pop("ZHISUAN_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "zhisuan", "init"], env=env, check=True, capture_output=True, timeout=120
    )
    settings = Settings(
        data_dir=data_dir, database_url=f"sqlite:///{data_dir}/zhisuan.db", secret_key="x", run_worker=False
    )
    platform = bootstrap(settings)
    now = platform.clock.now()
    with platform.uow() as uow:
        accounts.create_org(
            uow,
            ROOT,
            accounts.OrgInput(
                name="宿州页面智能科技", credit_code=APPLICANT, kind=OrgKind.ENTERPRISE, city_code="341300"
            ),
            now,
        )
        for username, role, org, city in (
            ("yun", Role.ORG_ADMIN, APPLICANT, None),
            ("sz-city", Role.CITY, None, "341300"),
            ("pia", Role.PROVINCE, None, None),
            ("fay", Role.FINANCE, None, None),
        ):
            accounts.add_user(
                uow, ROOT, username=username, password=PASSWORD, role=role, now=now, org=org, city_code=city
            )
        today = shanghai_date(now)
        calls.create_call(
            uow,
            user_principal(uow, "pia"),
            platform.packs.current(),
            platform.clock,
            program="anhui-2025/art1",
            title="重大场景供给页面测试批次",
            opens_on=today.replace(day=1).isoformat(),
            closes_on=today.replace(year=today.year + 1, day=1).isoformat(),
        )
        payments.fund_budget(
            uow,
            user_principal(uow, "fay"),
            platform.clock,
            program="anhui-2025/art1",
            year=today.year,
            amount="50000000",
            reference="PAGE-1",
        )
        uow.commit()
    platform.engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("awards-pages")
    _prepare(data_dir)
    with running_server(data_dir) as base:
        yield base


def _page(browser: Any, server: str, username: str | None) -> Any:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    if username:
        page.goto(f"{server}/login?next=/awards/calls")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server + "/awards/calls")
    return page


def test_apply_recommend_approve_and_the_public_notice(server: str, browser: Any) -> None:
    # the applicant opens the call from the list and fills the form generated from 2.0 art. 1's facts
    page = _page(browser, server, "yun")
    page.click("#calls a:has-text('重大场景供给页面测试批次')")
    assert page.locator("label[data-fact=city] input").input_value() == "341300"  # recorded, read-only
    assert page.locator("label[data-fact=city] input").is_disabled()
    page.fill("input[name=project_ref]", "SZ-SCENE-01")
    page.fill("input[name=project_name]", "宿州政务大模型场景揭榜")
    page.select_option("select[name=fact_kind]", "scenario_challenge")
    page.fill("input[name=fact_scenario_dev_input]", "两千万")
    page.select_option("select[name=fact_challenge_completed]", "true")
    page.click("#apply-submit")
    error = page.locator("#error-scenario_dev_input")
    assert error.is_visible() and error.inner_text()  # next to the field, with the engine's message
    assert page.locator("input[name=project_name]").input_value() == "宿州政务大模型场景揭榜"
    page.fill("input[name=fact_scenario_dev_input]", "20000000")
    page.click("#apply-submit")
    page.wait_for_url(f"{server}/awards/applications/*")
    url = page.url
    assert page.locator("#app-state").inner_text() == "市级审核"
    assert page.locator("#maximum").inner_text() == "¥4,000,000.00"
    page.context.close()
    # the city's reviewer finds it in the queue and recommends it
    page = _page(browser, server, "sz-city")
    page.goto(f"{server}/awards/applications?queue=1")
    page.click("#applications a:has-text('宿州政务大模型场景揭榜')")
    page.click("#approve")
    page.wait_for_load_state()
    assert page.locator("#app-state").inner_text() == "省级审核"
    page.context.close()
    # the province approves at most the maximum (offered by the form)
    page = _page(browser, server, "pia")
    page.goto(url)
    assert page.locator("input[name=amount]").input_value() == "4000000.00"
    page.fill("input[name=amount]", "3500000")
    page.click("#approve")
    page.wait_for_load_state()
    assert page.locator("#app-state").inner_text() == "公示中"
    page.context.close()
    # anyone finds it on the public notice through the navigation
    page = _page(browser, server, None)
    page.goto(server + "/")
    page.click("header nav details[data-group=Policy] > summary")  # the menu of policies, calls, notice …
    page.click("header nav a:has-text('公示')")
    page.wait_for_url(server + "/awards/notice")
    row = page.locator("#notice tr[data-state=notice]")
    assert row.count() == 1
    text = row.inner_text()
    assert "宿州政务大模型场景揭榜" in text and "¥3,500,000.00" in text
    assert row.locator("td[data-key=notice_ends]").inner_text().strip() not in {"", "—"}
    assert page.locator("#notice a:has-text('登录后提出异议')").count() == 1
    page.context.close()
