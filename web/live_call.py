"""One live call on the server (docs/server.md): the pipeline session, what was sent, and
which socket listens.

A `LiveCall` wraps a `pipeline.CallSession`. The socket is only attached to it: a client that
drops and reconnects with the same call_id gets the finals it missed; a client that never comes
back has its call ended after a grace period (the draft is saved on every final by the pipeline
anyway). A PBX call (Asterisk chan_websocket, AudioSocket) ends when its socket closes. Audio is
fed and the call ended in worker threads, so the event loop never runs model or VAD code;
decoder events hop back with call_soon_threadsafe. All live calls are in web/calls.py's
`CallRegistry`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from web.auth import Principal
from web.codecs import decoder
from web.connection import Connection, NullConnection
from web.metrics import observe_final
from web.protocol import ProtocolError, error_message

if TYPE_CHECKING:
    from web.calls import CallRegistry

log = logging.getLogger("hotline.server.calls")


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
        *,
        encoding: str = "pcm16",
        source: str = "client",
        caller: dict[str, Any] | None = None,
    ) -> None:
        self.registry = registry
        self.call_id = call_id
        self.owner = owner
        self.sample_rate = sample_rate
        self.channels = channels
        self.source = source  # client | asterisk-websocket | audiosocket
        self.caller = dict(caller or {})  # PBX channel data (caller number ...), kept in the draft
        self.encoding = encoding
        self._decode = decoder(encoding)
        self.hangup_on_close = source != "client"  # a PBX never sends `end`: its socket closing is the hang-up
        self.session: Any = None
        self.conn: Connection | NullConnection | None = None
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
        self.ready_extra: dict[str, Any] = {}  # said once in `ready` (a takeover: taken_over, audio_from)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        opts = registry.options
        self.max_frame_bytes = int(sample_rate * channels * 2 * opts.max_frame_ms / 1000)

    # -- set-up -----------------------------------------------------------------------------
    async def start(self, hotwords: list[str], language: str | None, resume: Any = None) -> None:
        pipeline = await self.registry.get_pipeline()
        kwargs: dict[str, Any] = dict(
            call_id=self.call_id, sample_rate=self.sample_rate, channels=self.channels,
            hotwords=tuple(hotwords), on_event=self._from_pipeline,
        )
        if resume is not None:  # taken over from a server that died (web/leases.py)
            kwargs["resume"] = resume
        if self.caller:
            kwargs["meta"] = {"source": self.source, "caller": self.caller}
        if language:
            kwargs["language"] = language
        try:
            self.session = await self._run(pipeline.open_call, **kwargs)
        except TypeError:
            optional = [k for k in ("language", "meta") if k in kwargs]
            if not optional:
                raise
            for key in optional:  # a pipeline without these switches (language is set per process)
                kwargs.pop(key)
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
            observe_final(self.registry.metrics, self.session, message.get("id"))
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
        """Queue one frame (PCM16, or the call's G.711 encoding); an error message for the client
        if the frame is refused."""
        if self.ending or self.ended:
            return error_message("call_ended", "audio after end is ignored")
        if self.failed:
            return error_message("call_failed", self.failed)
        if not data:
            return None
        data = self._decode(data)
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
        limit = self.registry.options.max_call_s
        if self.audio_bytes > limit * self.sample_rate * self.channels * 2:
            log.warning("call %s: longer than %g s, ended", self.call_id, limit)
            self.finish()  # what came so far is decoded and the final draft sent
            return error_message("call_too_long", f"calls are limited to {limit:g} s of audio "
                                                  f"(HOTLINE_WS_MAX_CALL_S); this one was ended")
        return None

    async def _feed_loop(self) -> None:
        cap = self.registry.options.max_feed_bytes
        while True:
            data = await self._feed_queue.get()
            # frames queued meanwhile go in one feed: 10,000 tiny frames a second cost one
            # thread hop each otherwise, and the queue would outgrow the call
            taken, chunks, size = 1, [], 0
            while data is not None:
                chunks.append(data)
                size += len(data)
                if size >= cap or self._feed_queue.empty():
                    data = b""
                    break
                data = self._feed_queue.get_nowait()
                taken += 1
            try:
                if chunks:
                    joined = b"".join(chunks)
                    await self._run(self.session.feed_pcm16, joined)
                    self.registry.metrics.inc("hotline_audio_seconds_total",
                                              len(joined) / (2 * self.channels * self.sample_rate))
            except Exception as exc:  # keep the call (and server) alive; tell the client
                log.exception("call %s: feeding audio failed", self.call_id)
                self.failed = f"audio processing failed: {exc}"
                if self.conn is not None:
                    self.conn.send(error_message("internal", self.failed))
            finally:
                for _ in range(taken):
                    self._feed_queue.task_done()
            if data is None:
                return

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
            self.registry.metrics.observe("hotline_hangup_to_draft_seconds", timings["ready_after_hangup_s"])
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
        if self.registry.leases is not None:  # after the client has its draft: no wait for the database
            await self.registry.leases.release(self.call_id)
        return self.final_draft

    # -- sockets ----------------------------------------------------------------------------
    def attach(self, conn: Connection | NullConnection, resume_from: int | None) -> None:
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
                **self.ready_extra,
            }
        )
        self.ready_extra = {}
        if resume_from is not None or old is not None:
            for message in self.finals:
                seg_id = message.get("id")
                if resume_from is None or not isinstance(seg_id, int) or seg_id > resume_from:
                    conn.send(message)
            if self.final_draft is not None:
                conn.send(self.final_draft)
            elif self.last_draft is not None:
                conn.send(self._with_ticket_id(self.last_draft))

    def detach(self, conn: Connection | NullConnection) -> None:
        if self.conn is not conn:
            return  # already replaced by a newer socket
        self.conn = None
        if self.hangup_on_close and not self.ending:
            log.info("call %s: the %s socket closed: hang-up", self.call_id, self.source)
            self.finish()
        elif not self.ended and not self.ending:
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
