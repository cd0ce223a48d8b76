"""The hotline server: live-call websocket, REST API, Open311, metrics and the operator console.

It wires stt -> nlp -> ticketing to the network and holds no business logic: calls go through
`pipeline.Pipeline`/`CallSession`, tickets through `ticketing.TicketStore`, searches through the
nlp directories. See docs/server.md for the protocol and the endpoints.

    uvicorn-free use:  app = create_app()          # Settings() from the environment
    with the CLI:      hotline serve --port 8000
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Query, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from config import Settings
from ticketing.job_store import JobStore
from web.auth import ROLES, Principal, TokenStore, install_log_redaction
from web.calls import CallOptions, CallRegistry
from web.leases import attach_leases, server_id
from web.jobs import JobManager
from web.jobs import build_router as build_jobs_router
from web.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics
from web.open311 import build_router as build_open311_router
from web.open311_store import StoreBackend
from web.funasr import ws_funasr as serve_funasr_websocket
from web.ws_call import ws_call as serve_call_websocket

log = logging.getLogger("hotline.server")

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # one recording; a two-hour stereo WAV at 16 kHz is ~460 MB, so
MAX_UPLOAD_FILES = 100                 # long recordings should be compressed before upload
LIST_OMIT = ("draft", "transcript")  # heavy fields left out of ticket listings


@dataclass
class ServerOptions:
    calls: CallOptions = field(default_factory=CallOptions)
    preload: bool = True  # load the model at start-up (in the background) rather than on the first call
    static_dir: Path = STATIC_DIR
    call_workers: int = 8  # threads that feed audio and end calls; the model has its own decoder thread


class Resources:
    """The process-wide objects, created once and lazily (the model load takes seconds)."""

    def __init__(self, settings: Settings, *, pipeline: Any = None, store: Any = None,
                 pipeline_factory: Callable[[Settings], Any] | None = None) -> None:
        self.settings = settings
        self._pipeline = pipeline
        self._pipeline_factory = pipeline_factory
        self._pipeline_error: str | None = None
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self.tokens = TokenStore.for_store(self.store)

    @property
    def store(self) -> Any:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from ticketing import TicketStore

                    self._store = TicketStore(self.settings.db_url())
        return self._store

    @property
    def pipeline_loaded(self) -> bool:
        return self._pipeline is not None

    @property
    def pipeline_error(self) -> str | None:
        return self._pipeline_error

    def pipeline(self) -> Any:
        if self._pipeline is None:
            with self._lock:
                if self._pipeline is None:
                    started = time.monotonic()
                    try:
                        if self._pipeline_factory is not None:
                            self._pipeline = self._pipeline_factory(self.settings)
                        else:
                            from pipeline import Pipeline

                            # one store (and engine) for the pipeline's writes and the API's reads
                            self._pipeline = Pipeline.load(self.settings, store=self.store)
                    except Exception as exc:
                        self._pipeline_error = f"{type(exc).__name__}: {exc}"
                        raise
                    self._pipeline_error = None
                    log.info("pipeline loaded in %.1f s", time.monotonic() - started)
        return self._pipeline

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = make()
            return self._cache[name]

    def categories(self) -> list[dict[str, Any]]:
        taxonomy = getattr(self.store, "taxonomy", None)
        if taxonomy is None:
            from ticketing.taxonomy_data import load_taxonomy

            taxonomy = load_taxonomy(self.settings.taxonomy_path)
        return list(taxonomy["categories"])


# -- request bodies ---------------------------------------------------------------------------

class TicketFields(BaseModel):
    """Any editable ticket fields (see `ticketing.store.EDITABLE`)."""

    model_config = {"extra": "allow"}


class SubmitBody(BaseModel):
    fields: dict[str, Any] = Field(default_factory=dict, description="operator edits applied before submitting")
    note: str | None = None


class DispatchBody(BaseModel):
    department: str | None = None
    co_handler: str | None = None
    note: str | None = None


class TransitionBody(BaseModel):
    to: str = Field(description="target lifecycle state, e.g. contacted, in_progress, resolved, returned, closed")
    note: str | None = None


class FollowUpBody(BaseModel):
    satisfaction: str = Field(description="满意 / 基本满意 / 不满意")
    note: str | None = None
    close: bool = True


class MergeBody(BaseModel):
    into: int
    note: str | None = None


class ExtendBody(BaseModel):
    reason: str


class TokenBody(BaseModel):
    name: str
    role: str = "operator"


# -- the app ----------------------------------------------------------------------------------

def _public_ticket(ticket: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ticket.items() if k not in LIST_OMIT}


def create_app(settings: Settings | None = None, *, options: ServerOptions | None = None,
               pipeline: Any = None, store: Any = None,
               pipeline_factory: Callable[[Settings], Any] | None = None) -> FastAPI:
    """Build the app. `pipeline`/`store` may be injected (tests); otherwise they come from settings."""
    settings = settings or Settings()
    options = options or ServerOptions()
    res = Resources(settings, pipeline=pipeline, store=store, pipeline_factory=pipeline_factory)
    metrics = Metrics()
    executor = ThreadPoolExecutor(max_workers=options.call_workers, thread_name_prefix="hotline-call")

    def lookup_ticket_id(call_id: str) -> int | None:
        found = res.store.get_by_call(call_id)
        return found["id"] if found else None

    def stored_call(call_id: str) -> dict[str, Any]:
        """What the store holds of a call, with or without a ticket (a takeover continues from it)."""
        ticket = res.store.get_by_call(call_id)
        return {"ticket_id": ticket["id"] if ticket else None, "draft": (ticket or {}).get("draft"),
                "segments": res.store.segments(call_id)}

    def lookup_call(call_id: str) -> dict[str, Any] | None:
        """A call as the store holds it, when it has a ticket (a resume after a restart is told its
        state from this)."""
        stored = stored_call(call_id)
        if stored["ticket_id"] is None:
            return None
        row = res.store.call(call_id) or {}
        return {**stored, "sample_rate": row.get("sample_rate"), "channels": row.get("channels")}

    registry = CallRegistry(res.pipeline, options=options.calls, executor=executor, metrics=metrics,
                            lookup_ticket_id=lookup_ticket_id, lookup_call=lookup_call)

    # several servers on one database carry each other's calls (web/leases.py, docs/scale.md)
    leases = attach_leases(registry, res.store, stored_call)

    def run_file(path: str, call_id: str) -> dict[str, Any]:
        pipe = res.pipeline()
        runner = getattr(pipe, "process_file", None)
        if runner is not None:
            draft = runner(path, call_id=call_id)
        else:
            from stt.audio import load_audio

            audio = load_audio(path)
            session = pipe.open_call(call_id=call_id, sample_rate=audio.sample_rate, channels=audio.channels,
                                     on_event=lambda event: None, adapt_hotwords=False)
            session.feed(audio.samples)
            draft = session.end()
        draft = dict(draft)
        if "ticket_id" not in draft:
            draft["ticket_id"] = lookup_ticket_id(call_id)
        return draft

    # jobs in the shared store, uploads in the shared jobs folder: any server answers for a job
    job_store = JobStore(res.store.engine, leases.server_id if leases is not None else server_id())
    jobs = JobManager(run_file, settings.jobs_dir(), metrics, job_store, retention_s=settings.job_retention_s,
                      stale_s=settings.job_stale_s)

    def decode_queue_length() -> float:
        if not res.pipeline_loaded:
            return 0.0
        pipe = res.pipeline()
        for owner in (pipe, getattr(pipe, "decoder", None)):
            for name in ("queue_length", "pending", "qsize"):
                value = getattr(owner, name, None) if owner is not None else None
                if value is not None:
                    return float(value() if callable(value) else value)
        raise LookupError("pipeline exposes no queue length")

    def decoder_stat(name: str) -> Callable[[], float]:
        return lambda: float(getattr(res.pipeline().decoder, name)) if res.pipeline_loaded else 0.0

    metrics.gauge("hotline_calls_live", lambda: registry.live, "Calls currently streaming or finishing")
    metrics.gauge("hotline_decode_queue_length", decode_queue_length, "Utterances waiting for the decoder")
    metrics.gauge("hotline_batch_files_pending", jobs.pending, "Batch files queued or running")
    metrics.gauge("hotline_model_loaded", lambda: 1.0 if res.pipeline_loaded else 0.0, "1 once the model is loaded")
    metrics.counter_fn("hotline_digit_passes_total", decoder_stat("digit_passes"),
                       "Finals decoded again for a broken phone number")
    metrics.counter_fn("hotline_digit_pass_seconds_total", decoder_stat("digit_seconds"),
                       "Decoder seconds spent on those second passes")
    metrics.counter_fn("hotline_decoder_busy_seconds_total", decoder_stat("busy_seconds"),
                       "Decoder time summed over its workers (partials and finals)")

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

    # -- health, metrics, static --------------------------------------------------------------
    @app.get("/healthz", tags=["ops"], summary="Liveness and readiness")
    def healthz() -> JSONResponse:
        body = {"status": "ok", "model_loaded": res.pipeline_loaded, "calls_live": registry.live}
        if leases is not None:
            body["server_id"] = leases.server_id
        if res.pipeline_error:
            body.update(status="degraded", model_error=res.pipeline_error)
        try:
            res.store.count()
            body["database"] = "ok"
        except Exception as exc:  # report, do not crash: the probe must answer
            body.update(status="degraded", database=f"error: {type(exc).__name__}")
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse, summary="Prometheus metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    def index():
        return RedirectResponse("/static/console.html")

    @app.get("/docs", include_in_schema=False)
    def api_docs():
        from fastapi.openapi.docs import get_swagger_ui_html

        vendor = "/static/vendor/swagger-ui"
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{vendor}/swagger-ui.css",
                                   swagger_favicon_url=f"{vendor}/favicon-32x32.png")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/tickets", include_in_schema=False)
    def tickets_page():
        return RedirectResponse("/static/tickets.html")

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

    @api.get("/me", tags=["auth"], summary="Who the token belongs to")
    def me(who: Principal = Depends(principal)) -> dict[str, Any]:
        return {"name": who.name, "role": who.role}

    @api.get("/tickets", tags=["tickets"], summary="List and search tickets (newest first)")
    def list_tickets(
        state: str | None = Query(None, description="one state or several, comma-separated"),
        district: str | None = None, category: str | None = None, phone: str | None = None,
        place: str | None = None, text: str | None = Query(None, description="summary/transcript/address/company"),
        date_from: str | None = None, date_to: str | None = None,
        overdue: bool = Query(False, description="only tickets past a deadline"),
        call_id: str | None = None,
        limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        late = res.store.overdue_map()
        if call_id:
            found = res.store.get_by_call(call_id)
            items, total = ([found] if found else []), (1 if found else 0)
        elif overdue:
            items = [t for t in res.store.overdue() if _matches(t, state, district, category)]
            total, items = len(items), items[offset: offset + limit]
        else:
            filters = dict(state=state.split(",") if state else None, district=district, category=category,
                           phone=phone, place=place, text=text, date_from=date_from, date_to=date_to)
            filters = {k: v for k, v in filters.items() if v}
            try:
                items = res.store.search(limit=limit, offset=offset, **filters)
                total = res.store.count(**filters)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
        out = []
        for t in items:
            t = _public_ticket(t)
            t["overdue"] = late.get(t["id"], [])
            out.append(t)
        return {"total": total, "limit": limit, "offset": offset, "items": out}

    def _matches(t: dict[str, Any], state: str | None, district: str | None, category: str | None) -> bool:
        return ((not state or t.get("state") in state.split(",")) and (not district or t.get("district") == district)
                and (not category or t.get("category") == category))

    @api.get("/tickets/{ticket_id}", tags=["tickets"], summary="One ticket, with its draft and transcript")
    def get_ticket(ticket_id: int) -> dict[str, Any]:
        ticket = res.store.get(ticket_id)
        ticket["overdue"] = res.store.overdue_map().get(ticket_id, [])
        if ticket.get("call_id"):
            ticket["segments"] = res.store.segments(ticket["call_id"])
        return ticket

    @api.patch("/tickets/{ticket_id}", tags=["tickets"], summary="Edit fields (locks them against the pipeline)")
    def update_ticket(ticket_id: int, body: TicketFields, who: Principal = Depends(principal),
                      version: int | None = Depends(seen_version)) -> dict[str, Any]:
        fields = body.model_dump()
        if not fields:
            raise HTTPException(422, "no fields to change")
        try:
            return res.store.update(ticket_id, fields, actor=who.name, expect_version=version)
        except ValueError as exc:
            if isinstance(exc, TransitionError):
                raise
            raise HTTPException(422, str(exc)) from None

    @api.post("/tickets/{ticket_id}/submit", tags=["tickets"], summary="Operator confirms the draft")
    def submit_ticket(ticket_id: int, body: SubmitBody = Body(default_factory=SubmitBody),
                      who: Principal = Depends(principal), version: int | None = Depends(seen_version)) -> dict[str, Any]:
        if body.fields:
            try:
                res.store.update(ticket_id, body.fields, actor=who.name, expect_version=version)
                version = None  # checked by the edit; the submit follows it
            except ValueError as exc:
                if isinstance(exc, TransitionError):
                    raise
                raise HTTPException(422, str(exc)) from None
        return res.store.submit(ticket_id, actor=who.name, note=body.note, expect_version=version)

    @api.post("/tickets/{ticket_id}/dispatch", tags=["tickets"], summary="Send to the department (deadlines start)")
    def dispatch_ticket(ticket_id: int, body: DispatchBody = Body(default_factory=DispatchBody),
                        who: Principal = Depends(principal), version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.dispatch(ticket_id, actor=who.name, note=body.note, department=body.department,
                                  expect_version=version,
                                  co_handler=body.co_handler)

    @api.post("/tickets/{ticket_id}/direct-answer", tags=["tickets"], summary="直接答复: close a consultation")
    def direct_answer(ticket_id: int, body: SubmitBody = Body(default_factory=SubmitBody),
                      who: Principal = Depends(principal), version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.direct_answer(ticket_id, actor=who.name, note=body.note, expect_version=version)

    @api.post("/tickets/{ticket_id}/transition", tags=["tickets"],
              summary="Lifecycle move: contacted, in_progress, resolved, returned (needs note), closed")
    def transition_ticket(ticket_id: int, body: TransitionBody, who: Principal = Depends(principal),
                          version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.transition(ticket_id, body.to, actor=who.name, note=body.note, expect_version=version)

    @api.post("/tickets/{ticket_id}/follow-up", tags=["tickets"], summary="回访 with satisfaction")
    def follow_up(ticket_id: int, body: FollowUpBody, who: Principal = Depends(principal),
                  version: int | None = Depends(seen_version)) -> dict[str, Any]:
        try:
            return res.store.follow_up(ticket_id, body.satisfaction, actor=who.name, note=body.note, close=body.close,
                                       expect_version=version)
        except ValueError as exc:
            if isinstance(exc, TransitionError):
                raise
            raise HTTPException(422, str(exc)) from None

    @api.post("/tickets/{ticket_id}/extend", tags=["tickets"], summary="Extend the resolve deadline once")
    def extend(ticket_id: int, body: ExtendBody, who: Principal = Depends(principal),
               version: int | None = Depends(seen_version)) -> dict[str, Any]:
        try:
            return res.store.extend(ticket_id, body.reason, actor=who.name, expect_version=version)
        except ValueError as exc:
            if isinstance(exc, TransitionError):
                raise
            raise HTTPException(422, str(exc)) from None

    @api.post("/tickets/{ticket_id}/merge", tags=["tickets"], summary="Mark as duplicate of another ticket")
    def merge(ticket_id: int, body: MergeBody, who: Principal = Depends(principal),
              version: int | None = Depends(seen_version)) -> dict[str, Any]:
        return res.store.merge(ticket_id, body.into, actor=who.name, note=body.note, expect_version=version)

    @api.get("/tickets/{ticket_id}/related", tags=["tickets"], summary="Possible duplicates and same-caller tickets")
    def related(ticket_id: int) -> list[dict[str, Any]]:
        return res.store.related(ticket_id)

    @api.get("/tickets/{ticket_id}/events", tags=["tickets"], summary="The ticket's event log")
    def events(ticket_id: int) -> list[dict[str, Any]]:
        return res.store.events(ticket_id)

    @api.get("/calls", tags=["calls"], summary="Live calls on this server")
    def live_calls() -> list[dict[str, Any]]:
        return [
            {"call_id": c.call_id, "owner": c.owner.name, "started_at": c.started_at, "ended": c.ended,
             "connected": c.conn is not None, "segments": len(c.finals), "ticket_id": c.ticket_id}
            for c in registry.calls.values()
        ]

    @api.get("/calls/{call_id}", tags=["calls"], summary="A call's transcript segments and ticket")
    def call_detail(call_id: str) -> dict[str, Any]:
        live = registry.calls.get(call_id)
        ticket = res.store.get_by_call(call_id)
        if live is None and ticket is None:
            raise HTTPException(404, f"no call {call_id}")
        return {
            "call_id": call_id,
            "live": bool(live and not live.ended),
            "ticket_id": ticket["id"] if ticket else None,
            "state": ticket["state"] if ticket else None,
            "segments": res.store.segments(call_id) if ticket else [dict(s) for s in live.finals],
        }

    @api.get("/kb", tags=["search"], summary="Knowledge-base search")
    def kb_search(q: str = Query(..., min_length=1, max_length=200), limit: int = Query(5, ge=1, le=50)):
        return _kb_search(res, q, limit)

    @api.get("/kb/{kb_id}", tags=["search"], summary="One knowledge-base article")
    def kb_article(kb_id: str):
        return _kb_article(res, kb_id)

    @api.get("/companies", tags=["search"], summary="Company directory search (misheard/short names too)")
    def company_search(q: str = Query(..., min_length=1, max_length=100), limit: int = Query(5, ge=1, le=50)):
        return _company_search(res, q, limit)

    @api.get("/places", tags=["search"], summary="Gazetteer search: district/street/road/compound with coordinates")
    def place_search(q: str = Query(..., min_length=1, max_length=100), limit: int = Query(10, ge=1, le=50)):
        return _place_search(res, q, limit)

    @api.get("/categories", tags=["search"], summary="Taxonomy categories (for the ticket form)")
    def categories() -> list[dict[str, Any]]:
        return res.categories()

    @api.get("/departments", tags=["search"], summary="Known departments")
    def departments() -> list[dict[str, Any]]:
        return res.store.departments()

    api.include_router(build_jobs_router(jobs, principal, max_files=MAX_UPLOAD_FILES, max_bytes=MAX_UPLOAD_BYTES))

    @api.get("/tokens", tags=["auth"], summary="List tokens (admin)", dependencies=[Depends(admin)])
    def list_tokens() -> list[dict[str, Any]]:
        return [{"id": t.id, "name": t.name, "role": t.role, "created_at": t.created_at} for t in res.tokens.list()]

    @api.post("/tokens", tags=["auth"], status_code=201, summary="Create a token (admin); shown once",
              dependencies=[Depends(admin)])
    def create_token(body: TokenBody) -> dict[str, Any]:
        if body.role not in ROLES:
            raise HTTPException(422, f"role must be one of {', '.join(ROLES)}")
        try:
            return {"name": body.name, "role": body.role, "token": res.tokens.create(body.name, body.role)}
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None

    @api.delete("/tokens/{name}", tags=["auth"], status_code=204, summary="Revoke a token (admin)",
                dependencies=[Depends(admin)])
    def revoke_token(name: str) -> None:
        if not res.tokens.revoke(name):
            raise HTTPException(404, f"no token named {name}")

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


# -- search adapters (the nlp directories: loaded once per process, shared with the pipeline) --------

def _nlp(res: Resources, part: str) -> Any:
    def load() -> Any:
        from nlp.extract import load_resources

        return load_resources()

    found = getattr(res.cached("nlp", load), part, None)
    if found is None:
        raise HTTPException(503, f"the {part} directory is not available on this server")
    return found


def _kb_search(res: Resources, q: str, limit: int) -> list[dict[str, Any]]:
    return [_plain(hit) for hit in _nlp(res, "kb").search(q, k=limit)]


def _kb_article(res: Resources, kb_id: str) -> dict[str, Any]:
    article = _nlp(res, "kb").by_id.get(kb_id)
    if article is None:
        raise HTTPException(404, f"no knowledge-base article {kb_id}")
    return _plain(article)


def _company_search(res: Resources, q: str, limit: int) -> list[dict[str, Any]]:
    return [_plain(hit) for hit in _nlp(res, "companies").search(q, k=limit)]


def _place_search(res: Resources, q: str, limit: int) -> list[dict[str, Any]]:
    return [_plain(hit) for hit in _nlp(res, "gazetteer").search(q, limit=limit)]


def _plain(obj: Any) -> Any:
    import dataclasses

    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj
