"""kill -9 of a voucher settlement at random moments (issue 16): after each kill the database is before
or after, the ledger balances, nothing is paid twice, and the rerun settles everything exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.metering.test_crash import ORGS, ZHISUAN, _count, _run, _seed, _usage, fresh
from zhisuan import audit
from zhisuan.audit import Seal
from zhisuan.ledger import services as ledger
from zhisuan.store.models.ledger import LedgerPostingRow
from zhisuan.store.models.metering import VoucherLineRow
from zhisuan.store.uow import UnitOfWork

__all__ = ["fresh"]  # the fixture, shared with test_crash


def _kill_after(url: str, tmp: Path, seconds: float, *args: str) -> int | None:
    """Run a command; ``seconds`` after it says it starts writing ("evaluated …"), kill -9 it."""
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
    with proc.stdout:
        for line in proc.stdout:
            if "evaluated" in line:
                time.sleep(seconds)  # somewhere in writing the lines, posting or committing
                break
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


@pytest.mark.slow
def test_settlement_killed_at_random_moments_is_before_or_after(
    fresh: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = fresh
    _seed(engine)
    _run(url, tmp_path, "usage", "import", str(_usage(tmp_path / "usage.jsonl", 3_000)))
    _run(url, tmp_path, "ledger", "fund", "--year", "2025", "--amount", "10000000", "--ref", "b1")
    _run(url, tmp_path, "bills", "draft", "--month", "2025-06")
    _run(url, tmp_path, "bills", "issue", "--month", "2025-06")
    _run(url, tmp_path, "bills", "pay-all", "--month", "2025-06", "--ref", "R", "--date", "2025-07-01")
    postings = _count(engine, LedgerPostingRow.__table__)
    rng = random.Random(16)
    for _ in range(4):
        _kill_after(url, tmp_path, rng.uniform(0.0, 0.4), "vouchers", "settle", "--month", "2025-06")
        lines = _count(engine, VoucherLineRow.__table__)
        assert lines in (0, ORGS)  # never half a settlement
        assert _count(engine, LedgerPostingRow.__table__) == postings + lines  # each line posted once
        with UnitOfWork.for_engine(engine) as uow:
            assert ledger.verify(uow.session) == []
    _run(url, tmp_path, "vouchers", "settle", "--month", "2025-06")
    _run(url, tmp_path, "vouchers", "settle", "--month", "2025-06")
    assert _count(engine, VoucherLineRow.__table__) == ORGS
    assert _count(engine, LedgerPostingRow.__table__) == postings + ORGS  # nothing paid twice
    with UnitOfWork.for_engine(engine, seal=Seal.for_data_dir(tmp_path / "var")) as uow:
        assert ledger.verify(uow.session) == []
        assert audit.verify(uow).intact
