"""Pages in a real browser against a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser import running_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("pages")
    with running_server(data_dir, ["init"]) as base:
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def test_home_page_is_chinese_first_and_switches_to_english(server: str, page: Any) -> None:
    page.goto(server + "/")
    assert page.locator("h1").first.inner_text() == "省级智能算力统筹调度平台"
    assert page.locator("#cities li").count() == 16
    assert page.locator("#catalog tbody tr").count() > 30
    page.click("#lang-switch")
    page.wait_for_load_state()
    assert (
        page.locator("h1").first.inner_text() == "Provincial AI compute coordination and scheduling platform"
    )
    # the choice is remembered on the next page
    page.goto(server + "/login")
    assert page.locator("h1").inner_text() == "Log in"


def test_login_with_the_form_and_out_again(server: str, page: Any) -> None:
    page.goto(server + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator(".flash.error").inner_text()
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    assert "admin" in page.locator(".who .user").inner_text()
    page.click("text=退出")
    page.wait_for_url(server + "/")
    assert page.locator("#login-link").count() == 1


def test_static_assets_are_served_locally(server: str, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/")
    page.wait_for_load_state("networkidle")
    assert requests
    assert all(url.startswith(server) for url in requests), [u for u in requests if not u.startswith(server)]


def test_a_token_made_on_the_account_page_works_on_the_api_and_can_be_revoked(server: str, page: Any) -> None:
    page.goto(server + "/login?next=/account")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin-password")
    page.click("button[type=submit]")
    page.wait_for_url(server + "/account")
    page.fill("input[name=name]", "browser")
    page.click("text=创建令牌")
    token = page.locator("#new-token code").inner_text()
    assert token.startswith("zs_")
    me = httpx.get(server + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "admin"
    page.locator("#tokens form button").last.click()
    page.wait_for_url(server + "/account")
    assert httpx.get(server + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
