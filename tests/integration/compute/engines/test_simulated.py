"""The simulated engine (in-process, on a manual clock) through the same port, and the worker over it.

No services needed: these run everywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from tests.conftest import TestDatabase
from tests.factories.compute import VOUCHERS
from zhisuan import accounts, compute
from zhisuan.compute import dispatch
from zhisuan.compute.engines import (
    Engine,
    EngineJobState,
    EngineSet,
    EngineUnavailableError,
    JobRequest,
    SimulatedEngine,
    build_engine,
)
from zhisuan.compute.worker import ENGINE_DOWN, Worker
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC, ManualClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.ids import JobId
from zhisuan.core.orgs import OrgKind

A100 = "a100-sxm4-80gb"
T0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def _sim(clock: ManualClock, cards: int = 8) -> SimulatedEngine:
    engine = build_engine({"kind": "simulated", "accelerators": {A100: {"cards": cards}}}, clock)
    assert isinstance(engine, SimulatedEngine)
    assert isinstance(engine, Engine)
    return engine


def _req(job: int, cards: int, seconds: int, exit_code: int = 0) -> JobRequest:
    env = {"ZHISUAN_SIM_SECONDS": str(seconds), "ZHISUAN_SIM_EXIT_CODE": str(exit_code)}
    return JobRequest(JobId(job), A100, cards, "train", env=env)


def test_jobs_queue_for_cards_and_backfill_what_fits() -> None:
    clock = ManualClock(T0)
    sim = _sim(clock)
    big = sim.submit(_req(1, 6, 100))
    waits = sim.submit(_req(2, 4, 50))
    fits = sim.submit(_req(3, 2, 30))
    assert [sim.status(s.engine_job_id).state for s in (big, waits, fits)] == [  # type: ignore[union-attr]
        EngineJobState.RUNNING,
        EngineJobState.PENDING,
        EngineJobState.RUNNING,
    ]
    assert sim.capacity()[A100].free == 0
    clock.advance(100)
    second = sim.status(waits.engine_job_id)
    assert second is not None
    assert (second.state, second.start) == (EngineJobState.RUNNING, T0 + dt.timedelta(seconds=100))
    clock.advance(60)
    usage = {r.job_id: r for r in sim.accounting(T0)}
    assert usage[JobId(1)].card_seconds == 600
    assert usage[JobId(2)].end == T0 + dt.timedelta(seconds=150)
    assert usage[JobId(3)].end == T0 + dt.timedelta(seconds=30)


def test_failures_cancellation_idempotency_and_outage() -> None:
    clock = ManualClock(T0)
    sim = _sim(clock)
    bad = sim.submit(_req(1, 1, 10, exit_code=3))
    again = sim.submit(_req(1, 1, 10, exit_code=3))
    assert (again.existing, again.engine_job_id) == (True, bad.engine_job_id)
    long = sim.submit(_req(2, 1, 1000))
    clock.advance(20)
    assert sim.status(bad.engine_job_id).exit_code == 3  # type: ignore[union-attr]
    sim.cancel(long.engine_job_id)
    cancelled = sim.status(long.engine_job_id)
    assert cancelled is not None
    assert (cancelled.state, cancelled.end) == (EngineJobState.CANCELLED, T0 + dt.timedelta(seconds=20))
    sim.available = False
    with pytest.raises(EngineUnavailableError):
        sim.capacity()


ADMIN = Principal(None, "test-admin", Role.ADMIN)


def test_worker_runs_a_simulated_pool_end_to_end_and_marks_it_down_and_up(
    db: TestDatabase, clock: ManualClock
) -> None:
    now = clock.now()
    with db.uow() as uow:

        def org(name: str, body: str, kind: OrgKind) -> int:
            code = make_credit_code(body)
            return accounts.create_org(
                uow, ADMIN, accounts.OrgInput(name=name, credit_code=code, kind=kind, city_code="340100"), now
            ).id

        user_org = org("甲科技有限公司", "91340100MA2GG0001", OrgKind.ENTERPRISE)
        op = org("丙算力运营有限公司", "91340100MA2GG0003", OrgKind.CENTER_OPERATOR)
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(key="sim-c", name="模拟中心", operator=str(op), city_code="340100"),
            now,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "sim-c",
            compute.PoolInput(key="sim-a100", accelerator=A100, nodes=1, cards_per_node=8, price="10"),
            now,
        )
        job = compute.submit_job(
            uow,
            Principal(None, "alice", Role.USER, user_org),  # type: ignore[arg-type]
            compute.JobInput(name="t", command="train", cards=4, runtime_s=600, reference=A100),
            now,
        )
        uow.commit()

    engines = EngineSet(clock)
    worker = Worker(db.uow, clock, vouchers=VOUCHERS, name="w", engines=engines, health_every_s=0)
    first = worker.step()
    assert (first.placed, first.dispatched) == (1, 1)
    clock.advance(1)
    worker.step()
    # The worker process restarts mid-run: a new in-process engine knows nothing of the job, and
    # carries it on from the start the database recorded instead of declaring it lost.
    engines = EngineSet(clock)
    worker = Worker(db.uow, clock, vouchers=VOUCHERS, name="w2", engines=engines, health_every_s=0)
    assert worker.reconcile().lost == 0
    clock.advance(700)
    worker.step()
    with db.uow() as uow:
        view = compute.get_job(uow, ADMIN, int(job.id))
        runs = compute.finished_runs(uow)
    assert view.state == "completed"
    assert [(r.job_id, r.seconds, r.cards) for r in runs] == [(job.id, 600, 4)]

    with db.uow() as uow:
        (pool,) = dispatch.engine_pools(uow, "sim-c")
    sim = engines.for_pool(pool.pool_id, pool.engine_config)
    assert isinstance(sim, SimulatedEngine)
    from prometheus_client import REGISTRY

    errors_before = (
        REGISTRY.get_sample_value("zhisuan_engine_errors_total", {"center": "sim-c", "kind": "unavailable"})
        or 0
    )
    assert REGISTRY.get_sample_value("zhisuan_engine_up", {"center": "sim-c"}) == 1
    assert REGISTRY.get_sample_value("zhisuan_queue_jobs", {"state": "queued"}) == 0
    sim.available = False
    assert worker.step().down == ["sim-c"]
    assert REGISTRY.get_sample_value("zhisuan_engine_up", {"center": "sim-c"}) == 0
    assert (
        REGISTRY.get_sample_value("zhisuan_engine_errors_total", {"center": "sim-c", "kind": "unavailable"})
        == errors_before + 1
    )
    with db.uow() as uow:
        pool = compute.get_center(uow, "sim-c").pools[0]
    assert (pool.available, (pool.unavailable_reason or "").startswith(ENGINE_DOWN)) == (False, True)
    sim.available = True
    assert worker.step().up == ["sim-c"]
    with db.uow() as uow:
        assert compute.get_center(uow, "sim-c").pools[0].available


def test_the_engine_is_built_from_the_tickets_settings_not_from_the_center_and_pool_rows(
    db: TestDatabase, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock.now()
    with db.uow() as uow:
        code = make_credit_code("91340100MA2GG0011")
        user_org = accounts.create_org(
            uow,
            ADMIN,
            accounts.OrgInput(
                name="乙科技有限公司", credit_code=code, kind=OrgKind.ENTERPRISE, city_code="340100"
            ),
            now,
        ).id
        code = make_credit_code("91340100MA2GG0013")
        op = accounts.create_org(
            uow,
            ADMIN,
            accounts.OrgInput(
                name="丁算力有限公司", credit_code=code, kind=OrgKind.CENTER_OPERATOR, city_code="340100"
            ),
            now,
        ).id
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(key="tk-c", name="票据中心", operator=str(op), city_code="340100"),
            now,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "tk-c",
            compute.PoolInput(key="tk-a100", accelerator=A100, nodes=1, cards_per_node=8, price="10"),
            now,
        )
        job = compute.submit_job(
            uow,
            Principal(None, "bob", Role.USER, user_org),  # type: ignore[arg-type]
            compute.JobInput(name="t", command="train", cards=4, runtime_s=600, reference=A100),
            now,
        )
        rows_config = dispatch.engine_pools(uow, "tk-c")[0].engine_config
        uow.commit()

    # The tickets say something the rows do not: an engine of 6 cards and a setting of their own.
    ticket_config = {**rows_config, "accelerators": {A100: {"cards": 6}}, "from_the_ticket": True}
    for name in ("claim_placed", "active_jobs", "pending_engine_cancels"):
        tickets = getattr(dispatch, name)

        def with_other_settings(
            *args: Any, _tickets: Any = tickets, **kw: Any
        ) -> list[dispatch.DispatchTicket]:
            return [dataclasses.replace(t, engine_config=ticket_config) for t in _tickets(*args, **kw)]

        monkeypatch.setattr(dispatch, name, with_other_settings)
    built: list[tuple[Mapping[str, Any], SimulatedEngine]] = []

    def recording(config: Mapping[str, Any], clock: ManualClock) -> Engine:
        engine = SimulatedEngine(config, clock)
        built.append((config, engine))
        return engine

    worker = Worker(
        db.uow, clock, vouchers=VOUCHERS, name="w", engines=EngineSet(clock, recording), health_every_s=0
    )
    assert worker.step().dispatched == 1
    (used,) = [(config, engine) for config, engine in built if engine.jobs()]
    assert used[0] == ticket_config
    assert used[1].capacity()[A100].total == 6
    assert [s.job_id for s in used[1].jobs()] == [job.id]
    assert rows_config != ticket_config


def test_worker_loop_survives_a_failing_step_and_reconciles_first(
    db: TestDatabase, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from sqlalchemy.exc import OperationalError

    from zhisuan.compute.worker import current_worker

    calls = {"n": 0}

    def flaky_uow():  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:  # the database is away for the first call
            raise OperationalError("select 1", {}, Exception("connection refused"))
        return db.uow()

    reports = []
    stop = threading.Event()
    worker = Worker(flaky_uow, clock, vouchers=VOUCHERS, name="loop", health_every_s=0)

    def on_step(report: object) -> None:
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    worker.run(0.01, stop=stop, on_step=on_step)
    assert len(reports) == 2
    assert current_worker() is worker
    assert "step failed" in caplog.text
