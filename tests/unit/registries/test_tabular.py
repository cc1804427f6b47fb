"""Import files: headers in English or Chinese, blank lines skipped, errors with line and column."""

from __future__ import annotations

import pytest

from zhisuan.core.errors import ValidationError
from zhisuan.registries.spec import parse_entry
from zhisuan.registries.specs import SPECS
from zhisuan.registries.tabular import check_rows, read_rows, to_csv

PARKS = SPECS["parks"]


def test_headers_may_be_names_or_chinese_labels_and_an_id_column_targets_an_entry() -> None:
    data = (
        "编号,title,所在市,ai_enterprises,入园企业总数,名录日期\n"
        ",甲,合肥,7,10,2025-06-30\n"
        "\n"
        "5,乙,芜湖,1,2,2025-06-30\n"
    )
    rows = read_rows(PARKS, ("\ufeff" + data).encode())
    assert [(r.line, r.entry_id, r.cells["title"]) for r in rows] == [(2, None, "甲"), (4, 5, "乙")]


@pytest.mark.parametrize(
    ("text", "row", "column"),
    [
        ("title,颜色\n", 1, "颜色"),
        ("title,city\n甲,合肥\n", 1, "ai_enterprises"),
        ("编号,title,city,ai_enterprises,total_enterprises,roster_on\nx,甲,合肥,1,2,2025-06-30\n", 2, "id"),
    ],
)
def test_a_bad_header_or_id_names_its_line_and_column(text: str, row: int, column: str) -> None:
    with pytest.raises(ValidationError) as err:
        read_rows(PARKS, text.encode())
    assert (err.value.row, err.value.column) == (row, column)


def test_a_bad_cell_names_its_line_and_column() -> None:
    data = (
        "title,city,ai_enterprises,total_enterprises,roster_on\n"
        "甲,合肥,7,10,2025-06-30\n"
        "乙,合肥,很多,10,2025-06-30\n"
    )
    with pytest.raises(ValidationError) as err:
        check_rows(PARKS, read_rows(PARKS, data.encode()), lambda _v: None)
    assert (err.value.row, err.value.column) == (3, "ai_enterprises")


def test_an_export_has_chinese_headers_and_reads_back() -> None:
    values = parse_entry(
        PARKS,
        {
            "title": "甲",
            "city": "340100",
            "ai_enterprises": 7,
            "total_enterprises": 10,
            "roster_on": "2025-06-30",
            "title_status": "titled",
        },
    )
    data = to_csv(PARKS, [{"id": 9, "stored": values}])
    assert data.decode("utf-8-sig").splitlines()[0].startswith("编号,园区名称,所在市")
    assert "已授牌" in data.decode("utf-8-sig")
    [(row, back)] = check_rows(PARKS, read_rows(PARKS, data), lambda _v: None)
    assert (row.entry_id, back) == (9, values)


def test_a_file_that_is_not_utf8_is_refused_clearly() -> None:
    with pytest.raises(ValidationError, match="UTF-8"):
        read_rows(PARKS, "园区名称\n甲\n".encode("gbk"))
