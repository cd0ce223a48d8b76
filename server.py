"""The hotline server: live-call websocket, REST API, Open311, metrics and the operator console.

It wires stt -> nlp -> ticketing to the network and holds no business logic: calls go through
`pipeline.Pipeline`/`CallSession`, tickets through `ticketing.TicketStore`, searches through the
nlp directories. See docs/server.md for the protocol and the endpoints.

This module assembles the app from the parts in web/: the process-wide objects
(web/resources.py), live calls (web/calls.py, web/ws_call.py, web/funasr.py) and their leases
(web/leases.py), batch jobs (web/jobs.py), and the routes: web/tickets_api.py, web/calls_api.py,
web/search_api.py, web/tokens_api.py, web/open311.py, web/ops.py (health, metrics), web/pages.py.

    uvicorn-free use:  app = create_app()          # Settings() from the environment
    with the CLI:      hotline serve --port 8000
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from config import Settings
from ticketing.job_store import JobStore
from web import calls_api, ops, pages, search_api, tickets_api, tokens_api
from web.auth import Principal, install_log_redaction
from web.calls import CallOptions, CallRegistry
from web.funasr import ws_funasr as serve_funasr_websocket
from web.jobs import JobManager, file_runner
from web.jobs import build_router as build_jobs_router
from web.leases import attach_leases, server_id
from web.metrics import Metrics
from web.open311 import build_router as build_open311_router
from web.open311_store import StoreBackend
from web.resources import Resources
from web.stored_calls import StoredCalls
from web.ws_call import ws_call as serve_call_websocket

log = logging.getLogger("hotline.server")

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # one recording; a two-hour stereo WAV at 16 kHz is ~460 MB, so
MAX_UPLOAD_FILES = 100                 # long recordings should be compressed before upload


@dataclass
class ServerOptions:
    calls: CallOptions = field(default_factory=CallOptions)
    preload: bool = True  # load the model at start-up (in the background) rather than on the first call
    static_dir: Path = STATIC_DIR
    call_workers: int = 8  # threads that feed audio and end calls; the model has its own decoder thread


def create_app(settings: Settings | None = None, *, options: ServerOptions | None = None,
               pipeline: Any = None, store: Any = None,
               pipeline_factory: Callable[[Settings], Any] | None = None) -> FastAPI:
    """Build the app. `pipeline`/`store` may be injected (tests); otherwise they come from settings."""
    settings = settings or Settings()
    options = options or ServerOptions()
    res = Resources(settings, pipeline=pipeline, store=store, pipeline_factory=pipeline_factory)
    metrics = Metrics()
    executor = ThreadPoolExecutor(max_workers=options.call_workers, thread_name_prefix="hotline-call")
    stored = StoredCalls(lambda: res.store)

    registry = CallRegistry(res.pipeline, options=options.calls, executor=executor, metrics=metrics,
                            lookup_ticket_id=stored.ticket_id, lookup_call=stored.lookup)

    # several servers on one database carry each other's calls (web/leases.py, docs/scale.md)
    leases = attach_leases(registry, res.store, stored.stored)

    # jobs in the shared store, uploads in the shared jobs folder: any server answers for a job
    job_store = JobStore(res.store.engine, leases.server_id if leases is not None else server_id())
    jobs = JobManager(file_runner(res.pipeline, stored.ticket_id), settings.jobs_dir(), metrics, job_store,
                      retention_s=settings.job_retention_s, stale_s=settings.job_stale_s)
    ops.add_gauges(metrics, res, registry, jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        install_log_redaction()  # after uvicorn configured its loggers
        loop = asyncio.get_running_loop()
        if options.preload and not res.pipeline_loaded:
            # in the background: /healthz answers (not ready) while the model loads
            loop.run_in_executor(executor, _preload)
        if leases is not None:
            leases.start()
        jobs.start()
        yield
        await registry.shutdown()
        if leases is not None:
            await leases.stop()
        jobs.stop()
        executor.shutdown(wait=False, cancel_futures=True)

    def _preload() -> None:
        try:
            res.pipeline()
        except Exception:
            log.exception("loading the pipeline failed; calls will report the error")

    app = FastAPI(
        title="12345 hotline speech-to-ticket server",
        version="0.1.0",
        description="Live call transcription (websocket /ws/call), draft tickets, ticket lifecycle, "
        "Open311 GeoReport v2. All ticket data needs a bearer token (`hotline token create`).",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: no CDN
        redoc_url=None,
    )
    app.state.resources = res
    app.state.registry = registry
    app.state.leases = leases
    app.state.jobs = jobs
    app.state.metrics = metrics

    bearer = HTTPBearer(auto_error=False, description="a token from `hotline token create`")

    def principal(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        who = res.tokens.verify(creds.credentials if creds else None)
        if who is None:
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        return who

    def seen_version(if_match: str | None = Header(None, description="the ticket `version` this action is based on: "
                                                   "409 if the ticket changed since (another operator was first)")) -> int | None:
        from ticketing.concurrency import parse_version

        try:
            return parse_version(if_match)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    def admin(who: Principal = Depends(principal)) -> Principal:
        if not who.is_admin:
            raise HTTPException(403, "admin role required")
        return who

    # Errors from the store become HTTP statuses with its message (it names what is wrong).
    from ticketing import CalendarRangeError, TicketNotFound, TransitionError

    @app.exception_handler(TicketNotFound)
    async def _not_found(request: Request, exc: TicketNotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(TransitionError)
    async def _conflict(request: Request, exc: TransitionError):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(CalendarRangeError)
    async def _calendar(request: Request, exc: CalendarRangeError):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.middleware("http")
    async def _timing(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.observe("hotline_http_request_seconds", time.perf_counter() - started,
                        route=path, method=request.method)
        return response

    # -- health, metrics, pages, static ----------------------------------------------------------
    ops.add_routes(app, res, registry, leases, metrics)
    pages.add_routes(app)
    if options.static_dir.is_dir():
        app.mount("/static", StaticFiles(directory=options.static_dir), name="static")

    # -- websocket ------------------------------------------------------------------------------
    @app.websocket("/ws/call")
    async def ws_call(ws: WebSocket, token: str | None = None):
        await serve_call_websocket(ws, token, res.tokens, registry, executor)

    @app.websocket("/ws/funasr")
    async def ws_funasr(ws: WebSocket, token: str | None = None):  # FunASR's protocol, same calls (web/funasr.py)
        await serve_funasr_websocket(ws, token, res.tokens, registry, executor)

    # -- REST -----------------------------------------------------------------------------------
    api = APIRouter(prefix="/api", dependencies=[Depends(principal)])
    tickets_api.add_routes(api, res, principal, seen_version)
    calls_api.add_routes(api, res, registry)
    search_api.add_routes(api, res)
    api.include_router(build_jobs_router(jobs, principal, max_files=MAX_UPLOAD_FILES, max_bytes=MAX_UPLOAD_BYTES))
    tokens_api.add_routes(api, res.tokens, principal, admin)
    app.include_router(api)

    # -- Open311 ----------------------------------------------------------------------------------
    app.include_router(build_open311_router(StoreBackend(lambda: res.store, res.categories, res.tokens),
                                            jurisdiction=settings.open311_jurisdiction))

    # -- data mining (another module's router, when present) ---------------------------------------
    try:
        from ticketing.mining.api import router as mining_router
    except ImportError as exc:
        log.info("mining API not available: %s", exc)
    else:
        app.include_router(mining_router, dependencies=[Depends(principal)])

    return app
