"""The small lists on detail pages (issue 17): an account's tokens and its organization's members, a
job's events and a bill's lines sort, filter, page and export to Excel with Chinese headers, like every
list."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import ROOT, World
from tests.e2e.lists import cells, check_list, sheet
from tests.e2e.test_api_compute import _center, _job, _login
from tests.e2e.test_api_metering import _bill_world
from zhisuan import accounts


def test_an_accounts_tokens_and_members_are_lists(world: World) -> None:
    with world.platform.uow() as uow:
        for name in ("ci", "nightly"):
            accounts.create_token(uow, ROOT, "root", name, world.platform.clock.now())
        uow.commit()
    c = world.client
    _login(c, "root")
    rows = check_list(c, "/account", "tokens", "name", ["名称", "前缀", "创建时间", "最近使用", "状态"])
    assert sorted(r[0] for r in rows[1:]) == ["ci", "nightly", "test"] and {r[4] for r in rows[1:]} == {
        "有效"
    }
    page = c.get("/account").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    first = page.split('data-token="')[1].split('"')[0]
    c.post(f"/account/tokens/{first}/revoke", data={"csrf_token": token})
    assert cells(c.get("/account", params={"f_state": "revoked"}).text, "tokens", "state") == ["已吊销"]

    rows = check_list(c, "/account", "members", "username", ["用户名", "名称", "角色", "启用"])
    assert sorted(r[0] for r in rows[1:]) == ["alice", "bob", "olga", "root"]
    admins = c.get("/account", params={"f_role": "admin"}).text
    assert cells(admins, "members", "username") == ["root"] and cells(admins, "members", "role") == ["管理员"]


def test_a_jobs_events_are_a_list(world: World) -> None:
    _center(world)
    c = world.client
    made = c.post("/api/v1/jobs", json=_job(), headers=world.auth("alice")).json()
    c.post("/api/v1/schedule", json={}, headers=world.auth("root"))
    c.post(f"/api/v1/jobs/{made['id']}/cancel", headers=world.auth("alice"))
    _login(c, "alice")
    url = f"/jobs/{made['id']}"
    rows = check_list(c, url, "events", "n", ["#", "时间（北京时间）", "原状态", "新状态", "资源池"])
    assert rows[-1][3] == "已取消" and not rows[1][2]  # in order; the first event comes from nowhere
    cancelled = c.get(url, params={"f_to_state": "cancelled"}).text
    assert cells(cancelled, "events", "to_state") == ["已取消"]


def test_a_bills_lines_are_a_list(world: World, tmp_path: Path) -> None:
    _bill_world(world, tmp_path)
    c = world.client
    [bill] = c.get("/api/v1/bills", headers=world.auth("alice")).json()
    _login(c, "alice")
    url = f"/billing/bills/{bill['id']}"
    rows = check_list(
        c, url, "bill-lines", "amount", ["#", "使用月份", "资源池", "加速卡", "卡时"], at_least=1
    )
    assert rows[1][2] == "p70" and rows[1][7] == 600  # the pool's key, not its id; the amount a number
    assert cells(c.get(url).text, "bill-lines", "amount") == ["¥600.00"]
    assert cells(c.get(url, params={"f_pool": "nowhere"}).text, "bill-lines", "id") == []
    assert sheet(c, url)[0][-2:] == ["增值税", "类型"]
