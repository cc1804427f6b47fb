"""Trace importers: the canonical CSV and the Microsoft Philly job table.

Bad input raises :class:`ValidationError` naming the line (``row``) and the column. ``load_factor``
compresses arrivals (2 = jobs arrive twice as fast); ``limit`` keeps the first N jobs by submit time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Final

from zhisuan.compute.model import DEFAULT_REFERENCE, AcceleratorConstraint, JobSpec
from zhisuan.core.catalog import accelerator
from zhisuan.core.errors import NotFoundError, ValidationError, ZhisuanError

CANONICAL_COLUMNS: Final = ("job_id", "submit_s", "duration_s", "gpus", "accelerator", "org")
PHILLY_COLUMNS: Final = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")
FORMATS: Final = ("canonical", "philly")
#: Canonical traces say nothing about the calendar; their second 0 is this instant (Shanghai midnight).
DEFAULT_EPOCH_S: Final = int(dt.datetime(2025, 6, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())


@dataclass(frozen=True, slots=True)
class Trace:
    """Jobs sorted by submit time; ``epoch_s`` is the Unix time of second 0 (for price bands, months)."""

    name: str
    jobs: tuple[JobSpec, ...]
    epoch_s: int = DEFAULT_EPOCH_S
    reference: str = DEFAULT_REFERENCE

    @property
    def span_s(self) -> int:
        return self.jobs[-1].submit_s - self.jobs[0].submit_s if self.jobs else 0


def _number(text: str, line: int, column: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"not a number: {text!r}", row=line, column=column) from None
    if not value.is_finite():
        raise ValidationError(f"not a finite number: {text!r}", row=line, column=column)
    return value


def _whole(text: str, line: int, column: str, minimum: int) -> int:
    try:
        quick = int(text)
    except ValueError:
        pass
    else:
        if quick >= minimum:
            return quick
    value = _number(text, line, column)
    if value != value.to_integral_value():
        raise ValidationError(f"expected a whole number, got {text!r}", row=line, column=column)
    if value < minimum:
        raise ValidationError(f"must be at least {minimum}, got {text!r}", row=line, column=column)
    return int(value)


def _seconds(text: str, line: int, column: str, *, positive: bool) -> Decimal | float:
    # durations and offsets are time, not money: a float is exact enough for whole seconds
    try:
        quick = float(text)
    except ValueError:
        quick = math.nan
    if math.isfinite(quick) and (quick > 0 or (quick == 0 and not positive)):
        return quick
    value = _number(text, line, column)
    if positive and value <= 0:
        raise ValidationError(f"must be more than 0 seconds, got {text!r}", row=line, column=column)
    if value < 0:
        raise ValidationError(f"cannot be negative, got {text!r}", row=line, column=column)
    return value


def _rows(
    text: str, expected: tuple[str, ...], required: Iterable[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("the file is empty; expected a header line", row=1) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    for col in required:
        if col not in header:
            raise ValidationError(
                f"missing column {col!r} (expected {', '.join(expected)})", row=1, column=col
            )
    width = len(header)
    for fields in reader:
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != width:
            raise ValidationError(
                f"expected {width} fields, found {len(fields)}",
                row=line,
                column=header[min(len(fields), width - 1)],
            )
        yield line, dict(zip(header, fields, strict=True))


def _finish(
    name: str,
    raw: list[JobSpec],
    load_factor: Decimal | float | str,
    limit: int | None,
    epoch_s: int,
    reference: str,
) -> Trace:
    lf = Decimal(str(load_factor))
    if not lf.is_finite() or lf <= 0:
        raise ValidationError(f"the load factor must be positive, got {load_factor}", field="load_factor")
    if limit is not None and limit < 1:
        raise ValidationError(f"the limit must be at least 1, got {limit}", field="limit")
    raw.sort(key=lambda j: (j.submit_s, j.id))
    if limit is not None:
        raw = raw[:limit]
    return compress(Trace(name=name, jobs=tuple(raw), epoch_s=epoch_s, reference=reference), lf)


def compress(trace: Trace, load_factor: Decimal | float | str) -> Trace:
    r"""The same jobs arriving ``load_factor`` times as fast (submit times divided, rounded down).

    >>> t = parse_canonical("job_id,submit_s,duration_s,gpus\na,0,60,1\nb,100,60,1\n")
    >>> [j.submit_s for j in compress(t, 4).jobs]
    [0, 25]
    """
    lf = Decimal(str(load_factor))
    if not lf.is_finite() or lf <= 0:
        raise ValidationError(f"the load factor must be positive, got {load_factor}", field="load_factor")
    if lf == 1:
        return trace
    jobs = tuple(replace(j, submit_s=int(Decimal(j.submit_s) / lf)) for j in trace.jobs)
    return Trace(name=trace.name, jobs=jobs, epoch_s=trace.epoch_s, reference=trace.reference)


def parse_canonical(
    text: str,
    *,
    name: str = "canonical",
    load_factor: Decimal | float | str = 1,
    limit: int | None = None,
    epoch_s: int = DEFAULT_EPOCH_S,
    reference: str = DEFAULT_REFERENCE,
    orgs: Callable[[str], str] | None = None,
) -> Trace:
    """Jobs from the canonical CSV (``job_id, submit_s, duration_s, gpus, accelerator, org``)."""
    accelerator(reference, field="reference")
    jobs: list[JobSpec] = []
    seen: dict[str, int] = {}
    for line, row in _rows(text, CANONICAL_COLUMNS, ("job_id", "submit_s", "duration_s", "gpus")):
        job_id = row["job_id"].strip()
        if not job_id:
            raise ValidationError("a job needs an id", row=line, column="job_id")
        if job_id in seen:
            raise ValidationError(
                f"job id {job_id!r} already used on line {seen[job_id]}", row=line, column="job_id"
            )
        seen[job_id] = line
        submit = _seconds(row["submit_s"], line, "submit_s", positive=False)
        duration = _seconds(row["duration_s"], line, "duration_s", positive=True)
        gpus = _whole(row["gpus"], line, "gpus", 1)
        model = (row.get("accelerator") or "").strip()
        constraint = AcceleratorConstraint()
        if model:
            try:
                constraint = AcceleratorConstraint.model(model)
            except ZhisuanError as exc:
                raise ValidationError(exc.message, row=line, column="accelerator") from None
        org = (row.get("org") or "").strip() or "default"
        if orgs is not None:
            org = orgs(org)
        seconds = max(1, math.ceil(duration))
        jobs.append(
            JobSpec(
                id=job_id,
                org=org,
                cards=gpus,
                runtime_s=seconds,
                submit_s=int(submit),
                constraint=constraint,
                reference=reference,
            )
        )
    return _finish(name, jobs, load_factor, limit, epoch_s, reference)


def parse_philly(
    text: str,
    *,
    name: str = "philly",
    load_factor: Decimal | float | str = 1,
    limit: int | None = None,
    reference: str = DEFAULT_REFERENCE,
    orgs: Callable[[str], str] | None = None,
) -> Trace:
    """Jobs from the Philly table (``timestamp, duration, num_gpus, gpu_time, cluster``).

    Submit times become seconds from the first job; the 15 virtual clusters become orgs
    ``vc-<hash>`` (a province maps them to its users through ``aliases``). Philly did not publish
    GPU models; run times refer to ``reference`` (a V100 by default: its fleet was P100/V100-class).
    """
    accelerator(reference, field="reference")
    stamped: list[tuple[dt.datetime, int, int, int, str]] = []
    fromiso = dt.datetime.fromisoformat
    for line, row in _rows(text, PHILLY_COLUMNS, ("timestamp", "duration", "num_gpus", "cluster")):
        try:
            when = fromiso(row["timestamp"])
        except ValueError:
            raise ValidationError(
                f"not a timestamp (expected 2017-10-09 07:01:55): {row['timestamp']!r}",
                row=line,
                column="timestamp",
            ) from None
        if when.tzinfo is not None:  # the table has no zone; naive times are read as UTC
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        duration = _seconds(row["duration"], line, "duration", positive=True)
        gpus = _whole(row["num_gpus"], line, "num_gpus", 1)
        cluster = row["cluster"].strip()
        if not cluster:
            raise ValidationError("empty virtual cluster", row=line, column="cluster")
        stamped.append((when, max(1, math.ceil(duration)), gpus, line, cluster))
    if not stamped:
        return Trace(name=name, jobs=(), reference=reference)
    first = min(s[0] for s in stamped)
    org_of = {c: (orgs(f"vc-{c}") if orgs is not None else f"vc-{c}") for c in {s[4] for s in stamped}}
    jobs = [
        JobSpec(
            id=f"philly-{line}",
            org=org_of[cluster],
            cards=gpus,
            runtime_s=seconds,
            submit_s=int((when - first).total_seconds()),
            reference=reference,
        )
        for when, seconds, gpus, line, cluster in stamped
    ]
    return _finish(name, jobs, load_factor, limit, int(first.replace(tzinfo=dt.UTC).timestamp()), reference)


def load_trace(
    path: str | Path,
    fmt: str = "canonical",
    *,
    load_factor: Decimal | float | str = 1,
    limit: int | None = None,
    reference: str = DEFAULT_REFERENCE,
    orgs: Callable[[str], str] | None = None,
) -> Trace:
    """Read a trace file in ``fmt`` (``canonical`` or ``philly``)."""
    if fmt not in FORMATS:
        raise ValidationError(f"unknown trace format {fmt!r}; one of {', '.join(FORMATS)}", field="format")
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"no trace file at {p}", field="trace")
    text = p.read_text("utf-8")
    if fmt == "philly":
        return parse_philly(
            text, name=p.stem, load_factor=load_factor, limit=limit, reference=reference, orgs=orgs
        )
    return parse_canonical(
        text, name=p.stem, load_factor=load_factor, limit=limit, reference=reference, orgs=orgs
    )


def to_canonical(jobs: Iterable[JobSpec]) -> str:
    """The canonical CSV for jobs (every importer can write it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CANONICAL_COLUMNS)
    for j in jobs:
        model = next(iter(j.constraint.models)) if len(j.constraint.models) == 1 else ""
        writer.writerow([j.id, j.submit_s, j.runtime_s, j.cards, model, j.org])
    return out.getvalue()


__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_EPOCH_S",
    "FORMATS",
    "PHILLY_COLUMNS",
    "Trace",
    "compress",
    "load_trace",
    "parse_canonical",
    "parse_philly",
    "to_canonical",
]
