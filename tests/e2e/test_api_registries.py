"""The registries' API over HTTP: one shape for all ten, a city writing only its own city's entries, an
import refused with its line, exports with Chinese headers, bulletins and matching."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ROOT, World
from tests.factories.registries import park, scenario
from zhisuan import accounts
from zhisuan.core.access import Role
from zhisuan.registries.specs import SPECS


@pytest.fixture
def officials(world: World) -> World:
    now = world.platform.clock.now()
    with world.platform.uow() as uow:
        for username, role, city in (
            ("hefei", Role.CITY, "340100"),
            ("wuhu", Role.CITY, "340200"),
            ("office", Role.PROVINCE, None),
        ):
            accounts.add_user(
                uow, ROOT, username=username, password="password-1", role=role, city_code=city, now=now
            )
            world.tokens[username] = accounts.create_token(uow, ROOT, username, "test", now)
        uow.commit()
    return world


def test_every_registry_answers_alike(officials: World) -> None:
    c = officials.client
    listed = c.get("/api/v1/registries").json()["registries"]
    assert [r["name"] for r in listed] == list(SPECS)
    for name, spec in SPECS.items():
        got = c.get(f"/api/v1/registries/{name}", headers=officials.auth("office"))
        assert got.status_code == 200, name
        assert got.json()["registry"]["public"] is spec.public
    assert c.get("/api/v1/registries/nothing").status_code == 422


def test_a_city_user_edits_only_its_own_citys_entries(officials: World) -> None:
    c = officials.client
    mine = c.post("/api/v1/registries/parks", json=park(city=None), headers=officials.auth("hefei"))
    assert mine.status_code == 201 and mine.json()["city"] == "340100"
    theirs = c.post("/api/v1/registries/parks", json=park(city="340200"), headers=officials.auth("wuhu"))
    assert theirs.status_code == 201
    pid, tid = mine.json()["id"], theirs.json()["id"]
    ok = c.patch(
        f"/api/v1/registries/parks/{pid}",
        json={"sites_m2": 5000, "version": 1},
        headers=officials.auth("hefei"),
    )
    assert ok.status_code == 200 and ok.json()["sites_m2"] == 5000
    refused = c.patch(
        f"/api/v1/registries/parks/{tid}", json={"sites_m2": 1}, headers=officials.auth("hefei")
    )
    assert refused.status_code == 403
    stale = c.patch(
        f"/api/v1/registries/parks/{pid}", json={"sites_m2": 1, "version": 1}, headers=officials.auth("hefei")
    )
    assert stale.status_code == 422 and stale.json()["error"]["field"] == "version"
    assert c.post("/api/v1/registries/parks", json=park()).status_code == 401
    assert c.post("/api/v1/registries/parks", json=park(), headers=officials.auth("alice")).status_code == 403
    # a private registry: another city's entry is not found, to a city and to an organization alike
    firm = {"title": "某企业", "city": "340200", "category": "secure_ai", "introduced_on": "2025-01-02"}
    made = c.post("/api/v1/registries/enterprises", json=firm, headers=officials.auth("wuhu")).json()
    for who in ("hefei", "alice"):
        assert (
            c.get(f"/api/v1/registries/enterprises/{made['id']}", headers=officials.auth(who)).status_code
            == 404
        )
        assert c.get(f"/api/v1/matching/{made['id']}", headers=officials.auth(who)).status_code == 404
    assert c.get(f"/api/v1/matching/{made['id']}", headers=officials.auth("wuhu")).status_code == 200


def test_an_import_with_a_bad_row_names_it_and_writes_nothing(officials: World) -> None:
    c = officials.client
    csv = (
        "场景名称,牵头部门,类型,状态,开放日期\n"
        "甲,市经信局,场景开放,已开放,2025-05-01\n"
        "乙,市经信局,开放,已开放,2025-05-01\n"
    )
    bad = c.post(
        "/api/v1/registries/scenarios/import",
        files={"file": ("s.csv", csv.encode(), "text/csv")},
        headers=officials.auth("hefei"),
    )
    assert bad.status_code == 422
    assert (bad.json()["error"]["row"], bad.json()["error"]["column"]) == (3, "kind")
    assert c.get("/api/v1/registries/scenarios").json()["total"] == 0
    good = c.post(
        "/api/v1/registries/scenarios/import",
        files={"file": ("s.csv", csv.replace(",开放,", ",揭榜挂帅,").encode(), "text/csv")},
        headers=officials.auth("hefei"),
    )
    assert good.json() == {"registry": "scenarios", "created": 2, "updated": 0}
    exported = c.get("/api/v1/registries/scenarios/export?format=csv&kind=challenge")
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("编号,场景名称,所在市,牵头部门,类型")
    assert len(lines) == 2 and "揭榜挂帅" in lines[1] and "340100" in lines[1]
    xlsx = c.get("/api/v1/registries/scenarios/export")
    assert xlsx.content[:4] == b"PK\x03\x04"


def test_a_bulletin_is_drafted_published_and_then_frozen(officials: World) -> None:
    c = officials.client
    c.post(
        "/api/v1/registries/scenarios", json=scenario(opened_on="2025-02-01"), headers=officials.auth("hefei")
    )
    assert (
        c.post(
            "/api/v1/scenario-bulletins",
            json={"kind": "quarterly", "period": "2025Q1"},
            headers=officials.auth("hefei"),
        ).status_code
        == 403
    )
    draft = c.post(
        "/api/v1/scenario-bulletins",
        json={"kind": "quarterly", "period": "2025Q1"},
        headers=officials.auth("office"),
    ).json()
    assert c.get(f"/api/v1/scenario-bulletins/{draft['id']}").status_code == 404  # a draft is not public
    done = c.post(
        f"/api/v1/scenario-bulletins/{draft['id']}/publish", headers=officials.auth("office")
    ).json()
    assert done["state"] == "published" and done["totals"]["opened"] == 1
    c.post(
        "/api/v1/registries/scenarios", json=scenario(opened_on="2025-03-01"), headers=officials.auth("hefei")
    )
    public = c.get(f"/api/v1/scenario-bulletins/{draft['id']}").json()
    assert public["totals"]["opened"] == 1
    assert (
        c.post(
            f"/api/v1/scenario-bulletins/{draft['id']}/publish", headers=officials.auth("office")
        ).status_code
        == 409
    )
