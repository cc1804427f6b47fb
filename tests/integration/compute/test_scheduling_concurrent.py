"""Two scheduling steps at once on PostgreSQL never hand out the same free cards."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from tests.conftest import PG_ADMIN_URL, TEST_SEAL, _pg_engine, service_missing
from tests.factories.compute import VOUCHERS
from zhisuan import accounts, compute
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import UTC
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.store.db import make_engine
from zhisuan.store.migrate import upgrade
from zhisuan.store.uow import UnitOfWork

ADMIN = Principal(None, "test-admin", Role.ADMIN)
NOW = dt.datetime(2025, 6, 16, 2, 0, tzinfo=UTC)


@pytest.fixture
def pg() -> Iterator[Engine]:
    """A throwaway PostgreSQL database of its own: the two steps need real, separate transactions."""
    made = _pg_engine()
    if made is None:
        service_missing("PostgreSQL")
        return
    engine, name = made
    upgrade(engine)
    yield engine
    engine.dispose()
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_two_concurrent_scheduling_steps_never_overfill_a_pool(pg: Engine) -> None:
    uow = UnitOfWork.for_engine(pg, seal=TEST_SEAL)
    with uow:
        for name, body, kind in (
            ("并发运营", "91340100MA2CU0001", OrgKind.CENTER_OPERATOR),
            ("并发用户", "91340100MA2CU0002", OrgKind.ENTERPRISE),
        ):
            accounts.create_org(
                uow,
                ADMIN,
                accounts.OrgInput(
                    name=name, credit_code=make_credit_code(body), kind=kind, city_code="340100"
                ),
                NOW,
            )
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(key="cc", name="并发中心", operator="并发运营", city_code="340100"),
            NOW,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "cc",
            compute.PoolInput(
                key="cc-a100", accelerator="a100-sxm4-80gb", nodes=1, cards_per_node=8, price="18"
            ),
            NOW,
        )
        uow.commit()

    def submit() -> int:
        with uow.fresh() as fresh:
            job = compute.submit_job(
                fresh,
                ADMIN,
                compute.JobInput(org="并发用户", name="j", command="c", cards=8, runtime_s=3600),
                NOW,
            )
            fresh.commit()
            return int(job.id)

    first = submit()
    results: dict[str, object] = {}

    def second_step() -> None:
        try:
            with uow.fresh() as mine:
                results["placed"] = compute.schedule_once(mine, NOW, vouchers=VOUCHERS).placed
                mine.commit()
        except BaseException as exc:  # reported by the main thread
            results["error"] = exc

    with uow.fresh() as one:
        # step one binds the first job and has not committed yet …
        assert [j for j, _p in compute.schedule_once(one, NOW, vouchers=VOUCHERS).placed] == [first]
        second = submit()  # … a job arrives, and a second step starts
        thread = threading.Thread(target=second_step)
        thread.start()
        thread.join(timeout=1.5)
        assert thread.is_alive()  # it waits for the first step's transaction
        one.commit()
    thread.join(timeout=30)
    assert "error" not in results, results
    assert results["placed"] == ()  # it saw the first placement: no free cards left
    with uow.fresh() as check:
        assert compute.overview(check, NOW).centers[0].pools[0].busy_cards == 8
        assert compute.get_job(check, ADMIN, second).state == "queued"
