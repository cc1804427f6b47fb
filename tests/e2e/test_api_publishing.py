"""Publishing a pack version over HTTP: upload, review, approve by a second province user, served at once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import ROOT, World
from zhisuan import accounts, audit
from zhisuan.core.access import Role
from zhisuan.core.clock import UTC, ManualClock

SAMPLE = Path(__file__).resolve().parents[1] / "factories" / "packs" / "test-publish-art2.yaml"
PACK = "test-publish-art2"
FACTS = {"city": "340100", "in_province": True, "self_use": False, "spend": "1000"}


@pytest.fixture
def province(world: World) -> World:
    """Two province users (pia, pete) with tokens, beside the world's users."""
    now = world.platform.clock.now()
    with world.platform.uow() as uow:
        for name in ("pia", "pete"):
            accounts.add_user(uow, ROOT, username=name, password="password-1", role=Role.PROVINCE, now=now)
            world.tokens[name] = accounts.create_token(uow, ROOT, name, "test", now)
        uow.commit()
    return world


def _submit(w: World, text: str, who: str = "pia") -> dict[str, object]:
    r = w.client.post(
        "/api/v1/policy/versions",
        json={"text": text, "filename": "sample.yaml", "note": "25% from September"},
        headers=w.auth(who),
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def _evaluate(client: TestClient, on: str) -> dict[str, object]:
    r = client.post(
        "/api/v1/policy/evaluate", json={"program": "art2", "on": on, "pack": PACK, "facts": FACTS}
    )
    body: dict[str, object] = r.json()
    return body


def test_publish_approve_serves_the_version_without_a_restart(province: World) -> None:
    w = province
    text = SAMPLE.read_text(encoding="utf-8")
    assert _evaluate(w.client, "2025-09-15")["error"]["field"] == "pack"  # type: ignore[index]
    submitted = _submit(w, text)
    review = submitted["review"]
    assert submitted["state"] == "submitted" and submitted["version"] == 1
    assert review["diff"]["new_pack"] is True  # type: ignore[index]
    assert (
        w.client.get(f"/api/v1/policy/versions/{submitted['id']}", headers=w.auth("pia")).json()["served"]
        is False
    )
    r = w.client.post(f"/api/v1/policy/versions/{submitted['id']}/approve", headers=w.auth("pete"))
    assert r.status_code == 200 and r.json()["state"] == "approved"
    # the same app (not rebuilt) answers from the approved version on its dates
    answer = _evaluate(w.client, "2025-09-15")
    assert answer["pack"] == PACK and answer["amount"] == "250.00"
    assert _evaluate(w.client, "2025-11-15")["amount"] == "300.00"
    listed = w.client.get("/api/v1/policy/packs").json()
    assert PACK in {p["id"] for p in listed["packs"]}
    # a second version replaces the first and keeps its own number
    second = _submit(w, text.replace('value: "25%"', 'value: "22%"'), who="pete")
    assert second["version"] == 2
    assert second["review"]["diff"]["against"] == PACK  # type: ignore[index]
    r = w.client.post(f"/api/v1/policy/versions/{second['id']}/approve", headers=w.auth("pia"))
    assert r.status_code == 200, r.text
    assert _evaluate(w.client, "2025-09-15")["amount"] == "220.00"
    with w.platform.uow() as uow:
        verdict = audit.verify(uow)
    assert verdict.intact and verdict.checked >= 4


def test_an_article_effective_in_the_future_is_in_force_once_the_clock_passes(province: World) -> None:
    w = province
    assert isinstance(w.platform.clock, ManualClock)
    version = _submit(w, SAMPLE.read_text(encoding="utf-8"))
    w.client.post(f"/api/v1/policy/versions/{version['id']}/approve", headers=w.auth("pete"))
    shown = w.client.get(f"/api/v1/policy/versions/{version['id']}", headers=w.auth("pia")).json()
    assert shown["served"] is True and shown["today"] == "2025-06-15"
    assert [a["in_force_today"] for a in shown["articles"]] == [False]
    w.platform.clock.set(dt.datetime(2025, 9, 1, 1, tzinfo=UTC))
    shown = w.client.get(f"/api/v1/policy/versions/{version['id']}", headers=w.auth("pia")).json()
    assert [a["in_force_today"] for a in shown["articles"]] == [True]


def test_self_approval_and_other_roles_are_refused(province: World) -> None:
    w = province
    version = _submit(w, SAMPLE.read_text(encoding="utf-8"))
    r = w.client.post(f"/api/v1/policy/versions/{version['id']}/approve", headers=w.auth("pia"))
    assert r.status_code == 403 and "second province user" in r.json()["error"]["message"]
    r = w.client.post(f"/api/v1/policy/versions/{version['id']}/approve", headers=w.auth("alice"))
    assert r.status_code == 403
    r = w.client.post(
        "/api/v1/policy/versions", json={"text": SAMPLE.read_text(encoding="utf-8")}, headers=w.auth("bob")
    )
    assert r.status_code == 403
    assert w.client.get("/api/v1/policy/versions").status_code == 401
    assert w.client.get("/api/v1/policy/versions", headers=w.auth("pete")).json()["versions"][0]["state"] == (
        "submitted"
    )


def test_reject_needs_a_reason_and_is_final(province: World) -> None:
    w = province
    version = _submit(w, SAMPLE.read_text(encoding="utf-8"))
    url = f"/api/v1/policy/versions/{version['id']}/reject"
    r = w.client.post(url, json={"reason": " "}, headers=w.auth("pete"))
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = w.client.post(url, json={"reason": "the rate is not confirmed yet"}, headers=w.auth("pete"))
    assert r.status_code == 200 and r.json()["reason"] == "the rate is not confirmed yet"
    r = w.client.post(f"/api/v1/policy/versions/{version['id']}/approve", headers=w.auth("root"))
    assert r.status_code == 409
    assert _evaluate(w.client, "2025-09-15")["error"]["field"] == "pack"  # type: ignore[index]
    with w.platform.uow() as uow:
        assert audit.verify(uow).intact


def test_an_invalid_pack_names_file_line_and_key_and_stores_nothing(province: World) -> None:
    w = province
    bad = SAMPLE.read_text(encoding="utf-8").replace("payee: applicant", "payee: somebody")
    r = w.client.post(
        "/api/v1/policy/versions", json={"text": bad, "filename": "mine.yaml"}, headers=w.auth("pia")
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["file"] == "mine.yaml" and error["field"] == "articles.art2.payee" and error["row"] > 1
    raw = w.client.post(
        "/api/v1/policy/versions/check?filename=raw.yaml",
        content=bad.encode(),
        headers={**w.auth("pia"), "Content-Type": "application/yaml"},
    )
    assert raw.status_code == 422 and raw.json()["error"]["file"] == "raw.yaml"
    assert w.client.get("/api/v1/policy/versions", headers=w.auth("pia")).json()["versions"] == []
