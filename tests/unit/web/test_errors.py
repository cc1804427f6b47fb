"""Errors the web layer turns into answers: a dropped database connection is a 503 to retry, not a 500."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError

from zhisuan.web import errors


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/api/v1/dropped")
    def dropped() -> None:
        exc = OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        exc.connection_invalidated = True
        raise exc

    @app.get("/api/v1/integrity")
    def integrity() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    return app


def test_a_connection_the_database_dropped_answers_503_with_retry_after() -> None:
    answer = TestClient(_app(), raise_server_exceptions=False).get("/api/v1/dropped")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["error"]["code"] == "unavailable"


def test_other_database_errors_stay_internal_errors() -> None:
    answer = TestClient(_app(), raise_server_exceptions=False).get("/api/v1/integrity")
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal"
    assert "duplicate" not in answer.text  # nothing of the database's message leaks
