"""Kubernetes through the official client: one batch/v1 Job per zhisuan job.

Configuration (a center's engine settings)::

    {"kind": "kubernetes",
     "api_server": "https://k8s.example:6443",   # or "kubeconfig": "/path", else in-cluster / ~/.kube/config
     "token": "...", "verify_ssl": true,          # optional bearer token
     "namespace": "zhisuan",
     "image": "registry.local/train:latest",
     "queue": "team-a",                           # Kueue LocalQueue → label kueue.x-k8s.io/queue-name
     "accelerators": {"a100-sxm4-80gb": {"resource_name": "nvidia.com/gpu",
                                         "node_selector": {"gpu.model": "a100"}},
                      "ascend-910b3":   {"resource_name": "huawei.com/Ascend910"}}}

The Job is named ``zhisuan-<installation>-<id>`` and labelled ``zhisuan.io/job-id``; a gang job over
N nodes is an Indexed Job with N completions run in parallel, one pod per node, each asking for
cards / N. Status
comes from the Job's conditions (Complete, Failed, Suspended) and its active count; exit codes from
its pods' terminated containers.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zhisuan.compute.engines._config import accelerators, installation_of, opt_int, opt_str
from zhisuan.compute.engines.port import (
    Capacity,
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    JobStatus,
    Submission,
    UsageRecord,
    engine_job_name,
    parse_engine_job_name,
)
from zhisuan.core.clock import parse_timestamp
from zhisuan.core.errors import EngineError, ValidationError
from zhisuan.core.ids import JobId

try:  # urllib3 comes with the kubernetes client; not all of its connection errors are OSErrors
    from urllib3.exceptions import HTTPError as _Urllib3Error
except ImportError:  # pragma: no cover - without the client nothing here runs
    _Urllib3Error = OSError  # type: ignore[misc,assignment]

LABEL_JOB = "zhisuan.io/job-id"
LABEL_ATTEMPT = "zhisuan.io/attempt"
LABEL_ACCELERATOR = "zhisuan.io/accelerator"
ANNOTATION_CARDS = "zhisuan.io/cards"
KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"


@dataclass(frozen=True)
class KubernetesAccelerator:
    """How one accelerator model is requested on this cluster."""

    model: str
    resource_name: str
    node_selector: Mapping[str, str]


def _ts(value: object) -> dt.datetime | None:
    return parse_timestamp(value) if isinstance(value, str) and value else None


def job_state(job: Mapping[str, Any]) -> EngineJobState:
    """A batch/v1 Job's state from its conditions and counters.

    >>> job_state({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    <EngineJobState.SUCCEEDED: 'succeeded'>
    >>> job_state({"status": {"active": 1}}), job_state({"status": {}})
    (<EngineJobState.RUNNING: 'running'>, <EngineJobState.PENDING: 'pending'>)
    """
    status = job.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        return EngineJobState.SUCCEEDED
    if "Failed" in conditions or "FailureTarget" in conditions:
        return EngineJobState.FAILED
    if "Suspended" in conditions:
        return EngineJobState.PENDING
    if (status.get("active") or 0) > 0:
        return EngineJobState.RUNNING
    return EngineJobState.PENDING


class KubernetesEngine:
    """The engine port over the Kubernetes batch/v1 Jobs API."""

    kind = "kubernetes"

    def __init__(self, config: Mapping[str, object]) -> None:
        self.installation = installation_of(config)
        self.namespace = opt_str(config, "namespace", "engine") or "default"
        self.image = opt_str(config, "image", "engine") or "busybox:1.36"
        self.queue = opt_str(config, "queue", "engine")
        self.api_server = opt_str(config, "api_server", "engine")
        self.kubeconfig = opt_str(config, "kubeconfig", "engine")
        self.token = opt_str(config, "token", "engine")
        self.verify_ssl = bool(config.get("verify_ssl", True))
        self.timeout_s = opt_int(config, "timeout_s", "engine", 10)
        self.accelerators: dict[str, KubernetesAccelerator] = {}
        for model, spec in accelerators(config).items():
            where = f"engine.accelerators.{model}"
            name = opt_str(spec, "resource_name", where)
            if name is None:
                raise ValidationError(
                    f"{model} needs the resource_name its cards carry (e.g. nvidia.com/gpu)", field=where
                )
            selector = spec.get("node_selector") or {}
            if not isinstance(selector, Mapping):
                raise ValidationError(
                    "node_selector must map labels to values", field=f"{where}.node_selector"
                )
            self.accelerators[model] = KubernetesAccelerator(
                model, name, {str(k): str(v) for k, v in selector.items()}
            )
        self._api: Any = None

    # ------------------------------------------------------------------ the client
    def _client(self) -> Any:
        if self._api is None:
            try:
                from kubernetes import client, config
            except ImportError as exc:  # pragma: no cover - depends on the installed extras
                raise EngineUnavailableError(
                    "the Kubernetes client is not installed: pip install 'zhisuan[engines]'"
                ) from exc
            if self.api_server:
                conf = client.Configuration()
                conf.host = self.api_server
                conf.verify_ssl = self.verify_ssl
                if self.token:
                    conf.api_key = {"authorization": f"Bearer {self.token}"}
                self._api = client.ApiClient(conf)
            else:
                try:
                    if self.kubeconfig:
                        self._api = config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
                    else:
                        try:
                            config.load_incluster_config()  # type: ignore[no-untyped-call]
                            self._api = client.ApiClient()
                        except config.ConfigException:
                            self._api = config.new_client_from_config()  # type: ignore[no-untyped-call]
                except Exception as exc:
                    raise EngineUnavailableError(f"no usable Kubernetes configuration: {exc}") from exc
        return self._api

    def _call(self, what: str, group: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """One call through the client's typed API (``BatchV1Api`` / ``CoreV1Api``), raw JSON back.

        404 gives None; connection failures and 5xx become :class:`EngineUnavailableError`; other
        refusals become :class:`EngineError` with the server's message.
        """
        api = self._client()
        from kubernetes import client as k8s
        from kubernetes.client.exceptions import ApiException

        target = k8s.BatchV1Api(api) if group == "batch" else k8s.CoreV1Api(api)
        try:
            resp = getattr(target, method)(
                *args, _preload_content=False, _request_timeout=self.timeout_s, **kwargs
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            if not exc.status or exc.status >= 500:
                raise EngineUnavailableError(
                    f"Kubernetes API {self.api_server or ''} unavailable ({what}): {exc.status} {exc.reason}"
                ) from exc
            body = exc.body.decode() if isinstance(exc.body, bytes) else str(exc.body or "")
            try:
                detail = str(json.loads(body).get("message") or body)
            except (ValueError, AttributeError):
                detail = body
            raise EngineError(
                f"Kubernetes refused {what}: {exc.status} {exc.reason}: {detail[:300]}"
            ) from exc
        except (OSError, _Urllib3Error) as exc:
            raise EngineUnavailableError(
                f"Kubernetes API {self.api_server or ''} unreachable ({what}): {exc}"
            ) from exc
        raw = resp.read() if hasattr(resp, "read") else resp.data
        if method == "read_namespaced_pod_log":
            return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
        return json.loads(raw) if raw else {}

    # ------------------------------------------------------------------ manifests
    def _accelerator(self, model: str) -> KubernetesAccelerator:
        try:
            return self.accelerators[model]
        except KeyError:
            known = ", ".join(sorted(self.accelerators)) or "none"
            raise ValidationError(
                f"this Kubernetes engine serves no {model} (configured: {known})", field="accelerator"
            ) from None

    def manifest(self, request: JobRequest) -> dict[str, Any]:
        """The batch/v1 Job for a request (valid against the official schema)."""
        acc = self._accelerator(request.accelerator)
        labels = {
            LABEL_JOB: str(int(request.job_id)),
            LABEL_ATTEMPT: str(request.attempt),
            LABEL_ACCELERATOR: request.accelerator,
        }
        if self.queue:
            labels[KUEUE_QUEUE] = self.queue
        qty = {acc.resource_name: str(request.cards_per_node)} if request.cards else {}
        env = [{"name": "ZHISUAN_JOB_ID", "value": str(int(request.job_id))}]
        env += [{"name": k, "value": v} for k, v in sorted(request.env.items())]
        container: dict[str, Any] = {
            "name": "main",
            "image": self.image,
            "command": ["/bin/sh", "-c", request.command],
            "env": env,
            "resources": {"limits": qty, "requests": qty},
        }
        if request.workdir:
            container["workingDir"] = request.workdir
        pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
        if acc.node_selector:
            pod_spec["nodeSelector"] = dict(acc.node_selector)
        spec: dict[str, Any] = {
            "backoffLimit": 0,
            "completions": request.nodes,
            "parallelism": request.nodes,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        }
        if request.nodes > 1:
            spec["completionMode"] = "Indexed"
        if request.time_limit_s:
            spec["activeDeadlineSeconds"] = request.time_limit_s
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": engine_job_name(request.job_id, request.attempt, self.installation),
                "namespace": self.namespace,
                "labels": labels,
                "annotations": {ANNOTATION_CARDS: str(request.cards)},
            },
            "spec": spec,
        }

    def _exit_code(self, name: str) -> int | None:
        pods = self._call(
            "list pods", "core", "list_namespaced_pod", self.namespace, label_selector=f"job-name={name}"
        )
        codes: list[int] = []
        for pod in (pods or {}).get("items") or []:
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                term = (cs.get("state") or {}).get("terminated")
                if term is not None and term.get("exitCode") is not None:
                    codes.append(int(term["exitCode"]))
        if not codes:
            return None
        failing = [c for c in codes if c != 0]
        return failing[0] if failing else 0

    def _status(self, job: Mapping[str, Any], with_exit: bool = True) -> JobStatus | None:
        meta = job.get("metadata") or {}
        name = str(meta.get("name", ""))
        ident = parse_engine_job_name(name, self.installation)
        if ident is None:
            return None
        state = job_state(job)
        status = job.get("status") or {}
        end = None
        if state.finished:
            end = _ts(status.get("completionTime"))
            for c in status.get("conditions") or []:
                if end is None and c.get("type") in ("Failed", "Complete") and c.get("status") == "True":
                    end = _ts(c.get("lastTransitionTime"))
        message = ""
        for c in status.get("conditions") or []:
            if c.get("status") == "True":
                message = str(c.get("message") or c.get("reason") or "")
        exit_code = self._exit_code(name) if with_exit and state.finished else None
        if exit_code is None and state == EngineJobState.SUCCEEDED:
            exit_code = 0
        return JobStatus(
            engine_job_id=name,
            job_id=ident[0],
            attempt=ident[1],
            state=state,
            exit_code=exit_code,
            start=_ts(status.get("startTime")),
            end=end,
            message=message,
            submitted=_ts(meta.get("creationTimestamp")),
        )

    # ------------------------------------------------------------------ port
    def submit(self, request: JobRequest) -> Submission:
        existing = self.find(request.job_id, request.attempt, request.not_before)
        if existing is not None:
            return Submission(existing.engine_job_id, request.job_id, request.attempt, existing=True)
        body = self.manifest(request)
        short = str(body["metadata"]["name"])
        if self.status(short) is not None:
            # An older Job (a restored database backup) holds the short name.
            body["metadata"]["name"] = f"{short}-t{time.time_ns() // 1_000_000_000}"
        name = str(body["metadata"]["name"])
        try:
            self._call("create job", "batch", "create_namespaced_job", self.namespace, body)
        except EngineError as exc:
            if " 409 " in exc.message:  # AlreadyExists: another submitter created it first
                return Submission(name, request.job_id, request.attempt, existing=True)
            raise
        return Submission(name, request.job_id, request.attempt, existing=False)

    def find(
        self, job_id: JobId, attempt: int = 1, not_before: dt.datetime | None = None
    ) -> JobStatus | None:
        status = self.status(engine_job_name(job_id, attempt, self.installation))
        if status is None or status.belongs_after(not_before):
            return status
        selector = f"{LABEL_JOB}={int(job_id)},{LABEL_ATTEMPT}={attempt}"
        data = self._call(
            "list jobs", "batch", "list_namespaced_job", self.namespace, label_selector=selector
        )
        hits = [
            s
            for s in (self._status(j, with_exit=False) for j in (data or {}).get("items") or [])
            if s is not None and s.belongs_after(not_before)
        ]
        if not hits:
            return None
        return self.status(
            max(hits, key=lambda s: s.submitted or dt.datetime.min.replace(tzinfo=dt.UTC)).engine_job_id
        )

    def status(self, engine_job_id: str) -> JobStatus | None:
        job = self._call("read job", "batch", "read_namespaced_job", engine_job_id, self.namespace)
        return None if job is None else self._status(job)

    def _list(self) -> list[dict[str, Any]]:
        data = self._call(
            "list jobs", "batch", "list_namespaced_job", self.namespace, label_selector=LABEL_JOB
        )
        return list((data or {}).get("items") or [])

    def jobs(self) -> Sequence[JobStatus]:
        out = [s for s in (self._status(j, with_exit=False) for j in self._list()) if s is not None]
        return sorted(out, key=lambda s: (s.job_id, s.attempt))

    def cancel(self, engine_job_id: str) -> None:
        self._call(
            "delete job",
            "batch",
            "delete_namespaced_job",
            engine_job_id,
            self.namespace,
            propagation_policy="Background",
        )

    def capacity(self) -> Mapping[str, Capacity]:
        nodes = (self._call("list nodes", "core", "list_node") or {}).get("items") or []
        running = self._call(
            "list pods", "core", "list_pod_for_all_namespaces", field_selector="status.phase=Running"
        )
        pods = (running or {}).get("items") or []
        out: dict[str, Capacity] = {}
        for acc in self.accelerators.values():
            total = free = 0
            for node in nodes:
                labels = (node.get("metadata") or {}).get("labels") or {}
                if any(labels.get(k) != v for k, v in acc.node_selector.items()):
                    continue
                have = int(
                    ((node.get("status") or {}).get("allocatable") or {}).get(acc.resource_name, 0) or 0
                )
                ready = any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (node.get("status") or {}).get("conditions") or []
                )
                node_name = (node.get("metadata") or {}).get("name")
                used = sum(
                    int(((c.get("resources") or {}).get("requests") or {}).get(acc.resource_name, 0) or 0)
                    for p in pods
                    if (p.get("spec") or {}).get("nodeName") == node_name
                    for c in (p.get("spec") or {}).get("containers") or []
                )
                total += have
                free += (
                    max(0, have - used) if ready and not (node.get("spec") or {}).get("unschedulable") else 0
                )
            out[acc.model] = Capacity(acc.model, total, free)
        return out

    def accounting(self, since: dt.datetime) -> Sequence[UsageRecord]:
        records: list[UsageRecord] = []
        for job in self._list():
            status = self._status(job)
            if status is None or not status.state.finished or status.end is None or status.end < since:
                continue
            meta = job.get("metadata") or {}
            cards = int((meta.get("annotations") or {}).get(ANNOTATION_CARDS, 0) or 0)
            model = str((meta.get("labels") or {}).get(LABEL_ACCELERATOR) or next(iter(self.accelerators)))
            records.append(
                UsageRecord(
                    engine_job_id=status.engine_job_id,
                    job_id=status.job_id,
                    attempt=status.attempt,
                    start=status.start or status.end,
                    end=status.end,
                    cards=cards if status.start else 0,
                    accelerator=model,
                    state=status.state,
                    exit_code=status.exit_code,
                )
            )
        return records

    def logs(self, engine_job_id: str) -> str:
        pods = self._call(
            "list pods",
            "core",
            "list_namespaced_pod",
            self.namespace,
            label_selector=f"job-name={engine_job_id}",
        )
        parts: list[str] = []
        for pod in (pods or {}).get("items") or []:
            name = (pod.get("metadata") or {}).get("name")
            parts.append(
                self._call("read log", "core", "read_namespaced_pod_log", name, self.namespace) or ""
            )
        return "".join(parts)


__all__ = ["KubernetesAccelerator", "KubernetesEngine", "job_state"]
