"""What the API routers share: a write committed before it is answered, and a file answered as a download."""

from __future__ import annotations

from typing import TypeVar

from fastapi.responses import Response

from zhisuan.store.uow import UnitOfWork

T = TypeVar("T")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def attachment(data: bytes, filename: str, media_type: str) -> Response:
    """``data`` as a download the browser saves as ``filename`` (a name without double quotes)."""
    return Response(
        data, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def committed(uow: UnitOfWork, out: T) -> T:
    """Commit the request's writes and answer ``out``, what the service returned for them."""
    uow.commit()
    return out
