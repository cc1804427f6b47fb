"""Evidence files: PDF, images and Excel only, at most :data:`MAX_BYTES`, stored by SHA-256.

The type is read from the file's first bytes, not from its name or the browser's word for it, so a
renamed executable is refused. Files live under ``<data_dir>/evidence/ab/abcdef…`` (owner-only); the
same file uploaded twice is stored once.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePath

from zhisuan.core.errors import NotFoundError, ValidationError

MAX_BYTES = 10 * 1024 * 1024

#: (leading bytes, content type, allowed name endings)
_KINDS: tuple[tuple[bytes, str, tuple[str, ...]], ...] = (
    (b"%PDF-", "application/pdf", (".pdf",)),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
    (b"GIF87a", "image/gif", (".gif",)),
    (b"GIF89a", "image/gif", (".gif",)),
    (
        b"PK\x03\x04",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (".xlsx",),
    ),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/vnd.ms-excel", (".xls",)),
)
ALLOWED = "PDF, PNG, JPEG, GIF, Excel (.xlsx, .xls)"


@dataclass(frozen=True, slots=True)
class Stored:
    name: str
    content_type: str
    size: int
    sha256: str


def clean_name(name: str | None) -> str:
    """The bare file name (no folders, no control characters), at most 200 characters."""
    base = PurePath((name or "").replace("\\", "/")).name
    base = "".join(c for c in unicodedata.normalize("NFKC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip()
    if not base.strip("."):
        raise ValidationError("the evidence file needs a name", field="file")
    return base[-200:]


def sniff(data: bytes, name: str) -> str:
    """The content type of an allowed file, or a clear refusal."""
    lower = name.lower()
    for magic, ctype, endings in _KINDS:
        if data.startswith(magic):
            if not lower.endswith(endings):
                raise ValidationError(
                    f"{name} holds {ctype} but is named otherwise; name it {' or '.join(endings)}",
                    field="file",
                )
            if (
                ctype.endswith("sheet")
                and b"xl/" not in data[:65536]
                and b"[Content_Types].xml" not in data[:65536]
            ):
                raise ValidationError(f"{name} is a ZIP file but not an Excel workbook", field="file")
            return ctype
    raise ValidationError(f"{name}: evidence must be {ALLOWED}; this file is none of them", field="file")


def check(data: bytes, name: str | None) -> Stored:
    """Validate an upload: name, size, type; nothing is written."""
    clean = clean_name(name)
    if not data:
        raise ValidationError(f"{clean} is empty", field="file")
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"{clean} is {len(data) / 1024 / 1024:.1f} MiB; "
            f"evidence files are at most {MAX_BYTES // 1024 // 1024} MiB",
            field="file",
        )
    ctype = sniff(data, clean)
    return Stored(clean, ctype, len(data), hashlib.sha256(data).hexdigest())


def path_of(root: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFoundError("no such evidence file", field="sha256")
    return root / "evidence" / sha256[:2] / sha256


def store(root: Path, data: bytes, stored: Stored) -> Path:
    """Write the file under the data directory (once per content); owner-only permissions."""
    path = path_of(root, stored.sha256)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)
    return path


def read(root: Path, sha256: str) -> bytes:
    path = path_of(root, sha256)
    if not path.is_file():
        raise NotFoundError("the evidence file is missing from the data directory", field="sha256")
    return path.read_bytes()


__all__ = ["ALLOWED", "MAX_BYTES", "Stored", "check", "clean_name", "path_of", "read", "sniff", "store"]
