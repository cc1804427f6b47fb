"""Policy over HTTP: the evaluation contract (single and batch), the pack browser, "what would I get?"."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.e2e.lists import cells, check_list
from tests.factories.policy import CONTRACT_KEYS

KEYS = CONTRACT_KEYS
ADMIN_ART2 = Path(__file__).parents[1] / "unit" / "policy" / "packs" / "anhui-2025-art3-test.yaml"
ART2 = {"city": "340100", "in_province": True, "self_use": False, "spend": "1000"}
ART5 = {
    "city": "341300",
    "rd_cost": 1000000.05,
    "selection_mode": "directed",
    "topic": "general_llm",
    "in_provincial_plan": True,
}


def test_evaluate_one_case_without_login(client: TestClient) -> None:
    r = client.post(
        "/api/v1/policy/evaluate", json={"id": 7, "program": "art5", "on": "2024-06-30", "facts": ART5}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == KEYS
    # a JSON number is read as an exact decimal: 1000000.05 × 20% × 1.2 = 240000.012 → 240000.01
    assert (body["id"], body["amount"], body["eligible"]) == (7, "240000.01", True)


def test_a_bad_fact_is_a_422_naming_the_field(client: TestClient) -> None:
    r = client.post(
        "/api/v1/policy/evaluate",
        json={"program": "art5", "on": "2024-06-30", "facts": {**ART5, "rd_cost": "lots"}},
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "rd_cost"


def test_batch_answers_each_case_and_flags_bad_ones(client: TestClient) -> None:
    cases = [
        {
            "id": "a",
            "program": "art14",
            "on": "2025-01-01",
            "facts": {
                "city": "341600",
                "standard_level": "international",
                "leading_drafter": True,
                "general_ai_enterprise": True,
            },
        },
        {"id": "b", "program": "art77", "on": "2025-01-01", "facts": {}},
        {
            "id": "c",
            "program": "art2",
            "on": "2026-01-01",
            "facts": {"city": "340100", "in_province": True, "self_use": False, "spend": "10"},
        },
    ]
    r = client.post("/api/v1/policy/evaluate?lang=en", json={"cases": cases})
    assert r.status_code == 200
    a, b, c = r.json()["results"]
    assert a["amount"] == "1200000.00"
    assert b["error"]["field"] == "program"
    assert (c["in_force"], c["superseded_by"], c["reasons"][0]) == (
        False,
        "anhui-2025/art3",
        "art2 was replaced by anhui-2025/art3 (compute cost) before 2026-01-01; apply under the new article",
    )
    # the same case under 2.0, pack-qualified in the batch line: a provisional estimate
    r = client.post(
        "/api/v1/policy/evaluate",
        json={"cases": [{**cases[2], "pack": "anhui-2025", "program": "art3"}]},
    )
    (d,) = r.json()["results"]
    assert (d["pack"], d["amount"], d["provisional"]) == ("anhui-2025", "2.00", True)
    assert "rate" in d["provisional_parameters"]


def test_pack_browser_endpoints(client: TestClient) -> None:
    packs = client.get("/api/v1/policy/packs").json()
    assert [p["id"] for p in packs["packs"]] == ["anhui-2023", "anhui-2025", "wuhu-compute"]
    assert len(packs["articles"]) == 16 + 4 + 1  # fifteen 2023 articles, art. 11 as two programs
    art = client.get("/api/v1/policy/articles/art2?on=2025-06-01").json()
    assert {p["name"]: p["value"] for p in art["parameters"]}["rate"] == "20%"
    assert client.get("/api/v1/policy/articles/art99").status_code == 404
    assert client.get("/api/v1/policy/packs/anhui-2023").json()["id"] == "anhui-2023"


def test_pages_browse_and_answer_what_would_i_get(client: TestClient) -> None:
    index = client.get("/policy")
    assert index.status_code == 200
    assert "算力券" in index.text
    page = client.get(
        "/policy/art5",
        params={
            "evaluate_case": 1,
            "on": "2024-06-30",
            "f_city": "341300",
            "f_rd_cost": "1000000",
            "f_selection_mode": "directed",
            "f_topic": "general_llm",
            "f_in_provincial_plan": "true",
        },
    )
    assert page.status_code == 200
    assert 'id="amount">240000.00<' in page.text
    assert "northern_anhui_uplift" in page.text
    english = client.get("/policy/art5?lang=en")
    assert "What would I get?" in english.text
    bad = client.get(
        "/policy/art5",
        params={
            "evaluate_case": 1,
            "on": "2024-06-30",
            "f_city": "341300",
            "f_rd_cost": "many",
            "f_selection_mode": "directed",
        },
    )
    assert 'id="error"' in bad.text and "rd_cost" in bad.text


def test_an_admin_pack_published_in_the_data_directory_is_answered_from(
    client: TestClient, tmp_path: Path
) -> None:
    """The API answers from the same packs as the CLI and settlement: shipped plus ``<data dir>/packs``."""
    case = {"program": "art3", "pack": "anhui-2025", "on": "2025-09-15", "facts": ART2}
    before = client.post("/api/v1/policy/evaluate", json=case).json()
    assert (before["pack"], before["amount"], before["provisional"]) == ("anhui-2025", "200.00", True)
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "art2.yaml").write_text(ADMIN_ART2.read_text(encoding="utf-8"), encoding="utf-8")
    # the running server picks the newly published version up, for single cases and batches alike
    after = client.post("/api/v1/policy/evaluate", json=case).json()
    assert (after["pack"], after["amount"]) == ("anhui-2025-art3-test", "250.00")
    batch = client.post("/api/v1/policy/evaluate", json={"cases": [{**case, "on": "2025-11-15"}]}).json()
    assert batch["results"][0]["amount"] == "300.00"
    art = client.get("/api/v1/policy/articles/art3?on=2025-11-15&pack=anhui-2025").json()
    assert (art["pack"], {p["name"]: p["value"] for p in art["parameters"]}["rate"]) == (
        "anhui-2025-art3-test",
        "30%",
    )


ART1_QUERY = {
    "evaluate_case": 1,
    "on": "2024-07-01",
    "f_city": "340100",
    "f_new_capacity_p": "399",
    "f_single_site": "true",
    "f_completion_date": "2024-06-30",
    "f_city_actual_payout": "300000",
}


def test_the_pack_page_shows_the_official_title_and_date_not_a_file_name(client: TestClient) -> None:
    index = client.get("/policy").text
    assert "《打造通用人工智能产业创新和应用高地若干政策》 安徽省人民政府 · 发布 2023-11-08" in index
    assert "《打造通用人工智能产业创新和应用高地若干政策（2.0版）》" in index
    assert ".txt" not in index and "seeds/" not in index and ".md" not in index
    assert "POLICY" not in index and "position 1" not in index
    # art. 1 lists both parts' lead units
    assert "智算中心建设要素保障：省发展改革委" in index


def test_the_article_page_shows_each_part_with_its_units_and_conditions(client: TestClient) -> None:
    page = client.get("/policy/art1?on=2024-07-01").text
    assert 'id="part-construction_support"' in page and 'id="part-capacity_match"' in page
    assert "省自然资源厅" in page and "省国资委" in page and "相关市人民政府" in page
    assert "优先纳入省政府重点项目" in page
    assert "项目新增算力规模 ≥ 400 P" in page  # the condition in words, with the figure in force
    art8 = client.get("/policy/art8?on=2024-07-01").text
    assert "资金用途: 智能算力建设；招引重点企业" in art8
    assert "属于 通用大模型、行业大模型、跨领域应用企业、新兴算力企业、安全人工智能企业" in art8
    english = client.get("/policy/art5?on=2024-07-01&lang=en").text
    assert (
        "research topic is one of general_llm, industry_llm, secure_controllable, other_general_ai_path"
        in english
    )


def test_a_chinese_page_explains_the_decision_in_chinese_with_every_part(client: TestClient) -> None:
    page = client.get("/policy/art1", params=ART1_QUERY).text
    assert 'id="amount">0.00<' in page
    assert 'id="decision-part-construction_support"' in page
    assert "不通过：项目新增算力规模 = 399 &lt; 400" in page and "有效" in page  # fact by its name
    assert "pass:" not in page and "fail:" not in page and "skipped:" not in page
    assert "另：智算中心建设要素保障" in page
    english = client.get("/policy/art1", params={**ART1_QUERY, "lang": "en"}).text
    assert "fail: new_capacity_p = 399 &lt; 400" in english


def test_art11_is_two_programs_over_http(client: TestClient) -> None:
    assert client.get("/policy/art11a").status_code == 200
    assert client.get("/policy/art11b").status_code == 200
    assert client.get("/policy/art11").status_code == 404
    r = client.post(
        "/api/v1/policy/evaluate",
        json={
            "program": "art11b",
            "on": "2024-04-01",
            "facts": {"key_firm_founder_or_core_staff": True, "firm_lands_in_province": True},
        },
    )
    assert (r.status_code, r.json()["eligible"]) == (200, True)
    r = client.post("/api/v1/policy/evaluate", json={"program": "art11", "on": "2024-04-01", "facts": {}})
    assert r.status_code == 422 and "art11a, art11b" in r.json()["error"]["message"]


def test_the_api_answers_art1_with_its_parts_and_describes_them(client: TestClient) -> None:
    facts = {k[2:]: v for k, v in ART1_QUERY.items() if k.startswith("f_")}
    body = client.post(
        "/api/v1/policy/evaluate?lang=zh", json={"program": "art1", "on": "2024-07-01", "facts": facts}
    ).json()
    assert (body["eligible"], body["amount"]) == (False, "0.00")
    assert [(p["part"], p["eligible"], p["money"], p["lead_unit"]) for p in body["parts"]] == [
        ("construction_support", True, False, "省发展改革委"),
        ("capacity_match", False, True, "省人工智能产业推进组工作专班"),
    ]
    assert body["steps"][0]["result"] == "有效"
    art = client.get("/api/v1/policy/articles/art1?on=2024-07-01").json()
    assert [p["id"] for p in art["parts"]] == ["construction_support", "capacity_match"]
    assert art["parts"][0]["cooperating_units"] == ["省财政厅", "省自然资源厅", "省国资委"]


def test_the_articles_of_every_pack_are_one_list(client: TestClient) -> None:
    headers = ["#", "政策包", "条款", "措施", "判定事项的日期范围", "替代条款"]
    rows = check_list(client, "/policy", "articles", "article", headers)
    assert {r[2] for r in rows[1:]} >= {"art1", "art5"} and "算力券" in {str(r[3]) for r in rows[1:]}
    assert any("智算中心建设要素保障：省发展改革委；" in str(r[9]) for r in rows[1:])  # every part
    live = cells(client.get("/policy", params={"f_in_force": "no"}).text, "articles", "in_force")
    assert set(live) <= {"否"} and len(live) < len(rows) - 1
    city = cells(client.get("/policy", params={"f_payee": "the city government"}).text, "articles", "payee")
    assert city and set(city) == {"市级政府"}
