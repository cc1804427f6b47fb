"""Checks for a page's list drawn by ``_list.html``: one column's cells, the Excel export opened with
openpyxl, and the whole round (sorts both ways, pages, a search that finds nothing, Chinese headers)."""

from __future__ import annotations

import html
import re
from io import BytesIO

from fastapi.testclient import TestClient


def cells(page: str, name: str, key: str) -> list[str]:
    """The text of one column of the list ``name`` as the page draws it (links and tags dropped)."""
    table = page.split(f'<table id="{name}"')[1].split("</table>")[0]
    found = re.findall(rf'<td class="[^"]*" data-key="{key}">(.*?)</td>', table, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]


def sheet(
    client: TestClient, url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> list[list[object]]:
    """The list's Excel export, opened with openpyxl: its rows, headers first."""
    from openpyxl import load_workbook

    got = client.get(url, params={**(params or {}), "export": "xlsx"}, headers=headers)
    assert got.status_code == 200 and got.content[:2] == b"PK", got.text[:300]
    return [list(r) for r in load_workbook(BytesIO(got.content)).active.iter_rows(values_only=True)]


def check_list(
    client: TestClient,
    url: str,
    name: str,
    key: str,
    headers: list[str],
    *,
    at_least: int = 2,
    auth: dict[str, str] | None = None,
) -> list[list[object]]:
    """A list: sorts both ways on ``key``, pages, filters by a search that matches nothing, and exports
    with Chinese headers; returns the export's rows."""

    def get(**params: str) -> str:
        got = client.get(url, params=params, headers=auth)
        assert got.status_code == 200, got.text[:300]
        return got.text

    up = cells(get(sort=key, lang="zh"), name, key)
    down = cells(get(sort=key, desc="1", lang="zh"), name, key)
    assert len(up) >= at_least, up
    assert down == up[::-1] or len(set(up)) < len(up), (up, down)
    if len(up) >= 2:
        second = get(sort=key, per_page="1", page="2", lang="zh")
        assert cells(second, name, key) == [up[1]] and 'aria-current="page">2<' in second
    nothing = get(q="无此内容-nothing-like-this", lang="zh")
    assert cells(nothing, name, key) == [] and "暂无数据" in nothing
    rows = sheet(client, url, {"list": name, "lang": "zh"}, auth)
    assert rows[0][: len(headers)] == headers and len(rows) - 1 == len(up), rows
    return rows
