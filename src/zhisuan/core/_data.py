"""Access to the reference files shipped inside the package."""

from __future__ import annotations

import csv
from importlib import resources


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of a CSV file under ``zhisuan/core/data``."""
    text = resources.files("zhisuan.core").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def read_text(name: str) -> str:
    return resources.files("zhisuan.core").joinpath("data").joinpath(name).read_text(encoding="utf-8")
