"""The CLI as a user runs it: a real process, a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"ZHISUAN_DATA_DIR": str(data_dir), "ZHISUAN_ADMIN_PASSWORD": "admin-password"}
    env.pop("ZHISUAN_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "zhisuan", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    assert run(path, "init").returncode == 0
    return path


def test_init_prints_the_admin_login_once(tmp_path: Path) -> None:
    first = run(tmp_path, "init")
    assert first.returncode == 0 and "admin-password" in first.stdout
    second = run(tmp_path, "init")
    assert second.returncode == 0 and "admin-password" not in second.stdout


def test_org_add_list_show_json(data_dir: Path) -> None:
    added = run(
        data_dir,
        "org",
        "add",
        "--name",
        "淮南云算科技有限公司",
        "--code",
        "91350100M000100Y43",
        "--kind",
        "enterprise",
        "--city",
        "340400",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    listed = json.loads(run(data_dir, "org", "list", "--json").stdout)
    assert [o["name"] for o in listed] == ["淮南云算科技有限公司"]
    shown = json.loads(run(data_dir, "org", "show", "91350100M000100Y43", "--json").stdout)
    assert shown["city_code"] == "340400" and shown["related_parties"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--code", "91350100M000100Y44", "--city", "340100"], "check digit"),
        (["--code", "91110000600037341L", "--city", "999999"], "division code"),
        (["--code", "91110000600037341L"], "city"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    data_dir: Path, args: list[str], message: str
) -> None:
    before = run(data_dir, "org", "list", "--json").stdout
    result = run(data_dir, "org", "add", "--name", "坏输入公司", "--kind", "enterprise", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run(data_dir, "org", "list", "--json").stdout == before


def test_user_and_token_commands(data_dir: Path) -> None:
    assert (
        run(data_dir, "user", "add", "ops", "--role", "province", "--password", "password-9").returncode == 0
    )
    users = json.loads(run(data_dir, "user", "list", "--json").stdout)
    assert {"admin", "ops"} <= {u["username"] for u in users}
    token = run(data_dir, "token", "create", "ops", "--name", "ci")
    assert token.returncode == 0 and "zs_" in token.stdout
    missing = run(data_dir, "token", "create", "nobody")
    assert missing.returncode == 2 and "no such user" in missing.stderr


def test_catalog_and_cities(data_dir: Path) -> None:
    catalog = json.loads(run(data_dir, "catalog", "list", "--json", "--domestic").stdout)
    assert catalog and all(a["domestic"] for a in catalog)
    cities = json.loads(run(data_dir, "city", "list", "--json").stdout)
    assert len(cities) == 16


def test_audit_chain_verifies(data_dir: Path) -> None:
    result = run(data_dir, "audit", "verify")
    assert result.returncode == 0 and "intact" in result.stdout
