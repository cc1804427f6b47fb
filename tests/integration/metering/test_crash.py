"""Kill the process in the middle of an import or a settlement: the database is before or after."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from zhisuan.core.clock import UTC
from zhisuan.store.db import make_engine
from zhisuan.store.migrate import upgrade
from zhisuan.store.models.compute import CenterRow, PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.ledger import LedgerPostingRow
from zhisuan.store.models.metering import UsageRecordRow, VoucherLineRow
from zhisuan.store.uow import UnitOfWork

PG_ADMIN_URL = os.environ.get("ZHISUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ZHISUAN = str(Path(sys.executable).with_name("zhisuan"))
NOW = dt.datetime(2025, 7, 2, tzinfo=UTC)
ORGS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database of its own (committed by other processes, so not the rolled-back test database)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crash.db'}"
        engine = make_engine(url)
        upgrade(engine)
        yield url, engine
        engine.dispose()
        return
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"zhisuan_crash_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        admin.dispose()
        pytest.skip("PostgreSQL not available")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _seed(engine: Engine) -> None:
    with UnitOfWork.for_engine(engine) as uow:
        s = uow.session
        s.add(
            OrganizationRow(
                id=1,
                name="operator",
                credit_code="OP0000000000000001",
                kind="center_operator",
                city_code="340100",
                in_province=True,
                created_at=NOW,
            )
        )
        for i in range(2, ORGS + 2):
            s.add(
                OrganizationRow(
                    id=i,
                    name=f"user {i}",
                    credit_code=f"US{i:016d}",
                    kind="enterprise",
                    city_code="341300",
                    in_province=True,
                    created_at=NOW,
                )
            )
        s.flush()
        s.add(
            CenterRow(
                id=1,
                key="c1",
                name="c1",
                operator_org_id=1,
                city_code="340100",
                engine_config="{}",
                created_at=NOW,
            )
        )
        s.flush()
        s.add(
            PoolRow(
                id=1,
                key="p1",
                center_id=1,
                accelerator="a100-sxm4-80gb",
                nodes=100,
                cards_per_node=8,
                price_fen=1234,
                bands="[]",
                engine_kind="simulated",
                engine_config="{}",
                available=True,
                created_at=NOW,
            )
        )
        uow.commit()


def _usage(path: Path, n: int) -> Path:
    base = dt.datetime(2025, 6, 1, tzinfo=UTC)
    with path.open("w") as fh:
        for i in range(n):
            start = base + dt.timedelta(minutes=i % 40000)
            fh.write(
                json.dumps(
                    {
                        "engine": "sim",
                        "engine_job_id": f"j{i}",
                        "org_id": 2 + i % ORGS,
                        "center_id": 1,
                        "pool_id": 1,
                        "accelerator": "a100-sxm4-80gb",
                        "cards": 1 + i % 8,
                        "start": start.isoformat(),
                        "end": (start + dt.timedelta(minutes=30 + i % 97)).isoformat(),
                    }
                )
                + "\n"
            )
    return path


def _run(url: str, tmp: Path, *args: str, kill_after: str | None = None) -> int:
    env = {
        **os.environ,
        "ZHISUAN_DATABASE_URL": url,
        "ZHISUAN_DATA_DIR": str(tmp / "var"),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [ZHISUAN, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    assert proc.stdout is not None
    if kill_after is None:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        return proc.returncode
    with proc.stdout:
        for line in proc.stdout:
            if kill_after in line:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    return proc.returncode


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.mark.slow
def test_killed_import_and_settlement_leave_before_or_after_and_rerun_finishes(fresh, tmp_path):
    url, engine = fresh
    _seed(engine)
    usage = _usage(tmp_path / "usage.jsonl", 12_000)
    code = _run(url, tmp_path, "usage", "import", str(usage), "--batch", "2000", kill_after="stored batch 1:")
    assert code == -signal.SIGKILL
    assert _count(engine, UsageRecordRow.__table__) == 0  # before: the killed transaction left nothing
    _run(url, tmp_path, "usage", "import", str(usage))
    assert _count(engine, UsageRecordRow.__table__) == 12_000
    _run(url, tmp_path, "usage", "import", str(usage))  # and again: nothing changes
    assert _count(engine, UsageRecordRow.__table__) == 12_000

    _run(url, tmp_path, "ledger", "fund", "--year", "2025", "--amount", "10000000", "--ref", "b1")
    _run(url, tmp_path, "bills", "draft", "--month", "2025-06")
    _run(url, tmp_path, "bills", "issue", "--month", "2025-06")
    _run(url, tmp_path, "bills", "pay-all", "--month", "2025-06", "--ref", "DEMO", "--date", "2025-07-01")
    postings = _count(engine, LedgerPostingRow.__table__)
    code = _run(url, tmp_path, "vouchers", "settle", "--month", "2025-06", kill_after="evaluated")
    assert code == -signal.SIGKILL
    after_kill = _count(engine, VoucherLineRow.__table__)
    assert after_kill in (0, ORGS)  # before or after, never half
    _run(url, tmp_path, "vouchers", "settle", "--month", "2025-06")
    _run(url, tmp_path, "vouchers", "settle", "--month", "2025-06")
    assert _count(engine, VoucherLineRow.__table__) == ORGS
    assert _count(engine, LedgerPostingRow.__table__) == postings + ORGS
    with engine.connect() as conn:
        billed = conn.execute(text("SELECT SUM(gross_fen) FROM bills")).scalar_one()
        granted = conn.execute(text("SELECT SUM(amount_fen) FROM voucher_lines")).scalar_one()
        exact = conn.execute(text("SELECT SUM(card_seconds) FROM usage_records")).scalar_one()
    assert 0 < granted <= billed // 5
    assert billed >= exact * 1234 // 3600 - ORGS  # one rounding per line at most
    _run(url, tmp_path, "ledger", "verify")
