"""`zhisuan registries …` and `zhisuan matching` as people run them (a real process and SQLite): a city
official's entries, a refused import with its line, an export read back, a bulletin, matching."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_foundation import run


def test_a_city_official_keeps_its_registry_from_the_command_line(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    for name, role, extra in (("hf", "city", ("--city", "340100")), ("wh", "city", ("--city", "340200"))):
        assert (
            run(tmp_path, "user", "add", name, "--role", role, "--password", "password-9", *extra).returncode
            == 0
        )
    park = ("--set", "title=示范园", "--set", "ai_enterprises=61", "--set", "total_enterprises=100")
    added = run(
        tmp_path, "registries", "add", "parks", *park, "--set", "roster_on=2025-06-30", "--as", "hf", "--json"
    )
    assert added.returncode == 0, added.stderr
    entry = json.loads(added.stdout)
    assert (entry["city"], entry["share"], entry["above_threshold"]) == ("340100", "61.00%", True)
    refused = run(
        tmp_path, "registries", "set", "parks", str(entry["id"]), "--set", "sites_m2=1", "--as", "wh"
    )
    assert refused.returncode == 2 and "may not write" in refused.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("园区名称,通用人工智能企业数,入园企业总数,名录日期\n乙,3,2,2025-06-30\n", encoding="utf-8")
    out = run(tmp_path, "registries", "import", "parks", str(bad), "--as", "hf")
    assert out.returncode == 2 and "line 2, column ai_enterprises" in out.stderr
    exported = tmp_path / "parks.xlsx"
    assert run(tmp_path, "registries", "export", "parks", str(exported)).returncode == 0
    again = run(tmp_path, "registries", "import", "parks", str(exported), "--as", "hf")
    assert again.returncode == 0 and "0 added, 0 changed" in again.stdout
    listed = run(tmp_path, "registries", "list", "parks", "--where", "city=合肥", "--json")
    assert json.loads(listed.stdout)["total"] == 1
    assert run(tmp_path, "registries", "bulletin", "draft", "annual", "2025").returncode == 0
    firm = run(
        tmp_path,
        "registries",
        "add",
        "enterprises",
        "--set",
        "title=某企业",
        "--set",
        "category=secure_ai",
        "--set",
        "introduced_on=2025-02-01",
        "--as",
        "wh",
        "--json",
    )
    firm_id = json.loads(firm.stdout)["id"]
    assert run(tmp_path, "matching", str(firm_id), "--as", "hf").returncode == 2  # another city's firm
    matched = run(tmp_path, "matching", str(firm_id), "--as", "wh", "--json")
    assert matched.returncode == 0 and json.loads(matched.stdout)["compute"] == []  # no centers yet
