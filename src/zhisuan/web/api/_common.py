"""What the API routers share: a file answered as a download (an export, an evidence file, a dataset)."""

from __future__ import annotations

from fastapi.responses import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def attachment(data: bytes, filename: str, media_type: str) -> Response:
    """``data`` as a download the browser saves as ``filename`` (a name without double quotes)."""
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
