"""Ray through its Jobs API (``ray.job_submission.JobSubmissionClient``; tested on Ray 2.60).

Configuration (a center's engine settings)::

    {"kind": "ray",
     "address": "http://127.0.0.1:8265",              # the head's dashboard / Jobs API
     "accelerators": {"a100-sxm4-80gb": {"resource": "a100", "num_gpus": true},
                      "ascend-910b3":   {"resource": "ascend910b"}}}

Per accelerator model, a job asks for ``entrypoint_num_gpus`` (``num_gpus: true``) and/or the custom
resource named by ``resource``. The installation and zhisuan job id are the Ray ``submission_id``
(``zhisuan-<installation>-<id>``), so a resubmission after a crash finds the existing job; model and
cards also travel in the job's metadata, which is where accounting reads them back.

Ray records one start time per job (when the job supervisor took it); usage runs from there to the
job's end time.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zhisuan.compute.engines._config import accelerators, from_epoch, installation_of, opt_int, opt_str
from zhisuan.compute.engines.port import (
    Capacity,
    EngineJobState,
    EngineUnavailableError,
    JobRequest,
    JobStatus,
    Submission,
    UsageRecord,
    engine_job_name,
    name_prefix,
    parse_engine_job_name,
)
from zhisuan.core.errors import EngineError, ValidationError
from zhisuan.core.ids import JobId

_STATES = {
    "PENDING": EngineJobState.PENDING,
    "RUNNING": EngineJobState.RUNNING,
    "SUCCEEDED": EngineJobState.SUCCEEDED,
    "FAILED": EngineJobState.FAILED,
    "STOPPED": EngineJobState.CANCELLED,
}
_EXIT = re.compile(r"exit code (-?\d+)")
# Where SDK calls run, so that each can be given up on after the engine's timeout.
_SDK_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="ray-sdk")


@dataclass(frozen=True)
class RayAccelerator:
    """How one accelerator model is requested on this Ray cluster."""

    model: str
    resource: str | None
    num_gpus: bool


def _is_down(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return isinstance(exc, ConnectionError | TimeoutError | urllib.error.URLError) or any(
        marker in text
        for marker in (
            "Connection refused",
            "Failed to connect",
            "Cannot connect",
            "ConnectionError",
            "Timeout",
            "Max retries exceeded",
            "Cluster is not running",
        )
    )


class RayEngine:
    """The engine port over a Ray cluster's Jobs API."""

    kind = "ray"

    def __init__(self, config: Mapping[str, object]) -> None:
        self.installation = installation_of(config)
        self.address = opt_str(config, "address", "engine") or "http://127.0.0.1:8265"
        self.timeout_s = opt_int(config, "timeout_s", "engine", 10)
        self.accelerators: dict[str, RayAccelerator] = {}
        for model, spec in accelerators(config).items():
            where = f"engine.accelerators.{model}"
            num_gpus = spec.get("num_gpus", False)
            if not isinstance(num_gpus, bool):
                raise ValidationError("num_gpus must be true or false", field=f"{where}.num_gpus")
            resource = opt_str(spec, "resource", where)
            if resource is None and not num_gpus:
                raise ValidationError(f"{model} needs a custom 'resource' or 'num_gpus': true", field=where)
            self.accelerators[model] = RayAccelerator(model, resource, num_gpus)
        self._client_obj: Any = None

    # ------------------------------------------------------------------ the SDK client
    def _client(self) -> Any:
        if self._client_obj is None:
            try:
                from ray.job_submission import JobSubmissionClient
            except ImportError as exc:  # pragma: no cover - depends on the installed extras
                raise EngineUnavailableError(
                    "the Ray client is not installed: pip install 'zhisuan[engines]'"
                ) from exc
            try:
                self._client_obj = self._bounded("connect", JobSubmissionClient, self.address)
            except EngineError:
                raise
            except Exception as exc:
                raise EngineUnavailableError(f"Ray at {self.address} is unreachable: {exc}") from exc
        return self._client_obj

    def _bounded(self, what: str, fn: Any, *args: Any) -> Any:
        """Run one SDK call with a deadline: the SDK's HTTP requests have none, and a hung head
        (stopped, swapping, partitioned) must make the engine unavailable, not hang the worker."""
        future = _SDK_THREADS.submit(fn, *args)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise EngineUnavailableError(
                f"Ray at {self.address} did not answer {what} within {self.timeout_s} s"
            ) from None

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        client = self._client()
        try:
            return self._bounded(what, lambda: fn(client, *args, **kwargs))
        except (ValidationError, EngineError):
            raise
        except Exception as exc:
            if _is_down(exc):
                self._client_obj = None
                raise EngineUnavailableError(f"Ray at {self.address} is unreachable ({what}): {exc}") from exc
            raise EngineError(f"Ray refused {what}: {exc}") from exc

    # ------------------------------------------------------------------ mapping
    def _accelerator(self, model: str) -> RayAccelerator:
        try:
            return self.accelerators[model]
        except KeyError:
            known = ", ".join(sorted(self.accelerators)) or "none"
            raise ValidationError(
                f"this Ray engine serves no {model} (configured: {known})", field="accelerator"
            ) from None

    def _status(self, info: Any) -> JobStatus | None:
        sid = getattr(info, "submission_id", None)
        ident = parse_engine_job_name(str(sid or ""), self.installation)
        if ident is None:
            return None
        state = _STATES.get(str(getattr(info.status, "value", info.status)), EngineJobState.LOST)
        message = str(info.message or "")
        exit_code: int | None = None
        if state.finished:
            exit_code = getattr(info, "driver_exit_code", None)
            if exit_code is None:
                m = _EXIT.search(message)
                if m:
                    exit_code = int(m.group(1))
                elif state == EngineJobState.SUCCEEDED:
                    exit_code = 0
        return JobStatus(
            engine_job_id=str(sid),
            job_id=ident[0],
            attempt=ident[1],
            state=state,
            exit_code=exit_code,
            start=from_epoch(info.start_time / 1000) if info.start_time else None,
            end=from_epoch(info.end_time / 1000) if info.end_time and state.finished else None,
            message=message,
            submitted=from_epoch(info.start_time / 1000) if info.start_time else None,
        )

    # ------------------------------------------------------------------ port
    def submit(self, request: JobRequest) -> Submission:
        if request.nodes != 1:
            raise ValidationError(
                "a Ray job has one entrypoint: ask for cards on one node and let the job spread its tasks",
                field="nodes",
            )
        existing = self.find(request.job_id, request.attempt, request.not_before)
        if existing is not None:
            return Submission(existing.engine_job_id, request.job_id, request.attempt, existing=True)
        acc = self._accelerator(request.accelerator)
        name = engine_job_name(request.job_id, request.attempt, self.installation)
        submission_id = name
        if self._info(submission_id) is not None:
            # An older job (a restored database backup) holds the short name: Ray ids are unique,
            # so this one gets a time-stamped name, which find() recognises too.
            submission_id = f"{name}-t{time.time_ns() // 1_000_000_000}"
        runtime_env: dict[str, object] = {
            "env_vars": {**dict(request.env), "ZHISUAN_JOB_ID": str(int(request.job_id))}
        }
        if request.workdir:
            runtime_env["working_dir"] = request.workdir
        kwargs: dict[str, object] = {
            "entrypoint": request.command,
            "submission_id": submission_id,
            "runtime_env": runtime_env,
            "metadata": {
                "zhisuan_job_id": str(int(request.job_id)),
                "attempt": str(request.attempt),
                "accelerator": request.accelerator,
                "cards": str(request.cards),
            },
        }
        if request.cards and acc.num_gpus:
            kwargs["entrypoint_num_gpus"] = request.cards
        if request.cards and acc.resource:
            kwargs["entrypoint_resources"] = {acc.resource: float(request.cards)}
        try:
            sid = self._call("submit_job", lambda c: c.submit_job(**kwargs))
        except EngineError as exc:
            # Another submitter won the race for this submission id: that job is ours.
            if "already exists" in exc.message:
                return Submission(submission_id, request.job_id, request.attempt, existing=True)
            raise
        return Submission(str(sid), request.job_id, request.attempt, existing=False)

    def _info(self, submission_id: str) -> Any | None:
        try:
            return self._call("get_job_info", lambda c: c.get_job_info(submission_id))
        except EngineUnavailableError:
            raise
        except EngineError as exc:
            if "does not exist" in exc.message or "404" in exc.message or "not found" in exc.message.lower():
                return None
            raise

    def find(
        self, job_id: JobId, attempt: int = 1, not_before: dt.datetime | None = None
    ) -> JobStatus | None:
        info = self._info(engine_job_name(job_id, attempt, self.installation))
        status = None if info is None else self._status(info)
        if status is not None and status.belongs_after(not_before):
            return status
        if status is None:
            return None  # nobody holds the short name, so no time-stamped one exists either
        hits = [
            s
            for s in (self._status(i) for i in self._all())
            if s is not None and s.job_id == job_id and s.attempt == attempt and s.belongs_after(not_before)
        ]
        return (
            max(hits, key=lambda s: s.submitted or dt.datetime.min.replace(tzinfo=dt.UTC)) if hits else None
        )

    def status(self, engine_job_id: str) -> JobStatus | None:
        info = self._info(engine_job_id)
        return None if info is None else self._status(info)

    def _all(self) -> list[Any]:
        infos = self._call("list_jobs", lambda c: c.list_jobs())
        prefix = name_prefix(self.installation)
        return [i for i in infos if str(getattr(i, "submission_id", "") or "").startswith(prefix)]

    def jobs(self) -> Sequence[JobStatus]:
        out = [s for s in (self._status(i) for i in self._all()) if s is not None]
        return sorted(out, key=lambda s: (s.job_id, s.attempt))

    def cancel(self, engine_job_id: str) -> None:
        self._call("stop_job", lambda c: c.stop_job(engine_job_id))

    def logs(self, engine_job_id: str) -> str:
        return str(self._call("get_job_logs", lambda c: c.get_job_logs(engine_job_id)))

    def _resources(self) -> dict[str, tuple[float, float]]:
        """(used, total) per Ray resource, from the dashboard's cluster status."""
        url = self.address.rstrip("/") + "/api/cluster_status"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as resp:  # noqa: S310 - configured http URL
                body = json.loads(resp.read())
        except (OSError, ValueError) as exc:
            raise EngineUnavailableError(
                f"Ray at {self.address} is unreachable (cluster status): {exc}"
            ) from exc
        usage = (((body.get("data") or {}).get("clusterStatus") or {}).get("loadMetricsReport") or {}).get(
            "usage"
        ) or {}
        return {
            str(k): (float(v[0]), float(v[1]))
            for k, v in usage.items()
            if isinstance(v, list) and len(v) == 2
        }

    def capacity(self) -> Mapping[str, Capacity]:
        resources = self._resources()
        out: dict[str, Capacity] = {}
        for acc in self.accelerators.values():
            used, total = resources.get(acc.resource or "GPU", (0.0, 0.0))
            out[acc.model] = Capacity(acc.model, int(total), max(0, int(total - used)))
        return out

    def accounting(self, since: dt.datetime) -> Sequence[UsageRecord]:
        records: list[UsageRecord] = []
        for info in self._all():
            status = self._status(info)
            if status is None or not status.state.finished or status.end is None or status.end < since:
                continue
            meta = info.metadata or {}
            cards = int(meta.get("cards", 0) or 0)
            model = str(meta.get("accelerator") or self._model_of(info))
            start = status.start or status.end
            records.append(
                UsageRecord(
                    engine_job_id=status.engine_job_id,
                    job_id=status.job_id,
                    attempt=status.attempt,
                    start=start,
                    end=status.end,
                    cards=cards,
                    accelerator=model,
                    state=status.state,
                    exit_code=status.exit_code,
                )
            )
        return records

    def _model_of(self, info: Any) -> str:
        resources = dict(getattr(info, "entrypoint_resources", None) or {})
        for acc in self.accelerators.values():
            if acc.resource and acc.resource in resources:
                return acc.model
        return next(iter(self.accelerators))


__all__ = ["RayAccelerator", "RayEngine"]
