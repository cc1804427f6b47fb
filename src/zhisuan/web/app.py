"""The FastAPI application: JSON API under /api/v1, HTML pages, static files, /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.sessions import SessionMiddleware
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from zhisuan import __version__, audit
from zhisuan.bootstrap import Platform
from zhisuan.core.access import Role, require_role
from zhisuan.core.errors import AuthenticationError
from zhisuan.store.db import ping
from zhisuan.store.lease import Lease
from zhisuan.web import errors
from zhisuan.web.deps import UowDep, get_principal
from zhisuan.web.i18n import LanguageMiddleware
from zhisuan.web.limits import RequestLimits

API_PREFIX = "/api/v1"
log = logging.getLogger("zhisuan.web")

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


#: where `zhisuan serve --workers N` tells its web processes whether its dispatcher holds the lease
STATE_ENV = "ZHISUAN_DISPATCH_STATE"


def _say_dispatching(path: str | None, now: bool) -> None:
    if path:
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("1\n" if now else "0\n")
        os.replace(tmp, path)


#: `zhisuan serve --workers N`: where each of its processes says it is up (``<prefix>.<pid>``), and
#: how many must be (the web processes and the dispatcher); until then ``/healthz`` answers "starting"
READY_ENV = "ZHISUAN_SERVE_READY"
EXPECTED_ENV = "ZHISUAN_SERVE_PROCESSES"


def say_ready(up: bool) -> None:
    """Mark this process of a `serve --workers N` as up (or gone); nothing outside one."""
    prefix = os.environ.get(READY_ENV)
    if not prefix:
        return
    path = Path(f"{prefix}.{os.getpid()}")
    if up:
        path.touch()
    else:
        path.unlink(missing_ok=True)


def _starting() -> bool:
    """Whether some process of this `serve --workers N` is not up yet: a client connecting now would be
    served by those already up, and keep that connection (so the load would never spread)."""
    prefix = os.environ.get(READY_ENV)
    expected = os.environ.get(EXPECTED_ENV, "")
    if not prefix or not expected.isdigit():
        return False
    where = Path(prefix)
    return len(list(where.parent.glob(where.name + ".*"))) < int(expected)


def _dispatching_elsewhere() -> bool:
    """Whether the dispatcher process of this `zhisuan serve` holds the lease (``/healthz`` says)."""
    path = os.environ.get(STATE_ENV)
    if not path:
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return False


#: how much lower than the web processes the dispatcher process runs (``nice``)
DISPATCHER_NICENESS = 5


def dispatcher_process(state: str | None, parent: int) -> None:
    """The dispatch worker of `zhisuan serve --workers N`, in a process of its own beside the web
    processes (they only serve requests): it takes the ``dispatch`` lease (or waits for it, as with
    several `serve`s on one database there is still one dispatcher) and steps until its `serve` ends."""
    from zhisuan.bootstrap import bootstrap

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_args: stop.set())

    def watch_parent() -> None:  # the serve process gone (even killed): end too, the lease with it
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch_parent, name="serve-watch", daemon=True).start()
    os.nice(DISPATCHER_NICENESS)  # requests first: on a busy machine dispatching waits a little
    platform = bootstrap()
    # parse the policy packs now rather than in the first scheduling step, beside the first requests
    platform.packs.current()
    say_ready(True)
    interval = platform.settings.worker_interval_s
    lease = Lease(platform.engine, "dispatch", platform.settings.data_dir)
    sealer = _Sealer(platform, sweep_s=COALESCE_S, woken=False)  # the web processes' deferred events
    sealer.start()
    try:
        while not lease.try_acquire():
            if stop.wait(interval):
                return
        _say_dispatching(state, True)
        platform.worker().run(interval, stop=stop)
    finally:
        _say_dispatching(state, False)
        say_ready(False)
        lease.release()
        sealer.close()
        platform.engine.dispose()


def _background() -> list[BackgroundTask]:
    """Loops that `zhisuan serve` runs beside the web app (dispatch, metering), one line each."""
    return [_sole_dispatcher]


#: how long the sealer lets deferred events gather after being woken (one seal chains them all)
COALESCE_S = 0.2


def _leave_for_sweep() -> None:
    """A deferred event of a web process whose `serve` seals in its dispatcher process: nothing to do."""


#: with a dispatcher process, the web processes sweep for deferred events only this seldom (in case
#: that process is gone); the dispatcher process sweeps every COALESCE_S
SEAL_ELSEWHERE_ENV = "ZHISUAN_SEAL_ELSEWHERE"
WEB_SWEEP_S = 5.0


class _Sealer:
    """Chains this process's deferred audit events (``audit.record(..., deferred=True)``) in a thread:
    woken after each such commit, many events per lock of the head; every second it also sweeps up
    what another process left pending."""

    def __init__(self, platform: Platform, *, sweep_s: float = 1.0, woken: bool = True) -> None:
        self.platform = platform
        self.sweep_s = sweep_s
        self.woken = woken
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        # not woken: this process's deferred events wait for the sealer of the dispatcher process
        audit.seal_in_background(self.platform.seal, self.wake.set if self.woken else _leave_for_sweep)
        self.thread.start()

    def close(self) -> None:
        audit.seal_in_background(self.platform.seal, None)
        self.stop.set()
        self.wake.set()
        self.thread.join(timeout=30)
        try:
            self._seal_all()  # what came in while stopping (else the next process's sweep chains it)
        except Exception:
            log.exception("audit: deferred events left for the next sealer")

    def _seal_all(self) -> None:
        while True:
            with self.platform.uow() as uow:
                sealed = audit.seal_pending(uow)
                uow.commit()
            if sealed < audit.SEAL_BATCH:
                return

    def _run(self) -> None:
        while not self.stop.is_set():
            if self.wake.wait(timeout=self.sweep_s):
                self.stop.wait(COALESCE_S)  # let the requests of the next moments join this seal
            self.wake.clear()
            try:
                self._seal_all()
            except Exception:  # the database gone for a moment: the next wake or sweep tries again
                log.exception("audit: sealing deferred events failed; trying again")
                self.stop.wait(1.0)


def serve_app() -> FastAPI:
    """The app of one `zhisuan serve --workers N` process: the platform built from the environment
    (``ZHISUAN_WORKER=0``: no dispatcher in any process)."""
    from zhisuan.bootstrap import bootstrap

    platform = bootstrap()
    elsewhere = os.environ.get(SEAL_ELSEWHERE_ENV) == "1"
    return create_app(
        platform, run_worker=platform.settings.run_worker, background_sealing=True, seal_elsewhere=elsewhere
    )


def create_app(
    platform: Platform,
    *,
    run_worker: bool = False,
    background_sealing: bool = False,
    seal_elsewhere: bool = False,
) -> FastAPI:
    """Build the app around an already-built platform (the composition root made it).

    ``background_sealing`` (`zhisuan serve`): deferred audit events are chained by a thread of this
    process rather than in a transaction of their own after each request's commit; ``seal_elsewhere``
    (`serve --workers N`): by the dispatcher process, this one only sweeps every few seconds.
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sealer = (
            (_Sealer(platform, sweep_s=WEB_SWEEP_S, woken=False) if seal_elsewhere else _Sealer(platform))
            if background_sealing
            else None
        )
        if sealer is not None:
            sealer.start()
        tasks: list[asyncio.Task[None]] = (
            [asyncio.create_task(loop(platform)) for loop in _background()] if run_worker else []
        )
        say_ready(True)
        try:
            yield
        finally:
            say_ready(False)
            if sealer is not None:
                await asyncio.to_thread(sealer.close)
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

    app.add_middleware(LanguageMiddleware)
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
        starting = ok and _starting()
        return JSONResponse(
            {
                "status": "starting" if starting else "ok" if ok else "database unreachable",
                "database": ok,
                "dispatcher": _dispatching["now"] or _dispatching_elsewhere(),
            },
            status_code=200 if ok and not starting else 503,
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
