"""Usage files as engines and centers send them: CSV with a header or JSON lines.

Every error names the file's line and column. Parsing stops at raw usage (and observed runs for
reconciliation); pricing and storing are :mod:`zhisuan.metering.usage`'s. :func:`read_usage_values`
reads a file as plain tuples of text in :data:`ROW_COLUMNS` order (no object per row), which is how
the import reads it; :func:`read_usage_file` gives each row as a mapping.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from operator import itemgetter
from pathlib import Path

from zhisuan.core.clock import parse_timestamp
from zhisuan.core.errors import NotFoundError, ValidationError, ZhisuanError
from zhisuan.core.ids import MAX_ID
from zhisuan.metering.model import ObservedRun, RawUsage

USAGE_COLUMNS = (
    "engine",
    "engine_job_id",
    "org_id",
    "center_id",
    "pool_id",
    "accelerator",
    "cards",
    "start",
    "end",
)

#: the columns of a row as :func:`read_usage_values` gives it: the usage columns, then ``corrects``
ROW_COLUMNS = (*USAGE_COLUMNS, "corrects")

Values = tuple[str, ...]


def read_usage_values(path: Path) -> Iterator[tuple[int, Values]]:
    """(line number, the row's text in :data:`ROW_COLUMNS` order; "" where absent) of a usage file."""
    if not path.exists():
        raise NotFoundError(f"no such file: {path}", field="file")
    suffix = path.suffix.lower()
    if suffix != ".csv":
        for n, row in read_usage_file(path):
            yield n, tuple(row.get(c, "") for c in ROW_COLUMNS)
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        missing = [c for c in USAGE_COLUMNS if c not in header]
        if missing:
            raise ValidationError(f"the CSV header lacks {', '.join(missing)}", row=1, column=missing[0])
        width = len(header)
        # an absent optional column reads from one empty cell appended to every row
        pick = itemgetter(*(header.index(c) if c in header else width for c in ROW_COLUMNS))
        for cells in reader:
            if not cells:
                continue  # a blank line, skipped as DictReader does
            if len(cells) < width:  # missing cells are empty, as DictReader reads them
                cells += [""] * (width - len(cells))
            cells.append("")
            yield reader.line_num, pick(cells)


def read_usage_file(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) from a CSV with a header or from JSON lines."""
    if not path.exists():
        raise NotFoundError(f"no such file: {path}", field="file")
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", newline="") as fh:  # a BOM (Excel's UTF-8 CSV) is skipped
        if suffix in {".jsonl", ".ndjson", ".json"}:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"not JSON: {exc.msg}", row=n) from None
                if not isinstance(obj, dict):
                    raise ValidationError("each line must be a JSON object", row=n)
                yield n, {str(k): "" if v is None else str(v) for k, v in obj.items()}
        elif suffix == ".csv":
            reader = csv.DictReader(fh)
            missing = [c for c in USAGE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValidationError(f"the CSV header lacks {', '.join(missing)}", row=1, column=missing[0])
            for row in reader:
                yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}
        else:
            raise ValidationError("usage files are .csv or .jsonl", field="file")


def int_col(row: Mapping[str, str], col: str, n: int) -> int:
    """An id-sized integer column of a file row; errors name the line and column."""
    raw = row.get(col, "").strip()
    if not raw:
        raise ValidationError("is missing", row=n, column=col)
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"not an integer: {raw!r}", row=n, column=col) from None
    if abs(value) > MAX_ID:
        raise ValidationError(f"out of range: {raw!r}", row=n, column=col)
    return value


def parse_usage_row(n: int, row: Mapping[str, str]) -> tuple[RawUsage, str | None]:
    """A file row as raw usage (and the key of the record it corrects); errors name line and column."""
    for col in ("engine", "engine_job_id", "accelerator", "start", "end"):
        if not row.get(col, "").strip():
            raise ValidationError("is missing", row=n, column=col)
    try:
        start = parse_timestamp(row["start"])
    except ZhisuanError as exc:
        raise ValidationError(exc.message, row=n, column="start") from None
    try:
        end = parse_timestamp(row["end"])
    except ZhisuanError as exc:
        raise ValidationError(exc.message, row=n, column="end") from None
    try:
        raw = RawUsage(
            engine=row["engine"].strip(),
            engine_job_id=row["engine_job_id"].strip(),
            org_id=int_col(row, "org_id", n),
            center_id=int_col(row, "center_id", n),
            pool_id=int_col(row, "pool_id", n),
            accelerator=row["accelerator"].strip(),
            cards=int_col(row, "cards", n),
            start=start,
            end=end,
        )
    except ValidationError as exc:
        if exc.row is not None:
            raise
        raise ValidationError(exc.message, row=n, column=exc.field) from None
    corrects = row.get("corrects", "").strip() or None
    return raw, corrects


def read_observed_file(path: Path) -> list[ObservedRun]:
    """Observed runs (CSV: engine, engine_job_id, center_id, pool_id, cards, dispatched_at, completed_at)."""
    out = []
    for n, row in read_usage_file(path) if path.suffix == ".jsonl" else _csv_rows(path):
        try:
            out.append(
                ObservedRun(
                    row["engine"],
                    row["engine_job_id"],
                    int_col(row, "center_id", n),
                    int_col(row, "pool_id", n),
                    int_col(row, "cards", n),
                    parse_timestamp(row["dispatched_at"]),
                    parse_timestamp(row["completed_at"]),
                )
            )
        except KeyError as exc:
            raise ValidationError("is missing", row=n, column=str(exc.args[0])) from None
    return out


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:  # a BOM (Excel's UTF-8 CSV) is skipped
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, {k: (v or "") for k, v in row.items() if k is not None}


__all__ = [
    "ROW_COLUMNS",
    "USAGE_COLUMNS",
    "Values",
    "int_col",
    "parse_usage_row",
    "read_observed_file",
    "read_usage_file",
    "read_usage_values",
]
