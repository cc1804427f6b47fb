"""The web product in a real browser, role by role, against a server the test starts: each role lands on
its own home; a user submits a job and sees it placed; a city official reviews an application; finance
settles a month and sees the voucher; lists sort and filter without a reload and export to Excel; the
language switches. Every page fails the test on a console error, a failed request or any request to
another host (the product works offline).

The data bureau searches the open-data catalog (a two-character word inside titles, the exact title
first) and exports it to Excel; the public sees the same catalog without logging in.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.e2e.browser import running_server
from zhisuan import accounts, metering
from zhisuan.accounts.services import user_principal
from zhisuan.awards import applications, calls
from zhisuan.bootstrap import bootstrap
from zhisuan.core.access import Principal, Role
from zhisuan.core.catalog import capacity_p
from zhisuan.core.clock import Month, shanghai_date
from zhisuan.core.credit_code import make_credit_code
from zhisuan.ledger import services as ledger
from zhisuan.ledger.model import budget_posting
from zhisuan.opendata import catalog as opendata_catalog
from zhisuan.settings import Settings

pytestmark = pytest.mark.browser

USER_ORG = make_credit_code("91340100MA2WP0001")
OPERATOR = make_credit_code("91340100MA2WP0002")
PASSWORD = "product-password-1"
ROOT = Principal(None, "fixture", Role.ADMIN)
JUNE = Month(2025, 6)
#: role → login, for every role of core.access.Role
LOGINS = {
    Role.USER: "wen",
    Role.ORG_ADMIN: "wang",
    Role.OPERATOR: "olu",
    Role.CITY: "hefei-rev",
    Role.PROVINCE: "pro",
    Role.FINANCE: "fin",
    Role.DATA_BUREAU: "dab",
    Role.ADMIN: "adm",
}


#: the open-data catalog the search walk finds its way through (all published by 合肥)
CATALOG = (
    ("合肥市公交客流统计", "各线路每日客流，按月汇总。"),
    ("合肥市公交", "全市公交线路与站点。"),
    ("合肥市地铁运营数据", "轨道交通各站进出站人次。"),
)


def _cli(data_dir: Path, *args: str) -> None:
    env = os.environ | {"ZHISUAN_DATA_DIR": str(data_dir), "ZHISUAN_ADMIN_PASSWORD": "admin-password"}
    env.pop("ZHISUAN_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "zhisuan", *args], env=env, check=True, capture_output=True, timeout=120
    )


def _prepare(data_dir: Path) -> None:
    """A compute user in 合肥 and an operator with one Ascend pool; a person for every role; June 2025's
    usage billed and paid (art. 2's budget funded) but not settled; an application waiting for the city."""
    _cli(data_dir, "init")
    _cli(data_dir, "org", "add", "--name", "星河页面科技", "--code", USER_ORG, "--kind", "enterprise",
         "--city", "340100")  # fmt: skip
    _cli(data_dir, "org", "add", "--name", "巢湖页面算力", "--code", OPERATOR, "--kind", "center_operator",
         "--city", "340100")  # fmt: skip
    _cli(data_dir, "center", "add", "--key", "hf-wp", "--name", "巢湖页面智算中心", "--operator", OPERATOR,
         "--city", "340100")  # fmt: skip
    _cli(data_dir, "pool", "add", "hf-wp", "--key", "hf-wp-910b", "--accelerator", "ascend-910b",
         "--nodes", "4", "--price", "12.00")  # fmt: skip
    settings = Settings(
        data_dir=data_dir, database_url=f"sqlite:///{data_dir}/zhisuan.db", secret_key="x", run_worker=False
    )
    platform = bootstrap(settings)
    clock = platform.clock
    with platform.uow() as uow:
        for role, login in LOGINS.items():
            org = (
                USER_ORG
                if role in (Role.USER, Role.ORG_ADMIN)
                else OPERATOR
                if role is Role.OPERATOR
                else None
            )
            city = "340100" if role is Role.CITY else None
            accounts.add_user(uow, ROOT, username=login, password=PASSWORD, role=role, now=clock.now(),
                              org=org, city_code=city)  # fmt: skip
        ledger.post(
            uow.session, [budget_posting("art2", 2025, 1_000_000_00, dt.date(2025, 1, 2), "WP-1")], clock
        )
        today = shanghai_date(clock.now())
        call = calls.create_call(
            uow, user_principal(uow, "pro"), platform.packs.current(), clock, program="anhui-2025/art1",
            title="页面巡检场景批次", opens_on=today.replace(day=1).isoformat(),
            closes_on=today.replace(year=today.year + 1, day=1).isoformat(),
        )  # fmt: skip
        applicant = user_principal(uow, "wang")
        app = applications.create_application(
            uow, applicant, platform.packs.current(), clock, int(str(call["id"])),
            {"project_ref": "WP-SCENE-1", "project_name": "合肥政务大模型场景", "facts": {
                "kind": "scenario_challenge", "scenario_dev_input": "20000000", "challenge_completed": True}},
        )  # fmt: skip
        applications.submit(uow, applicant, platform.packs.current(), clock, int(str(app["id"])))
        hefei = user_principal(uow, "hefei-rev")
        for title, description in CATALOG:
            opendata_catalog.create_dataset(uow, hefei, clock, {
                "title": title, "description": description, "themes": ["transport"],
                "openness": "unconditional", "formats": ["CSV"], "update_frequency": "monthly",
                "contact_name": "王工", "contact_email": "data@hefei.gov.cn"}, publish=True)  # fmt: skip
        uow.commit()
    usage = data_dir / "june.jsonl"
    usage.write_text(
        '{"engine": "sim", "engine_job_id": "wp-1", "org_id": 1, "center_id": 1, "pool_id": 1, '
        '"accelerator": "ascend-910b", "cards": 8, "start": "2025-06-10T08:00:00+08:00", '
        '"end": "2025-06-10T18:00:00+08:00"}\n',
        encoding="utf-8",
    )
    with platform.uow() as uow:
        metering.import_usage(uow, usage, platform.packs.current())
        uow.commit()
    with platform.uow() as uow:
        metering.draft_bills(uow, JUNE, clock)
        metering.issue_bills(uow, clock, month=JUNE)
        metering.pay_all(uow, JUNE, "WP-BANK-1", dt.date(2025, 7, 3), clock)
        uow.commit()
    platform.engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("product-pages")
    _prepare(data_dir)
    with running_server(data_dir) as base:
        yield base


class Watched:
    """A browser page whose console errors, failed requests and off-machine requests are collected.

    A form the server refuses answers 422 on purpose (its page shows the message next to the field): a
    test names the paths where it expects one (:meth:`expect_refusal`), and the browser's console line
    about that answer is then not a problem either. A download, or a favicon the next page load
    overtakes, ends as ERR_ABORTED in Chromium without anything having failed."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.problems: list[str] = []
        self.refusals: set[str] = set()
        self.refused = 0
        self.host = urlparse(base).hostname
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("request", self._request)
        page.on("response", self._response)

    def expect_refusal(self, path: str) -> None:
        self.refusals.add(path)

    def _request(self, r: Any) -> None:
        if r.url.startswith(("data:", "blob:")):
            return
        if urlparse(r.url).hostname != self.host:
            self.problems.append(f"off-machine request: {r.url}")

    def _response(self, r: Any) -> None:
        if r.status == 422 and urlparse(r.url).path in self.refusals:
            self.refused += 1
        elif r.status >= 400:
            self.problems.append(f"HTTP {r.status}: {r.url}")

    def _console(self, m: Any) -> None:
        if m.type != "error":
            return
        if self.refused and "status of 422" in m.text:
            self.refused -= 1
            return
        self.problems.append(f"console: {m.text}")

    def _failed(self, r: Any) -> None:
        aborted = r.failure == "net::ERR_ABORTED"
        if aborted and (r.url.endswith("/favicon.svg") or ".xlsx" in r.url or "export=xlsx" in r.url):
            return
        self.problems.append(f"failed: {r.url} {r.failure}")


@pytest.fixture
def open_as(browser: Any, server: str) -> Iterator[Any]:
    """open_as(role) → a logged-in page on the role's home; problems are checked when the test ends."""
    opened: list[Watched] = []

    def open_page(role: Role | None, refusals: tuple[str, ...] = ()) -> Any:
        context = browser.new_context(
            locale="zh-CN", viewport={"width": 1440, "height": 900}, accept_downloads=True
        )
        watched = Watched(context.new_page(), server)
        for path in refusals:
            watched.expect_refusal(path)
        opened.append(watched)
        page = watched.page
        if role is None:
            page.goto(server + "/")
            return page
        page.goto(f"{server}/login")
        page.fill("input[name=username]", LOGINS[role])
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(server + "/")
        return page

    yield open_page
    for watched in opened:
        watched.page.wait_for_load_state("networkidle")
        assert watched.problems == [], watched.problems
        watched.page.context.close()


#: a tile each role's home must show (the figure's link)
HOME_TILES = {
    Role.USER: ("tile-jobs-waiting", "/jobs?f_state=queued"),
    Role.ORG_ADMIN: ("tile-my-applications", "/awards/applications"),
    Role.OPERATOR: ("tile-centers", "/centers"),
    Role.CITY: ("tile-city-reviews", "/awards/applications?state=city_review"),
    Role.PROVINCE: ("tile-province-reviews", "/awards/applications?state=province_review"),
    Role.FINANCE: ("tile-to-pay", "/awards/payments"),
    Role.DATA_BUREAU: ("tile-platform-jobs", "/jobs/held"),
    Role.ADMIN: ("tile-audit", "/audit"),
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_lands_on_its_own_home(open_as: Any, role: Role) -> None:
    page = open_as(role)
    tile_id, href = HOME_TILES[role]
    tile = page.locator(f"#{tile_id}")
    assert tile.get_attribute("href") == href
    assert page.locator("#my-work h1").inner_text().startswith("我的工作")
    others = {t for r, (t, _h) in HOME_TILES.items() if r is not role and t != tile_id}
    assert not any(page.locator(f"#{t}").count() for t in others if t not in _shared_tiles(role))
    tile.click()  # the figure leads to its list, and that page works
    page.wait_for_load_state()
    assert page.url.endswith(href)


def _shared_tiles(role: Role) -> set[str]:
    """Tiles two roles share (the work is theirs both)."""
    from zhisuan.web.homes import TILES

    return {f"tile-{t.key}" for t in TILES if role in t.roles}


def test_a_user_submits_a_job_and_sees_it_placed(open_as: Any, server: str) -> None:
    page = open_as(Role.USER, refusals=("/jobs",))
    page.goto(server + "/jobs")
    form = page.locator("#submit-form")
    form.locator("input[name=name]").fill("product-walk")
    form.locator("input[name=command]").fill("python train.py")
    form.locator("input[name=cards]").fill("64")  # more than any pool has: refused next to the field
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("input[name=cards][aria-invalid=true]").count() == 1
    assert page.locator("#err-cards").inner_text()
    page.locator("#submit-form input[name=cards]").fill("8")
    page.locator("#submit-form button[type=submit]").click()
    page.wait_for_url("**/jobs/*?submitted=1")
    for _ in range(60):  # the server's dispatcher places it within a few of its 2-second steps
        state = page.locator("#job-state").inner_text()
        if state in {"已分配", "运行中", "已完成"}:
            break
        page.wait_for_timeout(500)
        page.reload()
    assert state in {"已分配", "运行中", "已完成"}, state
    assert "hf-wp-910b" in page.locator("body").inner_text()


def test_a_city_official_reviews_an_application(open_as: Any, server: str) -> None:
    page = open_as(Role.CITY)
    page.click("#tile-city-reviews")
    page.click("#applications a:has-text('合肥政务大模型场景')")
    assert page.locator("#app-state").inner_text() == "市级审核"
    page.click("#approve")
    page.wait_for_load_state()
    assert page.locator("#app-state").inner_text() == "省级审核"


def test_finance_settles_a_month_and_the_user_sees_the_voucher(open_as: Any, server: str) -> None:
    page = open_as(Role.FINANCE, refusals=("/billing/vouchers/settle",))
    page.goto(server + "/billing/vouchers")
    page.fill("#settle-month", "2025-13")  # looks like a month (the field's pattern), is none
    page.click("#settle-form button[type=submit]")
    page.wait_for_selector("#settle-month[aria-invalid=true]")  # inline, next to the field
    assert "2025-13" in page.locator("#err-month").inner_text()
    page.fill("#settle-month", "2025-06")
    page.click("#settle-form button[type=submit]")
    page.wait_for_url("**/billing/vouchers?*")
    assert "2025-06" in page.locator("#settled").inner_text()
    row = page.locator("#vouchers tbody tr").first
    assert "星河页面科技" in row.inner_text() and "合肥市" in row.inner_text()
    # 8 cards × 10 h × ¥12 = ¥960; art. 2 gives 20 %
    assert row.locator("td[data-key=amount]").inner_text() == "¥192.00"
    user = open_as(Role.USER)
    user.click("#tile-my-vouchers")
    assert user.locator("#vouchers tbody tr td[data-key=amount]").first.inner_text() == "¥192.00"
    user.goto(server + "/billing")
    user.click("#bills tbody tr td a")
    steps = user.locator("main details").first
    steps.locator("summary").click()
    text = steps.inner_text()
    assert "按费用比例补贴" in text and "费用 960.00 × 20% = 192.00" in text  # the steps read in Chinese


def test_lists_sort_filter_and_page_without_a_reload_and_export_to_excel(open_as: Any, server: str) -> None:
    from openpyxl import load_workbook

    page = open_as(Role.ADMIN)
    page.goto(server + "/audit")
    page.evaluate("window.__kept = true")  # gone if the page reloads
    rows_before = int(page.locator("#list-audit-events .total").inner_text())
    page.click("#audit-events th a[data-sort=actor]")
    page.wait_for_selector("#audit-events th[aria-sort=ascending] a[data-sort=actor]")
    assert page.evaluate("window.__kept") is True and "sort=actor" in page.url  # HTMX swapped the list
    page.select_option("#audit-events-f-actor", "fin")
    page.wait_for_url("**f_actor=fin**")
    page.wait_for_selector("#audit-events-f-actor option[value=fin][selected]", state="attached")
    assert int(page.locator("#list-audit-events .total").inner_text()) < rows_before
    assert page.evaluate("window.__kept") is True
    actors = page.locator("#audit-events td[data-key=actor]").all_inner_texts()
    assert actors and set(actors) == {"fin"}
    with page.expect_download() as info:
        page.click("#audit-events-export")
    book = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    sheet = book.active
    assert [c.value for c in sheet[1]] == ["#", "时间", "操作人", "操作", "对象", "详情"]
    assert {sheet.cell(r, 3).value for r in range(2, sheet.max_row + 1)} == {"fin"}
    # a bill exports with Chinese headers and names, not ids
    page.goto(server + "/billing/bills/1")
    with page.expect_download() as info:
        page.click("#bill-export")
    bill = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert (bill.cell(2, 1).value, bill.cell(2, 2).value) == ("单位", "星河页面科技")


def test_the_province_dashboard_draws_the_map_of_anhui(open_as: Any, server: str) -> None:
    page = open_as(Role.PROVINCE)
    page.click("header nav a[href='/dashboard']")
    page.wait_for_selector("#chart-map canvas")
    assert page.locator("#city-figures tbody tr").count() == 16
    first = page.locator("#city-figures tbody tr").first.inner_text()
    assert first.startswith("合肥市") and str(capacity_p([("ascend-910b", 32)])) in first
    page.select_option("#map-measure", "utilisation")
    page.keyboard.press("Tab")  # the controls are reachable from the keyboard


def test_the_province_navigation_is_one_line_of_menus_a_keyboard_opens(open_as: Any, server: str) -> None:
    page = open_as(Role.PROVINCE)
    tops = page.eval_on_selector_all(
        "header nav.main-nav > *", "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    assert len(tops) >= 5 and len(set(tops)) == 1  # one line at 1440 px
    assert page.locator("header nav details[data-group=Funds] a[href='/awards/budgets']").is_hidden()
    page.focus("header nav details[data-group=Funds] > summary")
    page.keyboard.press("Enter")  # the summary opens its menu from the keyboard
    budgets = page.locator("header nav details[data-group=Funds] a[href='/awards/budgets']")
    assert budgets.is_visible() and budgets.inner_text() == "预算"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('details')?.dataset.group") == "Funds"
    budgets.click()
    page.wait_for_url(server + "/awards/budgets")
    assert page.locator("header nav details[data-group=Funds]").get_attribute("class") == "menu active"


def test_switching_language_gives_english_pages(open_as: Any, server: str) -> None:
    page = open_as(Role.FINANCE)
    page.click("#lang-switch")
    page.wait_for_load_state()
    assert page.locator("#my-work h1").inner_text().startswith("My work")
    page.goto(server + "/billing/vouchers")
    assert page.locator("h1").inner_text() == "Compute vouchers"
    assert page.locator("#vouchers thead").inner_text().count("Organization") == 1
    page.goto(server + "/?lang=zh")
    assert page.locator("#my-work h1").inner_text().startswith("我的工作")


def test_public_pages_show_centers_prices_and_policies_in_force(open_as: Any, server: str) -> None:
    page = open_as(None)
    page.click("header nav a[href='/centers']")
    page.wait_for_load_state()
    assert "合肥市" in page.locator("#centers tr.center-row").first.inner_text()
    assert "12.00" in page.locator("#centers tr.pool-row").first.inner_text()
    page.goto(server + "/policy")
    assert page.locator("#in-force-today").count() == 1
    assert "《" in page.locator(".pack-title").first.inner_text()  # the official title, not a file name
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"  # keyboard users skip the header


def test_the_data_bureau_searches_the_catalog_and_exports_it(open_as: Any, server: str) -> None:
    from openpyxl import load_workbook

    page = open_as(Role.DATA_BUREAU)
    page.click("#tile-catalog")
    page.wait_for_url(server + "/opendata")
    page.fill("input[name=q]", "公交")  # a two-character word inside two titles
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**q=**")
    titles = page.locator("#datasets tbody td a").all_inner_texts()
    assert sorted(titles) == sorted(["合肥市公交客流统计", "合肥市公交"])
    with page.expect_download() as info:  # this search's result, every page of it, as Excel
        page.click("#search-export")
    found = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert sorted(str(r[1]) for r in found.iter_rows(min_row=2, values_only=True)) == sorted(titles)
    page.fill("input[name=q]", "合肥市公交")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#datasets tbody td a").first.inner_text() == "合肥市公交"  # exact title first
    page.locator("#datasets tbody td a").first.click()
    page.wait_for_url("**/opendata/datasets/**")
    assert page.locator("h1").first.inner_text().startswith("合肥市公交")
    page.goto(server + "/opendata")
    with page.expect_download() as info:
        page.click("a[href='/api/v1/opendata/catalog.xlsx']")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    cells = {str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None}
    assert {"合肥市公交客流统计", "合肥市公交", "合肥市地铁运营数据"} <= cells
    assert [c.value for c in sheet[1]][:2] == ["标识符", "数据集名称"]  # Chinese headers


def test_the_public_finds_a_dataset_without_logging_in(open_as: Any, server: str) -> None:
    page = open_as(None)
    page.goto(server + "/opendata?q=" + "地铁")
    assert page.locator("#datasets tbody td a").all_inner_texts() == ["合肥市地铁运营数据"]
