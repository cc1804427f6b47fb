"""Registries as files: CSV or Excel rows in (headers in English or Chinese), Chinese headers out.

Reading checks every row against the registry's spec before anything is written: a bad cell is
reported with its line (the header is line 1) and its column, and the whole file is refused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from zhisuan.core.errors import ValidationError, ZhisuanError
from zhisuan.registries.spec import RegistrySpec, is_blank, parse_entry, show_value

#: the most rows one import takes (a registry is hundreds of entries, not millions)
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024
#: the column that names an existing entry to change instead of adding one
ID_COLUMNS = ("id", "编号")
XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class FileRow:
    """One data row of an import: its line in the file, the entry it changes (or None) and its cells."""

    line: int
    entry_id: int | None
    cells: Mapping[str, object]


def _cells_csv(data: bytes) -> Iterator[tuple[int, list[object]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV", field="file"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    for cells in reader:
        yield reader.line_num, list(cells)


def _cells_xlsx(data: bytes) -> Iterator[tuple[int, list[object]]]:
    from openpyxl import load_workbook  # imported on use: slow to import, and only Excel files need it

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ValidationError(f"not a readable Excel file ({type(exc).__name__})", field="file") from None
    sheet = book.worksheets[0]
    for n, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield n, ["" if v is None else v for v in row]
    book.close()


def read_rows(spec: RegistrySpec, data: bytes, filled: frozenset[str] = frozenset()) -> list[FileRow]:
    """The rows of a CSV or Excel file (told apart by content), each row's cells keyed by field name.

    ``filled`` names required fields the caller fills in when the file has no column for them (a city
    official's own city)."""
    if len(data) > MAX_BYTES:
        raise ValidationError("an import file is at most 5 MiB", field="file")
    cells = _cells_xlsx(data) if data.startswith(XLSX_MAGIC) else _cells_csv(data)
    header: list[str | None] | None = None
    id_at: int | None = None
    out: list[FileRow] = []
    for line, row in cells:
        if header is None:
            header = []
            for col, raw in enumerate(row):
                name = str(raw).strip()
                if not name:
                    header.append(None)
                    continue
                if name in ID_COLUMNS:
                    id_at = col
                    header.append(None)
                    continue
                found = spec.header(name)
                if found is None:
                    raise ValidationError(
                        f"unknown column {name!r} for registry {spec.name} (headers are the field names "
                        "or their Chinese labels)",
                        row=line,
                        column=name,
                    )
                header.append(found.name)
            missing = [f for f in spec.fields if f.required and f.name not in header and f.name not in filled]
            if missing:
                raise ValidationError(
                    f"the header lacks the required column {missing[0].name} ({missing[0].zh})",
                    row=line,
                    column=missing[0].name,
                )
            continue
        if all(is_blank(v) for v in row):
            continue
        if len(out) >= MAX_ROWS:
            raise ValidationError(f"at most {MAX_ROWS} rows per import", row=line)
        entry_id = None
        if id_at is not None and id_at < len(row) and not is_blank(row[id_at]):
            text = str(row[id_at]).strip()
            if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
                raise ValidationError(f"an entry id, not {text!r}", row=line, column="id")
            entry_id = int(text)
        values = {name: row[i] if i < len(row) else "" for i, name in enumerate(header) if name is not None}
        out.append(FileRow(line, entry_id, values))
    if header is None:
        raise ValidationError("the file is empty: a header line and rows are expected", field="file")
    return out


def check_rows(
    spec: RegistrySpec,
    rows: Sequence[FileRow],
    check: Callable[[Mapping[str, object]], None],
    complete: Callable[[Mapping[str, object]], Mapping[str, object]] = dict,
) -> list[tuple[FileRow, dict[str, object]]]:
    """Every row parsed (its cells filled in by ``complete``) and checked; the first bad cell names its
    line and column, and nothing is kept."""
    out = []
    for row in rows:
        try:
            values = parse_entry(
                spec, complete({k: (None if is_blank(v) else v) for k, v in row.cells.items()})
            )
            check(values)
        except ZhisuanError as exc:
            raise ValidationError(exc.message, row=row.line, column=exc.field or exc.column) from None
        out.append((row, values))
    return out


def _table(
    spec: RegistrySpec, entries: Sequence[Mapping[str, object]]
) -> tuple[list[str], list[list[object]]]:
    header = ["编号", *(f.zh for f in spec.fields)]
    body = [
        [e["id"], *(show_value(f, e["stored"].get(f.name), "zh") for f in spec.fields)]  # type: ignore[attr-defined]
        for e in entries
    ]
    return header, body


def to_csv(spec: RegistrySpec, entries: Sequence[Mapping[str, object]]) -> bytes:
    """Entries as CSV with Chinese headers (UTF-8 with a BOM, so that Excel reads it)."""
    header, body = _table(spec, entries)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(body)
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(spec: RegistrySpec, entries: Sequence[Mapping[str, object]]) -> bytes:
    """Entries as an Excel workbook with Chinese headers."""
    from openpyxl import Workbook  # imported on use: slow to import, and only Excel exports need it
    from openpyxl.styles import Font

    header, body = _table(spec, entries)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = spec.zh[:31]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in body:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = ["FileRow", "check_rows", "read_rows", "to_csv", "to_xlsx"]
