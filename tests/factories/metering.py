"""Small factories for metering tests: organizations, ownership, a center, a price, job runs, usage files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from zhisuan.core.clock import UTC
from zhisuan.store.models.compute import CenterRow, JobRow, JobRunRow, PoolRow
from zhisuan.store.models.core import OrganizationRow, OwnershipRow
from zhisuan.store.uow import UnitOfWork

NOW = dt.datetime(2025, 7, 5, 2, tzinfo=UTC)


def org(uow: UnitOfWork, name: str, city: str | None = "340100", in_province: bool = True) -> int:
    row = OrganizationRow(
        name=name,
        credit_code=f"TEST{abs(hash(name)) % 10**14:014d}",
        kind="enterprise",
        city_code=city,
        in_province=in_province,
        created_at=NOW,
    )
    uow.session.add(row)
    uow.session.flush()
    return row.id


def own(uow: UnitOfWork, owner: int, owned: int, percent: int) -> None:
    uow.session.add(OwnershipRow(owner_id=owner, owned_id=owned, share_ppm=percent * 10_000, controls=False))
    uow.session.flush()


def center(uow: UnitOfWork, center_id: int, operator: int, pool_id: int, price_fen: int) -> None:
    """A compute center run by ``operator`` with one A100 pool at ``price_fen`` per card-hour."""
    s = uow.session
    if s.get(CenterRow, center_id) is None:
        s.add(
            CenterRow(
                id=center_id,
                key=f"c{center_id}",
                name=f"center {center_id}",
                operator_org_id=operator,
                city_code="340100",
                engine_config="{}",
                created_at=NOW,
            )
        )
        s.flush()
    s.add(
        PoolRow(
            id=pool_id,
            key=f"p{pool_id}",
            center_id=center_id,
            accelerator="a100-sxm4-80gb",
            nodes=10,
            cards_per_node=8,
            price_fen=price_fen,
            bands="[]",
            engine_kind="simulated",
            engine_config="{}",
            available=True,
            created_at=NOW,
        )
    )
    s.flush()


def job_run(
    uow: UnitOfWork,
    org_id: int,
    start: dt.datetime,
    end: dt.datetime | None,
    cards: int = 4,
    pool_id: int = 10,
    engine_job_id: str | None = None,
) -> int:
    """A job and its one run on ``pool_id`` (still running when ``end`` is None); the run's id."""
    s = uow.session
    job = JobRow(
        org_id=org_id,
        name="train",
        command="python train.py",
        cards=cards,
        runtime_s=3600,
        reference="a100-sxm4-80gb",
        state="running" if end is None else "completed",
        pool_id=pool_id,
        submitted_at=start,
        updated_at=end or start,
    )
    s.add(job)
    s.flush()
    run = JobRunRow(
        job_id=job.id,
        attempt=1,
        pool_id=pool_id,
        cards=cards,
        engine="sim",
        engine_job_id=engine_job_id,
        dispatched_at=start,
        started_at=start,
        ended_at=end,
        outcome=None if end is None else "completed",
    )
    s.add(run)
    s.flush()
    return run.id


def finish(uow: UnitOfWork, run_id: int, end: dt.datetime) -> None:
    """The run ends at ``end``."""
    run = uow.session.get(JobRunRow, run_id)
    assert run is not None
    run.ended_at, run.outcome = end, "completed"
    uow.session.flush()


def usage_file(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(
    job: str,
    org_id: int,
    start: str,
    end: str,
    cards: int = 8,
    center_id: int = 1,
    pool_id: int = 10,
    **extra: object,
) -> dict[str, object]:
    return {
        "engine": "sim",
        "engine_job_id": job,
        "org_id": org_id,
        "center_id": center_id,
        "pool_id": pool_id,
        "accelerator": "a100-sxm4-80gb",
        "cards": cards,
        "start": start,
        "end": end,
        **extra,
    }
