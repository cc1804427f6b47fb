"""The dispatcher/reconciler worker with the database and REAL engines (Slurm and Ray from services-up).

A province of two centers: ``slurm-c`` (Slurm; pools of a100 on n1-n2 and ascend910b on n3-n4) and
``ray-c`` (the Ray head; a pool of ascend910b). Jobs are submitted through the compute services, the
worker places and dispatches them, and what the database ends up with is compared with the engines'
own records. Fault tests: a worker killed between an engine's submit and the database write; slurmctld
stopped while jobs are queued; the Ray head stopped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import TestDatabase
from tests.factories.compute import VOUCHERS
from tests.integration.compute.conftest import sacct
from zhisuan import accounts, compute
from zhisuan.bootstrap import Platform
from zhisuan.compute import dispatch
from zhisuan.compute.engines import Submission, engine_job_name
from zhisuan.compute.worker import ENGINE_DOWN, StepReport, Worker
from zhisuan.core.access import Principal, Role
from zhisuan.core.clock import SystemClock
from zhisuan.core.credit_code import make_credit_code
from zhisuan.core.orgs import OrgKind
from zhisuan.store.models.compute import JobRow, JobRunRow

pytestmark = [pytest.mark.slurm, pytest.mark.ray]

ADMIN = Principal(None, "test-admin", Role.ADMIN)
A100 = "a100-sxm4-80gb"
ASCEND = "ascend-910b3"


# Only SQLite: the engines are what these tests exercise (the services are covered on both databases).
@pytest.fixture(params=["sqlite"])
def database_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from zhisuan.store.db import make_engine
    from zhisuan.store.migrate import upgrade

    path = tmp_path_factory.mktemp("worker-db") / "zhisuan.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield "sqlite", f"sqlite:///{path}", engine
    engine.dispose()


@dataclass
class Province:
    db: TestDatabase | Platform
    org: int
    user: Principal
    slurm_env: dict[str, str]
    ray_address: str
    created: dt.datetime
    #: the database's installation id: its engine jobs are named ``zhisuan-<installation>-<job id>``
    installation: str

    def engine_name(self, job_id: int) -> str:
        return engine_job_name(job_id, 1, self.installation)

    def submit(self, cards: int, command: str, accelerator: str, retries: int = 0) -> int:
        with self.db.uow() as uow:
            view = compute.submit_job(
                uow,
                self.user,
                compute.JobInput(
                    name="t",
                    command=command,
                    cards=cards,
                    accelerators=[accelerator],
                    runtime_s=60,
                    reference=accelerator,
                    retries=retries,
                ),
                dt.datetime.now(dt.UTC),
            )
            uow.commit()
        return int(view.id)

    def job(self, job_id: int) -> JobRow:
        with self.db.uow() as uow:
            row = uow.session.get(JobRow, job_id)
            assert row is not None
            uow.session.expunge(row)
            return row

    def runs(self, job_id: int) -> list[JobRunRow]:
        with self.db.uow() as uow:
            rows = list(uow.session.execute(select(JobRunRow).where(JobRunRow.job_id == job_id)).scalars())
            for r in rows:
                uow.session.expunge(r)
            return rows

    def set_available(self, pool: str, available: bool, reason: str | None = None) -> None:
        with self.db.uow() as uow:
            compute.set_pool_available(uow, pool, available, reason, dt.datetime.now(dt.UTC))
            uow.commit()

    def pool(self, key: str) -> compute.PoolView:
        with self.db.uow() as uow:
            return next(p for c in compute.list_centers(uow) for p in c.pools if p.key == key)

    def worker(self, **kw: object) -> Worker:
        return Worker(  # type: ignore[arg-type]
            self.db.uow, SystemClock(), vouchers=VOUCHERS, name="test-worker", health_every_s=0, **kw
        )


def cancel_installation_jobs(env: dict[str, str], installation: str) -> None:
    """Cancel this database's Slurm jobs only: other test runs may share the cluster at the same time."""
    listed = subprocess.run(
        ["squeue", "-h", "-o", "%i %j"], env=env, capture_output=True, text=True, check=False, timeout=30
    ).stdout.split("\n")
    prefix = engine_job_name(0, 1, installation).removesuffix("0")
    ids = [line.split()[0] for line in listed if line.split()[1:2] and line.split()[1].startswith(prefix)]
    if ids:
        subprocess.run(["scancel", *ids], env=env, check=False, timeout=30)


@pytest.fixture
def province(
    db: TestDatabase, services_env: dict[str, str], slurm_env: dict[str, str], ray_address: str
) -> Iterator[Province]:
    """A fresh database: its own installation id, so no sleep is needed for the previous test's jobs.

    Afterwards its Slurm jobs are cancelled, so that a failed test's jobs do not starve the next.
    """
    made = build_province(db, services_env, slurm_env, ray_address)
    yield made
    cancel_installation_jobs(slurm_env, made.installation)


def build_province(
    db: TestDatabase | Platform, services_env: dict[str, str], slurm_env: dict[str, str], ray_address: str
) -> Province:
    now = dt.datetime.now(dt.UTC)
    with db.uow() as uow:
        installation = dispatch.installation(uow)

        def org(name: str, body: str, kind: OrgKind) -> int:
            return accounts.create_org(
                uow,
                ADMIN,
                accounts.OrgInput(
                    name=name, credit_code=make_credit_code(body), kind=kind, city_code="340100"
                ),
                now,
            ).id

        user_org = org("甲科技有限公司", "91340100MA2EE0001", OrgKind.ENTERPRISE)
        op = org("丙算力运营有限公司", "91340100MA2EE0003", OrgKind.CENTER_OPERATOR)
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(
                key="slurm-c",
                name="合肥 Slurm 中心",
                operator=str(op),
                city_code="340100",
                engine={
                    "slurm_conf": slurm_env["SLURM_CONF"],
                    # a controller that does not answer is given up on after 5 s (clients wait ~10 s)
                    "timeout_s": 5,
                    "jobdir": services_env["ZHISUAN_SLURM_JOBDIR"],
                },
            ),
            now,
        )
        for key, model, gres in (("slurm-a100", A100, "a100"), ("slurm-910b", ASCEND, "ascend910b")):
            compute.add_pool(
                uow,
                ADMIN,
                "slurm-c",
                compute.PoolInput(
                    key=key,
                    accelerator=model,
                    nodes=2,
                    cards_per_node=4,
                    price="10",
                    engine="slurm",
                    engine_config={"gres_type": gres},
                ),
                now,
            )
        compute.create_center(
            uow,
            ADMIN,
            compute.CenterInput(
                key="ray-c",
                name="芜湖 Ray 中心",
                operator=str(op),
                city_code="340200",
                engine={"address": ray_address, "timeout_s": 3},
            ),
            now,
        )
        compute.add_pool(
            uow,
            ADMIN,
            "ray-c",
            compute.PoolInput(
                key="ray-910b",
                accelerator=ASCEND,
                nodes=1,
                cards_per_node=4,
                price="10",
                engine="ray",
                engine_config={"resource": "ascend910b"},
            ),
            now,
        )
        uow.commit()
    user = Principal(None, "alice", Role.USER, user_org)  # type: ignore[arg-type]
    return Province(db, user_org, user, slurm_env, ray_address, now, installation)


def run_until(
    worker: Worker, done: Callable[[], bool], timeout: float = 60, slurm_env: dict[str, str] | None = None
) -> list[StepReport]:
    """Step the worker until ``done``; on a timeout fail with its last reports (and, given
    ``slurm_env``, what Slurm says of its queue and nodes)."""
    reports = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reports.append(worker.step())
        if done():
            return reports
        time.sleep(0.3)
    seen = ""
    if slurm_env is not None:
        seen = "\n".join(
            subprocess.run(cmd, env=slurm_env, capture_output=True, text=True, check=False).stdout
            for cmd in (["squeue", "-h", "-t", "all", "-o", "%i %j %T %r"], ["sinfo", "-N", "-h"])
        )
    pytest.fail(f"worker did not get there in {timeout} s; last reports: {reports[-3:]}\n{seen}")


def _sacct_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def test_worker_runs_jobs_on_slurm_and_ray_and_records_the_engines_times(province: Province) -> None:
    province.set_available("slurm-910b", False, "maintenance (test: send ascend jobs to Ray)")
    ok = province.submit(2, 'echo "cards=$CUDA_VISIBLE_DEVICES"; sleep 1', A100)
    gang = province.submit(8, "echo on=$SLURMD_NODENAME", A100)
    bad = province.submit(1, "exit 3", A100)
    on_ray = province.submit(1, "echo ray; sleep 1", ASCEND)
    worker = province.worker()
    ids = (ok, gang, bad, on_ray)
    run_until(worker, lambda: all(province.job(j).state in ("completed", "failed") for j in ids), timeout=90)

    assert [province.job(j).state for j in ids] == ["completed", "completed", "failed", "completed"]
    assert province.job(bad).exit_code == 3
    pools = {province.job(j).pool_id for j in (ok, gang, bad)}
    assert pools == {province.pool("slurm-a100").id}
    assert province.job(on_ray).pool_id == province.pool("ray-910b").id

    for job_id in (ok, gang, bad):
        (run,) = province.runs(job_id)
        for _ in range(20):  # slurmdbd may hold a placeholder ("allocation") until the job's record lands
            start, end, tres, name = sacct(
                province.slurm_env, run.engine_job_id or "", "Start,End,AllocTRES,JobName"
            )
            if name == province.engine_name(job_id) and end != "Unknown":
                break
            time.sleep(0.25)
        assert name == province.engine_name(job_id)
        assert (run.started_at, run.ended_at) == (_sacct_utc(start), _sacct_utc(end))
        assert f"gres/gpu={run.cards}" in tres.split(",")
    assert province.runs(gang)[0].cards == 8

    from ray.job_submission import JobSubmissionClient

    (ray_run,) = province.runs(on_ray)
    info = JobSubmissionClient(province.ray_address).get_job_info(ray_run.engine_job_id or "")
    assert ray_run.started_at == dt.datetime.fromtimestamp(info.start_time / 1000, dt.UTC)
    assert ray_run.ended_at == dt.datetime.fromtimestamp(info.end_time / 1000, dt.UTC)

    with province.db.uow() as uow:
        usage = {r.job_id: r for r in compute.finished_runs(uow)}
    assert set(usage) == set(ids)
    assert usage[gang].cards == 8
    assert usage[on_ray].engine == "ray"


class Killed(BaseException):
    """Stands for the worker process dying (not an Exception: nothing may catch and carry on)."""


def _slurm_jobs_named(
    env: dict[str, str], name: str, since: dt.datetime, attempts_left: int = 60
) -> list[str]:
    """Slurm jobs of that name submitted since ``since`` (the name carries the database's installation id)."""
    cutoff = since - dt.timedelta(seconds=1)
    done = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", name, "-S", "now-1hours", "-o", "JobIDRaw,Submit"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    queued = subprocess.run(
        ["squeue", "-h", "-t", "all", "--name", name, "-o", "%i|%V"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ids = set()
    for line in done + queued:
        job, submit = line.split("|")
        if _sacct_utc(submit) >= cutoff:
            ids.add(job)
    if not ids and attempts_left > 0:  # accounting lags the controller, most after a restart (≤ 30 s)
        time.sleep(0.5)
        return _slurm_jobs_named(env, name, since, attempts_left - 1)
    return sorted(ids)


def test_worker_killed_between_submit_and_database_write_leaves_one_tracked_engine_job(
    province: Province,
) -> None:
    job_id = province.submit(1, "sleep 1", A100)
    submitted: list[Submission] = []

    def die(sub: Submission) -> None:
        submitted.append(sub)
        raise Killed

    with pytest.raises(Killed):
        province.worker(after_submit=die).step()
    assert len(submitted) == 1
    row = province.job(job_id)
    assert (row.state, row.engine_job_id) == ("placed", None)  # the database never heard of it

    restarted = province.worker()
    report = restarted.reconcile()
    assert report.adopted == 1
    assert province.job(job_id).engine_job_id == submitted[0].engine_job_id
    run_until(restarted, lambda: province.job(job_id).state == "completed")
    assert _slurm_jobs_named(province.slurm_env, province.engine_name(job_id), province.created) == [
        submitted[0].engine_job_id
    ]
    assert len(province.runs(job_id)) == 1


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


@pytest.fixture
def slurmctld(services_env: dict[str, str], slurm_env: dict[str, str]) -> Iterator[Callable[[], None]]:
    """Stop slurmctld (by its pid file); restarted, with its saved state, at the latest on teardown."""
    pidfile = Path(services_env["ZHISUAN_SERVICES_DIR"]) / "slurm" / "run" / "slurmctld.pid"
    stopped: list[bool] = []

    def stop() -> None:
        pid = _pid(pidfile)
        os.kill(pid, signal.SIGTERM)
        # Saving its state can take many seconds on a loaded machine; a second controller started
        # before the first is gone cannot bind its port and exits, leaving none running.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"slurmctld (pid {pid}) did not stop within 120 s of SIGTERM")
        stopped.append(True)

    yield stop
    if stopped:
        try:
            os.kill(_pid(pidfile), 0)
        except (ProcessLookupError, FileNotFoundError, ValueError):
            start_slurmctld(slurm_env)  # the test ended before it restarted the controller


def start_slurmctld(env: dict[str, str]) -> None:
    daemon = shutil.which("slurmctld") or "/usr/sbin/slurmctld"  # sbin may not be on a user's PATH
    subprocess.run([daemon], env=env, check=True, timeout=30)
    deadline = time.monotonic() + 120
    states = ""
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %t"], env=env, capture_output=True, text=True, check=False
        )
        states = out.stdout if out.returncode == 0 else out.stderr
        if out.returncode == 0 and _all_nodes_up(out.stdout):
            return
        time.sleep(0.2)
    pytest.fail(f"slurmctld did not come back with every node up within 120 s: {states!r}")


def _all_nodes_up(sinfo_nodes: str) -> bool:
    """Every node answers (no ``*``, the not-responding flag) and is idle, mixed or allocated."""
    states = [line.split()[1] for line in sinfo_nodes.splitlines() if line.strip()]
    return bool(states) and all(s in ("idle", "mix", "alloc") for s in states)


def test_jobs_queued_in_slurm_survive_a_controller_restart_and_run_once(
    province: Province, slurmctld: Callable[[], None]
) -> None:
    first = province.submit(8, "sleep 3", A100)
    second = province.submit(8, "sleep 1", A100)  # waits in Slurm's queue behind the first
    worker = province.worker()
    run_until(worker, lambda: all(province.job(j).engine_job_id for j in (first, second)))
    slurmctld()
    report = worker.step()
    assert report.down == ["slurm-c"]
    assert province.pool("slurm-a100").available is False
    assert (province.pool("slurm-a100").unavailable_reason or "").startswith(ENGINE_DOWN)

    start_slurmctld(province.slurm_env)
    # A job that ended while the controller was down is known to it only at its next ping of the node
    # (every SlurmdTimeout / 3 = 100 s by default): seen once under load, so wait past two pings.
    run_until(
        worker,
        lambda: all(province.job(j).state == "completed" for j in (first, second)),
        timeout=240,
        slurm_env=province.slurm_env,
    )
    assert province.pool("slurm-a100").available is True
    for job_id in (first, second):
        runs = province.runs(job_id)
        assert len(runs) == 1
        assert runs[0].outcome == "completed"
        assert _slurm_jobs_named(province.slurm_env, province.engine_name(job_id), province.created) == [
            runs[0].engine_job_id
        ]
    with province.db.uow() as uow:
        billed = [r.job_id for r in compute.finished_runs(uow)]
    assert sorted(billed) == sorted([first, second])


def test_stopped_ray_head_makes_its_pools_unavailable_and_placement_goes_elsewhere(
    province: Province, services_env: dict[str, str]
) -> None:
    """The head is stopped with SIGSTOP (its whole process group): it neither answers nor refuses,
    the harder case of "down" — every call must give up after the engine's timeout. A refused
    connection (a head that is gone) is covered in test_ray. SIGCONT brings it back as it was."""
    head = _pid(Path(services_env["ZHISUAN_SERVICES_DIR"]) / "ray" / "ray.pid")
    worker = province.worker()
    worker.step()
    assert worker.health["ray-c"].reachable
    os.killpg(head, signal.SIGSTOP)
    try:
        report = worker.step()
        assert report.down == ["ray-c"]
        assert province.pool("ray-910b").available is False
        assert (province.pool("ray-910b").unavailable_reason or "").startswith(ENGINE_DOWN)
        job_id = province.submit(1, "echo placed elsewhere", ASCEND)
        run_until(worker, lambda: province.job(job_id).state == "completed")
        assert province.job(job_id).pool_id == province.pool("slurm-910b").id
        assert worker.health["ray-c"].reachable is False
    finally:
        os.killpg(head, signal.SIGCONT)
    run_until(worker, lambda: province.pool("ray-910b").available, timeout=30)


def test_a_user_cancelling_a_running_job_stops_it_on_slurm_and_bills_until_the_stop(
    province: Province,
) -> None:
    job_id = province.submit(2, "sleep 120", A100)
    worker = province.worker()
    run_until(worker, lambda: province.job(job_id).state == "running")
    with province.db.uow() as uow:
        compute.cancel_job(uow, province.user, job_id, dt.datetime.now(dt.UTC))
        uow.commit()
    run_until(worker, lambda: not province.job(job_id).engine_cancel_pending)
    (run,) = province.runs(job_id)
    state, start, end = sacct(province.slurm_env, run.engine_job_id or "", "State,Start,End")
    assert state.startswith("CANCELLED")
    assert (run.started_at, run.ended_at) == (_sacct_utc(start), _sacct_utc(end))
    assert province.job(job_id).state == "cancelled"
    with province.db.uow() as uow:
        (billed,) = [r for r in compute.finished_runs(uow) if r.job_id == job_id]
    assert 0 <= billed.seconds < 60


_KILLED_WORKER = """
import os, signal, sys
from zhisuan.bootstrap import bootstrap
from zhisuan.compute.worker import Worker

platform = bootstrap()
def die(submission):
    print(submission.engine_job_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the engine has the job; the database write never happens
Worker(platform.uow, platform.clock, vouchers=platform.vouchers, name="doomed", after_submit=die).step()
"""


def test_worker_process_killed_with_sigkill_after_submit_is_reconciled_on_restart(
    tmp_path: Path, services_env: dict[str, str], slurm_env: dict[str, str], ray_address: str
) -> None:
    """The same fault with a real process and SIGKILL, on a real SQLite file (nothing rolled back)."""
    import sys

    from zhisuan.bootstrap import bootstrap
    from zhisuan.settings import load_settings

    env = {**os.environ, "ZHISUAN_DATA_DIR": str(tmp_path), "RAY_AUTH_MODE": "disabled"}
    env.pop("ZHISUAN_DATABASE_URL", None)
    platform = bootstrap(load_settings(env))
    platform.migrate()
    province = build_province(platform, services_env, slurm_env, ray_address)
    job_id = province.submit(1, "sleep 1", A100)

    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_WORKER],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    engine_job_id = killed.stdout.split()[-1]
    assert province.job(job_id).engine_job_id is None

    restarted = Worker(
        platform.uow, SystemClock(), vouchers=platform.vouchers, name="restarted", health_every_s=0
    )
    assert restarted.reconcile().adopted == 1
    try:
        run_until(restarted, lambda: province.job(job_id).state == "completed", 120, slurm_env)
    except pytest.fail.Exception as exc:  # say what the database thinks too, then fail
        job = province.job(job_id)
        pytest.fail(f"{exc}\njob: {job.state} {job.engine_job_id} (killed worker: {engine_job_id})")
    assert province.job(job_id).engine_job_id == engine_job_id
    assert _slurm_jobs_named(slurm_env, province.engine_name(job_id), province.created) == [engine_job_id]
    cancel_installation_jobs(slurm_env, province.installation)
    platform.engine.dispose()
