"""The Slurm adapter against a real one-machine Slurm 22.05 (scripts/services/services-up).

The cluster: n1, n2 with 4 fake a100 cards each; n3, n4 with 4 fake ascend910b cards each (character
devices, so Slurm binds them and jobs see CUDA_VISIBLE_DEVICES); slurmdbd on MariaDB for sacct.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.integration.compute.conftest import A100, ASCEND, finished, sacct, wait_for
from zhisuan.compute.engines import (
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    SlurmEngine,
    UsageRecord,
    engine_job_name,
)
from zhisuan.core.clock import UTC
from zhisuan.core.ids import JobId

pytestmark = pytest.mark.slurm

NewId = Callable[[], JobId]


def _usage(engine: SlurmEngine, engine_job_id: str) -> UsageRecord:
    since = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    for _ in range(40):  # slurmctld hands the record to slurmdbd a moment after the end
        hits = [r for r in engine.accounting(since) if r.engine_job_id == engine_job_id]
        if hits:
            return hits[0]
        time.sleep(0.25)
    pytest.fail(f"no accounting record for Slurm job {engine_job_id}")


def _sacct_time(text: str) -> dt.datetime:
    # sacct prints the host's local time without a zone.
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def test_gpu_job_runs_on_its_cards_and_usage_matches_sacct(
    slurm_engine: SlurmEngine, slurm_env: dict[str, str], new_job_id: NewId
) -> None:
    job = JobRequest(
        new_job_id(), A100, 2, 'echo "cards=$CUDA_VISIBLE_DEVICES node=$SLURMD_NODENAME"; sleep 1'
    )
    sub = slurm_engine.submit(job)
    assert not sub.existing
    status = wait_for(slurm_engine, sub.engine_job_id, finished)
    assert status.state == EngineJobState.SUCCEEDED
    assert status.exit_code == 0
    assert "cards=0,1 " in slurm_engine.logs(sub.engine_job_id)

    record = _usage(slurm_engine, sub.engine_job_id)
    start, end, tres, name = sacct(slurm_env, sub.engine_job_id, "Start,End,AllocTRES,JobName")
    assert name == engine_job_name(job.job_id, job.attempt, slurm_engine.installation)
    assert "gres/gpu=2" in tres.split(",")
    assert (record.cards, record.accelerator, record.job_id) == (2, A100, job.job_id)
    assert record.start == _sacct_time(start)
    assert record.end == _sacct_time(end)
    assert record.start.tzinfo is UTC
    assert record.end >= record.start + dt.timedelta(seconds=1)


def test_failing_job_reports_its_exit_code(
    slurm_engine: SlurmEngine, slurm_env: dict[str, str], new_job_id: NewId
) -> None:
    sub = slurm_engine.submit(JobRequest(new_job_id(), ASCEND, 1, "echo about to fail; exit 3"))
    status = wait_for(slurm_engine, sub.engine_job_id, finished)
    assert (status.state, status.exit_code) == (EngineJobState.FAILED, 3)
    record = _usage(slurm_engine, sub.engine_job_id)
    assert (record.state, record.exit_code, record.cards, record.accelerator) == (
        EngineJobState.FAILED,
        3,
        1,
        ASCEND,
    )
    state, code = sacct(slurm_env, sub.engine_job_id, "State,ExitCode")
    assert (state, code) == ("FAILED", "3:0")


def test_cancelled_job_stops_and_is_accounted_as_cancelled(
    slurm_engine: SlurmEngine, slurm_env: dict[str, str], new_job_id: NewId
) -> None:
    sub = slurm_engine.submit(JobRequest(new_job_id(), A100, 1, "sleep 120"))
    wait_for(slurm_engine, sub.engine_job_id, lambda s: s.state == EngineJobState.RUNNING)
    slurm_engine.cancel(sub.engine_job_id)
    status = wait_for(slurm_engine, sub.engine_job_id, finished)
    assert status.state == EngineJobState.CANCELLED
    record = _usage(slurm_engine, sub.engine_job_id)
    assert record.state == EngineJobState.CANCELLED
    assert record.end - record.start < dt.timedelta(seconds=60)
    assert sacct(slurm_env, sub.engine_job_id, "State")[0].startswith("CANCELLED")
    slurm_engine.cancel(sub.engine_job_id)  # cancelling an ended job is not an error


def test_gang_job_spans_two_nodes_with_cards_on_each(
    slurm_engine: SlurmEngine, slurm_env: dict[str, str], new_job_id: NewId
) -> None:
    job = JobRequest(
        new_job_id(), ASCEND, 8, 'echo "on=$SLURMD_NODENAME cards=$CUDA_VISIBLE_DEVICES"', nodes=2
    )
    sub = slurm_engine.submit(job)
    status = wait_for(slurm_engine, sub.engine_job_id, finished)
    assert status.state == EngineJobState.SUCCEEDED
    lines = sorted(
        line for line in slurm_engine.logs(sub.engine_job_id).splitlines() if line.startswith("on=")
    )
    assert lines == ["on=n3 cards=0,1,2,3", "on=n4 cards=0,1,2,3"]
    record = _usage(slurm_engine, sub.engine_job_id)
    assert record.cards == 8
    nodes, tres = sacct(slurm_env, sub.engine_job_id, "NodeList,AllocTRES")
    assert nodes == "n[3-4]"
    assert "gres/gpu=8" in tres.split(",")


def test_resubmission_finds_the_existing_job_instead_of_starting_another(
    slurm_engine: SlurmEngine, slurm_env: dict[str, str], new_job_id: NewId
) -> None:
    job = JobRequest(new_job_id(), A100, 1, "sleep 2")
    first = slurm_engine.submit(job)
    again = slurm_engine.submit(job)
    assert again.existing
    assert again.engine_job_id == first.engine_job_id
    wait_for(slurm_engine, first.engine_job_id, finished)
    after_end = slurm_engine.submit(job)  # also once the job is over
    assert (after_end.engine_job_id, after_end.existing) == (first.engine_job_id, True)
    _usage(slurm_engine, first.engine_job_id)  # in accounting by now
    name = engine_job_name(job.job_id, job.attempt, slurm_engine.installation)
    names = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--name", name, "-S", "now-1hours", "-o", "JobIDRaw"],
        env=slurm_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert names == [first.engine_job_id]
    # A retry is a new attempt, with its own name, and does start a new job.
    retry = slurm_engine.submit(JobRequest(job.job_id, A100, 1, "true", attempt=2))
    assert not retry.existing
    assert retry.engine_job_id != first.engine_job_id
    found = slurm_engine.find(job.job_id, 2)
    assert found is not None
    assert found.engine_job_id == retry.engine_job_id
    wait_for(slurm_engine, retry.engine_job_id, finished)


def test_capacity_reports_free_cards_per_model(slurm_engine: SlurmEngine, new_job_id: NewId) -> None:
    before = slurm_engine.capacity()
    assert (before[A100].total, before[ASCEND].total) == (8, 8)
    sub = slurm_engine.submit(JobRequest(new_job_id(), A100, 4, "sleep 60"))
    wait_for(slurm_engine, sub.engine_job_id, lambda s: s.state == EngineJobState.RUNNING)
    during = slurm_engine.capacity()
    assert during[A100].free <= 4
    assert during[ASCEND].free == before[ASCEND].free
    slurm_engine.cancel(sub.engine_job_id)
    wait_for(slurm_engine, sub.engine_job_id, finished)


def test_partition_mapping_places_the_job_in_its_partition(
    slurm_env: dict[str, str], services_env: dict[str, str], new_job_id: NewId
) -> None:
    engine = SlurmEngine(
        {
            "kind": "slurm",
            "slurm_conf": slurm_env["SLURM_CONF"],
            "jobdir": services_env["ZHISUAN_SLURM_JOBDIR"],
            "accelerator": ASCEND,
            "partition": "ascend",
        }
    )
    sub = engine.submit(JobRequest(new_job_id(), ASCEND, 2, "echo cards=$CUDA_VISIBLE_DEVICES"))
    wait_for(engine, sub.engine_job_id, finished)
    record = _usage(engine, sub.engine_job_id)
    assert (record.cards, record.accelerator) == (2, ASCEND)
    partition, nodes = sacct(slurm_env, sub.engine_job_id, "Partition,NodeList")
    assert partition == "ascend"
    assert nodes in ("n3", "n4")
    assert engine.capacity()[ASCEND].total == 8


def test_jobs_lists_zhisuan_jobs_the_engine_knows(slurm_engine: SlurmEngine, new_job_id: NewId) -> None:
    sub = slurm_engine.submit(JobRequest(new_job_id(), A100, 1, "true"))
    listed = {s.engine_job_id: s for s in slurm_engine.jobs()}
    assert sub.engine_job_id in listed
    assert listed[sub.engine_job_id].job_id == slurm_engine.find(listed[sub.engine_job_id].job_id).job_id  # type: ignore[union-attr]
    assert slurm_engine.status("99999999") is None
    wait_for(slurm_engine, sub.engine_job_id, finished)


def test_unreachable_slurm_is_reported_as_unavailable() -> None:
    engine = SlurmEngine(
        {"kind": "slurm", "slurm_conf": "/nonexistent/slurm.conf", "accelerator": A100, "timeout_s": 3}
    )
    with pytest.raises(EngineUnavailableError):
        engine.capacity()


def test_a_job_of_the_same_name_from_before_the_zhisuan_job_is_never_adopted(
    slurm_engine: SlurmEngine, new_job_id: NewId
) -> None:
    job_id = new_job_id()
    old = slurm_engine.submit(JobRequest(job_id, A100, 1, "true"))
    ended = wait_for(slurm_engine, old.engine_job_id, finished)
    assert ended.submitted is not None
    # The same zhisuan id again, as after a database reset: created well after the old engine job.
    time.sleep(max(0.0, 3.5 - (dt.datetime.now(UTC) - ended.submitted).total_seconds()))
    later = dt.datetime.now(UTC)
    fresh = slurm_engine.submit(JobRequest(job_id, A100, 1, "true", not_before=later))
    assert not fresh.existing
    assert fresh.engine_job_id != old.engine_job_id
    found = slurm_engine.find(job_id, 1, not_before=later)
    assert found is not None
    assert found.engine_job_id == fresh.engine_job_id
    wait_for(slurm_engine, fresh.engine_job_id, finished)
