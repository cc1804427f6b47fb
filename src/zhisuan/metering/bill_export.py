"""A bill as a file for the organization's accounts: Excel (.xlsx) or CSV, head then lines, in Chinese and
with names (payer, center, pool), not ids."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from zhisuan.core.errors import ValidationError
from zhisuan.metering.bills import bill_detail
from zhisuan.store.models.compute import CenterRow, PoolRow
from zhisuan.store.models.core import OrganizationRow
from zhisuan.store.uow import UnitOfWork

_EXPORT_HEADER = (
    "行号",
    "使用月份",
    "资源池",
    "加速卡型号",
    "卡·秒",
    "刊例价（元/卡时）",
    "折扣",
    "单价（元/卡时）",
    "调整",
    "金额（含税，元）",
    "增值税（元）",
    "不含税金额（元）",
)

_TOTAL, _VAT, _NET = "合计（含税，元）", "增值税（元）", "不含税金额（元）"
_STATE_ZH = {"draft": "草稿", "issued": "已开具", "paid": "已支付", "void": "已作废"}


def _export_rows(detail: Mapping[str, Any], pools: Mapping[int, str]) -> list[list[object]]:
    return [
        [
            ln["id"],
            ln["usage_month"],
            pools.get(int(ln["pool_id"]), str(ln["pool_id"])),
            ln["accelerator"],
            ln["card_seconds"],
            ln["list_price"],
            ln["discount"],
            ln["unit_price"],
            "是" if ln["adjustment"] else "",
            ln["amount"],
            ln["vat"],
            ln["net"],
        ]
        for ln in detail["lines"]
    ]


def _names(uow: UnitOfWork, detail: Mapping[str, Any]) -> tuple[str, str, dict[int, str]]:
    """The payer's and the center's names and the pools' keys: a file for people reads names, not ids."""
    s = uow.session
    org = s.get(OrganizationRow, int(detail["org_id"]))
    center = s.get(CenterRow, int(detail["center_id"]))
    pool_ids = {int(ln["pool_id"]) for ln in detail["lines"]}
    pools = {
        int(i): str(k) for i, k in s.execute(select(PoolRow.id, PoolRow.key).where(PoolRow.id.in_(pool_ids)))
    }
    return (
        org.name if org is not None else str(detail["org_id"]),
        center.name if center is not None else str(detail["center_id"]),
        pools,
    )


def export_bill(uow: UnitOfWork, bill_id: int, path: Path) -> Path:
    """Write a bill as Excel (.xlsx) or CSV, by the file's suffix."""
    detail = bill_detail(uow, bill_id)
    org, center, pools = _names(uow, detail)
    head: list[list[object]] = [
        ["账单号", detail["id"]],
        ["单位", org],
        ["智算中心", center],
        ["账单月份", detail["month"]],
        ["状态", _STATE_ZH.get(str(detail["state"]), detail["state"])],
        ["增值税率", detail["vat_rate"]],
        [_TOTAL, detail["total"]],
        [_VAT, detail["vat"]],
        [_NET, detail["net"]],
    ]
    rows = _export_rows(detail, pools)
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
    ws.title = f"账单{detail['id']}"
    for r in head:
        ws.append([r[0], Decimal(str(r[1]))] if r[0] in {_TOTAL, _VAT, _NET} else r)
        if r[0] in {_TOTAL, _VAT, _NET}:
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
