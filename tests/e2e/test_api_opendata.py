"""The open-data API over HTTP: search with facets, public DCAT-AP, exports, requests and downloads."""

from __future__ import annotations

import json

from tests.e2e.conftest import World
from zhisuan import accounts
from zhisuan.core.access import Principal, Role

ROOT = Principal(user_id=None, username="root", role=Role.ADMIN)


def _token(w: World, username: str, role: Role, city: str | None = None) -> dict[str, str]:
    with w.platform.uow() as uow:
        now = w.platform.clock.now()
        accounts.add_user(
            uow, ROOT, username=username, password="password-1", role=role, city_code=city, now=now
        )
        token = accounts.create_token(uow, ROOT, username, "test", now)
        uow.commit()
    return {"Authorization": f"Bearer {token}"}


BODY = {
    "title": "合肥市公共交通线路数据",
    "description": "全市公交线路和站点",
    "themes": ["transport"],
    "openness": "conditional",
    "conditions": "仅用于模型训练",
    "formats": ["CSV"],
    "update_frequency": "monthly",
    "contact_name": "王工",
    "contact_email": "data@hefei.gov.cn",
    "publish": True,
}


def test_catalog_search_dcat_exports_and_a_granted_download(world: World) -> None:
    c = world.client
    hefei = _token(world, "hf", Role.CITY, "340100")
    alice = {"Authorization": f"Bearer {world.tokens['alice']}"}
    assert c.post("/api/v1/opendata/datasets", json=BODY).status_code == 401
    made = c.post("/api/v1/opendata/datasets", json=BODY, headers=hefei)
    assert made.status_code == 201, made.text
    ident = made.json()["identifier"]
    bad = c.post("/api/v1/opendata/datasets", json={**BODY, "formats": ["DOCX"]}, headers=hefei)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "formats"
    up = c.post(
        f"/api/v1/opendata/datasets/{ident}/files", files={"file": ("x.csv", b"a,b\n1,2\n")}, headers=hefei
    )
    assert up.status_code == 201, up.text
    found = c.get("/api/v1/opendata/datasets", params={"q": "交通"}).json()
    assert [d["identifier"] for d in found["datasets"]] == [ident]
    assert found["facets"]["openness"] == [{"value": "conditional", "name": "有条件开放", "count": 1}]
    catalog = c.get("/api/v1/opendata/catalog.jsonld")
    assert catalog.headers["content-type"].startswith("application/ld+json")
    doc = json.loads(catalog.text)
    assert doc["@type"] == "dcat:Catalog" and len(doc["dcat:dataset"]) == 1
    assert c.get(f"/api/v1/opendata/datasets/{ident}/jsonld").json()["@type"] == "dcat:Dataset"
    assert c.get("/api/v1/opendata/catalog.csv").content.decode("utf-8-sig").startswith("标识符,数据集名称")
    assert c.get("/api/v1/opendata/catalog.xlsx").content[:2] == b"PK"
    dist = up.json()["id"]
    assert c.get(f"/api/v1/opendata/distributions/{dist}/download", headers=alice).status_code == 403
    req = c.post(
        f"/api/v1/opendata/datasets/{ident}/requests", json={"purpose": "训练交通模型"}, headers=alice
    )
    assert req.status_code == 201, req.text
    rid = req.json()["id"]
    bob = {"Authorization": f"Bearer {world.tokens['bob']}"}
    assert c.get(f"/api/v1/opendata/requests/{rid}", headers=bob).status_code == 404
    ans = c.post(
        f"/api/v1/opendata/requests/{rid}/answer",
        json={"action": "grant", "conditions": "不得转让", "expires_on": "2025-12-31"},
        headers=hefei,
    )
    assert ans.status_code == 200, ans.text
    got = c.get(f"/api/v1/opendata/distributions/{dist}/download", headers=alice)
    assert got.status_code == 200 and got.content == b"a,b\n1,2\n"
    assert c.get(f"/api/v1/opendata/requests/{rid}", headers=alice).json()["state"] == "granted"
