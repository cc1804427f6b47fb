"""Open-data pages: the public catalog with facets, a dataset and its JSON-LD, a bulletin with its chart,
management by a city and the data bureau (a draft is not found by others), Chinese first."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from tests.e2e.lists import cells, check_list, sheet
from tests.factories.opendata import fields
from zhisuan import accounts, audit
from zhisuan.bootstrap import Platform
from zhisuan.core import security
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.opendata import bulletins, catalog, sharing

ROOT = Principal(None, "fixture", Role.ADMIN)
PASSWORD = "password-1"


def _token(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _login(client: TestClient, username: str) -> str:
    client.cookies.clear()
    token = _token(client.get("/login").text)
    r = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return _token(client.get("/opendata/manage").text)


@pytest.fixture
def people(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    with platform.uow() as uow:
        now = platform.clock.now()
        accounts.add_user(
            uow, ROOT, username="hf", password=PASSWORD, role=Role.CITY, city_code="340100", now=now
        )
        accounts.add_user(
            uow, ROOT, username="wh", password=PASSWORD, role=Role.CITY, city_code="340200", now=now
        )
        accounts.add_user(uow, ROOT, username="bureau", password=PASSWORD, role=Role.DATA_BUREAU, now=now)
        uow.commit()


def test_public_catalog_dataset_and_bulletin_pages(
    platform: Platform, client: TestClient, clock: ManualClock, people: None
) -> None:
    hf = Principal(None, "hf", Role.CITY, city_code="340100")
    with platform.uow() as uow:
        d = catalog.create_dataset(uow, hf, clock, fields(), publish=True)
        draft = catalog.create_dataset(uow, hf, clock, fields(title="合肥市草稿数据"))
        bulletins.generate(uow, Principal(None, "b", Role.DATA_BUREAU), clock, "2025Q2")
        bulletins.publish(uow, Principal(None, "b", Role.DATA_BUREAU), clock, "2025Q2")
        uow.commit()
    page = client.get("/opendata", params={"q": "线路"})
    assert (
        page.status_code == 200 and "公共数据开放清单" in page.text and "合肥市公共交通线路数据" in page.text
    )
    assert 'id="facet-publisher"' in page.text and "无条件开放" in page.text
    one = client.get(f"/opendata/datasets/{d['identifier']}")
    assert one.status_code == 200 and "获取方式" in one.text
    ld = client.get(f"/opendata/datasets/{d['identifier']}", headers={"Accept": "application/ld+json"})
    assert ld.json()["@type"] == "dcat:Dataset"
    assert client.get(f"/opendata/datasets/{draft['identifier']}").status_code == 404
    b = client.get("/opendata/bulletins/2025Q2")
    assert b.status_code == 200 and "echarts.min.js" in b.text and 'id="ranking"' in b.text
    assert "· 已发布</small>" in b.text  # a state (已发布), not the verb 发布 a policy's date reads with
    listed = client.get("/opendata/bulletins", params={"f_state": "published"}).text
    assert 'data-period="2025Q2"' in listed and 'href="/opendata/bulletins/2025Q2"' in listed
    assert 'data-period="2025Q2"' not in client.get("/opendata/bulletins", params={"f_state": "draft"}).text
    from io import BytesIO

    from openpyxl import load_workbook

    got = client.get("/opendata/bulletins", params={"export": "xlsx"})
    sheet = list(load_workbook(BytesIO(got.content)).active.iter_rows(values_only=True))
    assert sheet[0][:3] == ("季度", "状态", "开放数据集") and sheet[1][:2] == ("2025Q2", "已发布")
    assert "Open data catalog" in client.get("/opendata?lang=en").text  # the English switch
    # another city does not see Hefei's draft; Hefei manages it and publishes it from its page
    _login(client, "wh")
    assert client.get(f"/opendata/datasets/{draft['identifier']}").status_code == 404
    token = _login(client, "hf")
    manage = client.get("/opendata/manage")
    assert "合肥市草稿数据" in manage.text
    # the managed entries: a list that sorts, filters by state and exports with Chinese headers
    by_title = client.get("/opendata/manage", params={"sort": "title", "desc": "1"}).text
    assert by_title.index("合肥市草稿数据") < by_title.index("合肥市公共交通线路数据")  # 草 after 公
    drafts = client.get("/opendata/manage", params={"f_dataset_state": "draft"}).text
    assert "合肥市草稿数据" in drafts and "合肥市公共交通线路数据" not in drafts.split('id="managed"')[1]
    got = client.get("/opendata/manage", params={"export": "xlsx", "list": "managed", "sort": "title"})
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = list(load_workbook(BytesIO(got.content)).active.iter_rows(values_only=True))
    assert sheet[0] == ("数据集", "发布单位", "开放属性", "状态", "版本号") and len(sheet) == 3
    assert {r[3] for r in sheet[1:]} == {"草稿", "已发布"} and "无条件开放" in {r[2] for r in sheet[1:]}
    r = client.post(
        f"/opendata/manage/datasets/{draft['identifier']}/state",
        data={"state": "published", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/opendata", params={"q": "草稿"}).text.count("合肥市草稿数据") == 1
    bad = client.post(
        "/opendata/manage/datasets",
        data={
            "title": "新数据",
            "description": "说明",
            "openness": "unconditional",
            "update_frequency": "monthly",
            "contact_name": "王",
            "contact_email": "a@b.cn",
            "themes": "transport",
            "csrf_token": token,
        },
    )
    assert (
        (bad.status_code == 422 and "formats" not in bad.text) or "给出" in bad.text or bad.status_code == 422
    )
    token = _login(client, "bureau")
    manage = client.get("/opendata/manage").text
    assert "生成" in manage and "登记数据集" in manage  # the bureau registers for any publisher


def _edit_data(page: str, **over: object) -> dict[str, object]:
    """The edit form as the page fills it (its current values), with some fields changed."""
    form = page.split('id="edit-form"')[1].split("</form>")[0]
    data: dict[str, object] = dict(re.findall(r'<input id="edit-\w+" name="(\w+)" value="([^"]*)"', form))
    data["description"] = form.split('name="description"')[1].split(">", 1)[1].split("</textarea>")[0]
    for name in ("openness", "update_frequency"):
        select = form.split(f'name="{name}"')[1].split("</select>")[0]
        data[name] = re.search(r'<option value="(\w+)" selected', select).group(1)  # type: ignore[union-attr]
    for name in ("themes", "formats"):
        data[name] = re.findall(rf'name="{name}" value="([^"]+)" checked', form)
    return data | {"csrf_token": _token(page)} | over


def test_a_catalog_search_exports_its_result_to_excel_with_chinese_headers(
    platform: Platform, client: TestClient, clock: ManualClock, people: None
) -> None:
    hf = Principal(None, "hf", Role.CITY, city_code="340100")
    with platform.uow() as uow:
        catalog.create_dataset(uow, hf, clock, fields(), publish=True)
        air = fields(
            title="合肥市空气质量监测数据", description="各监测站逐小时空气质量。", keywords=["空气"]
        )
        catalog.create_dataset(
            uow, hf, clock, air | {"openness": "conditional", "conditions": "仅限科研"}, publish=True
        )
        uow.commit()
    page = client.get("/opendata", params={"q": "线路", "lang": "zh"}).text
    assert 'id="search-export"' in page and "export=xlsx" in page and "本次检索结果" in page
    every = sheet(client, "/opendata")
    assert every[0][:4] == ["标识符", "数据集名称", "摘要", "发布单位"] and len(every) == 3
    found = sheet(client, "/opendata", {"q": "线路"})
    assert [r[1] for r in found[1:]] == ["合肥市公共交通线路数据"] and found[1][5] == "无条件开放"
    narrowed = sheet(client, "/opendata", {"openness": "conditional"})  # a facet narrows the file too
    assert [r[1] for r in narrowed[1:]] == ["合肥市空气质量监测数据"] and narrowed[1][5:7] == [
        "有条件开放",
        "仅限科研",
    ]
    refused = client.get("/opendata", params={"openness": "nonsense", "export": "xlsx"})
    assert 400 <= refused.status_code < 500 and refused.content[:2] != b"PK"


def test_the_publisher_edits_an_entry_on_its_page_with_inline_messages_and_an_audit(
    platform: Platform, client: TestClient, clock: ManualClock, people: None
) -> None:
    hf = Principal(None, "hf", Role.CITY, city_code="340100")
    with platform.uow() as uow:
        d = catalog.create_dataset(uow, hf, clock, fields(), publish=True)
        uow.commit()
    url = f"/opendata/datasets/{d['identifier']}"
    assert 'id="edit-form"' not in client.get(url).text  # the public reads, does not edit
    _login(client, "wh")  # another city: neither the form nor the change
    assert 'id="edit-form"' not in client.get(url).text
    refused = client.post(
        f"{url}/edit", data={"title": "别人改的", "csrf_token": _token(client.get(url).text)}
    )
    assert refused.status_code in (403, 404)
    _login(client, "hf")
    page = client.get(url).text
    assert 'id="edit-form"' in page and 'value="合肥市公共交通线路数据"' in page
    # a refused field: marked where it stands, nothing saved
    bad = client.post(f"{url}/edit", data=_edit_data(page, contact_email="不是邮箱"))
    assert bad.status_code == 422
    assert 'aria-invalid="true" aria-describedby="err-contact_email"' in bad.text
    assert 'id="err-contact_email" role="alert"' in bad.text and 'value="不是邮箱"' in bad.text
    # conditional now: saved as a new version, the change of access audited as the API's PATCH is
    ok = client.post(
        f"{url}/edit",
        data=_edit_data(page, title="合肥市公交线路与站点", openness="conditional", conditions="仅限科研"),
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"].endswith("?saved=1")
    shown = client.get(ok.headers["location"]).text
    assert 'id="saved"' in shown and "合肥市公交线路与站点" in shown and "仅限科研" in shown
    with platform.uow(read_only=True) as uow:
        now = catalog.get_dataset(uow, hf, d["identifier"])
        assert now["version"] == 2 and now["keywords"] == ["公交", "线路"] and now["records"] == 12000
        assert [h["version"] for h in catalog.dataset_history(uow, hf, d["identifier"])][:2] == [2, 1]
        events = audit.list_events(uow, ROOT, action="dataset.openness")
    assert [(e.actor, e.subject) for e in events] == [("hf", f"dataset:{d['identifier']}")]
    # the data bureau may manage any entry
    _login(client, "bureau")
    assert 'id="edit-form"' in client.get(url).text


def test_the_suppliers_list_names_cities_and_exports_with_chinese_headers(
    platform: Platform, client: TestClient, clock: ManualClock, people: None
) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from zhisuan.core.credit_code import make_credit_code
    from zhisuan.opendata import suppliers

    bureau = Principal(None, "bureau", Role.DATA_BUREAU)
    with platform.uow() as uow:
        for name, body, city in (
            ("甲标注", "91340100MA8Q0RD01", "340100"),
            ("乙标注", "91340200MA8Q0RD02", "340200"),
        ):
            data = {
                "name": name,
                "credit_code": make_credit_code(body),
                "city": city,
                "services": ["labelling"],
            }
            suppliers.register_supplier(uow, bureau, clock, data)
        uow.commit()
    _login(client, "bureau")
    page = client.get("/opendata/suppliers", params={"sort": "name", "desc": "1", "lang": "zh"}).text
    assert page.index("甲标注") < page.index("乙标注") and "芜湖市" in page  # 甲 U+7532 after 乙 U+4E59
    assert (
        "甲标注" not in client.get("/opendata/suppliers", params={"f_city": "340200"}).text.split("<table")[1]
    )
    got = client.get("/opendata/suppliers", params={"export": "xlsx", "sort": "name"})
    sheet = list(load_workbook(BytesIO(got.content)).active.iter_rows(values_only=True))
    assert sheet[0][:3] == ("#", "名称", "城市") and [r[2] for r in sheet[1:]] == ["芜湖市", "合肥市"]


def test_a_publisher_answers_sharing_requests_on_its_list(
    platform: Platform, client: TestClient, clock: ManualClock, people: None
) -> None:
    from tests.factories.opendata import org_member

    hf = Principal(None, "hf", Role.CITY, city_code="340100")
    with platform.uow() as uow:
        d = catalog.create_dataset(
            uow, hf, clock, fields(openness="conditional", conditions="仅限训练"), publish=True
        )
        for code, purpose in (
            ("91340100MA8Q0RD01", "训练城市交通调度模型"),
            ("91340100MA8Q0RD02", "评测公交线路优化算法"),
        ):
            firm = org_member(uow, clock.now(), code)
            sharing.request_access(uow, firm, clock, str(d["identifier"]), purpose)
        uow.commit()
    token = _login(client, "hf")
    page = client.get("/opendata/manage", params={"lang": "zh"}).text
    assert page.count('action="/opendata/manage/requests/') == 2 and 'id="sharing-requests"' in page
    first = re.findall(r'data-request="(\d+)"', page)[-1]
    granted = client.post(
        f"/opendata/manage/requests/{first}",
        data={"csrf_token": token, "action": "grant", "conditions": "不得转让", "expires_on": "2025-12-31"},
        follow_redirects=False,
    )
    assert granted.status_code == 303
    page = client.get("/opendata/manage").text
    assert page.count('action="/opendata/manage/requests/') == 1 and "不得转让" in page
    pending = client.get("/opendata/manage", params={"f_request_state": "待答复"}).text
    assert len(re.findall(r'data-request="(\d+)"', pending)) == 1
    # the dataset's own page lists its requests the same way: sorted, narrowed, exported in Chinese
    url = f"/opendata/datasets/{d['identifier']}"
    rows = check_list(client, url, "dataset-requests", "id", ["#", "单位", "状态", "答复", "有效期至"])
    assert "不得转让" in [r[3] for r in rows[1:]] and "2025-12-31" in [r[4] for r in rows[1:]]
    waiting = client.get(url, params={"f_request_state": "待答复"}).text
    assert cells(waiting, "dataset-requests", "request_state") == ["待答复"]
