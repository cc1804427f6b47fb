"""The compute commands as a user runs them: a real process on a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli_foundation import run
from zhisuan.core.credit_code import make_credit_code

OPERATOR = make_credit_code("91340100MA2CL0001")
USER = make_credit_code("91340100MA2CL0002")


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-compute")
    assert run(path, "init").returncode == 0
    steps = [
        ("org", "add", "--name", "丁算力运营", "--code", OPERATOR, "--kind", "center_operator",
         "--city", "340100"),
        ("org", "add", "--name", "戊智能科技", "--code", USER, "--kind", "enterprise", "--city", "340100"),
        ("center", "add", "--key", "hf-cli", "--name", "合肥中心", "--operator", OPERATOR,
         "--city", "340100"),
        ("pool", "add", "hf-cli", "--key", "hf-cli-a100", "--accelerator", "a100-sxm4-80gb", "--nodes", "2",
         "--price", "18.00", "--band", "0-8=12.50"),
    ]  # fmt: skip
    for args in steps:
        done = run(path, *args)
        assert done.returncode == 0, done.stderr
    return path


def _jobs(path: Path) -> list[dict[str, object]]:
    listed = run(path, "job", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    jobs: list[dict[str, object]] = json.loads(listed.stdout)
    return jobs


def test_center_list_json_shows_capacity_and_pools(province: Path) -> None:
    listed = run(province, "center", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [center] = json.loads(listed.stdout)
    assert center["key"] == "hf-cli" and center["cards"] == 16
    assert center["pools"][0]["bands"][0] == {"from": 0, "to": 8, "price_yuan_per_card_hour": "12.50"}


def test_submit_schedule_show_and_cancel(province: Path) -> None:
    sent = run(
        province, "job", "submit", "--org", USER, "--name", "cli-job", "--command", "python a.py",
        "--cards", "8", "--runtime", "1h30m", "--json",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    job = json.loads(sent.stdout)
    assert job["state"] == "queued" and job["runtime_s"] == 5400
    scheduled = run(province, "schedule", "--json")
    assert scheduled.returncode == 0, scheduled.stderr
    assert json.loads(scheduled.stdout)[0]["placed"] == [{"job": job["id"], "pool": "hf-cli-a100"}]
    shown = json.loads(run(province, "job", "show", str(job["id"]), "--json").stdout)
    assert [e["to"] for e in shown["events"]] == ["queued", "placed"]
    assert run(province, "job", "cancel", str(job["id"])).returncode == 0
    assert json.loads(run(province, "job", "show", str(job["id"]), "--json").stdout)["state"] == "cancelled"


BAD_JOBS = [
    (("--cards", "64", "--runtime", "1h"), "64 cards at once"),
    (("--cards", "8", "--runtime", "soon"), "not a duration"),
    (("--cards", "8", "--runtime", "1h", "--accelerator", "no-such-card"), "no accelerator"),
    (("--cards", "8", "--runtime", "1h", "--price-ceiling", "1.00"), "ceiling"),
]


def test_bad_job_exits_2_with_one_red_line_and_writes_nothing(province: Path) -> None:
    before = len(_jobs(province))
    for args, words in BAD_JOBS:
        done = run(province, "job", "submit", "--org", USER, "--name", "x", "--command", "y", *args)
        assert done.returncode == 2, args
        assert words in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert len(_jobs(province)) == before


def test_bad_pool_and_quota_input_exit_2(province: Path) -> None:
    bad_band = run(
        province, "pool", "add", "hf-cli", "--key", "p2", "--accelerator", "h20-96gb", "--nodes", "1",
        "--price", "9", "--band", "night=5",
    )  # fmt: skip
    assert bad_band.returncode == 2 and "FROM-TO=PRICE" in bad_band.stderr
    unknown_model = run(province, "quota", "set", USER, "--model-cards", "nope=4")
    assert unknown_model.returncode == 2 and "no accelerator" in unknown_model.stderr
    assert json.loads(run(province, "quota", "list", "--json").stdout) == []
    assert len(json.loads(run(province, "pool", "list", "--json").stdout)) == 1
