"""`zhisuan backup` and `zhisuan restore` (issue 16): a restored database has the backup's ledger and an
intact audit chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import PG_ADMIN_URL, service_missing
from zhisuan.store.db import make_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"zhisuan_backup_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        service_missing("PostgreSQL")
        return
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _cli(data_dir: Path, url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"ZHISUAN_DATA_DIR": str(data_dir), "ZHISUAN_ADMIN_PASSWORD": "admin-password"}
    env.pop("ZHISUAN_DATABASE_URL", None)
    if url is not None:
        env["ZHISUAN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "zhisuan", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _budget(data_dir: Path, url: str | None) -> str:
    got = _cli(data_dir, url, "ledger", "balance", "--json", "--account", "program_budget")
    assert got.returncode == 0, got.stderr
    return got.stdout


def test_a_restored_backup_has_its_ledger_and_an_intact_audit_chain(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "var"
    assert _cli(data, database_url, "init").returncode == 0
    fund = ("ledger", "fund", "--year", "2025", "--amount", "1000000")
    assert _cli(data, database_url, *fund, "--ref", "B-1").returncode == 0
    before = _budget(data, database_url)
    saved = tmp_path / "saved.backup"
    made = _cli(data, database_url, "backup", str(saved))
    assert made.returncode == 0 and "intact" in made.stdout, made.stderr
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    assert _cli(data, database_url, *fund, "--ref", "B-2").returncode == 0
    assert _budget(data, database_url) != before
    refused = _cli(data, database_url, "restore", str(saved))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    restored = _cli(data, database_url, "restore", str(saved), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert "ledger balances, audit chain intact" in restored.stdout
    assert _budget(data, database_url) == before
    verified = _cli(data, database_url, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    events = json.loads(_cli(data, database_url, "audit", "list", "--json").stdout)
    assert events[0]["action"] == "db.restore"
    assert [e["detail"].get("reference") for e in events if e["action"] == "ledger.fund"] == ["B-1"]
