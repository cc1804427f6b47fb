"""Usage ingest: records per second into SQLite and PostgreSQL, batched vs plain ORM row by row.

Each database gets a fresh schema. The same priced usage records are written three ways in one run:

* ``batched``: :func:`zhisuan.metering.usage.store_records` — the import's path: overlap and
  same-key checks, then COPY into a temporary table + ``INSERT … ON CONFLICT DO NOTHING`` on
  PostgreSQL, one multi-row ``INSERT … ON CONFLICT DO NOTHING`` (executemany) on SQLite;
* ``batched again``: the same records once more (idempotent: nothing inserted);
* ``orm row-by-row``: the plain ORM baseline — per record, look the key up, ``session.add`` and flush.

Usage::

    .venv/bin/python bench/bench_ingest.py [--records 200000] [--baseline 5000] [--only sqlite|postgresql]

Prints a table and writes ``bench/results/bench_ingest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform as pyplatform
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from zhisuan.core.clock import UTC
from zhisuan.metering.model import UsageRecord
from zhisuan.metering.usage import RECORD_COLUMNS, record_row, store_records
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
LAST_CPU = 0.0  # client (this process) CPU seconds of the last batched run


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
                    nodes=100,
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


def records(n: int, offset: int = 0) -> list[UsageRecord]:
    base = dt.datetime(2025, 6, 1, tzinfo=UTC)
    out = []
    for i in range(offset, offset + n):
        start = base + dt.timedelta(seconds=(i * 37) % (28 * 86400))
        out.append(
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
    return out


def batched(engine: Engine, recs: list[UsageRecord], batch: int) -> tuple[float, int]:
    global LAST_CPU
    c = time.process_time()
    t = time.perf_counter()
    inserted = 0
    with UnitOfWork.for_engine(engine) as uow:
        for i in range(0, len(recs), batch):
            inserted += store_records(uow, recs[i : i + batch])
        uow.commit()
    LAST_CPU = time.process_time() - c
    return time.perf_counter() - t, inserted


def orm_row_by_row(engine: Engine, recs: list[UsageRecord]) -> tuple[float, int]:
    cols = [c.name for c in UsageRecordRow.__table__.columns if c.name != "id"]
    names = RECORD_COLUMNS
    assert set(names) == set(cols)
    t = time.perf_counter()
    inserted = 0
    with UnitOfWork.for_engine(engine) as uow:
        s = uow.session
        for r in recs:
            if s.execute(select(UsageRecordRow.id).where(UsageRecordRow.key == r.key)).first() is not None:
                continue
            s.add(UsageRecordRow(**dict(zip(names, record_row(r), strict=True))))
            s.flush()
            inserted += 1
        uow.commit()
    return time.perf_counter() - t, inserted


def fresh(backend: str, tmp: Path) -> tuple[Engine, str | None]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / 'ingest.db'}")
        upgrade(engine)
        return engine, None
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"zhisuan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    upgrade(engine)
    return engine, name


def drop(name: str | None) -> None:
    if name is None:
        return
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--baseline", type=int, default=5_000, help="records for the ORM row-by-row baseline")
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    recs = records(args.records)
    base = records(args.baseline, offset=args.records)
    results = []
    for backend in ("sqlite", "postgresql"):
        if args.only and backend != args.only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            engine, name = fresh(backend, Path(tmp))
            try:
                seed(engine)
                secs, ins = batched(engine, recs, args.batch)
                cpu = LAST_CPU
                assert ins == len(recs), (ins, len(recs))
                again, ins2 = batched(engine, recs, args.batch)
                assert ins2 == 0
                orm_secs, orm_ins = orm_row_by_row(engine, base)
                assert orm_ins == len(base)
                with engine.connect() as conn:
                    total = conn.execute(
                        select(func.count()).select_from(UsageRecordRow.__table__)
                    ).scalar_one()
                assert total == len(recs) + len(base)
            finally:
                engine.dispose()
                drop(name)
        row = {
            "backend": backend,
            "records": len(recs),
            "batched_s": round(secs, 3),
            "batched_per_s": round(len(recs) / secs),
            "batched_client_cpu_s": round(cpu, 3),
            "batched_per_client_cpu_s": round(len(recs) / cpu),
            "again_s": round(again, 3),
            "again_per_s": round(len(recs) / again),
            "orm_records": len(base),
            "orm_s": round(orm_secs, 3),
            "orm_per_s": round(len(base) / orm_secs),
            "speedup": round((len(recs) / secs) / (len(base) / orm_secs), 1),
        }
        results.append(row)
    print(
        f"{'backend':<11}{'records':>9}{'batched/s':>11}{'/client-CPU-s':>14}{'again/s':>10}{'orm/s':>8}{'ratio':>7}"
    )
    for r in results:
        print(
            f"{r['backend']:<11}{r['records']:>9}{r['batched_per_s']:>11}{r['batched_per_client_cpu_s']:>14}"
            f"{r['again_per_s']:>10}"
            f"{r['orm_per_s']:>8}{r['speedup']:>6}×"
        )
    RESULTS.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": pyplatform.python_version(), "load": os.getloadavg()}
    (RESULTS / "bench_ingest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
