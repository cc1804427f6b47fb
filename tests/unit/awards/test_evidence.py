"""Evidence files: type by content, size limit, stored once by SHA-256, owner-only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zhisuan.awards import evidence
from zhisuan.core.errors import NotFoundError, ValidationError


@pytest.mark.parametrize(
    ("name", "data", "ctype"),
    [
        ("a.pdf", b"%PDF-1.7 ...", "application/pdf"),
        ("a.PNG", b"\x89PNG\r\n\x1a\n....", "image/png"),
        ("a.jpeg", b"\xff\xd8\xff\xe0....", "image/jpeg"),
        ("a.xlsx", b"PK\x03\x04....[Content_Types].xml....xl/workbook.xml", evidence._KINDS[5][1]),
        ("a.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1....", "application/vnd.ms-excel"),
    ],
)
def test_allowed_types_are_recognised_by_their_content(name: str, data: bytes, ctype: str) -> None:
    assert evidence.check(data, name).content_type == ctype


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.exe", b"MZ\x90\x00", "must be PDF"),
        ("a.pdf", b"MZ\x90\x00", "must be PDF"),
        ("a.png", b"%PDF-1.4", "named otherwise"),
        ("a.xlsx", b"PK\x03\x04 just a zip", "not an Excel workbook"),
        ("a.pdf", b"", "empty"),
        ("../../", b"%PDF-", "needs a name"),
    ],
)
def test_other_files_are_refused_with_a_clear_message(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        evidence.check(data, name)


def test_too_large_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at most 10 MiB"):
        evidence.check(b"%PDF-" + b"0" * evidence.MAX_BYTES, "big.pdf")
    assert not (tmp_path / "evidence").exists()


def test_files_are_stored_once_by_their_hash_readable_by_the_owner_only(tmp_path: Path) -> None:
    data = b"%PDF-1.4 evidence"
    stored = evidence.check(data, "证明/../审计报告.pdf")
    assert stored.name == "审计报告.pdf"
    path = evidence.store(tmp_path, data, stored)
    assert evidence.store(tmp_path, data, stored) == path
    assert path.name == stored.sha256 and evidence.read(tmp_path, stored.sha256) == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(NotFoundError):
        evidence.read(tmp_path, "../" + "0" * 61)
