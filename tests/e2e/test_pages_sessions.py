"""Logins (issue 16): server-side sessions that logout, disabling and a new role end; throttling per
account and per address; the same answer time for a missing account; account management audited."""

from __future__ import annotations

import dataclasses
import time

from fastapi.testclient import TestClient

from tests.e2e.conftest import World
from zhisuan import audit
from zhisuan.accounts.sessions import MAX_PER_ACCOUNT
from zhisuan.bootstrap import Platform
from zhisuan.web.app import create_app


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _login(client: TestClient, username: str, password: str = "password-1") -> int:  # noqa: S107  (a test account)
    token = _csrf(client.get("/login").text)
    got = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    return got.status_code


def _fresh_client(world: World) -> TestClient:
    return TestClient(create_app(world.platform))


def test_logout_ends_the_session_even_for_a_copied_cookie(world: World) -> None:
    browser = _fresh_client(world)
    assert _login(browser, "alice") == 303
    cookie = browser.cookies.get("zhisuan_session")
    assert browser.get("/api/v1/me").status_code == 200
    csrf = _csrf(browser.get("/account").text)
    assert browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    thief = _fresh_client(world)
    thief.cookies.set("zhisuan_session", cookie or "")
    assert thief.get("/api/v1/me").status_code == 401  # the old cookie no longer logs anyone in


def test_disabling_a_user_ends_sessions_and_tokens(world: World) -> None:
    browser = _fresh_client(world)
    assert _login(browser, "bob") == 303
    c, root = world.client, world.auth("root")
    assert c.post("/api/v1/users/bob/disable", headers=root).json()["active"] is False
    assert browser.get("/api/v1/me").status_code == 401
    assert c.get("/api/v1/me", headers=world.auth("bob")).status_code == 401
    assert _login(_fresh_client(world), "bob") == 401
    assert c.post("/api/v1/users/bob/enable", headers=root).json()["active"] is True
    assert c.get("/api/v1/me", headers=world.auth("bob")).status_code == 200


def test_a_new_role_ends_sessions_and_applies_at_once(world: World) -> None:
    browser = _fresh_client(world)
    assert _login(browser, "alice") == 303
    c, root = world.client, world.auth("root")
    got = c.put("/api/v1/users/alice/role", json={"role": "user"}, headers=root)
    assert got.status_code == 200 and got.json()["role"] == "user"
    assert browser.get("/api/v1/me").status_code == 401
    assert c.get("/api/v1/me", headers=world.auth("alice")).json()["role"] == "user"
    # an org admin may not give roles; the province may not change accounts
    assert (
        c.put("/api/v1/users/bob/role", json={"role": "admin"}, headers=world.auth("alice")).status_code
        == 403
    )


def test_a_password_reset_ends_sessions_and_the_new_one_works(world: World) -> None:
    browser = _fresh_client(world)
    assert _login(browser, "bob") == 303
    got = world.client.post("/api/v1/users/bob/password", json={}, headers=world.auth("root"))
    assert got.status_code == 200
    assert browser.get("/api/v1/me").status_code == 401
    assert _login(_fresh_client(world), "bob", got.json()["password"]) == 303


def test_an_org_admin_manages_its_members_only_and_others_are_not_found(world: World) -> None:
    c = world.client
    missing = c.post("/api/v1/users/nobody/disable", headers=world.auth("alice"))
    other = c.post("/api/v1/users/bob/disable", headers=world.auth("alice"))  # bob: another organization
    assert missing.status_code == other.status_code == 404
    assert missing.json() == other.json()


def test_logins_are_throttled_per_account_even_with_the_right_password(world: World) -> None:
    browser = _fresh_client(world)
    for _ in range(MAX_PER_ACCOUNT):
        assert _login(browser, "bob", "wrong-password") == 401
    assert _login(browser, "bob") == 429
    assert _login(browser, "alice") == 303  # another account from the same address still may


def test_logins_are_throttled_per_address(world: World) -> None:
    browser = _fresh_client(world)
    codes = [_login(browser, f"ghost{i}", "wrong-password") for i in range(20)]
    assert codes[-1] == 401
    assert _login(browser, "alice") == 429


def test_a_missing_account_answers_as_slowly_as_a_wrong_password(world: World) -> None:
    browser = _fresh_client(world)
    _login(browser, "warm-up", "wrong-password")

    def timed(name: str) -> float:
        started = time.perf_counter()
        assert _login(browser, name, "wrong-password") == 401
        return time.perf_counter() - started

    missing = min(timed("nobody-here") for _ in range(2))
    wrong = min(timed("olga") for _ in range(2))
    assert missing > wrong / 3  # both hash a password (before: 6 ms against 241 ms)


def test_logins_and_account_changes_are_audited(world: World) -> None:
    browser = _fresh_client(world)
    _login(browser, "bob", "wrong-password")
    _login(browser, "bob")
    world.client.post("/api/v1/users/bob/disable", headers=world.auth("root"))
    got = world.client.get("/api/v1/audit?limit=10", headers=world.auth("root"))
    actions = [e["action"] for e in got.json()]
    assert {"login.fail", "login", "user.disable"} <= set(actions)
    assert world.client.get("/api/v1/audit", headers=world.auth("bob")).status_code in (401, 403)
    assert world.client.get("/api/v1/audit/verify", headers=world.auth("root")).json()["intact"] is True
    page = world.client.get("/audit", headers=world.auth("root"))
    assert page.status_code == 200 and "user.disable" in page.text
    with world.platform.uow() as uow:
        assert audit.verify(uow).intact


def test_session_cookies_are_secure_when_the_setting_says_so(world: World) -> None:
    """Issue 16: ``ZHISUAN_COOKIE_SECURE=1`` (behind a TLS proxy) marks the session cookie Secure."""
    p = world.platform
    for secure in (False, True):
        behind_tls = Platform(
            settings=dataclasses.replace(p.settings, cookie_secure=secure),
            engine=p.engine,
            clock=p.clock,
            session_factory=p.session_factory,
        )
        client = TestClient(create_app(behind_tls), base_url="https://testserver")
        token = _csrf(client.get("/login").text)
        got = client.post(
            "/login",
            data={"username": "alice", "password": "password-1", "csrf_token": token},
            follow_redirects=False,
        )
        assert got.status_code == 303
        cookie = next(c for c in got.headers.get_list("set-cookie") if c.startswith("zhisuan_session="))
        assert ("secure" in cookie.lower()) is secure
        assert "httponly" in cookie.lower()
