"""A file answered as a download: the one ``Content-Disposition`` the API and the pages send."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def content_disposition(filename: str, fallback: str | None = None) -> str:
    """The header that saves a download as ``filename``: quoted when it is plain ASCII, else as RFC 6266's
    ``filename*`` in UTF-8, after an ASCII ``fallback`` for old clients when there is one.

    >>> content_disposition("call-3.xlsx")
    'attachment; filename="call-3.xlsx"'
    >>> print(content_disposition("评审.xlsx", fallback="call-3.xlsx"))
    attachment; filename="call-3.xlsx"; filename*=UTF-8''%E8%AF%84%E5%AE%A1.xlsx
    """
    if fallback is None and filename.isascii() and filename.isprintable() and not set(filename) & {'"', "\\"}:
        return f'attachment; filename="{filename}"'
    plain = f'filename="{fallback}"; ' if fallback else ""
    return f"attachment; {plain}filename*=UTF-8''{quote(filename)}"


def attachment(data: bytes, filename: str, media_type: str, *, fallback: str | None = None) -> Response:
    """``data`` as a download the browser saves as ``filename`` (see :func:`content_disposition`)."""
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": content_disposition(filename, fallback)}
    )


__all__ = ["CSV", "XLSX", "attachment", "content_disposition"]
