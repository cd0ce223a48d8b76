"""Live calls on the server (docs/server.md): sessions that outlive their socket.

`CallRegistry` holds every live call of the process by call_id: it opens a call from a hello,
resumes a live one on a new socket, answers a resume of a call it no longer holds from the
store, and forgets ended calls after `linger_s`. One call is a `web.live_call.LiveCall`;
`CallOptions` are the limits both apply.

The sockets themselves are served by web/ws_call.py (websocket) and web/audiosocket.py (TCP);
the first message's dialects are parsed by web/protocol.py.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from web.auth import Principal
from web.connection import Connection, NullConnection, dumps  # noqa: F401  (dumps: re-exported)
from web.live_call import LiveCall
from web.metrics import Metrics
from web.protocol import CALL_ID_RE, CallHello, ProtocolError, error_message, parse_hello  # noqa: F401

log = logging.getLogger("hotline.server.calls")


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
    # limits against runaway or hostile clients (issue 16); environment settings, see docs/server.md
    max_connections_per_token: int = field(default_factory=lambda: _env_num("HOTLINE_WS_MAX_CONNECTIONS_PER_TOKEN", 64))
    hello_timeout_s: float = field(default_factory=lambda: _env_num("HOTLINE_WS_HELLO_TIMEOUT_S", 30.0))
    max_call_s: float = field(default_factory=lambda: _env_num("HOTLINE_WS_MAX_CALL_S", 4 * 3600.0))
    max_feed_bytes: int = 1 << 20  # queued frames are joined into one feed of up to this much audio
    # a live call's lease in the shared store (web/leases.py): heartbeat every lease_s / 3
    lease_s: float = field(default_factory=lambda: _env_num("HOTLINE_LEASE_S", 6.0))


def _env_num(name: str, default: Any) -> Any:
    import os

    value = os.environ.get(name)
    return type(default)(value) if value not in (None, "") else default


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
        lookup_call: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self._get_pipeline = get_pipeline
        self.options = options
        self.executor = executor
        self.metrics = metrics
        self._lookup_ticket_id = lookup_ticket_id
        self._lookup_call = lookup_call  # call_id -> {ticket_id, draft, segments} from the store
        self.leases: Any = None  # web.leases.LeaseKeeper when the store is shared (set by server.py)
        self.calls: dict[str, LiveCall] = {}
        self.sockets: dict[str, int] = {}  # open sockets per token name
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

    def parse_hello(self, hello: dict[str, Any]) -> CallHello:
        return parse_hello(hello, self.options)

    def socket_opened(self, principal: Principal) -> bool:
        """Count a socket of this token; False (and not counted) beyond max_connections_per_token."""
        if self.sockets.get(principal.name, 0) >= self.options.max_connections_per_token:
            return False
        self.sockets[principal.name] = self.sockets.get(principal.name, 0) + 1
        return True

    def socket_closed(self, principal: Principal) -> None:
        left = self.sockets.get(principal.name, 0) - 1
        if left > 0:
            self.sockets[principal.name] = left
        else:
            self.sockets.pop(principal.name, None)

    async def resume_stored(self, call_id: str, resume_from: int, conn: Connection | NullConnection) -> bool:
        """A resume of a call this process does not hold (the server restarted, or the call was
        forgotten): tell the client what the store has. `ready` says ended (and interrupted when
        the call never got its final draft), then the stored finals after resume_from, then the
        stored draft as the call's last. False if the store has no such call."""
        if self._lookup_call is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(self.executor, self._lookup_call, call_id)
        except Exception:
            log.exception("looking up stored call %s", call_id)
            return False
        if not stored:
            return False
        from pipeline import CallResume  # the one definition of the finals a call continues from

        draft = dict(stored.get("draft") or {})
        segments = CallResume.spoken(stored.get("segments"))
        interrupted = not draft.get("final")
        conn.send({"type": "ready", "call_id": call_id, "resumed": True, "ended": True, "interrupted": interrupted,
                   "sample_rate": stored.get("sample_rate"), "channels": stored.get("channels"),
                   "last_segment_id": segments[-1]["id"] if segments else None, "ticket_id": stored.get("ticket_id")})
        for seg in segments:
            if seg["id"] > resume_from:
                conn.send({"type": "final", **seg})
        conn.send({"type": "draft", "final": True, "interrupted": interrupted, "ticket": draft,
                   "ticket_id": stored.get("ticket_id")})
        if interrupted:
            log.info("call %s: resumed after the server lost it; the stored draft was sent", call_id)
        return True

    async def open(self, hello: CallHello | dict[str, Any], principal: Principal,
                   conn: Connection | NullConnection) -> LiveCall | None:
        """Start the call a hello describes, or resume it on this socket if it is live."""
        if isinstance(hello, dict):
            hello = self.parse_hello(hello)
        call_id = hello.call_id
        existing = self.calls.get(call_id) if call_id else None
        if existing is not None:
            if existing.owner.name != principal.name and not principal.is_admin:
                raise ProtocolError("forbidden", "this call belongs to another operator")
            if (existing.sample_rate, existing.channels) != (hello.sample_rate, hello.channels):
                raise ProtocolError(
                    "bad_hello",
                    f"call {call_id} streams {existing.sample_rate} Hz x {existing.channels}; resume with the same format",
                )
            existing.attach(conn, hello.resume_from)
            return existing
        if hello.resume_from is not None and call_id:
            if self.leases is not None:  # live when its server died: carried on here
                adopted = await self.leases.take_over(hello, principal, conn)
                if adopted is not None:
                    self.metrics.inc("hotline_calls_started_total")
                    return adopted
            if await self.resume_stored(call_id, hello.resume_from, conn):
                return None  # told what the store holds; the socket may start a new call
            raise ProtocolError("unknown_call", f"call {call_id} is not live any more (ended or grace period over)")
        if call_id and await self.lookup_ticket_id(call_id) is not None:
            # a finished call (or one from before a restart): its ticket must not be overwritten
            raise ProtocolError("call_exists", f"call {call_id} already has a ticket; start a new call without call_id")
        if self.live >= self.options.max_live_calls:
            raise ProtocolError("busy", "too many live calls on this server")
        if not call_id:
            call_id = datetime.now().strftime("call-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        call = LiveCall(self, call_id, principal, hello.sample_rate, hello.channels, encoding=hello.encoding,
                        source=hello.source, caller=hello.caller)
        self.calls[call_id] = call  # registered before the await so a racing duplicate hello resumes it
        try:
            if self.leases is not None:
                await self.leases.start_call(call_id, principal, hello)
            await call.start(hello.hotwords, hello.language)
        except ProtocolError:
            self.calls.pop(call_id, None)
            raise
        except Exception as exc:
            self.calls.pop(call_id, None)
            log.exception("opening call %s failed", call_id)
            if self.leases is not None:
                await self.leases.release(call_id)
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
