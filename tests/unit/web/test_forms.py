"""A posted form: committed and redirected (303), or rolled back and shown again with its error."""

from __future__ import annotations

import pytest
from fastapi.responses import HTMLResponse, Response

from zhisuan.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
    ZhisuanError,
)
from zhisuan.web.forms import commit_or_show, form_error


class Ledger:
    """A unit of work that keeps what it is asked to write until it is committed."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.written: list[str] = []
        self.rollbacks = 0

    def write(self, what: str) -> dict[str, object]:
        self.pending.append(what)
        return {"id": len(self.written) + len(self.pending)}

    def commit(self) -> None:
        self.written += self.pending
        self.pending = []

    def rollback(self) -> None:
        self.pending = []
        self.rollbacks += 1


def _show(exc: ZhisuanError) -> Response:
    ctx = {"values": {"name": "typed"}} | form_error(exc)
    return HTMLResponse(f"{ctx['error']}|{ctx['error_field']}|{ctx['values']}", exc.http_status)


def _refuse(uow: Ledger, exc: ZhisuanError) -> None:
    uow.write("half")
    raise exc


def test_a_form_that_passes_is_committed_and_redirected_with_303() -> None:
    uow = Ledger()
    out = commit_or_show(uow, lambda: uow.write("entry"), lambda r: f"/entries/{r['id']}", _show)
    assert (out.status_code, out.headers["location"]) == (303, "/entries/1")
    assert uow.written == ["entry"] and uow.rollbacks == 0


def test_a_fixed_address_is_redirected_to_as_it_is() -> None:
    uow = Ledger()
    out = commit_or_show(uow, lambda: uow.write("entry"), "/entries#new", _show)
    assert (out.status_code, out.headers["location"]) == (303, "/entries#new")


@pytest.mark.parametrize(
    ("error", "status"),
    [(ValidationError("a whole number", field="year"), 422), (ConflictError("paid", field="year"), 409)],
)
def test_a_refused_form_is_rolled_back_and_shown_again_with_its_error(
    error: ZhisuanError, status: int
) -> None:
    uow = Ledger()
    out = commit_or_show(uow, lambda: _refuse(uow, error), "/entries", _show)
    assert out.status_code == status
    assert bytes(out.body).decode() == f"{error.message}|year|{{'name': 'typed'}}"
    assert uow.written == [] and uow.pending == [] and uow.rollbacks == 1


def test_an_error_a_form_does_not_show_goes_to_the_error_page_uncommitted() -> None:
    uow = Ledger()
    with pytest.raises(NotFoundError):
        commit_or_show(uow, lambda: _refuse(uow, NotFoundError("no such entry")), "/entries", _show)
    assert uow.written == []


def test_a_page_may_show_more_errors_on_its_form() -> None:
    uow = Ledger()
    out = commit_or_show(
        uow,
        lambda: _refuse(uow, PermissionDeniedError("not yours")),
        "/entries",
        _show,
        errors=(ZhisuanError,),
    )
    assert out.status_code == 403 and uow.written == [] and uow.rollbacks == 1


def test_an_error_without_a_field_names_none() -> None:
    assert form_error(ValidationError("choose a file")) == {"error": "choose a file", "error_field": ""}
