"""`zhisuan center check` and `zhisuan worker --once` in-process (Typer's runner), on a SQLite file,
against the real Slurm from services-up and a Ray address where nothing listens."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhisuan import accounts, compute
from zhisuan.bootstrap import Platform
from zhisuan.cli import _platform, app
from zhisuan.core.access import Principal, Role
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind

pytestmark = pytest.mark.slurm

ADMIN = Principal(None, "test-admin", Role.ADMIN)


@pytest.fixture
def cli_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.setenv("ZHISUAN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ZHISUAN_DATABASE_URL", raising=False)
    _platform.platform.cache_clear()
    p = _platform.platform()
    p.migrate()
    yield p
    p.engine.dispose()
    _platform.platform.cache_clear()


def test_center_check_reports_engine_capacity_or_why_it_is_unreachable(
    cli_platform: Platform, slurm_env: dict[str, str], services_env: dict[str, str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with cli_platform.uow() as uow:
        op = accounts.create_org(
            uow,
            ADMIN,
            accounts.OrgInput(
                name="丙算力运营有限公司",
                credit_code=make_credit_code("91340100MA2HH0003"),
                kind=OrgKind.CENTER_OPERATOR,
                city_code="340100",
            ),
            now,
        ).id
        for key, engine, center_cfg, pool_cfg in (
            ("slurm-c", "slurm", {"slurm_conf": slurm_env["SLURM_CONF"]}, {"gres_type": "a100"}),
            ("gone-c", "ray", {"address": "http://127.0.0.1:9"}, {"resource": "a100", "num_gpus": True}),
        ):
            compute.create_center(
                uow,
                ADMIN,
                compute.CenterInput(
                    key=key, name=f"{key} 中心", operator=str(op), city_code="340100", engine=center_cfg
                ),
                now,
            )
            compute.add_pool(
                uow,
                ADMIN,
                key,
                compute.PoolInput(
                    key=f"{key}-a100",
                    accelerator="a100-sxm4-80gb",
                    nodes=2,
                    cards_per_node=4,
                    price="10",
                    engine=engine,
                    engine_config=pool_cfg,
                ),
                now,
            )
        uow.commit()

    runner = CliRunner()
    ok = runner.invoke(app, ["center", "check", "slurm-c", "--json"])
    assert ok.exit_code == 0, ok.output
    (pool,) = json.loads(ok.stdout)["pools"]
    assert (pool["reachable"], pool["total"], pool["engine"]) == (True, 8, "slurm")

    gone = runner.invoke(app, ["center", "check", "gone-c"])
    assert gone.exit_code == 1
    assert "NO" in gone.stdout

    step = runner.invoke(app, ["worker", "--once", "--json"])
    assert step.exit_code == 0, step.output
    reports = [json.loads(line) for line in step.stdout.splitlines() if line.startswith("{")]
    assert reports[0]["down"] == ["gone-c"]
    with cli_platform.uow() as uow:
        pools = {p.key: p for c in compute.list_centers(uow) for p in c.pools}
    assert pools["gone-c-a100"].available is False
    assert pools["slurm-c-a100"].available is True
