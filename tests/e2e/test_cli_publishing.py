"""`zhisuan policy publish | versions | approve | reject` as a user runs them (a real process and SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_foundation import run

SAMPLE = Path(__file__).resolve().parents[1] / "factories" / "packs" / "test-publish-art2.yaml"


def test_publish_approve_reject_from_the_command_line(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    for name in ("pia", "pete"):
        assert (
            run(tmp_path, "user", "add", name, "--role", "province", "--password", "password-9").returncode
            == 0
        )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        SAMPLE.read_text(encoding="utf-8").replace("payee: applicant", "payee: x"), encoding="utf-8"
    )
    refused = run(tmp_path, "policy", "publish", str(bad), "--as", "pia")
    assert (
        refused.returncode == 2 and "bad.yaml:" in refused.stderr and "articles.art2.payee" in refused.stderr
    )
    checked = run(tmp_path, "policy", "publish", str(SAMPLE), "--check", "--as", "pia")
    assert checked.returncode == 0 and "valid" in checked.stdout
    assert json.loads(run(tmp_path, "policy", "versions", "--json").stdout)["versions"] == []

    published = run(tmp_path, "policy", "publish", str(SAMPLE), "--as", "pia", "--note", "25%", "--json")
    assert published.returncode == 0, published.stderr
    first = json.loads(published.stdout)
    assert first["state"] == "submitted" and first["version"] == 1
    own = run(tmp_path, "policy", "approve", str(first["id"]), "--as", "pia")
    assert own.returncode == 2 and "second province user" in own.stderr
    approved = run(tmp_path, "policy", "approve", str(first["id"]), "--as", "pete")
    assert approved.returncode == 0 and "approved version 1" in approved.stdout

    facts = tmp_path / "facts.json"
    facts.write_text('{"city": "340100", "in_province": true, "self_use": false, "spend": "1000"}')
    answer = run(
        tmp_path,
        "policy",
        "evaluate",
        "art2",
        "--facts",
        str(facts),
        "--on",
        "2025-09-15",
        "--pack",
        "test-publish-art2",
    )
    assert answer.returncode == 0 and json.loads(answer.stdout)["amount"] == "250.00"

    second = json.loads(run(tmp_path, "policy", "publish", str(SAMPLE), "--as", "pete", "--json").stdout)
    assert second["version"] == 2
    no_reason = run(tmp_path, "policy", "reject", str(second["id"]), "--reason", " ", "--as", "pia")
    assert no_reason.returncode == 2 and "reason" in no_reason.stderr
    rejected = run(tmp_path, "policy", "reject", str(second["id"]), "--reason", "same as v1", "--as", "pia")
    assert rejected.returncode == 0
    states = {
        v["version"]: v["state"]
        for v in json.loads(run(tmp_path, "policy", "versions", "--json").stdout)["versions"]
    }
    assert states == {1: "approved", 2: "rejected"}
    assert "intact" in run(tmp_path, "audit", "verify").stdout
