"""Open-data pages: the public catalog with facets, a dataset and its JSON-LD, a bulletin with its chart,
management by a city and the data bureau (a draft is not found by others), Chinese first."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from tests.factories.opendata import fields
from zhisuan import accounts
from zhisuan.bootstrap import Platform
from zhisuan.core import security
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import ManualClock
from zhisuan.opendata import bulletins, services

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
        d = services.create_dataset(uow, hf, clock, fields(), publish=True)
        draft = services.create_dataset(uow, hf, clock, fields(title="合肥市草稿数据"))
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
    assert "Open data catalog" in client.get("/opendata?lang=en").text  # the English switch
    # another city does not see Hefei's draft; Hefei manages it and publishes it from its page
    _login(client, "wh")
    assert client.get(f"/opendata/datasets/{draft['identifier']}").status_code == 404
    token = _login(client, "hf")
    manage = client.get("/opendata/manage")
    assert "合肥市草稿数据" in manage.text
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
