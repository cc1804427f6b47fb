# ruff: noqa: S608  -- the benchmark runs our own command and psql; SQL text from constants
"""Usage ingest, each path against the smallest thing that does the same work, in the same run.

* **PostgreSQL, end to end**: ``zhisuan usage import FILE.csv`` (a real process: read, validate,
  split at month edges, price, stage, check, insert) against psql's ``\\copy`` of the same file into
  a staging table + one ``INSERT … SELECT … ON CONFLICT (key) DO NOTHING`` that builds the key, the
  card-seconds, the list price and the month in SQL (no checks, no splitting). Each on a fresh
  database; then the same file again through ``zhisuan usage import`` (adds nothing). The command's
  modules are compiled to bytecode once before (as an installed package's are), even where the
  shell sets ``PYTHONDONTWRITEBYTECODE``.
* **SQLite, the store** (``store_rows``, the import's writer, given priced rows) against one
  ``executemany`` of ``INSERT OR IGNORE`` of the same rows (the date columns converted the same way),
  each on a fresh database; and the SQLite import end to end for information.

Usage::

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--store-rows 200000] [--only sqlite|postgresql]

Prints ratios first (zhisuan ÷ reference, rows per second), then absolute figures; writes
``bench/results/bench_ingest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as pyplatform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, func, select, text

import zhisuan
from zhisuan.core.clock import UTC
from zhisuan.metering.model import UsageRecord
from zhisuan.metering.usage import RECORD_COLUMNS, record_row, store_rows
from zhisuan.store.bulk import _sqlite_rows
from zhisuan.store.db import make_engine
from zhisuan.store.migrate import upgrade
from zhisuan.store.models.compute import CenterRow, PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.models.metering import UsageRecordRow
from zhisuan.store.uow import UnitOfWork

PG_ADMIN = os.environ.get("ZHISUAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ORGS = 200
NOW = dt.datetime(2025, 7, 1, tzinfo=UTC)
RESULTS = Path(__file__).parent / "results"
ZHISUAN = [sys.executable, "-m", "zhisuan"]
CST = dt.timezone(dt.timedelta(hours=8))


def seed(engine: Engine) -> None:
    with UnitOfWork.for_engine(engine) as uow:
        s = uow.session
        for i in range(1, ORGS + 1):
            s.add(
                OrganizationRow(
                    id=i,
                    name=f"org {i}",
                    credit_code=f"BENCH{i:013d}",
                    kind="enterprise",
                    city_code="340100",
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
        for p in (1, 2, 3, 4):
            s.add(
                PoolRow(
                    id=p,
                    key=f"p{p}",
                    center_id=1,
                    accelerator="a100-sxm4-80gb",
                    nodes=1000,  # 8000 cards: a million rows of a month never over-commit a pool
                    cards_per_node=8,
                    price_fen=1200 + p,
                    bands="[]",
                    engine_kind="simulated",
                    engine_config="{}",
                    available=True,
                    created_at=NOW,
                )
            )
        uow.commit()


def write_file(path: Path, n: int) -> None:
    """n usage rows of June 2025 as an engine sends them (Shanghai offsets); a few cross into July."""
    base = int(dt.datetime(2025, 6, 1, tzinfo=CST).timestamp())
    with path.open("w", encoding="utf-8") as fh:
        fh.write("engine,engine_job_id,org_id,center_id,pool_id,accelerator,cards,start,end\n")
        for i in range(n):
            start = base + (i * 37) % (30 * 86400)
            end = start + 600 + i % 3000
            a = dt.datetime.fromtimestamp(start, CST).isoformat()
            b = dt.datetime.fromtimestamp(end, CST).isoformat()
            fh.write(f"slurm,j{i},{1 + i % ORGS},1,{1 + i % 4},a100-sxm4-80gb,{1 + i % 8},{a},{b}\n")


def record_rows(n: int) -> list[tuple[object, ...]]:
    base = dt.datetime(2025, 6, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        start = base + dt.timedelta(seconds=(i * 37) % (28 * 86400))
        out.append(
            record_row(
                UsageRecord(
                    "bench",
                    f"j{i}",
                    1 + i % ORGS,
                    1,
                    1 + i % 4,
                    "a100-sxm4-80gb",
                    1 + i % 8,
                    start,
                    start + dt.timedelta(seconds=600 + i % 3000),
                    1200 + 1 + i % 4,
                )
            )
        )
    return out


def fresh(backend: str, tmp: Path) -> tuple[Engine, str]:
    """A migrated, seeded database: (engine, its URL)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'ingest-{uuid.uuid4().hex[:6]}.db'}"
    else:
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"zhisuan_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    seed(engine)
    return engine, url


def drop(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(UsageRecordRow.__table__)).scalar_one())


def command_env() -> dict[str, str]:
    """The command's environment: bytecode written and read (as an installed package has it), even
    where the shell says not to write it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def compile_once() -> None:
    """Compile zhisuan's modules (beside them, in ``__pycache__``) before any command is timed."""
    package = Path(zhisuan.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=command_env(), check=True)


def zhisuan_import(url: str, tmp: Path, file: Path) -> tuple[float, dict[str, int]]:
    env = command_env() | {"ZHISUAN_DATABASE_URL": url, "ZHISUAN_DATA_DIR": str(tmp)}
    t = time.perf_counter()
    done = subprocess.run(
        [*ZHISUAN, "usage", "import", str(file), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - t, json.loads(done.stdout.strip().splitlines()[-1])


# The reference: the rows as they are in the file, keyed and priced in SQL, no checks, no splitting.
REFERENCE_SQL = """
BEGIN;
CREATE TEMP TABLE stage (engine text, engine_job_id text, org_id int, center_id int, pool_id int,
  accelerator text, cards int, start_at timestamptz, end_at timestamptz);
\\copy stage FROM '{file}' WITH (FORMAT csv, HEADER true)
INSERT INTO usage_records (key, engine, engine_job_id, org_id, center_id, pool_id, accelerator, cards,
  start_at, end_at, card_seconds, price_fen_per_card_hour, discount_bp, amount_fen, kind, revision,
  reverses, usage_month, policy_on)
SELECT s.engine || '/' || s.engine_job_id || '/' || s.pool_id || '/'
    || to_char(s.start_at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"') || '-'
    || to_char(s.end_at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS"Z"'),
  s.engine, s.engine_job_id, s.org_id, s.center_id, s.pool_id, s.accelerator, s.cards, s.start_at, s.end_at,
  s.cards * EXTRACT(EPOCH FROM s.end_at - s.start_at)::bigint, p.price_fen, 0,
  (s.cards * EXTRACT(EPOCH FROM s.end_at - s.start_at)::bigint * p.price_fen * 2 + 3600) / 7200,
  'usage', 0, NULL, to_char(s.start_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'),
  date_trunc('month', s.start_at AT TIME ZONE 'Asia/Shanghai')::date
FROM stage s JOIN compute_pools p ON p.id = s.pool_id
ON CONFLICT (key) DO NOTHING;
COMMIT;
"""


def psql_reference(url: str, tmp: Path, file: Path) -> float:
    script = tmp / "reference.sql"
    script.write_text(REFERENCE_SQL.format(file=file))
    t = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", str(script)], check=True)
    return time.perf_counter() - t


def postgresql_end_to_end(rows: int, tmp: Path) -> dict[str, object]:
    file = tmp / "usage.csv"
    write_file(file, rows)
    engine, url = fresh("postgresql", tmp)
    try:
        ours, got = zhisuan_import(url, tmp, file)
        again, got2 = zhisuan_import(url, tmp, file)
        assert got2["inserted"] == 0, got2
        stored = count(engine)
        assert stored == got["records"], (stored, got)
    finally:
        engine.dispose()
        drop(url)
    engine, url = fresh("postgresql", tmp)
    try:
        reference = psql_reference(url, tmp, file)
        assert count(engine) == rows
    finally:
        engine.dispose()
        drop(url)
    return {
        "path": "zhisuan usage import (PostgreSQL, end to end)",
        "rows": rows,
        "records": got["records"],
        "zhisuan_s": round(ours, 2),
        "zhisuan_rows_per_s": round(rows / ours),
        "reference": "psql \\copy into a staging table + INSERT … ON CONFLICT DO NOTHING",
        "reference_s": round(reference, 2),
        "reference_rows_per_s": round(rows / reference),
        "ratio": round(reference / ours, 2),
        "again_s": round(again, 2),
        "again_rows_per_s": round(rows / again),
    }


def sqlite_store(n: int, tmp: Path, batch: int) -> dict[str, object]:
    rows = record_rows(n)
    engine, _url = fresh("sqlite", tmp)
    t = time.perf_counter()
    with UnitOfWork.for_engine(engine) as uow:
        inserted = sum(store_rows(uow, rows[i : i + batch]) for i in range(0, n, batch))
        uow.commit()
    ours = time.perf_counter() - t
    assert inserted == n == count(engine)
    t = time.perf_counter()
    with UnitOfWork.for_engine(engine) as uow:
        again = sum(store_rows(uow, rows[i : i + batch]) for i in range(0, n, batch))
        uow.commit()
    again_s = time.perf_counter() - t
    assert again == 0
    engine.dispose()
    engine, _url = fresh("sqlite", tmp)
    cols = ", ".join(RECORD_COLUMNS)
    marks = ", ".join("?" for _ in RECORD_COLUMNS)
    t = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cur = raw.cursor()
        for i in range(0, n, batch):
            cur.executemany(
                f"INSERT OR IGNORE INTO usage_records ({cols}) VALUES ({marks})",
                _sqlite_rows(rows[i : i + batch]),
            )
        cur.close()
    reference = time.perf_counter() - t
    assert count(engine) == n
    engine.dispose()
    return {
        "path": "store_rows (SQLite)",
        "rows": n,
        "zhisuan_s": round(ours, 2),
        "zhisuan_rows_per_s": round(n / ours),
        "reference": "executemany INSERT OR IGNORE",
        "reference_s": round(reference, 2),
        "reference_rows_per_s": round(n / reference),
        "ratio": round(reference / ours, 2),
        "again_s": round(again_s, 2),
        "again_rows_per_s": round(n / again_s),
    }


def sqlite_end_to_end(rows: int, tmp: Path) -> dict[str, object]:
    file = tmp / "usage-sqlite.csv"
    write_file(file, rows)
    engine, url = fresh("sqlite", tmp)
    try:
        ours, got = zhisuan_import(url, tmp, file)
        assert count(engine) == got["records"]
    finally:
        engine.dispose()
    return {
        "path": "zhisuan usage import (SQLite, end to end, for information)",
        "rows": rows,
        "records": got["records"],
        "zhisuan_s": round(ours, 2),
        "zhisuan_rows_per_s": round(rows / ours),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the file imported end to end")
    ap.add_argument("--store-rows", type=int, default=200_000, help="rows given to the SQLite store")
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        compile_once()
        if args.only != "sqlite":
            results.append(postgresql_end_to_end(args.rows, tmp))
        if args.only != "postgresql":
            results.append(sqlite_store(args.store_rows, tmp, args.batch))
            results.append(sqlite_end_to_end(min(args.rows, args.store_rows), tmp))
    print("ratio = zhisuan rows/s ÷ reference rows/s (same run)")
    for r in results:
        if "ratio" in r:
            print(
                f"{r['path']:<48} ratio {r['ratio']:>5}   zhisuan {r['zhisuan_rows_per_s']:>8}/s"
                f"   reference {r['reference_rows_per_s']:>8}/s   again {r['again_rows_per_s']:>8}/s"
            )
        else:
            print(f"{r['path']:<48} zhisuan {r['zhisuan_rows_per_s']:>8}/s")
    RESULTS.mkdir(exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": pyplatform.python_version(),
        "load_after": os.getloadavg(),
        "at": dt.datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (RESULTS / "bench_ingest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
