"""`zhisuan awards …` as people run it (a real process and SQLite, today's date): a 2.0 art. 1 application
from the call to the payment, with the errors a careless user meets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.e2e.test_cli_foundation import run
from zhisuan.core.clock import shanghai_date
from zhisuan.core.credit_code import make_credit_code

CODE = make_credit_code("91340100MA2AW0001")


def test_a_2025_art1_application_from_call_to_payment(tmp_path: Path) -> None:
    today = shanghai_date(dt.datetime.now(dt.UTC))
    assert run(tmp_path, "init").returncode == 0
    assert (
        run(
            tmp_path,
            "org",
            "add",
            "--name",
            "己智能科技",
            "--code",
            CODE,
            "--kind",
            "enterprise",
            "--city",
            "340100",
        ).returncode
        == 0
    )
    people = (
        ("ann", "user", ("--org", CODE)),
        ("hf", "city", ("--city", "340100")),
        ("pia", "province", ()),
        ("fay", "finance", ()),
    )
    for name, role, extra in people:
        r = run(tmp_path, "user", "add", name, "--role", role, "--password", "password-9", *extra)
        assert r.returncode == 0, r.stderr
    opens, closes = (today - dt.timedelta(days=5)).isoformat(), (today + dt.timedelta(days=20)).isoformat()
    call = run(
        tmp_path,
        "awards",
        "open-call",
        "anhui-2025/art1",
        "--title",
        "场景揭榜",
        "--opens",
        opens,
        "--closes",
        closes,
        "--as",
        "pia",
        "--json",
    )
    assert call.returncode == 0, call.stderr
    call_id = json.loads(call.stdout)["id"]
    refused = run(
        tmp_path,
        "awards",
        "open-call",
        "anhui-2025/art1",
        "--title",
        "x",
        "--opens",
        opens,
        "--closes",
        closes,
        "--as",
        "ann",
    )
    assert refused.returncode == 2 and "roles" in refused.stderr and "Traceback" not in refused.stderr
    facts = tmp_path / "facts.json"
    facts.write_text(
        json.dumps(
            {"kind": "scenario_challenge", "scenario_dev_input": "3000000", "challenge_completed": True}
        ),
        encoding="utf-8",
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenario_dev_input": "lots"}', encoding="utf-8")
    wrong = run(
        tmp_path,
        "awards",
        "apply",
        str(call_id),
        "--ref",
        "P-1",
        "--name",
        "智慧港口",
        "--facts",
        str(bad),
        "--as",
        "ann",
    )
    assert wrong.returncode == 2 and "scenario_dev_input" in wrong.stderr
    applied = run(
        tmp_path,
        "awards",
        "apply",
        str(call_id),
        "--ref",
        "P-1",
        "--name",
        "智慧港口",
        "--facts",
        str(facts),
        "--event-on",
        opens,
        "--submit",
        "--as",
        "ann",
        "--json",
    )
    assert applied.returncode == 0, applied.stderr
    app = json.loads(applied.stdout)
    assert app["state"] == "city_review" and app["maximum"] == "600000.00"
    assert run(tmp_path, "awards", "review", str(app["id"]), "approve", "--as", "hf").returncode == 0
    approved = run(
        tmp_path, "awards", "review", str(app["id"]), "approve", "--amount", "500000", "--as", "pia", "--json"
    )
    assert approved.returncode == 2 and "budget" in approved.stderr  # nothing funded yet
    year = str(today.year)
    assert (
        run(
            tmp_path,
            "awards",
            "fund",
            "anhui-2025/art1",
            "--year",
            year,
            "--amount",
            "5000000",
            "--ref",
            "WJ-1",
            "--as",
            "fay",
        ).returncode
        == 0
    )
    approved = run(
        tmp_path, "awards", "review", str(app["id"]), "approve", "--amount", "500000", "--as", "pia", "--json"
    )
    assert approved.returncode == 0 and json.loads(approved.stdout)["state"] == "notice"
    notices = run(tmp_path, "awards", "notices")
    assert notices.returncode == 0 and "智慧港口" in notices.stdout
    early = run(tmp_path, "awards", "batch", "awards", "--as", "fay")
    assert early.returncode == 2 and "nothing to pay" in early.stderr
    budgets = json.loads(run(tmp_path, "awards", "budgets", "--as", "fay", "--json").stdout)
    assert budgets == [
        {
            "account": f"program_budget:anhui-2025/art1:{year}",
            "program": "anhui-2025/art1",
            "payer": "province",
            "year": int(year),
            "funded": "5000000.00",
            "committed": "500000.00",
            "paid": "0.00",
            "left": "4500000.00",
            "burn": "10.0%",
        }
    ]
    shown = run(tmp_path, "awards", "show", str(app["id"]), "--as", "ann")
    assert shown.returncode == 0 and "recommend" in shown.stdout and "公示中" in shown.stdout
    other = run(tmp_path, "awards", "show", str(app["id"]), "--as", "fay", "--json")
    assert other.returncode == 0
    assert run(tmp_path, "audit", "verify").returncode == 0
