"""Bulk registration of datasets and suppliers from CSV or Excel.

Every row is checked before anything is saved; the first bad row stops the import with its line (the
spreadsheet's own line number, the header being line 1) and its column (as the file names it), and
nothing is written. Headers may be the English field names or the Chinese ones of the exports.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from zhisuan import audit
from zhisuan.core.access import Principal
from zhisuan.core.clock import Clock
from zhisuan.core.errors import ValidationError
from zhisuan.opendata import catalog, publishers
from zhisuan.opendata import model as m
from zhisuan.opendata.suppliers import supplier_row
from zhisuan.store.models.opendata import DatasetRow, SupplierRow
from zhisuan.store.uow import UnitOfWork

MAX_ROWS = 20_000
MAX_BYTES = 20 * 1024 * 1024

DATASET_COLUMNS: Mapping[str, str] = {
    "数据集名称": "title",
    "摘要": "description",
    "主题": "themes",
    "关键词": "keywords",
    "开放属性": "openness",
    "开放条件": "conditions",
    "格式": "formats",
    "更新频率": "update_frequency",
    "数据量（条）": "records",
    "数据大小（字节）": "byte_size",
    "联系人": "contact_name",
    "联系邮箱": "contact_email",
    "发布单位代码": "publisher",
    "是否发布": "publish",
}
SUPPLIER_COLUMNS: Mapping[str, str] = {
    "名称": "name",
    "统一社会信用代码": "credit_code",
    "所在市": "city",
    "服务类型": "services",
    "是否在皖": "in_province",
}


def _cells(content: bytes, filename: str | None) -> Iterator[list[object]]:
    if len(content) > MAX_BYTES:
        raise ValidationError(f"a file of at most {MAX_BYTES // 1024 // 1024} MiB", field="file")
    if content[:4] == b"PK\x03\x04" or (filename or "").lower().endswith(".xlsx"):
        from openpyxl import load_workbook  # imported on use: slow to import

        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a damaged file
            raise ValidationError(
                f"not a readable Excel workbook ({type(e).__name__})", field="file"
            ) from None
        ws = wb.worksheets[0]
        for values in ws.iter_rows(values_only=True):
            yield ["" if v is None else v for v in values]
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = content.decode("gb18030")
        except UnicodeDecodeError:
            raise ValidationError("a CSV file in UTF-8 or GB18030", field="file") from None
    yield from csv.reader(io.StringIO(text))


def read_rows(
    content: bytes, filename: str | None, columns: Mapping[str, str], required: tuple[str, ...]
) -> list[tuple[int, dict[str, object], dict[str, str]]]:
    """(line, {field: value}, {field: column as the file names it}) for every non-empty row."""
    rows = _cells(content, filename)
    header = next(rows, None)
    if not header:
        raise ValidationError("the file is empty; the first line names the columns", field="file", row=1)
    names: list[str | None] = []
    shown: dict[str, str] = {}
    known = set(columns.values())
    for cell in header:
        label = str(cell).strip()
        name = columns.get(label, label if label in known else None)
        names.append(name)
        if name:
            shown[name] = label
    lacking = [f for f in required if f not in shown]
    if lacking:
        raise ValidationError(f"the first line lacks the column {lacking[0]}", field=lacking[0], row=1)
    out: list[tuple[int, dict[str, object], dict[str, str]]] = []
    for line, cells in enumerate(rows, start=2):
        if not any(str(c).strip() for c in cells):
            continue
        if len(out) >= MAX_ROWS:
            raise ValidationError(f"at most {MAX_ROWS} rows per file", field="file", row=line)
        values = {
            name: (c.strip() if isinstance(c, str) else c)
            for name, c in zip(names, cells, strict=False)
            if name
        }
        out.append((line, values, shown))
    return out


def _each(
    rows: list[tuple[int, dict[str, object], dict[str, str]]], check: Callable[[dict[str, object]], Any]
) -> list[Any]:
    checked = []
    for line, values, shown in rows:
        try:
            checked.append(check(values))
        except ValidationError as e:
            column = shown.get(e.field or "", e.field)
            raise ValidationError(
                f"line {line}, column {column}: {e.message}", field=column, row=line
            ) from None
    return checked


def _truthy(raw: object) -> bool:
    return str(raw).strip().lower() in {"1", "true", "yes", "是", "y"}


def import_datasets(
    uow: UnitOfWork, who: Principal, clock: Clock, content: bytes, filename: str | None = None
) -> dict[str, object]:
    """Register datasets from a file (the caller's publisher; the data bureau names one per row)."""
    now = clock.now()
    rows = read_rows(content, filename, DATASET_COLUMNS, ("title", "description", "openness", "formats"))
    s = uow.session

    def check(values: dict[str, object]) -> DatasetRow:
        publisher = publishers.publisher_for(s, who, values.get("publisher") or None)
        fields = m.DatasetFields.check(values)
        return catalog.new_dataset_row(
            publisher, fields, who, now, publish=_truthy(values.get("publish", ""))
        )

    made: list[DatasetRow] = _each(rows, check)
    s.add_all(made)
    s.flush()
    for row in made:
        catalog.snapshot(uow, row, who, now, "import")
    audit.record(uow, now, who.username, "dataset.import", "datasets", {"rows": len(made), "file": filename})
    return {"imported": len(made), "identifiers": [r.identifier for r in made]}


def import_suppliers(
    uow: UnitOfWork, who: Principal, clock: Clock, content: bytes, filename: str | None = None
) -> dict[str, object]:
    """Register suppliers from a file (their cities' users or the data bureau)."""
    now = clock.now()
    rows = read_rows(content, filename, SUPPLIER_COLUMNS, ("name", "credit_code", "city", "services"))
    s = uow.session
    seen: set[str] = set()

    def check(values: dict[str, object]) -> SupplierRow:
        row = supplier_row(s, who, values, now)
        if (
            row.credit_code in seen
            or s.query(SupplierRow.id).filter(SupplierRow.credit_code == row.credit_code).first()
        ):
            raise ValidationError("a supplier with this credit code is registered", field="credit_code")
        seen.add(row.credit_code)
        return row

    made: list[SupplierRow] = _each(rows, check)
    s.add_all(made)
    s.flush()
    audit.record(
        uow, now, who.username, "supplier.import", "suppliers", {"rows": len(made), "file": filename}
    )
    return {"imported": len(made), "ids": [r.id for r in made]}


__all__ = ["DATASET_COLUMNS", "SUPPLIER_COLUMNS", "import_datasets", "import_suppliers", "read_rows"]
