"""A bill as a file for the organization's accounts: Excel (.xlsx) or CSV, head then lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from zhisuan.core.errors import ValidationError
from zhisuan.metering.bills import bill_detail
from zhisuan.store.uow import UnitOfWork

_EXPORT_HEADER = (
    "line",
    "usage month",
    "pool",
    "accelerator",
    "card-seconds",
    "list price / card-hour",
    "discount",
    "unit price / card-hour",
    "adjustment",
    "amount (tax incl.)",
    "VAT",
    "net",
)


def _export_rows(detail: Mapping[str, Any]) -> list[list[object]]:
    return [
        [
            ln["id"],
            ln["usage_month"],
            ln["pool_id"],
            ln["accelerator"],
            ln["card_seconds"],
            ln["list_price"],
            ln["discount"],
            ln["unit_price"],
            "yes" if ln["adjustment"] else "",
            ln["amount"],
            ln["vat"],
            ln["net"],
        ]
        for ln in detail["lines"]
    ]


def export_bill(uow: UnitOfWork, bill_id: int, path: Path) -> Path:
    """Write a bill as Excel (.xlsx) or CSV, by the file's suffix."""
    detail = bill_detail(uow, bill_id)
    head = [
        ["bill", detail["id"]],
        ["organization", detail["org_id"]],
        ["center", detail["center_id"]],
        ["month", detail["month"]],
        ["state", detail["state"]],
        ["VAT rate", detail["vat_rate"]],
        ["total (tax incl.)", detail["total"]],
        ["VAT", detail["vat"]],
        ["net", detail["net"]],
    ]
    rows = _export_rows(detail)
    if path.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerows(head)
        w.writerow([])
        w.writerow(_EXPORT_HEADER)
        w.writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8")
        return path
    if path.suffix.lower() != ".xlsx":
        raise ValidationError("export to .xlsx or .csv", field="file")
    from openpyxl import Workbook  # imported on use: slow to import, and only Excel exports need it

    wb = Workbook()
    ws = wb.active
    ws.title = f"bill {detail['id']}"
    for r in head:
        ws.append([r[0], Decimal(str(r[1]))] if r[0] in {"total (tax incl.)", "VAT", "net"} else r)
        if r[0] in {"total (tax incl.)", "VAT", "net"}:
            ws.cell(ws.max_row, 2).number_format = "#,##0.00"
    ws.append([])
    ws.append(list(_EXPORT_HEADER))
    for r in rows:
        ws.append([Decimal(str(v)) if i in (9, 10, 11) else v for i, v in enumerate(r)])
        for cell in ws[ws.max_row][9:12]:
            cell.number_format = "#,##0.00"
    wb.save(path)
    return path


__all__ = ["export_bill"]
