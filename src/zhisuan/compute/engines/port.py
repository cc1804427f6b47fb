"""The engine port: what zhisuan needs from a center's job engine (Slurm, Ray, Kubernetes, simulated).

Identity travels with the job: the engine job's name (Slurm), submission id (Ray) or label
(Kubernetes) is :func:`engine_job_name` of the platform installation, the zhisuan job id and the
attempt, so a resubmission after a crash finds the job the engine already has instead of starting a
second one, and two databases on one cluster (a reset, a test run, a second platform) never take
each other's jobs for their own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from zhisuan.core.errors import EngineError, ValidationError
from zhisuan.core.ids import JobId

NAME_PREFIX = "zhisuan-"
#: An installation id: a letter, then letters and digits (it never looks like a job id).
INSTALLATION_RE = re.compile(r"^[a-z][a-z0-9]{3,31}$")
_NAME_RE = re.compile(r"^zhisuan-(?:([a-z][a-z0-9]{3,31})-)?(\d+)(?:-r(\d+))?(?:-t\d+)?$")
#: Engines stamp submit times in whole seconds and clocks drift a little: how much earlier than
#: ``not_before`` an engine job may have been submitted and still be taken for this job's.
SKEW = dt.timedelta(seconds=2)


class EngineUnavailableError(EngineError):
    """The engine cannot be reached at all (down, refused, timed out): its pools are unavailable.

    Distinct from a plain :class:`EngineError` (the engine answered and refused one request), so the
    dispatcher marks the center's pools unavailable and keeps the jobs waiting instead of failing them.
    """

    code = "engine_unavailable"
    http_status = 503


class EngineJobState(StrEnum):
    """A job's state as the engine reports it, normalised across engines."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # the engine says it ran but cannot say how it ended (node failure, preemption)

    @property
    def finished(self) -> bool:
        """True once the job will not change state again."""
        return self not in (EngineJobState.PENDING, EngineJobState.RUNNING)


def name_prefix(installation: str = "") -> str:
    """The prefix of every engine job name of one installation.

    >>> name_prefix("k3x9q2ab"), name_prefix()
    ('zhisuan-k3x9q2ab-', 'zhisuan-')
    """
    if installation and not INSTALLATION_RE.match(installation):
        raise ValidationError(
            f"an installation id is a letter then 3–31 letters or digits, got {installation!r}",
            field="engine.installation",
        )
    return f"{NAME_PREFIX}{installation}-" if installation else NAME_PREFIX


def engine_job_name(job_id: JobId | int, attempt: int = 1, installation: str = "") -> str:
    """The name every engine gives zhisuan job ``job_id`` of ``installation`` (attempt 1: short form).

    >>> engine_job_name(42, installation="k3x9q2ab"), engine_job_name(42, 3, "k3x9q2ab")
    ('zhisuan-k3x9q2ab-42', 'zhisuan-k3x9q2ab-42-r3')
    >>> engine_job_name(42)
    'zhisuan-42'
    """
    if attempt < 1:
        raise ValidationError("attempt counts from 1", field="attempt")
    base = f"{name_prefix(installation)}{int(job_id)}"
    return base if attempt == 1 else f"{base}-r{attempt}"


def parse_engine_job_name(name: str, installation: str = "") -> tuple[JobId, int] | None:
    """The zhisuan job id and attempt behind an engine job name of ``installation``, or None.

    None for foreign jobs, another installation's among them. A ``-t<unix time>`` suffix marks a
    name made unique where engines require unique names (Ray, Kubernetes) and an older job still
    holds the short one.

    >>> parse_engine_job_name("zhisuan-k3x9q2ab-42-r3", "k3x9q2ab")
    (42, 3)
    >>> parse_engine_job_name("zhisuan-k3x9q2ab-42-t1700000000", "k3x9q2ab")
    (42, 1)
    >>> parse_engine_job_name("zhisuan-other001-42", "k3x9q2ab") is None
    True
    >>> parse_engine_job_name("zhisuan-42"), parse_engine_job_name("someone-else")
    ((42, 1), None)
    """
    m = _NAME_RE.match(name)
    if m is None or (m.group(1) or "") != installation:
        return None
    return JobId(int(m.group(2))), int(m.group(3) or 1)


@dataclass(frozen=True)
class JobRequest:
    """What to run for one zhisuan job on one engine.

    ``cards`` is the total number of accelerator cards; a gang job spreads them evenly over ``nodes``.
    ``command`` is a shell command line, run once per node.
    """

    job_id: JobId
    accelerator: str
    cards: int
    command: str
    nodes: int = 1
    attempt: int = 1
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    time_limit_s: int | None = None
    #: when the zhisuan job came to be: an engine job of the same name submitted before that belongs
    #: to something else (a reset database, another platform) and is never adopted
    not_before: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.cards < 0:
            raise ValidationError("cards cannot be negative", field="cards")
        if self.nodes < 1:
            raise ValidationError("a job needs at least one node", field="nodes")
        if self.cards % self.nodes:
            raise ValidationError(
                f"{self.cards} cards do not spread evenly over {self.nodes} nodes", field="cards"
            )
        if not self.command.strip():
            raise ValidationError("the command is empty", field="command")

    @property
    def cards_per_node(self) -> int:
        return self.cards // self.nodes


@dataclass(frozen=True)
class Submission:
    """The engine's answer to a submit: its own job id, and whether it already had the job."""

    engine_job_id: str
    job_id: JobId
    attempt: int
    existing: bool


@dataclass(frozen=True)
class JobStatus:
    """One engine job as the engine sees it now."""

    engine_job_id: str
    job_id: JobId
    attempt: int
    state: EngineJobState
    exit_code: int | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    message: str = ""
    submitted: dt.datetime | None = None

    def belongs_after(self, not_before: dt.datetime | None) -> bool:
        """Whether this engine job can be the one submitted for a zhisuan job created at ``not_before``."""
        return not_before is None or self.submitted is None or self.submitted >= not_before - SKEW


@dataclass(frozen=True)
class UsageRecord:
    """What ran, from when to when (aware UTC), on how many cards of which model, with what result."""

    engine_job_id: str
    job_id: JobId
    attempt: int
    start: dt.datetime
    end: dt.datetime
    cards: int
    accelerator: str
    state: EngineJobState
    exit_code: int | None

    @property
    def card_seconds(self) -> int:
        """Whole card-seconds of use (engines account in whole seconds)."""
        return int((self.end - self.start).total_seconds()) * self.cards


@dataclass(frozen=True)
class Capacity:
    """Cards of one accelerator model on an engine: how many exist, how many are free now."""

    accelerator: str
    total: int
    free: int


@runtime_checkable
class Engine(Protocol):
    """A center's job engine, as the dispatcher and the reconciler use it.

    Every method raises :class:`EngineUnavailableError` when the engine cannot be reached and
    :class:`~zhisuan.core.errors.EngineError` when it answers with a refusal.
    """

    kind: str

    def submit(self, request: JobRequest) -> Submission:
        """Start the job, or return the engine job already carrying its name (idempotent)."""
        ...

    def find(
        self, job_id: JobId, attempt: int = 1, not_before: dt.datetime | None = None
    ) -> JobStatus | None:
        """The newest engine job carrying this zhisuan job's name (submitted no earlier than
        ``not_before``), or None if the engine has none."""
        ...

    def status(self, engine_job_id: str) -> JobStatus | None:
        """The current state of one engine job, or None if the engine has no record of it (lost)."""
        ...

    def jobs(self) -> Sequence[JobStatus]:
        """Every zhisuan job the engine still knows (for reconciliation after a restart)."""
        ...

    def cancel(self, engine_job_id: str) -> None:
        """Stop the job (no error if it has already ended)."""
        ...

    def capacity(self) -> Mapping[str, Capacity]:
        """Total and free cards per accelerator model this engine serves."""
        ...

    def accounting(self, since: dt.datetime) -> Sequence[UsageRecord]:
        """Usage of every finished zhisuan job that ended at or after ``since``."""
        ...

    def logs(self, engine_job_id: str) -> str:
        """The job's output so far (may be empty)."""
        ...


__all__ = [
    "INSTALLATION_RE",
    "NAME_PREFIX",
    "SKEW",
    "Capacity",
    "Engine",
    "EngineJobState",
    "EngineUnavailableError",
    "JobRequest",
    "JobStatus",
    "Submission",
    "UsageRecord",
    "engine_job_name",
    "name_prefix",
    "parse_engine_job_name",
]
