"""What a page's form does once it is posted: the change committed and the browser sent on (303), or
the request's writes rolled back and the same page shown again with the error beside its field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from fastapi.responses import RedirectResponse, Response

from zhisuan.core.errors import ConflictError, ValidationError, ZhisuanError

T = TypeVar("T")

#: errors a form shows next to its field; anything else (401, 403, 404) goes to the error page
FORM_ERRORS: tuple[type[ZhisuanError], ...] = (ValidationError, ConflictError)


class Transaction(Protocol):
    """The request's unit of work, as far as a form needs it."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


def form_error(exc: ZhisuanError) -> dict[str, object]:
    """What a page's template reads of a refused form: the message and the field it names."""
    return {"error": exc.message, "error_field": exc.field or ""}


def commit_or_show(
    uow: Transaction,
    action: Callable[[], T],
    redirect: str | Callable[[T], str],
    show: Callable[[ZhisuanError], Response],
    errors: tuple[type[ZhisuanError], ...] = FORM_ERRORS,
) -> Response:
    """Run ``action`` (the service calls), commit and redirect (303) to ``redirect`` (or to what it makes
    of the action's result); on one of ``errors``, roll the writes back and answer ``show(error)``, the
    page again with what was typed. Other errors propagate to the error page, nothing committed."""
    try:
        out = action()
        uow.commit()
    except errors as exc:
        uow.rollback()
        return show(exc)
    return RedirectResponse(redirect if isinstance(redirect, str) else redirect(out), status_code=303)


__all__ = ["FORM_ERRORS", "Transaction", "commit_or_show", "form_error"]
