"""What the API routers share: a write committed before it is answered (downloads are
:mod:`zhisuan.web.downloads`)."""

from __future__ import annotations

from typing import TypeVar

from zhisuan.store.uow import UnitOfWork

T = TypeVar("T")


def committed(uow: UnitOfWork, out: T) -> T:
    """Commit the request's writes and answer ``out``, what the service returned for them."""
    uow.commit()
    return out
