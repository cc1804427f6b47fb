"""Lists the way admin software has them: server-side sorting, filtering and paging, and an Excel export
with headers in the page's language — one helper for every list page (``templates/_list.html`` draws it).

A page describes its list once (:class:`ListSpec`: columns with an English msgid, a kind and whether
people filter by it), hands over the rows the caller may see, and answers with :func:`respond`:
``?sort=col&desc=1&page=2&q=text&f_col=value`` narrow and order the rows on the server,
``?export=xlsx`` returns the whole filtered, sorted list as a workbook. Rows carry names, not ids, so
the page and the file read the same.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from zhisuan.web import display
from zhisuan.web.downloads import XLSX, attachment
from zhisuan.web.i18n import gettext

Row = Mapping[str, Any]

#: how a column's values read and sort: text, num, money (¥), city (code → name), word (a msgid), date,
#: bar (a percentage, drawn as a bar on the page and exported as its text)
KINDS = frozenset({"text", "num", "money", "city", "word", "date", "bar"})
PER_PAGE = 50
MAX_PER_PAGE = 500


@dataclass(frozen=True, slots=True)
class Column:
    """A column: the row key it shows, its English label (a msgid), how it reads, whether to filter by it."""

    key: str
    label: str
    kind: str = "text"
    filter: bool = False
    link: Callable[[Row], str] | None = None  # where the cell links to on the page
    sortable: bool = True  # False where the database cannot order by it (a list the database pages)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key}: kind {self.kind!r} is not one of {sorted(KINDS)}")

    def text(self, row: Row, lang: str) -> str:
        """The cell as people read it in ``lang``."""
        value = row.get(self.key)
        if value is None or value == "":
            return "—" if self.kind in {"money", "city"} else ""
        if self.kind == "money":
            return display.yuan(value)
        if self.kind == "city":
            return display.city_name(value, lang)
        if self.kind == "word":
            return gettext(lang, str(value))
        if self.kind == "date":
            return display.shanghai(value)
        if self.kind == "bar":
            return f"{value}%" if not str(value).endswith("%") else str(value)
        return str(value)

    def width(self, row: Row) -> float:
        """A bar column's share as the bar's width, 0 to 100 (more than all of it is drawn full)."""
        try:
            share = float(str(row.get(self.key) or "0").rstrip("%"))
        except ValueError:
            return 0.0
        return min(max(share, 0.0), 100.0)


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A list: its id (the table's and the sheet's), title, columns and default order."""

    name: str
    title: str
    columns: tuple[Column, ...]
    sort: str
    desc: bool = False
    attrs: Callable[[Row], Mapping[str, object]] | None = None  # data-* attributes of a row's <tr>
    row_id: Callable[[Row], str] | None = None  # a row's id (an anchor a form's redirect returns to)
    #: nested rows: the key of a row's list of sub-rows (a center's pools), drawn and exported beneath it
    #: with the same columns; sorting and paging move a row with its sub-rows, search looks in both
    children: str | None = None
    row_class: str = ""
    child_class: str = ""

    def kids(self, row: Row) -> list[Row]:
        got = row.get(self.children) if self.children else None
        return list(got) if isinstance(got, (list, tuple)) else []

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


@dataclass(slots=True)
class ListView:
    """One page of a list as the template draws it, with the query that made it."""

    spec: ListSpec
    rows: list[Row]
    total: int
    page: int
    pages: int
    per_page: int
    sort: str
    desc: bool
    q: str
    filters: dict[str, str]
    options: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    base: str = ""
    keep: dict[str, str] = field(default_factory=dict)  # parameters every link and the form carry
    search: bool = True  # whether the ``q`` box is offered

    def url(self, **change: object) -> str:
        """This list's URL with some parameters changed (sort, page …); empty values are dropped."""
        params: dict[str, object] = {
            **self.keep,
            "sort": self.sort,
            "desc": "1" if self.desc else "",
            "q": self.q,
            "page": self.page,
        }
        params |= {f"f_{k}": v for k, v in self.filters.items()}
        params |= change
        kept = {k: v for k, v in params.items() if v not in ("", None) and not (k == "page" and v == 1)}
        return f"{self.base}?{urlencode(kept)}" if kept else self.base

    def sort_url(self, key: str) -> str:
        """Sorting by ``key``: ascending first, the other way on a second click."""
        return self.url(sort=key, desc="" if (key != self.sort or self.desc) else "1", page=1)

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return "none"
        return "descending" if self.desc else "ascending"

    def export_url(self) -> str:
        return self.url(export="xlsx", list=self.spec.name, page=1)

    def row_attrs(self, row: Row) -> dict[str, str]:
        return {k: str(v) for k, v in self.spec.attrs(row).items()} if self.spec.attrs else {}


@dataclass(frozen=True, slots=True)
class Query:
    """What a list's URL asks for: order, search, exact filters and page (for lists the database pages)."""

    sort: str
    desc: bool
    q: str
    filters: dict[str, str]
    page: int
    per_page: int


def query(spec: ListSpec, params: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> Query:
    """The list's parameters, checked: an unknown column sorts by the default; ``aliases`` read older
    parameter names as filters (``program`` for ``f_program``)."""
    sort = params.get("sort") or spec.sort
    if spec.column(sort) is None:
        sort = spec.sort
    desc = params.get("desc") == "1" if "sort" in params else spec.desc
    filters = {
        c.key: str(params[f"f_{c.key}"])[:100] for c in spec.columns if c.filter and params.get(f"f_{c.key}")
    }
    for old, key in (aliases or {}).items():
        if params.get(old) and key not in filters:
            filters[key] = str(params[old])[:100]
    return Query(
        sort=sort,
        desc=desc,
        q=(params.get("q") or "").strip()[:100],
        filters=filters,
        page=_int(params.get("page"), 1, 1, 10**6),
        per_page=_int(params.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE),
    )


def paged(
    request: Request,
    spec: ListSpec,
    asked: Query,
    rows: Sequence[Row],
    total: int,
    options: Mapping[str, list[tuple[str, str]]],
    keep: Mapping[str, str] | None = None,
    search: bool = True,
) -> ListView:
    """One page the database already filtered, ordered and cut (``rows``, of ``total``), for _list.html."""
    pages = max(1, -(-total // asked.per_page))
    return ListView(
        spec=spec,
        rows=list(rows),
        total=total,
        page=min(asked.page, pages),
        pages=pages,
        per_page=asked.per_page,
        sort=asked.sort,
        desc=asked.desc,
        q=asked.q,
        filters=dict(asked.filters),
        options=dict(options),
        base=request.url.path,
        keep={k: v for k, v in (keep or {}).items() if v},
        search=search,
    )


def _sort_key(column: Column | None, row: Row) -> tuple[int, Any]:
    value = row.get(column.key) if column is not None else None
    if value is None or value == "":
        return (1, "")
    if column is not None and column.kind in {"num", "money", "bar"}:
        try:
            return (0, Decimal(str(value).rstrip("%")))
        except InvalidOperation:
            return (0, Decimal(0))
    return (0, str(value))


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return default
    return min(max(value, low), high)


def narrow(
    spec: ListSpec, rows: Sequence[Row], params: Mapping[str, str], lang: str, *, every: bool = False
) -> ListView:
    """Filter (``q`` on every cell's text, ``f_<key>`` exactly), sort and cut one page from ``rows``
    (``every``: all the rows that pass, for an export)."""
    sort = params.get("sort") or spec.sort
    if spec.column(sort) is None:
        sort = spec.sort
    desc = params.get("desc") == "1" if "sort" in params else spec.desc
    q = (params.get("q") or "").strip()[:100]
    filters = {
        c.key: str(params[f"f_{c.key}"])[:100] for c in spec.columns if c.filter and params.get(f"f_{c.key}")
    }
    options = {
        c.key: sorted(
            {(str(r.get(c.key)), c.text(r, lang)) for r in rows if r.get(c.key) not in (None, "")},
            key=lambda kv: kv[1],
        )
        for c in spec.columns
        if c.filter
    }
    kept = [r for r in rows if all(str(r.get(k)) == v for k, v in filters.items())]
    if q:
        needle = q.casefold()
        kept = [
            r
            for r in kept
            if any(needle in c.text(x, lang).casefold() for x in (r, *spec.kids(r)) for c in spec.columns)
        ]
    column = spec.column(sort)
    kept.sort(key=lambda r: _sort_key(column, r), reverse=desc)
    if desc:  # empty cells last either way
        kept = [r for r in kept if _sort_key(column, r)[0] == 0] + [
            r for r in kept if _sort_key(column, r)[0]
        ]
    per_page = max(1, len(kept)) if every else _int(params.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE)
    pages = max(1, -(-len(kept) // per_page))
    page = _int(params.get("page"), 1, 1, pages)
    return ListView(
        spec=spec,
        rows=kept[(page - 1) * per_page : page * per_page],
        total=len(kept),
        page=page,
        pages=pages,
        per_page=per_page,
        sort=sort,
        desc=desc,
        q=q,
        filters=filters,
        options=options,
    )


def workbook(spec: ListSpec, rows: Sequence[Row], lang: str = "zh") -> bytes:
    """The rows as .xlsx: a title line, then headers in ``lang`` (Chinese by default) and the cells as read
    on the page (names, not ids); money as numbers formatted ``#,##0.00``."""
    from openpyxl import Workbook  # imported on use: slow to import, and only exports need it
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = gettext(lang, spec.title)[:31]
    ws.append([gettext(lang, c.label) for c in spec.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    every = [x for r in rows for x in (r, *spec.kids(r))]
    for r in every:
        cells: list[object] = []
        for c in spec.columns:
            value = r.get(c.key)
            if c.kind in {"money", "num"} and value not in (None, ""):
                try:
                    cells.append(Decimal(str(value)))
                    continue
                except InvalidOperation:
                    pass
            cells.append(c.text(r, lang))
        ws.append(cells)
        for c, cell in zip(spec.columns, ws[ws.max_row], strict=True):
            if c.kind == "money":
                cell.number_format = "#,##0.00"
    for i, c in enumerate(spec.columns):
        width = max(
            [len(gettext(lang, c.label)) * 2, *(len(c.text(r, lang)) for r in every[:200])], default=8
        )
        ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = min(max(width + 2, 8), 60)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_response(spec: ListSpec, rows: Sequence[Row], lang: str) -> Response:
    return attachment(workbook(spec, rows, lang), f"{spec.name}.xlsx", XLSX)


def view(request: Request, spec: ListSpec, rows: Sequence[Row]) -> ListView | Response:
    """The page's list, or the whole filtered list as Excel when ``?export=xlsx`` asks for it."""
    lang: str = getattr(request.state, "lang", "zh")
    params = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
    lv = narrow(spec, rows, params, lang)
    lv.base = request.url.path
    if params.get("export") == "xlsx" and params.get("list", spec.name) == spec.name:
        return export_response(spec, narrow(spec, rows, params, lang, every=True).rows, lang)
    return lv


__all__ = [
    "Column",
    "ListSpec",
    "ListView",
    "Query",
    "export_response",
    "narrow",
    "paged",
    "query",
    "view",
    "workbook",
]
