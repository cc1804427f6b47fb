"""The registries' pages: public lists in Chinese (English on request), a city official's forms for its
own city only, an import refused with its line, bulletins and matching."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.conftest import World
from tests.e2e.test_api_registries import officials  # noqa: F401  (the fixture)
from tests.factories.registries import park


def _sheet(xlsx: bytes) -> list[tuple[object, ...]]:
    from io import BytesIO

    from openpyxl import load_workbook

    return list(load_workbook(BytesIO(xlsx)).active.iter_rows(values_only=True))


def _token(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _login(client: TestClient, username: str) -> str:
    token = _token(client.get("/login").text)
    r = client.post("/login", data={"username": username, "password": "password-1", "csrf_token": token})
    assert r.status_code in (200, 303)
    return _token(client.get("/registries/parks").text)


def test_public_lists_show_to_everybody_and_scoped_ones_do_not(officials: World) -> None:  # noqa: F811
    c = officials.client
    c.post("/api/v1/registries/parks", json=park(), headers=officials.auth("office"))
    firm = {"title": "保密企业", "city": "340100", "category": "secure_ai", "introduced_on": "2025-01-02"}
    c.post("/api/v1/registries/enterprises", json=firm, headers=officials.auth("office"))
    index = c.get("/registries")
    assert index.status_code == 200 and "示范园区" in index.text and "名录" in index.text
    assert "demonstration parks" in c.get("/registries?lang=en").text
    parks = c.get("/registries/parks?lang=zh")
    assert "合肥高新区人工智能产业园" in parks.text and "61.00%" in parks.text and "合肥市" in parks.text
    assert "保密企业" not in c.get("/registries/enterprises").text
    assert 'id="add-form"' not in parks.text


def test_a_city_official_adds_and_changes_only_its_own_citys_entries(officials: World) -> None:  # noqa: F811
    c = officials.client
    other = c.post(
        "/api/v1/registries/parks", json=park(city="340200"), headers=officials.auth("wuhu")
    ).json()
    token = _login(c, "hefei")
    added = c.post(
        "/registries/parks",
        data={"csrf_token": token, **{k: str(v) for k, v in park(city="").items()}},
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = c.get(added.headers["location"])
    assert 'id="change-form"' in page.text and "合肥市" in page.text
    changed = c.post(
        added.headers["location"],
        data={"csrf_token": token, "sites_m2": "8000", "version": "1"},
        follow_redirects=False,
    )
    assert changed.status_code == 303 and "8000" in c.get(added.headers["location"]).text
    refused = c.post(f"/registries/parks/{other['id']}", data={"csrf_token": token, "sites_m2": "1"})
    assert refused.status_code == 403
    bad = c.post(
        "/registries/parks",
        data={"csrf_token": token},
        files={
            "upload": (
                "p.csv",
                "园区名称,入园企业总数,通用人工智能企业数,名录日期\n甲,10,3,2025-06-31\n".encode(),
            )
        },
    )
    assert bad.status_code == 422 and 'id="registry-error"' in bad.text and "roster_on" in bad.text
    assert "2" in bad.text.split('id="registry-error"')[1][:200]


def test_bulletins_and_matching_pages(officials: World) -> None:  # noqa: F811
    c = officials.client
    firm = {
        "title": "某大模型企业",
        "city": "340100",
        "category": "general_llm",
        "introduced_on": "2025-01-02",
    }
    made = c.post("/api/v1/registries/enterprises", json=firm, headers=officials.auth("office")).json()
    token = _login(c, "office")
    drafted = c.post(
        "/bulletins", data={"csrf_token": token, "kind": "annual", "period": "2024"}, follow_redirects=False
    )
    assert drafted.status_code == 303
    published = c.post(
        "/bulletins", data={"csrf_token": token, "publish": drafted.headers["location"].split("/")[-1]}
    )
    assert published.status_code == 200 and "年度排名" in published.text and "发布人" in published.text
    c.post("/bulletins", data={"csrf_token": token, "kind": "quarterly", "period": "2025Q1"})
    listed = c.get("/bulletins", params={"sort": "period"}).text
    assert listed.index('data-key="period">2024<') < listed.index('data-key="period">2025Q1<')
    assert listed.count("data-bulletin=") == 2
    assert c.get("/bulletins", params={"f_period": "2024"}).text.count("data-bulletin=") == 1
    assert c.get("/bulletins", params={"per_page": "1", "page": "2"}).text.count("data-bulletin=") == 1
    sheet = _sheet(c.get("/bulletins", params={"export": "xlsx", "lang": "zh"}).content)
    assert sheet[0] == ("#", "类别", "期间", "状态") and {r[1] for r in sheet[1:]} == {"年度排名", "季度通报"}
    page = c.get(f"/matching/{made['id']}")
    assert page.status_code == 200 and "优先要素对接" in page.text and "暂无" in page.text


def test_a_registry_list_sorts_filters_pages_and_exports_with_chinese_headers(officials: World) -> None:  # noqa: F811
    import html
    import re
    from io import BytesIO

    from openpyxl import load_workbook

    c = officials.client
    for title, city, ai in (("甲园区", "340100", 61), ("乙园区", "340200", 30), ("丙园区", "340100", 45)):
        made = c.post(
            "/api/v1/registries/parks",
            json=park(title=title, city=city, ai_enterprises=ai),
            headers=officials.auth("office"),
        )
        assert made.status_code == 201, made.text

    def titles(**params: str) -> list[str]:
        page = c.get("/registries/parks", params={"lang": "zh", **params}).text
        table = page.split('<table id="entries"')[1].split("</table>")[0]
        cells = re.findall(r'data-key="title">(.*?)</td>', table)
        return [html.unescape(t) for t in cells]

    assert titles(sort="ai_enterprises") == ["乙园区", "丙园区", "甲园区"]
    assert titles(sort="ai_enterprises", desc="1") == ["甲园区", "丙园区", "乙园区"]
    assert titles(sort="ai_enterprises", per_page="1", page="2") == ["丙园区"]
    assert titles(f_city="340200") == ["乙园区"] and titles(city="340200") == ["乙园区"]  # older links too
    assert titles(q="丙") == ["丙园区"]
    got = c.get("/registries/parks", params={"export": "xlsx", "f_city": "340100", "sort": "title"})
    assert got.status_code == 200 and got.content[:2] == b"PK"
    rows = list(load_workbook(BytesIO(got.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("#", "园区名称", "所在市") and {r[2] for r in rows[1:]} == {"合肥市"}
    assert sorted(r[1] for r in rows[1:]) == ["丙园区", "甲园区"]
