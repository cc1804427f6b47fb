"""The API's error shape: ``{"error": {"code", "message", "field"}}``; pages get an error page."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from zhisuan.core.errors import AuthenticationError, ZhisuanError

log = logging.getLogger("zhisuan.web")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _error(request: Request, status: int, code: str, message: str, field: str | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)
    from zhisuan.web.templating import render

    return render(
        request, "error.html", {"status": status, "message": message, "field": field}, status_code=status
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ZhisuanError)
    async def zhisuan_error(request: Request, exc: ZhisuanError) -> Response:
        if isinstance(exc, AuthenticationError) and not _wants_json(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if _wants_json(request):
            return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)
        return _error(request, exc.http_status, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
        return _error(
            request, 422, "invalid", str(first.get("msg", "invalid request")), ".".join(loc) or None
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(
            exc.status_code, "error"
        )
        return _error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated or isinstance(exc, OperationalError):
            # the server dropped the connection (a restart) or cannot be reached: nothing was written,
            # the pool renews itself, and the same request sent again succeeds
            log.warning("database unavailable on %s: %s", request.url.path, exc.orig)
            response = _error(request, 503, "unavailable", "the database is unavailable; retry in a moment")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unhandled database error on %s", request.url.path)
        return _error(request, 500, "internal", "internal error; it has been logged")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return _error(request, 500, "internal", "internal error; it has been logged")
