"""The Kubernetes adapter against a small in-test HTTP server, NOT a real API server.

No Kubernetes API server can run on these machines (no container engine; no kube-apiserver, k3s or
kwok packaged; see ENGINES.md). So this module starts a tiny HTTP server that speaks the subset of the
API the adapter uses — batch/v1 Jobs (create, get, list by label, delete), pods of a job, nodes and
running pods — with the official ``kubernetes`` client on the other side. Every Job the adapter creates
is deserialised into the client's ``V1Job`` model (which enforces the schema's required fields) and
checked against the batch/v1 rules the server would apply. The tests move Jobs through their states by
writing their status the way the Job controller would.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from zhisuan.compute.engines import (
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    KubernetesEngine,
)
from zhisuan.core.clock import UTC
from zhisuan.core.ids import JobId

A100 = "a100-sxm4-80gb"
ASCEND = "ascend-910b3"
NS = "zhisuan"
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApiServer:
    """The batch/v1 Job subset, in memory."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.nodes: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def validate(self, job: dict[str, Any]) -> str | None:
        from kubernetes.client import ApiClient, V1Job

        try:
            if hasattr(V1Job, "from_dict"):  # kubernetes >= 35: pydantic models
                model = V1Job.from_dict(job)
            else:  # older clients: the classic deserializer

                class _Resp:
                    data = json.dumps(job)

                model = ApiClient().deserialize(_Resp(), "V1Job")
        except (ValueError, TypeError) as exc:
            return f"invalid V1Job: {exc}"
        if job.get("apiVersion") != "batch/v1" or job.get("kind") != "Job":
            return "apiVersion/kind must be batch/v1 Job"
        if not _DNS1123.match(model.metadata.name or "") or len(model.metadata.name) > 63:
            return "metadata.name must be a DNS-1123 label"
        pod = model.spec.template.spec
        if pod.restart_policy not in ("Never", "OnFailure"):
            return "a Job's pods restart Never or OnFailure"
        for c in pod.containers:
            if not c.image:  # the API server's own rule for Job pods
                return f"spec.template.spec.containers[{c.name}].image: Required value"
            limits, requests = c.resources.limits or {}, c.resources.requests or {}
            for name, qty in limits.items():
                if "/" in name and requests.get(name, qty) != qty:
                    return "extended resources need requests equal to limits"
        if model.spec.completion_mode == "Indexed" and model.spec.completions is None:
            return "Indexed Jobs need completions"
        return None


def _make_handler(api: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    jobs_re = re.compile(rf"^/apis/batch/v1/namespaces/{NS}/jobs(?:/([^/]+))?$")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, code: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _status(self, code: int, reason: str, message: str) -> None:
            self._send(
                code,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": reason,
                    "message": message,
                    "code": code,
                },
            )

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else None

        def do_POST(self) -> None:
            url = urlparse(self.path)
            m = jobs_re.match(url.path)
            if not m or m.group(1):
                return self._status(404, "NotFound", url.path)
            job = self._body()
            problem = api.validate(job)
            if problem:
                return self._status(422, "Invalid", problem)
            with api.lock:
                name = job["metadata"]["name"]
                if name in api.jobs:
                    return self._status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
                job.setdefault("status", {})
                job["metadata"]["creationTimestamp"] = _rfc3339(dt.datetime.now(UTC))
                api.jobs[name] = job
                api.created.append(job)
            return self._send(201, job)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            selector = (query.get("labelSelector") or [""])[0]
            m = jobs_re.match(url.path)
            with api.lock:
                if m and m.group(1):
                    job = api.jobs.get(m.group(1))
                    if job is None:
                        return self._status(404, "NotFound", f'jobs.batch "{m.group(1)}" not found')
                    return self._send(200, job)
                if m:
                    items = [
                        j for j in api.jobs.values() if _selects(selector, j["metadata"].get("labels") or {})
                    ]
                    return self._send(200, {"kind": "JobList", "apiVersion": "batch/v1", "items": items})
                if url.path in (f"/api/v1/namespaces/{NS}/pods", "/api/v1/pods"):
                    field = (query.get("fieldSelector") or [""])[0]
                    items = [
                        p
                        for p in api.pods
                        if _selects(selector, p["metadata"].get("labels") or {})
                        and (not field or field == f"status.phase={p['status'].get('phase')}")
                    ]
                    return self._send(200, {"kind": "PodList", "apiVersion": "v1", "items": items})
                if url.path == "/api/v1/nodes":
                    return self._send(200, {"kind": "NodeList", "apiVersion": "v1", "items": api.nodes})
            return self._status(404, "NotFound", url.path)

        def do_DELETE(self) -> None:
            url = urlparse(self.path)
            m = jobs_re.match(url.path)
            body = self._body() or {}
            with api.lock:
                if not m or not m.group(1) or m.group(1) not in api.jobs:
                    return self._status(404, "NotFound", url.path)
                policy = (parse_qs(url.query).get("propagationPolicy") or [body.get("propagationPolicy")])[0]
                if policy != "Background":  # the adapter must not orphan the Job's pods
                    return self._status(400, "BadRequest", f"propagationPolicy {policy}")
                job = api.jobs.pop(m.group(1))
                api.pods = [p for p in api.pods if p["metadata"]["labels"].get("job-name") != m.group(1)]
            return self._send(200, job)

    return Handler


def _selects(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, selector.split(",")):
        if "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


@pytest.fixture
def api() -> Iterator[tuple[FakeApiServer, str]]:
    fake = FakeApiServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _engine(url: str, queue: str | None = "team-a") -> KubernetesEngine:
    config: dict[str, object] = {
        "kind": "kubernetes",
        "api_server": url,
        "namespace": NS,
        "image": "registry.local/train:1",
        "token": "t0ken",
        "accelerators": {
            A100: {"resource_name": "nvidia.com/gpu", "node_selector": {"gpu.model": "a100"}},
            ASCEND: {"resource_name": "huawei.com/Ascend910"},
        },
    }
    if queue:
        config["queue"] = queue
    return KubernetesEngine(config)


def _run(
    fake: FakeApiServer, name: str, *, exit_code: int | None, start: dt.datetime, end: dt.datetime | None
) -> None:
    """Play the Job controller: a pod that ran, and the Job's status."""
    job = fake.jobs[name]
    pod_status: dict[str, Any] = {"phase": "Running"}
    status: dict[str, Any] = {"startTime": _rfc3339(start), "active": 1}
    if exit_code is not None and end is not None:
        pod_status = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": exit_code}}}],
        }
        kind = "Complete" if exit_code == 0 else "Failed"
        status = {
            "startTime": _rfc3339(start),
            "conditions": [
                {
                    "type": kind,
                    "status": "True",
                    "lastTransitionTime": _rfc3339(end),
                    "reason": "BackoffLimitExceeded" if exit_code else None,
                }
            ],
        }
        if exit_code == 0:
            status["completionTime"] = _rfc3339(end)
            status["succeeded"] = 1
        else:
            status["failed"] = 1
    job["status"] = status
    gpu = next(iter(job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]), None)
    fake.pods.append(
        {
            "metadata": {"name": f"{name}-pod", "labels": {"job-name": name}},
            "spec": {
                "nodeName": "gpu-1",
                "containers": job["spec"]["template"]["spec"]["containers"] if gpu else [],
            },
            "status": pod_status,
        }
    )


def test_job_manifest_asks_for_the_models_resource_and_kueue_queue(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    engine = _engine(url)
    sub = engine.submit(JobRequest(JobId(41), A100, 4, "python train.py", env={"EPOCHS": "3"}))
    assert (sub.engine_job_id, sub.existing) == ("zhisuan-41", False)
    (job,) = fake.created
    labels = job["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "team-a"
    assert labels["zhisuan.io/job-id"] == "41"
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    assert container["resources"]["requests"] == {"nvidia.com/gpu": "4"}
    assert container["command"] == ["/bin/sh", "-c", "python train.py"]
    assert {"name": "EPOCHS", "value": "3"} in container["env"]
    assert pod["nodeSelector"] == {"gpu.model": "a100"}
    assert job["spec"]["backoffLimit"] == 0


def test_ascend_cards_use_their_own_resource_name(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    _engine(url, queue=None).submit(JobRequest(JobId(42), ASCEND, 8, "run", nodes=2))
    (job,) = fake.created
    assert "kueue.x-k8s.io/queue-name" not in job["metadata"]["labels"]
    assert job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "huawei.com/Ascend910": "4"
    }
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == (
        "Indexed",
        2,
        2,
    )


def test_resubmission_finds_the_existing_job(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    engine = _engine(url)
    first = engine.submit(JobRequest(JobId(43), A100, 1, "run"))
    again = engine.submit(JobRequest(JobId(43), A100, 1, "run"))
    assert again.existing
    assert again.engine_job_id == first.engine_job_id
    assert len(fake.created) == 1
    retry = engine.submit(JobRequest(JobId(43), A100, 1, "run", attempt=2))
    assert (retry.engine_job_id, retry.existing) == ("zhisuan-43-r2", False)


def test_status_follows_the_job_conditions_and_accounting_reads_them(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    engine = _engine(url)
    fake.nodes = [
        {
            "metadata": {"name": "gpu-1", "labels": {"gpu.model": "a100"}},
            "status": {
                "allocatable": {"nvidia.com/gpu": "8"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    ]
    t0 = dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    ok = engine.submit(JobRequest(JobId(44), A100, 2, "run"))
    bad = engine.submit(JobRequest(JobId(45), ASCEND, 1, "run"))
    assert engine.status(ok.engine_job_id).state == EngineJobState.PENDING  # type: ignore[union-attr]
    _run(fake, ok.engine_job_id, exit_code=None, start=t0, end=None)
    running = engine.status(ok.engine_job_id)
    assert running is not None
    assert (running.state, running.start) == (EngineJobState.RUNNING, t0)
    assert engine.capacity()[A100].free == 6
    fake.pods.clear()
    _run(fake, ok.engine_job_id, exit_code=0, start=t0, end=t0 + dt.timedelta(minutes=30))
    _run(fake, bad.engine_job_id, exit_code=3, start=t0, end=t0 + dt.timedelta(minutes=1))
    done = engine.status(ok.engine_job_id)
    failed = engine.status(bad.engine_job_id)
    assert done is not None
    assert failed is not None
    assert (done.state, done.exit_code, done.end) == (
        EngineJobState.SUCCEEDED,
        0,
        t0 + dt.timedelta(minutes=30),
    )
    assert (failed.state, failed.exit_code) == (EngineJobState.FAILED, 3)
    usage = {r.engine_job_id: r for r in engine.accounting(t0)}
    assert usage[ok.engine_job_id].card_seconds == 2 * 1800
    assert (usage[bad.engine_job_id].accelerator, usage[bad.engine_job_id].exit_code) == (ASCEND, 3)
    assert [s.job_id for s in engine.jobs()] == [44, 45]


def test_cancel_deletes_the_job_and_its_pods(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    engine = _engine(url)
    sub = engine.submit(JobRequest(JobId(46), A100, 1, "sleep 1000"))
    _run(fake, sub.engine_job_id, exit_code=None, start=dt.datetime(2025, 6, 1, tzinfo=UTC), end=None)
    engine.cancel(sub.engine_job_id)
    assert engine.status(sub.engine_job_id) is None
    assert fake.pods == []
    engine.cancel(sub.engine_job_id)  # already gone: not an error


def test_capacity_counts_ready_nodes_minus_running_requests(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    ready = [{"type": "Ready", "status": "True"}]
    fake.nodes = [
        {
            "metadata": {"name": "gpu-1", "labels": {"gpu.model": "a100"}},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}, "conditions": ready},
        },
        {
            "metadata": {"name": "gpu-2", "labels": {"gpu.model": "a100"}},
            "status": {
                "allocatable": {"nvidia.com/gpu": "8"},
                "conditions": [{"type": "Ready", "status": "False"}],
            },
        },
        {
            "metadata": {"name": "npu-1", "labels": {}},
            "status": {"allocatable": {"huawei.com/Ascend910": "8"}, "conditions": ready},
        },
    ]
    cap = _engine(url).capacity()
    assert (cap[A100].total, cap[A100].free) == (16, 8)
    assert (cap[ASCEND].total, cap[ASCEND].free) == (8, 8)


def test_invalid_requests_are_refused_by_the_server_as_engine_errors(api: tuple[FakeApiServer, str]) -> None:
    from zhisuan.core.errors import EngineError

    fake, url = api
    engine = _engine(url)
    engine.image = ""  # an empty image fails the schema on the server side
    with pytest.raises(EngineError) as caught:
        engine.submit(JobRequest(JobId(47), A100, 1, "run"))
    assert not isinstance(caught.value, EngineUnavailableError)
    assert "image" in caught.value.message
    assert fake.created == []


def test_unreachable_api_server_is_reported_as_unavailable() -> None:
    engine = _engine("http://127.0.0.1:9")
    engine.timeout_s = 2
    with pytest.raises(EngineUnavailableError):
        engine.capacity()


def test_an_older_job_holding_the_name_is_not_adopted(api: tuple[FakeApiServer, str]) -> None:
    fake, url = api
    engine = _engine(url)
    old = engine.submit(JobRequest(JobId(48), A100, 1, "run"))
    an_hour_ago = dt.datetime.now(UTC) - dt.timedelta(hours=1)
    fake.jobs[old.engine_job_id]["metadata"]["creationTimestamp"] = _rfc3339(an_hour_ago)
    later = dt.datetime.now(UTC)
    fresh = engine.submit(JobRequest(JobId(48), A100, 1, "run", not_before=later))
    assert not fresh.existing
    assert fresh.engine_job_id.startswith(f"{old.engine_job_id}-t")
    assert len(fake.created) == 2
    found = engine.find(JobId(48), 1, not_before=later)
    assert found is not None
    assert found.engine_job_id == fresh.engine_job_id
    assert engine.find(JobId(48)).engine_job_id == old.engine_job_id  # type: ignore[union-attr]
