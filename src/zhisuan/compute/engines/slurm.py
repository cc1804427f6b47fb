"""Slurm through its command line: sbatch, squeue, scancel, sacct, sinfo (tested on Slurm 22.05).

Configuration (a center's engine settings)::

    {"kind": "slurm",
     "slurm_conf": "/etc/slurm/slurm.conf",          # optional, else $SLURM_CONF / Slurm's default
     "jobdir": "/shared/zhisuan",                    # where job output goes (default: a temp dir)
     "accelerators": {"a100-sxm4-80gb": {"gres_type": "a100", "partition": "a100"},
                      "ascend-910b3":   {"gres_type": "ascend910b"}}}

An accelerator model maps to a GRES type (``--gres=gpu:TYPE:N``), a partition, or both. The
installation and zhisuan job id travel as the job name (``zhisuan-<installation>-<id>``), which is how
a resubmission finds the job; jobs of other installations are not this engine's.

Slurm 22.05's ``sacct --json`` reports exit code 0 for failed jobs, so exit codes come from
``sacct --parsable2`` (and from ``squeue --json``'s wait status while the job is still known there).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
from zhisuan.core.clock import Clock, SystemClock
from zhisuan.core.errors import EngineError, ValidationError
from zhisuan.core.ids import JobId

_STATES: dict[str, EngineJobState] = {
    "PENDING": EngineJobState.PENDING,
    "CONFIGURING": EngineJobState.PENDING,
    "REQUEUED": EngineJobState.PENDING,
    "REQUEUE_HOLD": EngineJobState.PENDING,
    "REQUEUE_FED": EngineJobState.PENDING,
    "RESV_DEL_HOLD": EngineJobState.PENDING,
    "RUNNING": EngineJobState.RUNNING,
    "COMPLETING": EngineJobState.RUNNING,
    "SIGNALING": EngineJobState.RUNNING,
    "STAGE_OUT": EngineJobState.RUNNING,
    "SUSPENDED": EngineJobState.RUNNING,
    "RESIZING": EngineJobState.RUNNING,
    "COMPLETED": EngineJobState.SUCCEEDED,
    "FAILED": EngineJobState.FAILED,
    "OUT_OF_MEMORY": EngineJobState.FAILED,
    "TIMEOUT": EngineJobState.FAILED,
    "DEADLINE": EngineJobState.FAILED,
    "BOOT_FAIL": EngineJobState.FAILED,
    "SPECIAL_EXIT": EngineJobState.FAILED,
    "CANCELLED": EngineJobState.CANCELLED,
    "REVOKED": EngineJobState.CANCELLED,
    "NODE_FAIL": EngineJobState.LOST,
    "PREEMPTED": EngineJobState.LOST,
}

# Messages of Slurm clients that mean "the controller (or the accounting daemon) cannot be reached".
_DOWN = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused|Unable to connect|"
    r"Zero Bytes were transmitted|Could not establish a configuration source|"
    r"Problem talking to the database|slurmdbd: Connection|Unable to establish",
    re.IGNORECASE,
)
_GRES = re.compile(r"gpu(?::([A-Za-z0-9_.-]+))?:(\d+)")


def slurm_state(text: str) -> EngineJobState:
    """Normalise a Slurm job state ('CANCELLED by 0', 'FAILED', …).

    >>> slurm_state("CANCELLED by 0"), slurm_state("COMPLETED")
    (<EngineJobState.CANCELLED: 'cancelled'>, <EngineJobState.SUCCEEDED: 'succeeded'>)
    """
    word = text.split()[0].upper() if text.strip() else "PENDING"
    return _STATES.get(word, EngineJobState.LOST)


def parse_gres(text: str) -> list[tuple[str | None, int]]:
    """GRES gpu entries of a node's gres string: ``gpu:a100:4(S:0),gpu:v100:2`` → [('a100', 4), ('v100', 2)].

    >>> parse_gres("gpu:a100:4(S:0)"), parse_gres("gpu:2"), parse_gres("gpu:a100:1(IDX:0)")
    ([('a100', 4)], [(None, 2)], [('a100', 1)])
    """
    out: list[tuple[str | None, int]] = []
    for part in re.split(r",(?![^(]*\))", text or ""):
        m = _GRES.match(part.strip())
        if m:
            out.append((m.group(1), int(m.group(2))))
    return out


def parse_exit_code(text: str) -> int | None:
    """``sacct``'s ``ExitCode`` 'rc:signal' as one code (128 + signal when killed by one).

    >>> parse_exit_code("3:0"), parse_exit_code("0:9"), parse_exit_code("")
    (3, 137, None)
    """
    m = re.match(r"^(\d+):(\d+)$", text.strip())
    if m is None:
        return None
    rc, sig = int(m.group(1)), int(m.group(2))
    return 128 + sig if rc == 0 and sig else rc


def wait_status_exit_code(status: int | None) -> int | None:
    """A POSIX wait status (``squeue --json``'s exit_code) as one code.

    >>> wait_status_exit_code(768), wait_status_exit_code(9), wait_status_exit_code(0)
    (3, 137, 0)
    """
    if status is None:
        return None
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return (status >> 8) & 0xFF


def _reason(value: object) -> str:
    text = str(value or "")
    return "" if text == "None" else text


@dataclass(frozen=True)
class SlurmAccelerator:
    """How one accelerator model is requested on this Slurm cluster."""

    model: str
    gres_type: str | None
    partition: str | None


class SlurmEngine:
    """The engine port over a Slurm cluster's command-line clients."""

    kind = "slurm"

    def __init__(self, config: Mapping[str, object], clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self.installation = installation_of(config)
        self.slurm_conf = opt_str(config, "slurm_conf", "engine")
        self.timeout_s = opt_int(config, "timeout_s", "engine", 30)
        self.lookback_days = opt_int(config, "lookback_days", "engine", 30)
        jobdir = opt_str(config, "jobdir", "engine")
        self.jobdir = Path(jobdir) if jobdir else Path(tempfile.gettempdir()) / "zhisuan-slurm"
        self.accelerators: dict[str, SlurmAccelerator] = {}
        for model, spec in accelerators(config).items():
            where = f"engine.accelerators.{model}"
            acc = SlurmAccelerator(
                model, opt_str(spec, "gres_type", where), opt_str(spec, "partition", where)
            )
            self.accelerators[model] = acc

    # ------------------------------------------------------------------ running the clients
    def _run(self, args: Sequence[str], stdin: str | None = None) -> str:
        env = dict(os.environ)
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        try:
            done = subprocess.run(
                list(args),
                input=stdin,
                capture_output=True,
                text=True,
                env=env,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise EngineUnavailableError(f"Slurm client {args[0]} is not installed on this host") from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineUnavailableError(f"Slurm did not answer {args[0]} within {self.timeout_s} s") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            text = " / ".join(message[-3:]) or f"exit status {done.returncode}"
            if _DOWN.search(done.stderr or ""):
                raise EngineUnavailableError(f"Slurm is unreachable ({args[0]}): {text}")
            raise EngineError(f"Slurm refused {args[0]}: {text}")
        return done.stdout

    def _json(self, args: Sequence[str]) -> dict[str, object]:
        out = self._run(args)
        try:
            data = json.loads(out)
        except json.JSONDecodeError as exc:
            raise EngineError(f"{args[0]} --json printed something that is not JSON") from exc
        if not isinstance(data, dict):
            raise EngineError(f"{args[0]} --json printed an unexpected document")
        # With the controller (or slurmdbd) down, 22.05's --json exits 0 with only an error entry.
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            text = "; ".join(str(e.get("error", e)) if isinstance(e, dict) else str(e) for e in errors)
            if "Nothing found" not in text:  # sacct's way of saying "no such jobs"
                raise EngineUnavailableError(f"Slurm could not answer {args[0]}: {text}")
        return data

    # ------------------------------------------------------------------ mapping
    def _accelerator(self, model: str) -> SlurmAccelerator:
        try:
            return self.accelerators[model]
        except KeyError:
            known = ", ".join(sorted(self.accelerators)) or "none"
            raise ValidationError(
                f"this Slurm engine serves no {model} (configured: {known})", field="accelerator"
            ) from None

    def _model_of(self, gres_type: str | None, partition: str | None) -> str:
        for acc in self.accelerators.values():
            if acc.gres_type and acc.gres_type == gres_type:
                return acc.model
        for acc in self.accelerators.values():
            if acc.partition and acc.partition == partition:
                return acc.model
        if len(self.accelerators) == 1:
            return next(iter(self.accelerators))
        return gres_type or partition or "unknown"

    # ------------------------------------------------------------------ port
    def submit(self, request: JobRequest) -> Submission:
        existing = self.find(request.job_id, request.attempt, request.not_before)
        if existing is not None:
            return Submission(existing.engine_job_id, request.job_id, request.attempt, existing=True)
        acc = self._accelerator(request.accelerator)
        self.jobdir.mkdir(parents=True, exist_ok=True)
        name = engine_job_name(request.job_id, request.attempt, self.installation)
        args = [
            "sbatch",
            "--parsable",
            f"--job-name={name}",
            f"--output={self.jobdir / name}-%j.out",
            f"--nodes={request.nodes}",
            "--ntasks-per-node=1",
            f"--chdir={request.workdir or self.jobdir}",
            f"--comment=zhisuan job {int(request.job_id)} attempt {request.attempt}",
        ]
        if request.cards:
            kind = f"gpu:{acc.gres_type}" if acc.gres_type else "gpu"
            args.append(f"--gres={kind}:{request.cards_per_node}")
        if acc.partition:
            args.append(f"--partition={acc.partition}")
        if request.time_limit_s:
            args.append(f"--time={math.ceil(request.time_limit_s / 60)}")
        out = self._run(args, stdin=self._script(request))
        engine_job_id = out.strip().split(";")[0]
        if not engine_job_id.isdigit():
            raise EngineError(f"sbatch answered {out.strip()!r} instead of a job id")
        return Submission(engine_job_id, request.job_id, request.attempt, existing=False)

    @staticmethod
    def _script(request: JobRequest) -> str:
        lines = ["#!/bin/bash", f"export ZHISUAN_JOB_ID={int(request.job_id)}"]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(request.env.items()) if k.isidentifier()]
        if request.nodes > 1:
            # A gang job runs its command once on every node it holds.
            lines.append(f"exec srun --ntasks-per-node=1 bash -c {shlex.quote(request.command)}")
        else:
            lines.append(request.command)
        return "\n".join(lines) + "\n"

    def _queue(self) -> list[JobStatus]:
        data = self._json(["squeue", "--json", "--all"])
        out: list[JobStatus] = []
        jobs = data.get("jobs")
        for job in jobs if isinstance(jobs, list) else []:
            ident = parse_engine_job_name(str(job.get("name", "")), self.installation)
            if ident is None:
                continue
            state = slurm_state(str(job.get("job_state", "")))
            out.append(
                JobStatus(
                    engine_job_id=str(job["job_id"]),
                    job_id=ident[0],
                    attempt=ident[1],
                    state=state,
                    exit_code=wait_status_exit_code(job.get("exit_code")) if state.finished else None,
                    start=from_epoch(job.get("start_time")) if state != EngineJobState.PENDING else None,
                    end=from_epoch(job.get("end_time")) if state.finished else None,
                    message=_reason(job.get("state_reason")),
                    submitted=from_epoch(job.get("submit_time")),
                )
            )
        return out

    def _since_arg(self, since: dt.datetime) -> str:
        # sacct reads -S in the host's local time.
        return since.astimezone().strftime("%Y-%m-%dT%H:%M:%S")

    def _sacct(self, since: dt.datetime, extra: Sequence[str] = ()) -> list[tuple[JobStatus, int, str]]:
        """Finished-or-not zhisuan jobs known to accounting: (status, allocated cards, model)."""
        start = self._since_arg(since)
        data = self._json(["sacct", "--json", "--allusers", f"--starttime={start}", *extra])
        codes: dict[str, int | None] = {}
        text = self._run(
            [
                "sacct",
                "--parsable2",
                "--noheader",
                "--allocations",
                "--allusers",
                f"--starttime={start}",
                "--format=JobIDRaw,ExitCode",
                *extra,
            ]
        )
        for line in text.splitlines():
            if "|" in line:
                jid, code = line.split("|", 1)
                codes[jid] = parse_exit_code(code)
        out: list[tuple[JobStatus, int, str]] = []
        jobs = data.get("jobs")
        for job in jobs if isinstance(jobs, list) else []:
            ident = parse_engine_job_name(str(job.get("name", "")), self.installation)
            if ident is None:
                continue
            engine_job_id = str(job["job_id"])
            state_obj = job.get("state") or {}
            state = slurm_state(str(state_obj.get("current", "")))
            times = job.get("time") or {}
            cards, gres_type = 0, None
            for tres in (job.get("tres") or {}).get("allocated") or []:
                if tres.get("type") == "gres" and str(tres.get("name", "")).startswith("gpu"):
                    name = str(tres.get("name"))
                    if name == "gpu":
                        cards = int(tres.get("count") or 0)
                    elif ":" in name:
                        gres_type = name.split(":", 1)[1]
            model = self._model_of(gres_type, job.get("partition"))
            status = JobStatus(
                engine_job_id=engine_job_id,
                job_id=ident[0],
                attempt=ident[1],
                state=state,
                exit_code=codes.get(engine_job_id) if state.finished else None,
                start=from_epoch(times.get("start")) if state != EngineJobState.PENDING else None,
                end=from_epoch(times.get("end")) if state.finished else None,
                message=_reason(state_obj.get("reason")),
                submitted=from_epoch(times.get("submission")),
            )
            out.append((status, cards, model))
        return out

    def _lookback(self) -> dt.datetime:
        return self._clock.now() - dt.timedelta(days=self.lookback_days)

    def find(
        self, job_id: JobId, attempt: int = 1, not_before: dt.datetime | None = None
    ) -> JobStatus | None:
        name = engine_job_name(job_id, attempt, self.installation)

        def ours(s: JobStatus) -> bool:
            return s.job_id == job_id and s.attempt == attempt and s.belongs_after(not_before)

        hits = [s for s in self._queue() if ours(s)]
        if not hits:
            since = self._lookback() if not_before is None else not_before - dt.timedelta(minutes=5)
            hits = [s for s, _, _ in self._sacct(since, [f"--name={name}"]) if ours(s)]
        if not hits:
            return None
        return max(hits, key=lambda s: int(s.engine_job_id))

    def status(self, engine_job_id: str) -> JobStatus | None:
        for s in self._queue():
            if s.engine_job_id == engine_job_id:
                return s
        for s, _, _ in self._sacct(self._lookback(), [f"--jobs={engine_job_id}"]):
            if s.engine_job_id == engine_job_id:
                return s
        return None

    def jobs(self) -> Sequence[JobStatus]:
        found = {s.engine_job_id: s for s, _, _ in self._sacct(self._lookback())}
        found.update({s.engine_job_id: s for s in self._queue()})
        return sorted(found.values(), key=lambda s: int(s.engine_job_id))

    def cancel(self, engine_job_id: str) -> None:
        if not engine_job_id.isdigit():
            raise ValidationError(f"{engine_job_id!r} is not a Slurm job id", field="engine_job_id")
        try:
            self._run(["scancel", engine_job_id])
        except EngineUnavailableError:
            raise
        except EngineError as exc:
            if "Invalid job id" in exc.message or "already completing" in exc.message:
                return
            raise

    def capacity(self) -> Mapping[str, Capacity]:
        data = self._json(["sinfo", "--json"])
        total = dict.fromkeys(self.accelerators, 0)
        free = dict.fromkeys(self.accelerators, 0)
        nodes = data.get("nodes")
        for node in nodes if isinstance(nodes, list) else []:
            state = str(node.get("state", "")).lower()
            flags = {str(f).upper() for f in node.get("state_flags") or []}
            usable = state in ("idle", "mixed", "allocated") and not flags & {
                "DRAIN",
                "DRAINING",
                "DRAINED",
                "NOT_RESPONDING",
                "FAIL",
                "MAINTENANCE",
                "POWERED_DOWN",
                "REBOOT_REQUESTED",
            }
            parts = set(node.get("partitions") or [])
            used: dict[str | None, int] = {}
            for typ, n in parse_gres(str(node.get("gres_used", ""))):
                used[typ] = used.get(typ, 0) + n
            for typ, n in parse_gres(str(node.get("gres", ""))):
                for acc in self.accelerators.values():
                    if acc.gres_type is not None and acc.gres_type != typ:
                        continue
                    if acc.partition is not None and acc.partition not in parts:
                        continue
                    if acc.gres_type is None and acc.partition is None:
                        continue
                    total[acc.model] += n
                    if usable:
                        free[acc.model] += max(0, n - used.get(typ, 0))
        return {m: Capacity(m, total[m], free[m]) for m in self.accelerators}

    def accounting(self, since: dt.datetime) -> Sequence[UsageRecord]:
        records: list[UsageRecord] = []
        for status, cards, model in self._sacct(since):
            if not status.state.finished or status.end is None or status.end < since:
                continue
            start = status.start or status.end  # cancelled while pending: zero use
            records.append(
                UsageRecord(
                    engine_job_id=status.engine_job_id,
                    job_id=status.job_id,
                    attempt=status.attempt,
                    start=start,
                    end=status.end,
                    cards=cards if status.start else 0,
                    accelerator=model,
                    state=status.state,
                    exit_code=status.exit_code,
                )
            )
        return records

    def logs(self, engine_job_id: str) -> str:
        for path in sorted(self.jobdir.glob(f"{name_prefix(self.installation)}*-{engine_job_id}.out")):
            return path.read_text(errors="replace")
        return ""


__all__ = ["SlurmAccelerator", "SlurmEngine", "parse_exit_code", "parse_gres", "slurm_state"]
