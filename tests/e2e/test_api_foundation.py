"""The JSON API as a client uses it: auth, scoping, the error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.conftest import World


def test_healthz_reports_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "dispatcher": False}


def test_openapi_lists_the_foundation_endpoints(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/cities", "/api/v1/catalog", "/api/v1/orgs", "/api/v1/orgs/{ref}", "/api/v1/tokens"):
        assert path in spec["paths"]


def test_reference_data_is_public(client: TestClient) -> None:
    cities = client.get("/api/v1/cities").json()
    assert len(cities) == 16
    northern = {c["code"] for c in cities if c["northern_anhui"]}
    assert northern == {"341300", "340600", "341600", "341200", "340300", "340400"}
    catalog = {a["key"]: a for a in client.get("/api/v1/catalog").json()}
    assert catalog["a100-sxm4-80gb"]["p_per_card"] == "0.312"


def test_without_credentials_private_endpoints_answer_401_json(client: TestClient) -> None:
    response = client.get("/api/v1/orgs")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_a_bad_token_is_refused(world: World) -> None:
    response = world.client.get("/api/v1/orgs", headers={"Authorization": "Bearer zs_nope"})
    assert response.status_code == 401


def test_a_user_of_org_a_cannot_see_org_b(world: World) -> None:
    mine = world.client.get(f"/api/v1/orgs/{world.org_a}", headers=world.auth("alice"))
    assert mine.status_code == 200
    theirs = world.client.get(f"/api/v1/orgs/{world.org_b}", headers=world.auth("alice"))
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "not_found"
    listing = world.client.get("/api/v1/orgs", headers=world.auth("alice")).json()
    assert [o["id"] for o in listing] == [world.org_a]


def test_admin_sees_every_org(world: World) -> None:
    listing = world.client.get("/api/v1/orgs", headers=world.auth("root")).json()
    assert {o["id"] for o in listing} == {world.org_a, world.org_b, world.operator_org}


def test_only_admins_register_organizations(world: World) -> None:
    body = {
        "name": "新公司",
        "credit_code": "91350100M000100Y43",
        "kind": "enterprise",
        "city_code": "340100",
    }
    refused = world.client.post("/api/v1/orgs", json=body, headers=world.auth("alice"))
    assert refused.status_code == 403
    created = world.client.post("/api/v1/orgs", json=body, headers=world.auth("root"))
    assert created.status_code == 201, created.text
    assert created.json()["credit_code"] == "91350100M000100Y43"


def test_a_bad_credit_code_is_a_422_naming_the_field(world: World) -> None:
    body = {
        "name": "坏代码公司",
        "credit_code": "91350100M000100Y44",
        "kind": "enterprise",
        "city_code": "340100",
    }
    response = world.client.post("/api/v1/orgs", json=body, headers=world.auth("root"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "credit_code"
    assert "check digit" in error["message"]


def test_malformed_json_is_a_4xx_not_a_500(world: World) -> None:
    response = world.client.post(
        "/api/v1/orgs",
        content=b"{not json",
        headers=world.auth("root") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "error" in response.json()


def test_org_admin_creates_a_user_in_own_org_only(world: World) -> None:
    ok = world.client.post(
        "/api/v1/users",
        json={"username": "carol", "password": "password-2", "role": "user", "org": str(world.org_a)},
        headers=world.auth("alice"),
    )
    assert ok.status_code == 201, ok.text
    other = world.client.post(
        "/api/v1/users",
        json={"username": "mallory", "password": "password-2", "role": "user", "org": str(world.org_b)},
        headers=world.auth("alice"),
    )
    assert other.status_code == 404


def test_a_token_created_through_the_api_works_once_shown(world: World) -> None:
    made = world.client.post("/api/v1/tokens", json={"name": "ci"}, headers=world.auth("bob"))
    assert made.status_code == 201
    token = made.json()["token"]
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "bob"


def test_login_page_needs_csrf_and_sets_a_session(world: World) -> None:
    client = world.client
    page = client.get("/login")
    assert page.status_code == 200
    forged = client.post("/login", data={"username": "alice", "password": "password-1", "csrf_token": "x"})
    assert forged.status_code == 403
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    wrong = client.post("/login", data={"username": "alice", "password": "nope-nope", "csrf_token": token})
    assert wrong.status_code == 401
    ok = client.post(
        "/login",
        data={"username": "alice", "password": "password-1", "csrf_token": token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert client.get("/api/v1/me").json()["username"] == "alice"
    # cookie-authenticated API writes need the CSRF header
    refused = client.post("/api/v1/tokens", json={"name": "x"})
    assert refused.status_code == 403


def test_home_page_in_chinese_and_english(client: TestClient) -> None:
    zh = client.get("/")
    assert "加速卡目录" in zh.text and "宿州市" in zh.text
    en = client.get("/?lang=en")
    assert "Accelerator catalog" in en.text and "Suzhou (Anhui)" in en.text
    # the choice sticks through a cookie
    assert "Accelerator catalog" in client.get("/").text


def test_docs_page_uses_only_local_assets(client: TestClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/static/swagger/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def test_ids_out_of_range_or_in_other_digits_are_not_found_not_server_errors(world) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: '²' passed str.isdigit() and 2**64 overflowed the database driver."""
    huge = "99999999999999999999"
    for path, status in (
        (f"/api/v1/orgs/{huge}", 404),
        ("/api/v1/orgs/%C2%B2", 404),
        (f"/api/v1/jobs/{huge}", 404),
        (f"/api/v1/centers/{huge}", 404),
        (f"/api/v1/quotas/{huge}", 404),
        (f"/api/v1/bills/{huge}", 422),
    ):
        got = world.client.get(path, headers=world.auth("root"))
        assert got.status_code == status, (path, got.text)
        assert got.json()["error"]["code"] in {"not_found", "invalid"}
