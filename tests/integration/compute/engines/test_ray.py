"""The Ray adapter against a real local Ray head (scripts/services/services-up).

The head has 4 fake GPUs that carry the custom resource ``a100`` and 4 units of ``ascend910b``; jobs go
through the Jobs API. The jobs are submitted together at the start of the module (Ray takes a few
seconds per job to set up its runtime environment) and checked one behaviour per test.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.integration.compute.conftest import A100, ASCEND, RAY_ACCELERATORS, finished, wait_for
from zhisuan.compute.engines import (
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    JobStatus,
    RayEngine,
    Submission,
    engine_job_name,
)
from zhisuan.core.clock import UTC
from zhisuan.core.ids import JobId

pytestmark = pytest.mark.ray


@dataclass
class Batch:
    ok: Submission
    ok_request: JobRequest
    failing: Submission
    to_cancel: Submission
    started: dt.datetime


@pytest.fixture(scope="module")
def batch(ray_engine: RayEngine) -> Iterator[Batch]:
    import itertools
    import time

    ids = itertools.count(int(time.time() * 10) % 10**9 * 100 + 50)
    started = dt.datetime.now(UTC)
    ok_request = JobRequest(
        JobId(next(ids)), A100, 2, 'echo "cards=$CUDA_VISIBLE_DEVICES job=$ZHISUAN_JOB_ID"; sleep 1'
    )
    ok = ray_engine.submit(ok_request)
    failing = ray_engine.submit(JobRequest(JobId(next(ids)), ASCEND, 1, "echo failing; exit 3"))
    to_cancel = ray_engine.submit(JobRequest(JobId(next(ids)), ASCEND, 1, "sleep 120"))
    yield Batch(ok, ok_request, failing, to_cancel, started)
    ray_engine.cancel(to_cancel.engine_job_id)


def test_gpu_job_runs_with_its_cards_and_completes(ray_engine: RayEngine, batch: Batch) -> None:
    assert not batch.ok.existing
    request = batch.ok_request
    assert batch.ok.engine_job_id == engine_job_name(request.job_id, request.attempt, ray_engine.installation)
    status = wait_for(ray_engine, batch.ok.engine_job_id, finished)
    assert (status.state, status.exit_code) == (EngineJobState.SUCCEEDED, 0)
    logs = ray_engine.logs(batch.ok.engine_job_id)
    assert f"cards=0,1 job={int(batch.ok_request.job_id)}" in logs


def test_usage_matches_rays_own_timings(ray_engine: RayEngine, ray_address: str, batch: Batch) -> None:
    from ray.job_submission import JobSubmissionClient

    wait_for(ray_engine, batch.ok.engine_job_id, finished)
    record = next(
        r for r in ray_engine.accounting(batch.started) if r.engine_job_id == batch.ok.engine_job_id
    )
    info = JobSubmissionClient(ray_address).get_job_info(batch.ok.engine_job_id)
    assert record.start == dt.datetime.fromtimestamp(info.start_time / 1000, UTC)
    assert record.end == dt.datetime.fromtimestamp(info.end_time / 1000, UTC)
    assert record.end - record.start >= dt.timedelta(seconds=1)
    assert (record.cards, record.accelerator, record.job_id, record.exit_code) == (
        2,
        A100,
        batch.ok_request.job_id,
        0,
    )
    assert info.metadata == {
        "zhisuan_job_id": str(int(batch.ok_request.job_id)),
        "attempt": "1",
        "accelerator": A100,
        "cards": "2",
    }


def test_failing_job_reports_its_exit_code(ray_engine: RayEngine, batch: Batch) -> None:
    status = wait_for(ray_engine, batch.failing.engine_job_id, finished)
    assert (status.state, status.exit_code) == (EngineJobState.FAILED, 3)
    record = next(
        r for r in ray_engine.accounting(batch.started) if r.engine_job_id == batch.failing.engine_job_id
    )
    assert (record.state, record.exit_code, record.cards, record.accelerator) == (
        EngineJobState.FAILED,
        3,
        1,
        ASCEND,
    )


def test_running_job_can_be_cancelled(ray_engine: RayEngine, batch: Batch) -> None:
    wait_for(ray_engine, batch.to_cancel.engine_job_id, lambda s: s.state == EngineJobState.RUNNING)
    # Ray's resource view trails a job's start by up to a few heartbeats on a loaded machine.
    deadline = time.monotonic() + 20
    during = ray_engine.capacity()
    while during[ASCEND].free > 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        during = ray_engine.capacity()
    assert during[ASCEND].total == 4
    assert during[ASCEND].free <= 3
    ray_engine.cancel(batch.to_cancel.engine_job_id)
    status = wait_for(ray_engine, batch.to_cancel.engine_job_id, finished)
    assert status.state == EngineJobState.CANCELLED
    record = next(
        r for r in ray_engine.accounting(batch.started) if r.engine_job_id == batch.to_cancel.engine_job_id
    )
    assert record.state == EngineJobState.CANCELLED
    assert record.end - record.start < dt.timedelta(seconds=60)


def test_resubmission_finds_the_existing_job(ray_engine: RayEngine, batch: Batch) -> None:
    again = ray_engine.submit(batch.ok_request)
    assert again.existing
    assert again.engine_job_id == batch.ok.engine_job_id
    same_name = [s for s in ray_engine.jobs() if s.job_id == batch.ok_request.job_id]
    assert [s.engine_job_id for s in same_name] == [batch.ok.engine_job_id]


def test_unknown_job_is_none_and_find_uses_the_zhisuan_id(ray_engine: RayEngine, batch: Batch) -> None:
    assert ray_engine.status("zhisuan-0-r99") is None
    found: JobStatus | None = ray_engine.find(batch.ok_request.job_id)
    assert found is not None
    assert found.engine_job_id == batch.ok.engine_job_id


def test_gang_jobs_are_refused_with_a_reason(ray_engine: RayEngine) -> None:
    from zhisuan.core.errors import ValidationError

    with pytest.raises(ValidationError, match="one entrypoint"):
        ray_engine.submit(JobRequest(JobId(1), A100, 4, "true", nodes=2))


def test_unreachable_ray_is_reported_as_unavailable(ray_address: str) -> None:
    engine = RayEngine({"kind": "ray", "address": "http://127.0.0.1:9", "accelerators": RAY_ACCELERATORS})
    with pytest.raises(EngineUnavailableError):
        engine.capacity()
    with pytest.raises(EngineUnavailableError):
        engine.find(JobId(1))


def test_an_older_ray_job_holding_the_name_is_not_adopted(ray_engine: RayEngine, batch: Batch) -> None:
    wait_for(ray_engine, batch.failing.engine_job_id, finished)
    failing = next(s for s in ray_engine.jobs() if s.engine_job_id == batch.failing.engine_job_id)
    assert failing.submitted is not None
    # The job must be clearly older than the resubmission below (the adoption window is seconds).
    time.sleep(max(0.0, 3.5 - (dt.datetime.now(UTC) - failing.submitted).total_seconds()))
    assert dt.datetime.now(UTC) - failing.submitted > dt.timedelta(seconds=3)
    later = dt.datetime.now(UTC)
    fresh = ray_engine.submit(JobRequest(failing.job_id, ASCEND, 1, "true", not_before=later))
    assert not fresh.existing
    assert fresh.engine_job_id.startswith(f"{batch.failing.engine_job_id}-t")
    found = ray_engine.find(failing.job_id, 1, not_before=later)
    assert found is not None
    assert found.engine_job_id == fresh.engine_job_id
    status = wait_for(ray_engine, fresh.engine_job_id, finished)
    assert status.state == EngineJobState.SUCCEEDED
