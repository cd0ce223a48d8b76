"""The `/ws/call` websocket (docs/server.md, docs/integration/asterisk.md).

One socket carries one call. Its first text message says which dialect it speaks
(web/protocol.py): our hello, or Asterisk chan_websocket's MEDIA_START. After that, binary
frames are the call's audio and the call is a `web.live_call.LiveCall` like any other. A client of
our protocol receives partials, finals and drafts, ends the call with `{"type":"end"}` and may
reconnect; a PBX receives nothing (chan_websocket would read our text frames as commands) and
its socket closing is the hang-up.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import Executor
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from web.auth import Principal, TokenStore, websocket_token
from web.calls import CallRegistry
from web.live_call import LiveCall
from web.connection import Connection, NullConnection
from web.protocol import ProtocolError, asterisk_event, caller_info, error_message, parse_media_start

log = logging.getLogger("hotline.server.ws")

SUBPROTOCOLS = ("media",)  # chan_websocket offers `media`; browsers and our clients offer none


async def ws_call(ws: WebSocket, query_token: str | None, tokens: TokenStore, registry: CallRegistry,
                  executor: Executor | None) -> None:
    """Authenticate (`?token=` or `Authorization: Bearer`), accept, then serve the socket."""
    loop = asyncio.get_running_loop()
    token = websocket_token(ws.headers, query_token)
    who = await loop.run_in_executor(executor, tokens.verify, token)
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol=next((p for p in offered if p in SUBPROTOCOLS), None))
    if who is None:
        await ws.send_json(error_message("unauthorized", "a valid ?token= or Authorization: Bearer token is required"))
        await ws.close(code=4401)
        return
    await serve_socket(ws, who, registry)


def _query_caller(ws: WebSocket) -> dict[str, Any]:
    """Query parameters a PBX adds to the URL (chan_websocket's v(...)), token excepted."""
    params = {k: v for k, v in ws.query_params.items() if k != "token"}
    return caller_info(params) if params else {}


async def serve_socket(ws: WebSocket, principal: Principal, registry: CallRegistry) -> None:
    """Run one websocket connection of the call protocol until the client leaves."""
    opts = registry.options
    conn: Connection | NullConnection = Connection(ws, opts.max_pending_partials, registry.metrics)
    call: LiveCall | None = None
    refused = 0
    if not registry.socket_opened(principal):
        conn.send(error_message("too_many_connections", f"at most {opts.max_connections_per_token} open sockets per "
                                                        f"token (HOTLINE_WS_MAX_CONNECTIONS_PER_TOKEN)"))
        await conn.close(code=4429)
        return
    hello_by = time.monotonic() + opts.hello_timeout_s
    close_code: int | None = None
    try:
        while True:
            if call is None:  # a socket that never starts a call does not hold its slot for ever
                try:
                    message = await asyncio.wait_for(ws.receive(), max(0.001, hello_by - time.monotonic()))
                except asyncio.TimeoutError:
                    conn.send(error_message("hello_timeout", f"no call started within {opts.hello_timeout_s:g} s "
                                                             f"(HOTLINE_WS_HELLO_TIMEOUT_S)"))
                    close_code = 4408
                    break
            else:
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
                    if call.hangup_on_close and refused < 3:  # a PBX reads no replies: say it in the log
                        refused += 1
                        log.warning("call %s: %s", call.call_id, problem["message"])
                continue
            if text is None:
                continue
            if len(text) > opts.max_text_bytes:
                conn.send(error_message("too_large", f"text messages are limited to {opts.max_text_bytes} bytes"))
                continue
            if call is not None and call.hangup_on_close:
                log.debug("call %s: PBX event %s", call.call_id, text[:200])  # DTMF_END, MEDIA_XOFF ...
                continue
            event = asterisk_event(text)
            if event is not None and event.get("event") == "MEDIA_START" and call is None:
                try:
                    hello = parse_media_start(event, opts)
                    hello.caller = {**_query_caller(ws), **hello.caller}
                    pbx = NullConnection()
                    call = await registry.open(hello, principal, pbx)
                except ProtocolError as exc:  # a PBX reads no replies: the log says why, the close hangs up
                    log.warning("refused an Asterisk call: %s", exc.message)
                    conn.send(error_message(exc.code, exc.message))
                    await conn.close(code=4400)
                    return
                await conn.close(timeout=1.0)
                conn = pbx
                log.info("call %s: Asterisk chan_websocket (%s)", call.call_id, call.caller.get("format"))
                continue
            try:
                obj = json.loads(text)
            except ValueError:
                conn.send(error_message("bad_json", "text messages must be JSON objects"))
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
                conn.send(error_message("bad_message", 'a message needs a string "type" (or an Asterisk "event")'))
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
                conn.send({**error_message(exc.code, exc.message), **exc.extra})
    except WebSocketDisconnect:
        pass
    except Exception:  # never let one socket's bug reach the server
        log.exception("websocket handler failed")
    finally:
        registry.socket_closed(principal)
        if call is not None:
            call.detach(conn)
        await conn.close(code=close_code, timeout=2.0)
