"""Compute over HTTP: centers, pools, capacity, jobs, held jobs, quotas; and the pages with CSRF."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.e2e.conftest import World


def _center(world: World, who: str = "olga") -> None:
    c = world.client
    made = c.post(
        "/api/v1/centers",
        json={"key": "hf-x", "name": "合肥X中心", "operator": str(world.operator_org), "city_code": "340100"},
        headers=world.auth(who),
    )
    assert made.status_code == 201, made.text
    pool = c.post(
        "/api/v1/centers/hf-x/pools",
        json={
            "key": "hf-x-a100",
            "accelerator": "a100-sxm4-80gb",
            "nodes": 2,
            "cards_per_node": 8,
            "price": "18.00",
            "bands": [{"from": 0, "to": 8, "price": "12.00"}],
        },
        headers=world.auth(who),
    )
    assert pool.status_code == 201, pool.text


def _job(cards: int = 8, **kw: object) -> dict[str, object]:
    return {"name": "train", "command": "python train.py", "cards": cards, "runtime_s": 3600} | kw


def test_operator_registers_a_center_everyone_reads_it(world: World) -> None:
    _center(world)
    anyone = world.client.get("/api/v1/centers")
    assert anyone.status_code == 200
    [center] = anyone.json()
    assert center["key"] == "hf-x" and center["cards"] == 16
    assert center["pools"][0]["bands"] == [{"from": 0, "to": 8, "price_yuan_per_card_hour": "12.00"}]
    cap = world.client.get("/api/v1/capacity").json()
    assert cap["province"]["cards"] == 16
    assert cap["cities"]["340100"]["capacity_p"] == cap["province"]["capacity_p"]


def test_a_compute_user_cannot_add_pools_to_a_center(world: World) -> None:
    _center(world)
    denied = world.client.post(
        "/api/v1/centers/hf-x/pools",
        json={"key": "p2", "accelerator": "h20-96gb", "nodes": 1, "cards_per_node": 8, "price": "9"},
        headers=world.auth("alice"),
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"]


def test_submit_list_show_and_cancel_a_job(world: World) -> None:
    _center(world)
    c = world.client
    made = c.post("/api/v1/jobs", json=_job(), headers=world.auth("alice"))
    assert made.status_code == 201, made.text
    job_id = made.json()["id"]
    assert made.json()["state"] == "queued"
    assert [j["id"] for j in c.get("/api/v1/jobs", headers=world.auth("alice")).json()] == [job_id]
    shown = c.get(f"/api/v1/jobs/{job_id}", headers=world.auth("alice")).json()
    assert [e["to"] for e in shown["events"]] == ["queued"]
    cancelled = c.post(f"/api/v1/jobs/{job_id}/cancel", headers=world.auth("alice"))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = c.post(f"/api/v1/jobs/{job_id}/cancel", headers=world.auth("alice"))
    assert again.status_code == 409


def test_user_of_org_b_gets_404_on_org_a_job(world: World) -> None:
    _center(world)
    c = world.client
    job_id = c.post("/api/v1/jobs", json=_job(), headers=world.auth("alice")).json()["id"]
    assert c.get(f"/api/v1/jobs/{job_id}", headers=world.auth("bob")).status_code == 404
    assert c.post(f"/api/v1/jobs/{job_id}/cancel", headers=world.auth("bob")).status_code == 404
    assert c.get("/api/v1/jobs", headers=world.auth("bob")).json() == []
    assert c.get(f"/api/v1/jobs/{job_id}", headers=world.auth("root")).status_code == 200


def test_an_impossible_job_is_refused_with_the_reason(world: World) -> None:
    _center(world)
    refused = world.client.post("/api/v1/jobs", json=_job(cards=64), headers=world.auth("alice"))
    assert refused.status_code == 422
    err = refused.json()["error"]
    assert err["field"] == "cards"
    assert "64 cards at once" in err["message"]
    assert world.client.get("/api/v1/jobs", headers=world.auth("alice")).json() == []


def test_quota_hold_is_shown_to_the_owner_and_to_admins(world: World) -> None:
    _center(world)
    c = world.client
    lift = c.put(f"/api/v1/quotas/{world.org_a}", json={"max_cards": 999}, headers=world.auth("alice"))
    assert lift.status_code == 403  # an org admin reads its quota, the platform sets it
    q = c.put(f"/api/v1/quotas/{world.org_a}", json={"max_cards": 8}, headers=world.auth("root"))
    assert q.status_code == 200, q.text
    ids = [c.post("/api/v1/jobs", json=_job(), headers=world.auth("alice")).json()["id"] for _ in range(2)]
    assert c.post("/api/v1/schedule", json={}, headers=world.auth("alice")).status_code == 403
    report = c.post("/api/v1/schedule", json={}, headers=world.auth("root")).json()
    assert [p["job"] for p in report["placed"]] == [ids[0]]
    mine = c.get(f"/api/v1/jobs/{ids[1]}", headers=world.auth("alice")).json()
    assert mine["hold_kind"] == "quota" and "concurrent cards" in mine["hold_reason"]
    held = c.get("/api/v1/jobs/held", headers=world.auth("root")).json()
    assert [(j["id"], j["hold_kind"]) for j in held] == [(ids[1], "quota")]
    usage = c.get(f"/api/v1/quotas/{world.org_a}", headers=world.auth("alice")).json()
    assert usage["max_cards"] == 8 and usage["usage"]["cards_in_use"] == 8
    assert c.get(f"/api/v1/quotas/{world.org_a}", headers=world.auth("bob")).status_code == 404


def _csrf(page_html: str) -> str:
    return page_html.split('name="csrf_token" value="')[1].split('"')[0]


def _login(client: TestClient, username: str) -> None:
    token = _csrf(client.get("/login").text)
    done = client.post(
        "/login",
        data={"username": username, "password": "password-1", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303


def test_pages_center_list_submit_form_and_job_detail(world: World) -> None:
    _center(world)
    c = world.client
    centers = c.get("/centers?lang=en")
    assert centers.status_code == 200
    assert "hf-x-a100" in centers.text and 'id="capacity-p"' in centers.text
    center = c.get("/centers/hf-x?lang=en")
    assert center.status_code == 200 and 'id="pools"' in center.text
    assert c.get("/centers/nowhere").status_code == 404
    _login(c, "alice")
    page = c.get("/jobs")
    assert page.status_code == 200 and 'id="submit-form"' in page.text and 'id="quota"' in page.text
    form = {"name": "web-job", "command": "python a.py", "cards": "8", "runtime": "90m", "retries": "0"}
    forged = c.post("/jobs", data=form | {"csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    sent = c.post("/jobs", data=form | {"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    detail = c.get(sent.headers["location"])
    assert detail.status_code == 200 and "web-job" in detail.text and 'id="events"' in detail.text
    bad = c.post("/jobs", data=form | {"cards": "99", "csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert bad.status_code == 422 and 'id="submit-error"' in bad.text


def test_held_jobs_page_groups_reasons_for_admins(world: World) -> None:
    _center(world)
    c = world.client
    c.put(f"/api/v1/quotas/{world.org_a}", json={"max_cards": 8}, headers=world.auth("root"))
    for _ in range(2):
        c.post("/api/v1/jobs", json=_job(), headers=world.auth("alice"))
    c.post("/api/v1/schedule", json={}, headers=world.auth("root"))
    _login(c, "root")
    page = c.get("/jobs/held?lang=en")
    assert page.status_code == 200
    assert 'id="held-quota"' in page.text and "concurrent cards" in page.text
    # the per-reason table: one row per reason with its count, cards and share, linking to the filter
    reasons = page.text.split('id="held-by-reason"')[1].split("</table>")[0]
    assert re.findall(r'data-kind="(\w+)"', reasons) == ["quota"]
    assert '<td class="num count">1</td>' in reasons and 'href="?f_kind=quota"' in reasons
    assert "100%" in reasons and "Held jobs by reason" in page.text
    assert "按原因统计的等待作业" in c.get("/jobs/held?lang=zh").text


def test_engine_health_is_shown_to_the_operator_and_staff_not_to_users(world: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from zhisuan.compute import worker as worker_module

    monkeypatch.setattr(worker_module, "_current", None)  # no worker runs in this process yet
    _center(world)
    c = world.client
    assert c.get("/api/v1/engines/health").status_code == 401
    assert c.get("/api/v1/engines/health", headers=world.auth("alice")).json()["centers"] == []
    off = c.put(
        "/api/v1/pools/hf-x-a100/availability",
        json={"available": False, "reason": "maintenance"},
        headers=world.auth("olga"),
    )
    assert off.status_code == 200, off.text
    body = c.get("/api/v1/engines/health", headers=world.auth("olga")).json()
    assert body["worker"] is None
    [row] = body["centers"]
    assert row["center"] == "hf-x" and row["engines"] == ["simulated"] and row["live"] is None
    assert row["unavailable"] == [{"pool": "hf-x-a100", "reason": "maintenance"}]
    c.put("/api/v1/pools/hf-x-a100/availability", json={"available": True}, headers=world.auth("olga"))

    # A real worker in this process (what `zhisuan serve` runs) checks the simulated engine.
    worker = world.platform.worker()
    worker.step()
    monkeypatch.setattr(worker_module, "_current", worker)
    body = c.get("/api/v1/engines/health", headers=world.auth("root")).json()
    assert body["worker"] == worker.name
    live = body["centers"][0]["live"]
    assert live["reachable"] is True
    assert live["capacity"]["a100-sxm4-80gb"]["total"] == 16
    page = c.get("/operations?lang=en", headers=world.auth("olga"))
    assert page.status_code == 200 and 'href="/centers/hf-x"' in page.text and "16" in page.text
    # each pool of the centers one watches, with its utilisation as a bar, in both languages
    bars = page.text.split('id="pool-utilization"')[1].split("</table>")[0]
    assert 'data-pool="hf-x-a100"' in bars and "0 / 16" in bars and 'class="bar"' in bars
    assert "Pool utilization" in page.text
    assert "资源池利用率" in c.get("/operations?lang=zh", headers=world.auth("olga")).text
    assert 'id="pool-utilization"' not in c.get("/operations", headers=world.auth("alice")).text


def test_metrics_are_prometheus_text(world: World) -> None:
    got = world.client.get("/metrics", headers=world.auth("root"))
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert "zhisuan_queue_jobs" in got.text and "zhisuan_engine_errors_total" in got.text


def test_a_centers_jobs_are_a_list_that_sorts_filters_and_exports(world: World) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    _center(world)
    c = world.client
    for who in ("alice", "bob"):
        assert c.post("/api/v1/jobs", json=_job(), headers=world.auth(who)).status_code == 201
    c.post("/api/v1/schedule", json={}, headers=world.auth("root"))
    _login(c, "root")
    page = c.get("/centers/hf-x?lang=zh").text
    ids = re.findall(r'<a href="/jobs/(\d+)">', page.split('id="center-jobs"')[1])
    assert len(ids) == 2 and ids == sorted(ids, key=int, reverse=True)  # newest first
    up = c.get("/centers/hf-x", params={"sort": "id"}).text.split('id="center-jobs"')[1]
    assert re.findall(r'<a href="/jobs/(\d+)">', up) == ids[::-1]
    one = c.get("/centers/hf-x", params={"f_org": "甲智能科技有限公司"}).text.split('id="center-jobs"')[1]
    assert len(re.findall(r'<a href="/jobs/(\d+)">', one)) == 1
    got = c.get("/centers/hf-x", params={"export": "xlsx"})
    sheet = list(load_workbook(BytesIO(got.content)).active.iter_rows(values_only=True))
    assert sheet[0][:3] == ("#", "单位", "名称") and {r[1] for r in sheet[1:]} == {
        "甲智能科技有限公司",
        "乙智能科技有限公司",
    }
