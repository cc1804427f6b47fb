"""The publishing pages: a form over the YAML (CSRF-protected), its review, and a second user's approval."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.e2e.conftest import World
from tests.e2e.test_api_publishing import SAMPLE, province  # noqa: F401  (the fixture)


def _token(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _login(client: TestClient, username: str) -> str:
    token = _token(client.get("/login").text)
    r = client.post("/login", data={"username": username, "password": "password-1", "csrf_token": token})
    assert r.status_code in (200, 303)
    return _token(client.get("/publish").text)


def test_publish_form_checks_submits_and_a_second_user_approves(province: World) -> None:  # noqa: F811
    client = province.client
    assert client.get("/publish", headers={"accept": "application/json"}).status_code == 401
    token = _login(client, "pia")
    page = client.get("/publish?pack=anhui-2023")
    assert page.status_code == 200 and "id: anhui-2023" in page.text and "发布政策包版本" in page.text
    assert "Publish a pack version" in client.get("/publish?lang=en").text
    forged = client.post("/publish", data={"text": "x", "csrf_token": "nope"})
    assert forged.status_code == 403
    bad = SAMPLE.read_text(encoding="utf-8").replace("payee: applicant", "payee: x")
    shown = client.post("/publish", data={"text": bad, "filename": "mine.yaml", "csrf_token": token})
    assert shown.status_code == 422 and "mine.yaml:" in shown.text and "articles.art2.payee" in shown.text
    text = SAMPLE.read_text(encoding="utf-8")
    checked = client.post(
        "/publish",
        files={"upload": ("up.yaml", text.encode())},
        data={"csrf_token": token, "action": "check"},
    )
    assert (
        checked.status_code == 200 and 'id="review"' in checked.text and "test-publish-art2" in checked.text
    )
    sent = client.post(
        "/publish",
        data={"text": text, "filename": "s.yaml", "csrf_token": token, "action": "submit"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    url = sent.headers["location"]
    assert 'id="approve"' not in client.get(url).text  # not one's own
    client.post("/logout", data={"csrf_token": token})
    token = _login(client, "pete")
    assert 'id="approve"' in client.get(url).text
    client.post(f"{url}/approve", data={"csrf_token": token})
    assert "已批准" in client.get(f"{url}?lang=zh").text
