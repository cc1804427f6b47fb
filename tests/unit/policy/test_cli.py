"""`zhisuan policy …` answers in the documented JSON shape; bad input exits 2; batch lines stand alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.factories.policy import CONTRACT_KEYS
from zhisuan.cli import _platform
from zhisuan.cli.policy import app
from zhisuan.policy import builtin_pack_dir

runner = CliRunner()
KEYS = CONTRACT_KEYS


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test's CLI runs on its own data directory (the platform is built once per process)."""
    monkeypatch.setenv("ZHISUAN_DATA_DIR", str(tmp_path))
    _platform.platform.cache_clear()
    yield tmp_path
    _platform.platform.cache_clear()


def _facts(tmp_path: Path, facts: object) -> str:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    return str(path)


def test_evaluate_one_case_prints_the_contract_object(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        {
            "city": "341300",
            "rd_cost": 1000000.5,
            "selection_mode": "open_challenge",
            "topic": "general_llm",
            "in_provincial_plan": True,
        },
    )
    result = runner.invoke(app, ["evaluate", "art5", "--facts", facts, "--on", "2024-06-30"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out) == KEYS
    # JSON numbers are read as exact decimals: 1000000.5 × 20% × 1.2 = 240000.12
    assert (out["amount"], out["pack"], out["payee"], out["eligible"]) == (
        "240000.12",
        "anhui-2023",
        "applicant",
        True,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "art5", "--on", "2024-06-30"],
        ["evaluate", "art99", "--facts", "FACTS", "--on", "2024-06-30"],
        ["evaluate", "art5", "--facts", "FACTS", "--on", "June"],
        ["evaluate", "art5", "--facts", "FACTS", "--on", "2024-06-30", "--pack", "nope"],
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str]) -> None:
    facts = _facts(
        tmp_path,
        {
            "city": "340100",
            "rd_cost": "1",
            "selection_mode": "directed",
            "topic": "general_llm",
            "in_provincial_plan": True,
        },
    )
    result = runner.invoke(app, [facts if a == "FACTS" else a for a in args])
    assert result.exit_code == 2


def test_an_ill_typed_fact_exits_2_naming_the_field(tmp_path: Path) -> None:
    facts = _facts(
        tmp_path,
        {
            "city": "340100",
            "rd_cost": "lots",
            "selection_mode": "directed",
            "topic": "general_llm",
            "in_provincial_plan": True,
        },
    )
    result = runner.invoke(app, ["evaluate", "art5", "--facts", facts, "--on", "2024-06-30"])
    assert result.exit_code == 2
    assert "rd_cost" in result.stderr
    assert result.stdout == ""


def test_batch_answers_good_lines_and_flags_bad_ones(tmp_path: Path) -> None:
    lines = [
        {
            "id": "a",
            "program": "art14",
            "on": "2025-01-01",
            "facts": {
                "city": "340100",
                "standard_level": "international",
                "leading_drafter": True,
                "general_ai_enterprise": True,
            },
        },
        "not json",
        {"id": "c", "program": "art5", "on": "2024-06-30", "facts": {"city": "340100"}},
        {
            "id": "d",
            "program": "art2",
            "on": "2026-01-01",
            "facts": {"city": "340100", "in_province": True, "self_use": False, "spend": "1"},
        },
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["evaluate", "--batch", str(path)])
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 4
    assert list(out[0]) == KEYS
    assert out[0]["amount"] == "1000000.00"
    assert out[1]["error"]["code"] == "invalid_json"
    assert out[1]["line"] == 2
    assert (out[2]["id"], out[2]["error"]["field"]) == ("c", "rd_cost")
    assert (out[3]["in_force"], out[3]["amount"]) == (False, "0.00")


def test_list_and_show_as_json() -> None:
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0
    listing = json.loads(result.stdout)
    # fifteen articles, art. 11 as its two programs (art11a, art11b)
    assert len([a for a in listing["articles"] if a["pack"] == "anhui-2023"]) == 16
    shown = json.loads(runner.invoke(app, ["show", "art2", "--on", "2025-06-01", "--json"]).stdout)
    params = {p["name"]: p for p in shown["parameters"]}
    assert params["rate"]["value"] == "20%"
    assert params["annual_cap_per_org"]["value"] == "none"
    assert params["budget_exhausted"]["value"] == "queued"
    assert params["rate"]["history"] == [{"from": "2023-11-08", "value": "20%"}]


def test_show_reports_no_policy_in_force() -> None:
    shown = json.loads(runner.invoke(app, ["show", "art2", "--on", "2026-01-01", "--json"]).stdout)
    assert shown["in_force"] is False


def test_validate_runs_the_cases_beside_the_pack() -> None:
    result = runner.invoke(app, ["validate", str(builtin_pack_dir() / "anhui-2023.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["valid"] and out["cases"] > 100 and out["failed"] == []


def test_validate_a_broken_pack_names_file_line_and_key(tmp_path: Path) -> None:
    text = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        text.replace(
            '      match_rate: {type: rate, value: "1/3"}', '      match_rate: {type: rate, value: "a third"}'
        ),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(broken)])
    assert result.exit_code == 2
    assert "broken.yaml:" in result.stderr
    assert "articles.art1.parameters.match_rate.value" in result.stderr


def test_a_diff_shows_a_part_whose_units_change(tmp_path: Path) -> None:
    text = (builtin_pack_dir() / "anhui-2023.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "units.yaml"
    changed.write_text(
        text.replace("id: anhui-2023", "id: units-test").replace(
            "        lead_unit: 省发展改革委\n", "        lead_unit: 省财政厅\n"
        ),
        encoding="utf-8",
    )
    diff = json.loads(runner.invoke(app, ["diff", "anhui-2023", str(changed), "--json"]).stdout)
    (change,) = [c for c in diff["changes"] if c["what"] == "part construction_support"]
    assert change["article"] == "art1"
    assert "省发展改革委、省财政厅" in change["a"] and change["b"].startswith(
        "eligibility; 省财政厅、省财政厅"
    )


def test_an_admin_pack_is_picked_up_and_diffed(data_dir: Path) -> None:
    (data_dir / "packs").mkdir()
    src = Path(__file__).parent / "packs" / "anhui-2025-test.yaml"
    (data_dir / "packs" / "successor.yaml").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    ids = {p["id"] for p in json.loads(runner.invoke(app, ["list", "--json"]).stdout)["packs"]}
    assert ids == {"anhui-2023", "anhui-2025", "anhui-2025-test", "wuhu-compute"}
    diff = json.loads(runner.invoke(app, ["diff", "anhui-2023", "anhui-2025-test", "--json"]).stdout)
    assert diff["b_supersedes"] == {"anhui-2023": {"art6": "2025-08-11"}}
    assert any(c["article"] == "art6" and c["what"] == "fact development_input" for c in diff["changes"])
    assert any(c["article"] == "art5" and c["what"] == "article" for c in diff["changes"])


ADMIN_ART2 = Path(__file__).parent / "packs" / "anhui-2025-art3-test.yaml"
ART2 = {"city": "340100", "in_province": True, "self_use": False, "spend": "1000"}


def test_evaluate_answers_from_an_admin_pack_in_the_data_directory(data_dir: Path) -> None:
    facts = _facts(data_dir, ART2)
    args = ["evaluate", "anhui-2025/art3", "--facts", facts, "--on", "2025-09-15"]
    before = json.loads(runner.invoke(app, args).stdout)
    # 2.0 art. 3 on its provisional placeholder: an estimate
    assert (before["pack"], before["amount"], before["provisional"]) == ("anhui-2025", "200.00", True)
    (data_dir / "packs").mkdir()
    (data_dir / "packs" / "art2.yaml").write_text(ADMIN_ART2.read_text(encoding="utf-8"), encoding="utf-8")
    _platform.platform.cache_clear()  # a new command is a new process
    after = json.loads(runner.invoke(app, args).stdout)
    assert (after["pack"], after["amount"], after["provisional"]) == ("anhui-2025-art3-test", "250.00", False)
    batch = data_dir / "cases.jsonl"
    batch.write_text(
        json.dumps({"id": 1, "pack": "anhui-2025", "program": "art3", "on": "2025-11-15", "facts": ART2})
        + "\n",
        encoding="utf-8",
    )
    line = json.loads(runner.invoke(app, ["evaluate", "--batch", str(batch), "--workers", "2"]).stdout)
    assert (line["pack"], line["amount"]) == ("anhui-2025-art3-test", "300.00")


def test_the_packs_folder_can_be_set_apart_from_the_data_directory(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = data_dir / "published"
    folder.mkdir()
    (folder / "art2.yaml").write_text(ADMIN_ART2.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("ZHISUAN_PACKS_DIR", str(folder))
    args = [
        "evaluate",
        "art3",
        "--pack",
        "anhui-2025",
        "--facts",
        _facts(data_dir, ART2),
        "--on",
        "2025-09-15",
    ]
    assert json.loads(runner.invoke(app, args).stdout)["amount"] == "250.00"


def test_batch_with_two_workers_answers_in_input_order(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": i,
                "program": "art5",
                "on": "2024-06-30",
                "facts": {
                    "city": "340100",
                    "rd_cost": str(1000 * i),
                    "selection_mode": "directed",
                    "topic": "general_llm",
                    "in_provincial_plan": True,
                },
            }
        )
        for i in range(2500)
    ]
    lines.insert(7, "{broken")
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one = runner.invoke(app, ["evaluate", "--batch", str(path)])
    two = runner.invoke(app, ["evaluate", "--batch", str(path), "--workers", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout
    out = [json.loads(x) for x in two.stdout.splitlines()]
    assert len(out) == 2501
    assert out[7]["error"]["code"] == "invalid_json"
    assert [o["id"] for o in out if "error" not in o] == list(range(2500))


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "art5", "--on", "2024-06-30"],
        ["show", "art9", "--on", "2026-06-30"],
        ["diff", "anhui-2023", "anhui-2023"],
    ],
)
def test_human_output_commands_succeed(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_batch_answers_the_2_0_contract_fields_for_both_packs(data_dir: Path) -> None:
    voucher = {"city": "340100", "in_province": True, "self_use": False, "spend": "1000"}
    bench = {
        "city": "340100",
        "scenario_dev_input": "1000000",
        "benchmark_selected": True,
        "funded_under_art1": True,
    }
    lines = [
        {"id": "old", "program": "art2", "on": "2025-08-10", "facts": voucher},
        {"id": "cut", "program": "art2", "on": "2025-08-11", "facts": voucher},
        {"id": "new", "pack": "anhui-2025", "program": "art3", "on": "2025-08-11", "facts": voucher},
        {"id": "qualified", "program": "anhui-2025/art2", "on": "2025-10-01", "facts": bench},
    ]
    batch = data_dir / "both.jsonl"
    batch.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "--batch", str(batch), "--lang", "en"])
    assert result.exit_code == 0, result.output
    old, cut, new, qualified = (json.loads(x) for x in result.stdout.splitlines())
    assert (old["pack"], old["amount"], old["provisional"], "superseded_by" in old) == (
        "anhui-2023",
        "200.00",
        False,
        False,
    )
    assert (cut["in_force"], cut["eligible"], cut["amount"], cut["superseded_by"]) == (
        False,
        False,
        "0.00",
        "anhui-2025/art3",
    )
    assert (new["pack"], new["amount"], new["provisional"]) == ("anhui-2025", "200.00", True)
    assert new["provisional_parameters"] == [
        "annual_cap_per_org",
        "in_province_required",
        "rate",
        "self_use_excluded",
    ]
    assert (qualified["pack"], qualified["eligible"], qualified["provisional"]) == (
        "anhui-2025",
        False,
        False,
    )
    assert any("no double funding" in r for r in qualified["reasons"])


ART1 = {
    "city": "340100",
    "new_capacity_p": "300",
    "single_site": True,
    "completion_date": "2024-06-30",
    "city_actual_payout": "300000",
}


def test_lang_zh_gives_chinese_steps_and_reasons_and_every_part(tmp_path: Path) -> None:
    facts = _facts(tmp_path, ART1)
    result = runner.invoke(app, ["evaluate", "art1", "--facts", facts, "--on", "2024-07-01", "--lang", "zh"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["eligible"], out["amount"]) == (False, "0.00")
    results = [s["result"] for s in out["steps"]]
    assert results[:2] == ["有效", "不通过：new_capacity_p = 300 < 400"]
    assert not any(r.startswith(("pass", "fail", "skipped")) for r in results)
    assert out["reasons"][0] == "新增算力规模未达到门槛（不少于 400P）"
    assert [(p["part"], p["eligible"], p["lead_unit"]) for p in out["parts"]] == [
        ("construction_support", True, "省发展改革委"),
        ("capacity_match", False, "省人工智能产业推进组工作专班"),
    ]


@pytest.mark.parametrize(
    ("program", "facts", "lead"),
    [
        ("art11a", {"general_ai_professional": True}, "省人力资源社会保障厅"),
        (
            "art11b",
            {"key_firm_founder_or_core_staff": True, "firm_lands_in_province": True},
            "相关市人民政府",
        ),
    ],
)
def test_both_art11_programs_are_evaluable(
    tmp_path: Path, program: str, facts: dict[str, object], lead: str
) -> None:
    result = runner.invoke(
        app, ["evaluate", program, "--facts", _facts(tmp_path, facts), "--on", "2024-04-01", "--lang", "zh"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["program"], out["eligible"], out["amount"]) == (program, True, "0.00")
    assert lead in out["reasons"][0]


def test_art11_alone_exits_2_naming_its_two_programs(tmp_path: Path) -> None:
    facts = _facts(tmp_path, {"general_ai_professional": True})
    result = runner.invoke(app, ["evaluate", "art11", "--facts", facts, "--on", "2024-04-01"])
    assert result.exit_code == 2
    assert "art11a, art11b" in result.stderr


def test_list_shows_the_official_title_and_date_not_a_file_name() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    assert "《打造通用人工智能产业创新和应用高地若干政策》" in result.stdout
    assert "2023-11-08" in result.stdout and ".yaml" not in result.stdout
