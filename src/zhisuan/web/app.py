"""The FastAPI application: JSON API under /api/v1, HTML pages, static files, /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.sessions import SessionMiddleware
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from zhisuan import __version__
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Role, require_role
from zhisuan.core.errors import AuthenticationError
from zhisuan.store.db import ping
from zhisuan.store.lease import Lease
from zhisuan.web import errors
from zhisuan.web.deps import UowDep, get_principal
from zhisuan.web.i18n import pick_language
from zhisuan.web.limits import RequestLimits

API_PREFIX = "/api/v1"

# Background loops run inside `zhisuan serve` (each context adds its own; see web/background.py).
BackgroundTask = Callable[[Platform], Coroutine[Any, Any, None]]


def _routers() -> list[tuple[str, object]]:
    """(prefix, router) of every context's API, one line each."""
    from zhisuan.web.api import awards as awards_api
    from zhisuan.web.api import compute, foundation
    from zhisuan.web.api import metering as metering_api
    from zhisuan.web.api import opendata as opendata_api
    from zhisuan.web.api import policy as policy_api
    from zhisuan.web.api import publishing as publishing_api
    from zhisuan.web.api import registries as registries_api
    from zhisuan.web.api import reports as reports_api

    return [
        (API_PREFIX, foundation.router),
        (API_PREFIX, compute.router),
        (API_PREFIX, policy_api.router),
        (API_PREFIX, publishing_api.router),
        (API_PREFIX, metering_api.router),
        (API_PREFIX, reports_api.router),
        (API_PREFIX, awards_api.router),
        (API_PREFIX, opendata_api.router),
        (API_PREFIX, registries_api.router),
    ]


def _pages() -> list[object]:
    """Every context's page router, one line each."""
    from zhisuan.web.pages import awards as awards_pages
    from zhisuan.web.pages import compute, foundation
    from zhisuan.web.pages import metering as metering_pages
    from zhisuan.web.pages import opendata as opendata_pages
    from zhisuan.web.pages import policy as policy_pages
    from zhisuan.web.pages import publishing as publishing_pages
    from zhisuan.web.pages import registries as registries_pages
    from zhisuan.web.pages import reports as reports_pages

    return [
        foundation.router,
        compute.router,
        policy_pages.router,
        publishing_pages.router,
        metering_pages.router,
        awards_pages.router,
        opendata_pages.router,
        registries_pages.router,
        reports_pages.router,
    ]


#: whether this process is the one dispatcher among the `zhisuan serve` processes (``/healthz`` says)
_dispatching = {"now": False}


async def _sole_dispatcher(platform: Platform) -> None:
    """The dispatch worker, in exactly one process of all that serve this database: each process tries
    to take the ``dispatch`` lease; the one that holds it dispatches, the others try again every
    interval (and take over when that process ends)."""
    from zhisuan.compute.worker import dispatch_loop

    interval = platform.settings.worker_interval_s
    lease = Lease(platform.engine, "dispatch", platform.settings.data_dir)
    try:
        while not await asyncio.to_thread(lease.try_acquire):
            await asyncio.sleep(interval)
        _dispatching["now"] = True
        await dispatch_loop(platform.worker(), interval)
    finally:
        _dispatching["now"] = False
        lease.release()


def _background() -> list[BackgroundTask]:
    """Loops that `zhisuan serve` runs beside the web app (dispatch, metering), one line each."""
    return [_sole_dispatcher]


def serve_app() -> FastAPI:
    """The app of one `zhisuan serve --workers N` process: the platform built from the environment
    (``ZHISUAN_WORKER=0``: no dispatcher in any process)."""
    from zhisuan.bootstrap import bootstrap

    platform = bootstrap()
    return create_app(platform, run_worker=platform.settings.run_worker)


def create_app(platform: Platform, *, run_worker: bool = False) -> FastAPI:
    """Build the app around an already-built platform (the composition root made it)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = (
            [asyncio.create_task(loop(platform)) for loop in _background()] if run_worker else []
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    app = FastAPI(
        title="zhisuan 智算",
        version=__version__,
        description="Provincial AI compute scheduling platform and policy programs.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served below from local assets (no CDN)
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.platform = platform
    errors.install(app)

    @app.middleware("http")
    async def language(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        query = request.query_params.get("lang")
        request.state.lang = pick_language(query, request.cookies.get("lang"))
        response = await call_next(request)
        if query in ("zh", "en"):
            response.set_cookie("lang", query, max_age=365 * 86400, samesite="lax")
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=platform.settings.secret_key,
        session_cookie="zhisuan_session",
        same_site="lax",
        https_only=platform.settings.cookie_secure,
        max_age=12 * 3600,
    )

    @app.get("/healthz", tags=["ops"])
    def healthz() -> JSONResponse:
        ok = ping(platform.engine)
        return JSONResponse(
            {
                "status": "ok" if ok else "database unreachable",
                "database": ok,
                "dispatcher": _dispatching["now"],
            },
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics(request: Request, uow: UowDep) -> Response:
        """Prometheus: queue length, dispatch latency, engine errors and health by center.

        Staff (admin, province, data bureau) read it logged in or with their API token; a scraper
        sends ``Authorization: Bearer <ZHISUAN_METRICS_TOKEN>``.
        """
        scraper = platform.settings.metrics_token
        sent = request.headers.get("authorization", "").encode()
        if not (scraper and secrets.compare_digest(sent, f"Bearer {scraper}".encode())):
            who = get_principal(request, uow, platform)
            if not who.authenticated:  # a scraper gets a 401, not the login page
                return JSONResponse(
                    {"error": AuthenticationError("send a bearer token (ZHISUAN_METRICS_TOKEN)").to_dict()},
                    status_code=401,
                )
            require_role(who, Role.PROVINCE, Role.DATA_BUREAU)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # outermost: size, depth and NUL checks before anything else runs; security headers on every answer
    app.add_middleware(RequestLimits)

    for prefix, router in _routers():
        app.include_router(router, prefix=prefix)  # type: ignore[arg-type]
    for router in _pages():
        app.include_router(router)  # type: ignore[arg-type]

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{API_PREFIX}/openapi.json",
            title="zhisuan API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    static = resources.files("zhisuan.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app
