"""The command line after issue 16: acts as a named account, audits it, names a tampered event, manages
accounts, and answers unreadable files with one line and exit 2."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.e2e.test_cli_foundation import run
from zhisuan.core.credit_code import make_credit_code


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-hardening")
    assert run(path, "init").returncode == 0
    assert run(path, "user", "add", "pia", "--role", "province", "--password", "password-9").returncode == 0
    return path


def test_data_files_are_readable_by_their_owner_only(data_dir: Path) -> None:
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("zhisuan.db", "secret_key", "audit_key"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name


def test_actions_name_the_account_the_cli_acts_as(data_dir: Path) -> None:
    assert run(data_dir, "--as", "pia", "user", "list").returncode == 0
    code = make_credit_code("91340100MA2E2E009")
    made = run(
        data_dir,
        "--as",
        "pia",
        "org",
        "add",
        "--name",
        "丁公司",
        "--code",
        code,
        "--kind",
        "enterprise",
        "--city",
        "340100",
    )
    assert made.returncode == 0, made.stderr
    events = json.loads(run(data_dir, "audit", "list", "--json", "--action", "org.").stdout)
    assert events[0]["actor"] == "pia"
    default = run(data_dir, "token", "create", "pia", "--name", "theirs")
    assert default.returncode == 0
    events = json.loads(run(data_dir, "audit", "list", "--json", "--action", "token.").stdout)
    assert events[0]["actor"].startswith("cli:")
    nobody = run(data_dir, "--as", "nobody", "user", "list")
    assert nobody.returncode == 2 and "no account 'nobody'" in nobody.stderr


def test_accounts_are_disabled_enabled_given_roles_and_new_passwords(data_dir: Path) -> None:
    assert (
        run(data_dir, "user", "add", "fin", "--role", "finance", "--password", "password-9").returncode == 0
    )
    assert run(data_dir, "user", "disable", "fin").returncode == 0
    assert run(data_dir, "--as", "fin", "user", "list").returncode == 2  # a disabled account acts no more
    assert run(data_dir, "user", "enable", "fin").returncode == 0
    assert run(data_dir, "user", "role", "fin", "--role", "province").returncode == 0
    reset = run(data_dir, "user", "password", "fin")
    assert reset.returncode == 0 and "password reset" in reset.stdout
    actions = [
        e["action"] for e in json.loads(run(data_dir, "audit", "list", "--json", "--action", "user.").stdout)
    ]
    assert {"user.disable", "user.enable", "user.role", "user.password"} <= set(actions)


def test_audit_verify_names_the_first_tampered_event(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    for name in ("u1", "u2", "u3"):
        assert (
            run(tmp_path, "user", "add", name, "--role", "province", "--password", "password-9").returncode
            == 0
        )
    assert "intact" in run(tmp_path, "audit", "verify").stdout
    with sqlite3.connect(tmp_path / "zhisuan.db") as conn:
        (actor,) = conn.execute("SELECT actor FROM audit_events WHERE id = 2").fetchone()
        conn.execute("UPDATE audit_events SET actor = 'someone-else' WHERE id = 2")
    broken = run(tmp_path, "audit", "verify")
    assert broken.returncode == 1 and "at event 2" in broken.stderr
    with sqlite3.connect(tmp_path / "zhisuan.db") as conn:
        conn.execute("UPDATE audit_events SET actor = ? WHERE id = 2", (actor,))
        conn.execute("DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)")
    trimmed = run(tmp_path, "audit", "verify")
    assert trimmed.returncode == 1 and "signed head" in trimmed.stderr


def test_unreadable_usage_files_are_one_line_and_exit_2(data_dir: Path, tmp_path: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("engine,engine_job_id\nsimulated,caf\xe9\n".encode("latin-1"))
    for path, says in (
        (latin, "not UTF-8"),
        (tmp_path, "is a directory"),
        (tmp_path / "none.csv", "no such file"),
    ):
        got = run(data_dir, "usage", "import", str(path))
        assert got.returncode == 2 and says in got.stderr and "Traceback" not in got.stderr


def test_a_usage_csv_with_a_byte_order_mark_is_read(data_dir: Path, tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    header = "engine,engine_job_id,org_id,center_id,pool_id,accelerator,cards,start,end\n"
    bom.write_bytes(b"\xef\xbb\xbf" + header.encode())
    got = run(data_dir, "usage", "import", str(bom))
    assert "engine" not in got.stderr  # the first column is found (it was '\ufeffengine' before)


def test_an_impossible_date_in_a_pack_is_one_line_and_exit_2(data_dir: Path, tmp_path: Path) -> None:
    """Issue 16: ``2024-02-30`` in a pack printed a traceback (exit 1); now the file, line and date."""
    shipped = Path(__file__).parents[1] / "factories" / "packs" / "wuhu-compute-test.yaml"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        shipped.read_text(encoding="utf-8").replace(
            "effective: {from: 2025-09-01}", "effective: {from: 2024-02-30}"
        ),
        encoding="utf-8",
    )
    got = run(data_dir, "policy", "validate", str(bad))
    assert got.returncode == 2 and "Traceback" not in got.stderr
    assert "bad.yaml:" in got.stderr and "not a date: '2024-02-30'" in got.stderr
