"""The live-call websocket protocol (docs/server.md): sessions that outlive their socket.

One `LiveCall` per call wraps a `pipeline.CallSession`. The socket is only attached to it:
a client that drops and reconnects with the same call_id gets the finals it missed; a client
that never comes back has its call ended after a grace period (the draft is saved on every
final by the pipeline anyway). Audio is fed and the call ended in worker threads, so the
event loop never runs model or VAD code; decoder events hop back with call_soon_threadsafe.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from web.auth import Principal
from web.metrics import Metrics

log = logging.getLogger("hotline.server.calls")

CALL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass
class CallOptions:
    grace_s: float = 30.0  # a call whose socket dropped waits this long for the client to come back
    linger_s: float = 300.0  # an ended call stays resumable (final draft re-sent) this long
    max_frame_ms: float = 500.0  # protocol says 10-200 ms frames; larger ones are refused
    max_text_bytes: int = 64 * 1024
    max_pending_partials: int = 4  # per socket; beyond this a slow client loses partials (never finals)
    max_live_calls: int = 64
    min_sample_rate: int = 8000
    max_sample_rate: int = 48000
    max_hotwords: int = 200


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars/arrays
        return value.tolist()
    return str(value)


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, default=_jsonable)


class Connection:
    """One websocket's outgoing side: a queue drained by its own writer task.

    A slow client only slows its own writer. Pending partials are coalesced per segment id
    and dropped beyond a small backlog; pending non-final drafts are replaced by newer ones;
    finals, errors and the final draft are always delivered in order.
    """

    _CLOSE = object()

    def __init__(self, ws: WebSocket, max_pending_partials: int = 4, metrics: Metrics | None = None) -> None:
        self.ws = ws
        self.max_pending_partials = max_pending_partials
        self.metrics = metrics
        self._items: deque[Any] = deque()
        self._wake = asyncio.Event()
        self.closed = False
        self.dropped_partials = 0
        self._task = asyncio.create_task(self._writer())

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        kind = message.get("type")
        if kind == "partial":
            pending = 0
            for i, item in enumerate(self._items):
                if isinstance(item, dict) and item.get("type") == "partial":
                    if item.get("id") == message.get("id"):
                        self._items[i] = message  # newer hypothesis of the same utterance wins
                        return
                    pending += 1
            if pending >= self.max_pending_partials:
                self.dropped_partials += 1
                if self.metrics:
                    self.metrics.inc("hotline_ws_partials_dropped_total")
                return
        elif kind == "draft" and not message.get("final"):
            for i, item in enumerate(self._items):
                if isinstance(item, dict) and item.get("type") == "draft" and not item.get("final"):
                    del self._items[i]
                    break
        self._items.append(message)
        self._wake.set()

    async def _writer(self) -> None:
        try:
            while True:
                while not self._items:
                    self._wake.clear()
                    await self._wake.wait()
                item = self._items.popleft()
                if item is self._CLOSE:
                    return
                await self.ws.send_text(dumps(item))
        except Exception:  # socket gone: the call lives on, the reader sees the disconnect
            self.closed = True

    async def close(self, code: int | None = None, timeout: float = 5.0) -> None:
        """Flush what is queued (bounded wait), then optionally close the socket."""
        if not self.closed:
            self._items.append(self._CLOSE)
            self._wake.set()
        self.closed = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except (asyncio.TimeoutError, Exception):
            self._task.cancel()
        if code is not None:
            try:
                await self.ws.close(code=code)
            except Exception:
                pass


def _segment_event(event: Any) -> dict[str, Any]:
    """Accept the pipeline's dict events (the wire shapes), or a bare Segment."""
    if isinstance(event, dict):
        return event
    if dataclasses.is_dataclass(event):
        seg = dataclasses.asdict(event)
        seg["type"] = "final" if seg.get("final") else "partial"
        return seg
    raise TypeError(f"unexpected pipeline event {type(event).__name__}")


class LiveCall:
    """A call on the server: the pipeline session, what was sent, and which socket listens."""

    def __init__(
        self,
        registry: "CallRegistry",
        call_id: str,
        owner: Principal,
        sample_rate: int,
        channels: int,
    ) -> None:
        self.registry = registry
        self.call_id = call_id
        self.owner = owner
        self.sample_rate = sample_rate
        self.channels = channels
        self.session: Any = None
        self.conn: Connection | None = None
        self.finals: list[dict[str, Any]] = []
        self._final_ids: set[Any] = set()
        self.last_draft: dict[str, Any] | None = None
        self.final_draft: dict[str, Any] | None = None
        self.ticket_id: int | None = None
        self.ending = False
        self.ended = False
        self.failed: str | None = None
        self.started_at = time.time()
        self.audio_bytes = 0
        self._feed_queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._feeder: asyncio.Task | None = None
        self._finish_task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lookup: asyncio.Task | None = None
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        opts = registry.options
        self.max_frame_bytes = int(sample_rate * channels * 2 * opts.max_frame_ms / 1000)

    # -- set-up -----------------------------------------------------------------------------
    async def start(self, hotwords: list[str], language: str | None) -> None:
        pipeline = await self.registry.get_pipeline()
        kwargs: dict[str, Any] = dict(
            call_id=self.call_id, sample_rate=self.sample_rate, channels=self.channels,
            hotwords=tuple(hotwords), on_event=self._from_pipeline,
        )
        if language:
            kwargs["language"] = language
        try:
            self.session = await self._run(pipeline.open_call, **kwargs)
        except TypeError:
            if "language" not in kwargs:
                raise
            kwargs.pop("language")  # the pipeline has no language switch: it is set per process
            self.session = await self._run(pipeline.open_call, **kwargs)
        self._feeder = asyncio.create_task(self._feed_loop())

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self._loop.run_in_executor(self.registry.executor, lambda: fn(*args, **kwargs))

    # -- events from the pipeline (decoder thread) ------------------------------------------
    def _from_pipeline(self, event: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._on_event(event)
            return
        try:
            self._loop.call_soon_threadsafe(self._on_event, event)
        except RuntimeError:  # loop closed during shutdown
            pass

    def _on_event(self, event: Any) -> None:
        try:
            message = _segment_event(event)
        except TypeError as exc:
            log.warning("call %s: %s", self.call_id, exc)
            return
        kind = message.get("type")
        if kind == "final":
            if message.get("id") in self._final_ids:
                return  # never repeat a segment
            self._final_ids.add(message.get("id"))
            self.finals.append(message)
            self.registry.metrics.inc("hotline_segments_final_total")
        elif kind == "draft":
            if message.get("final"):
                return  # the server sends the final draft itself, once, after end()
            ticket = message.get("ticket") or {}
            self._note_ticket_id(ticket)
            if self.ticket_id is None:
                self._find_ticket_id()
            message = self._with_ticket_id(message)
            self.last_draft = message
        if self.conn is not None:
            self.conn.send(message)

    def _note_ticket_id(self, ticket: dict[str, Any]) -> None:
        tid = ticket.get("ticket_id") if isinstance(ticket, dict) else None
        if isinstance(tid, int):
            self.ticket_id = tid

    def _find_ticket_id(self) -> None:
        """The pipeline stores the draft right after announcing it: look its id up once it is there,
        and tell the client (the console needs it to submit)."""
        if self._lookup is not None and not self._lookup.done():
            return

        async def lookup() -> None:
            await asyncio.sleep(0.2)
            tid = await self.registry.lookup_ticket_id(self.call_id)
            if tid is not None and self.ticket_id is None:
                self.ticket_id = tid
                if self.conn is not None:
                    self.conn.send({"type": "ticket", "call_id": self.call_id, "ticket_id": tid})

        self._lookup = asyncio.create_task(lookup())

    def _with_ticket_id(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.ticket_id is not None and "ticket_id" not in message:
            message = {**message, "ticket_id": self.ticket_id}
        return message

    # -- audio in ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> dict[str, Any] | None:
        """Queue one PCM16 frame; an error message for the client if the frame is refused."""
        if self.ending or self.ended:
            return error_message("call_ended", "audio after end is ignored")
        if self.failed:
            return error_message("call_failed", self.failed)
        if not data:
            return None
        if len(data) % (2 * self.channels):
            return error_message(
                "bad_frame", f"frame of {len(data)} bytes is not whole PCM16 samples for {self.channels} channel(s)"
            )
        if len(data) > self.max_frame_bytes:
            return error_message(
                "frame_too_large",
                f"frame of {len(data)} bytes exceeds {self.max_frame_bytes} "
                f"({self.registry.options.max_frame_ms:g} ms); send 10-200 ms frames",
            )
        self.audio_bytes += len(data)
        self._feed_queue.put_nowait(bytes(data))
        return None

    async def _feed_loop(self) -> None:
        while True:
            data = await self._feed_queue.get()
            try:
                if data is None:
                    return
                await self._run(self.session.feed_pcm16, data)
                self.registry.metrics.inc("hotline_audio_seconds_total", len(data) / (2 * self.channels * self.sample_rate))
            except Exception as exc:  # keep the call (and server) alive; tell the client
                log.exception("call %s: feeding audio failed", self.call_id)
                self.failed = f"audio processing failed: {exc}"
                if self.conn is not None:
                    self.conn.send(error_message("internal", self.failed))
            finally:
                self._feed_queue.task_done()

    def set_hotwords(self, words: list[str]) -> None:
        setter = getattr(self.session, "set_hotwords", None)
        if setter is None:
            raise ProtocolError("unsupported", "this pipeline cannot change hotwords during a call")
        self._loop.run_in_executor(self.registry.executor, setter, list(words))

    # -- hang-up ----------------------------------------------------------------------------
    def finish(self) -> "asyncio.Task[dict[str, Any] | None]":
        """End the call once (client `end`, grace expiry or shutdown); the task gives the draft."""
        if self._finish_task is None:
            self.ending = True
            self.cancel_timer()
            self._finish_task = asyncio.create_task(self._finish())
        return self._finish_task

    async def _finish(self) -> dict[str, Any] | None:
        hung_up = time.monotonic()
        try:
            await self._feed_queue.join()  # everything received is fed before the flush
            self._feed_queue.put_nowait(None)
            if self._feeder is not None:
                await self._feeder
            result = await self._run(self.session.end)
            ticket = dict(result) if isinstance(result, dict) else {}
            timings = dict(ticket.get("timings") or {})
            timings.setdefault("ready_after_hangup_s", round(time.monotonic() - hung_up, 3))
            ticket["timings"] = timings
            self._note_ticket_id(ticket)
            if self.ticket_id is None:
                self.ticket_id = await self.registry.lookup_ticket_id(self.call_id)
            self.final_draft = self._with_ticket_id({"type": "draft", "final": True, "ticket": ticket})
            self.registry.metrics.observe("hotline_stage_seconds", timings["ready_after_hangup_s"], stage="ready_after_hangup")
            for stage in ("asr_s", "nlp_s"):
                if isinstance(timings.get(stage), (int, float)):
                    self.registry.metrics.observe("hotline_stage_seconds", float(timings[stage]), stage=stage[:-2])
        except Exception as exc:
            log.exception("call %s: ending failed", self.call_id)
            self.failed = f"ending the call failed: {exc}"
            self.final_draft = None
            if self.conn is not None:
                self.conn.send(error_message("internal", self.failed))
        finally:
            self.ended = True
            self.registry.metrics.inc("hotline_calls_total")
            self.registry.schedule_forget(self)
        if self.final_draft is not None and self.conn is not None:
            self.conn.send(self.final_draft)
        return self.final_draft

    # -- sockets ----------------------------------------------------------------------------
    def attach(self, conn: Connection, resume_from: int | None) -> None:
        old = self.conn
        self.conn = conn
        self.cancel_timer()
        if old is not None and old is not conn:
            old.send(error_message("replaced", "this call was resumed on another connection"))
            asyncio.create_task(old.close(code=4409))
        conn.send(
            {
                "type": "ready",
                "call_id": self.call_id,
                "resumed": resume_from is not None or old is not None,
                "sample_rate": self.sample_rate,
                "channels": self.channels,
                "last_segment_id": self.finals[-1].get("id") if self.finals else None,
                "ended": self.ended,
                "ticket_id": self.ticket_id,
            }
        )
        if resume_from is not None or old is not None:
            for message in self.finals:
                seg_id = message.get("id")
                if resume_from is None or not isinstance(seg_id, int) or seg_id > resume_from:
                    conn.send(message)
            if self.final_draft is not None:
                conn.send(self.final_draft)
            elif self.last_draft is not None:
                conn.send(self._with_ticket_id(self.last_draft))

    def detach(self, conn: Connection) -> None:
        if self.conn is not conn:
            return  # already replaced by a newer socket
        self.conn = None
        if not self.ended and not self.ending:
            self._timer = self._loop.call_later(self.registry.options.grace_s, self._grace_expired)

    def _grace_expired(self) -> None:
        self._timer = None
        if self.conn is None and not self.ending:
            log.info("call %s: client did not come back, ending the call", self.call_id)
            self.finish()

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class CallRegistry:
    """All live calls of the process, by call_id."""

    def __init__(
        self,
        get_pipeline: Callable[[], Any],
        *,
        options: CallOptions,
        executor: Executor | None,
        metrics: Metrics,
        lookup_ticket_id: Callable[[str], int | None] | None = None,
    ) -> None:
        self._get_pipeline = get_pipeline
        self.options = options
        self.executor = executor
        self.metrics = metrics
        self._lookup_ticket_id = lookup_ticket_id
        self.calls: dict[str, LiveCall] = {}
        self._forget: dict[str, asyncio.TimerHandle] = {}

    @property
    def live(self) -> int:
        return sum(1 for c in self.calls.values() if not c.ended)

    async def get_pipeline(self) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._get_pipeline)

    async def lookup_ticket_id(self, call_id: str) -> int | None:
        if self._lookup_ticket_id is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.executor, self._lookup_ticket_id, call_id)
        except Exception:
            log.exception("looking up the ticket of call %s", call_id)
            return None

    def parse_hello(self, hello: dict[str, Any]) -> dict[str, Any]:
        opts = self.options
        call_id = hello.get("call_id")
        if call_id is not None and (not isinstance(call_id, str) or not CALL_ID_RE.match(call_id)):
            raise ProtocolError("bad_hello", "call_id must be 1-64 characters of letters, digits, . _ : -")
        rate = hello.get("sample_rate")
        if not isinstance(rate, int) or isinstance(rate, bool) or not opts.min_sample_rate <= rate <= opts.max_sample_rate:
            raise ProtocolError("bad_hello", f"sample_rate must be an integer from {opts.min_sample_rate} to {opts.max_sample_rate}")
        channels = hello.get("channels", 1)
        if channels not in (1, 2) or isinstance(channels, bool):
            raise ProtocolError("bad_hello", "channels must be 1 (mono) or 2 (operator left, caller right)")
        language = hello.get("language")
        if language is not None and (not isinstance(language, str) or not re.fullmatch(r"[a-z]{2,3}", language)):
            raise ProtocolError("bad_hello", "language must be a language code such as zh")
        hotwords = hello.get("hotwords") or []
        if not isinstance(hotwords, list) or not all(isinstance(w, str) and 0 < len(w) <= 32 for w in hotwords):
            raise ProtocolError("bad_hello", "hotwords must be a list of short strings")
        if len(hotwords) > opts.max_hotwords:
            raise ProtocolError("bad_hello", f"at most {opts.max_hotwords} hotwords")
        resume_from = hello.get("resume_from")
        if resume_from is not None and (not isinstance(resume_from, int) or isinstance(resume_from, bool)):
            raise ProtocolError("bad_hello", "resume_from must be the id of the last final segment received")
        return dict(call_id=call_id, sample_rate=rate, channels=channels, language=language,
                    hotwords=hotwords, resume_from=resume_from)

    async def open(self, hello: dict[str, Any], principal: Principal, conn: Connection) -> LiveCall:
        params = self.parse_hello(hello)
        call_id = params["call_id"]
        existing = self.calls.get(call_id) if call_id else None
        if existing is not None:
            if existing.owner.name != principal.name and not principal.is_admin:
                raise ProtocolError("forbidden", "this call belongs to another operator")
            if (existing.sample_rate, existing.channels) != (params["sample_rate"], params["channels"]):
                raise ProtocolError(
                    "bad_hello",
                    f"call {call_id} streams {existing.sample_rate} Hz x {existing.channels}; resume with the same format",
                )
            existing.attach(conn, params["resume_from"])
            return existing
        if params["resume_from"] is not None and call_id:
            raise ProtocolError("unknown_call", f"call {call_id} is not live any more (ended or grace period over)")
        if call_id and await self.lookup_ticket_id(call_id) is not None:
            # a finished call (or one from before a restart): its ticket must not be overwritten
            raise ProtocolError("call_exists", f"call {call_id} already has a ticket; start a new call without call_id")
        if self.live >= self.options.max_live_calls:
            raise ProtocolError("busy", "too many live calls on this server")
        if not call_id:
            call_id = datetime.now().strftime("call-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        call = LiveCall(self, call_id, principal, params["sample_rate"], params["channels"])
        self.calls[call_id] = call  # registered before the await so a racing duplicate hello resumes it
        try:
            await call.start(params["hotwords"], params["language"])
        except Exception as exc:
            self.calls.pop(call_id, None)
            log.exception("opening call %s failed", call_id)
            raise ProtocolError("internal", f"could not start the call: {exc}") from exc
        call.attach(conn, None)
        self.metrics.inc("hotline_calls_started_total")
        return call

    def schedule_forget(self, call: LiveCall) -> None:
        loop = asyncio.get_running_loop()
        old = self._forget.pop(call.call_id, None)
        if old:
            old.cancel()
        self._forget[call.call_id] = loop.call_later(self.options.linger_s, self._drop, call)

    def _drop(self, call: LiveCall) -> None:
        self._forget.pop(call.call_id, None)
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    async def shutdown(self, timeout: float = 60.0) -> None:
        """End every live call so its final draft is saved before the process exits."""
        tasks = [c.finish() for c in list(self.calls.values()) if not c.ended]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for handle in self._forget.values():
            handle.cancel()


async def serve_socket(ws: WebSocket, principal: Principal, registry: CallRegistry) -> None:
    """Run one websocket connection of the call protocol until the client leaves."""
    opts = registry.options
    conn = Connection(ws, opts.max_pending_partials, registry.metrics)
    call: LiveCall | None = None
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text, data = message.get("text"), message.get("bytes")
            if data is not None:
                if call is None:
                    conn.send(error_message("no_call", "send a hello message before audio"))
                    continue
                problem = call.feed(data)
                if problem:
                    conn.send(problem)
                continue
            if text is None:
                continue
            if len(text) > opts.max_text_bytes:
                conn.send(error_message("too_large", f"text messages are limited to {opts.max_text_bytes} bytes"))
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                conn.send(error_message("bad_json", "text messages must be JSON objects"))
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                conn.send(error_message("bad_message", 'a message needs a string "type"'))
                continue
            kind = obj["type"]
            try:
                if kind == "hello":
                    if call is not None:
                        raise ProtocolError("bad_message", "hello was already sent on this connection")
                    call = await registry.open(obj, principal, conn)
                elif kind == "end":
                    if call is None:
                        raise ProtocolError("no_call", "end before hello")
                    if call.ended and call.final_draft is not None:
                        conn.send(call.final_draft)  # already ended (e.g. grace expiry): repeat it
                    else:
                        call.finish()  # the final draft is queued to this socket when ready
                elif kind == "hotwords":
                    if call is None:
                        raise ProtocolError("no_call", "hotwords before hello")
                    words = obj.get("hotwords")
                    if not isinstance(words, list) or not all(isinstance(w, str) and 0 < len(w) <= 32 for w in words):
                        raise ProtocolError("bad_message", "hotwords must be a list of short strings")
                    call.set_hotwords(words[: opts.max_hotwords])
                elif kind == "ping":
                    conn.send({"type": "pong"})
                else:
                    raise ProtocolError("bad_message", f"unknown message type {kind!r}")
            except ProtocolError as exc:
                conn.send(error_message(exc.code, exc.message))
    except WebSocketDisconnect:
        pass
    except Exception:  # never let one socket's bug reach the server
        log.exception("websocket handler failed")
    finally:
        if call is not None:
            call.detach(conn)
        await conn.close(timeout=2.0)
