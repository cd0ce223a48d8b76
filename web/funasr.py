"""`/ws/funasr`: the FunASR runtime websocket protocol in front of the same calls as `/ws/call`
(docs/integration/funasr.md has the message mapping).

A FunASR client (funasr_wss_client.py, PyPI `funasr-client`, the FunASR SDKs of call-centre
products) opens a socket, sends its first message

    {"mode": "2pass", "wav_name": "...", "is_speaking": true, "wav_format": "pcm",
     "chunk_size": [5, 10, 5], "audio_fs": 8000, "hotwords": "{\"词\": 20}", "itn": true}

then binary PCM16 and finally `{"is_speaking": false}`. Here that socket drives a
`web.live_call.LiveCall` like any other front end, and the call's events come back in FunASR form:
partials as `2pass-online` (or `online`) text increments, finals as `2pass-offline` (or
`offline`) sentences with timestamps, then the draft ticket as an extra message of mode
`hotline-draft` (FunASR clients ignore modes they do not know) and last the `is_final: true`
message that tells a FunASR client recognition is over. The draft is stored as for every call.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from web.auth import Principal, TokenStore, websocket_token
from web.calls import CallOptions, CallRegistry
from web.live_call import LiveCall
from web.connection import Connection
from web.protocol import CALL_ID_RE, CallHello, ProtocolError

log = logging.getLogger("hotline.server.funasr")

# mode -> (mode of partial increments, mode of finals). "online" gets no increments: FunASR's online
# text can never be corrected, and ours are hypotheses that change; each final is its increment.
MODES = {"2pass": ("2pass-online", "2pass-offline"), "online": (None, "online"), "offline": (None, "offline")}
DRAFT_MODE = "hotline-draft"
ERROR_MODE = "hotline-error"
SUBPROTOCOLS = ("binary",)  # what funasr_wss_client and funasr-client offer
FRAME_MS = 200  # binary messages of any size are fed in pieces of at most this much audio
_PUNCT = set("，。？！、；：,.?!;:…")
_SENTENCE_END = set("。？！?!.；;")
_TOKEN = re.compile(r"[A-Za-z0-9']+|[^\sA-Za-z0-9']")


# -- the first message -------------------------------------------------------------------------

@dataclass
class FunasrInit:
    mode: str = "2pass"
    wav_name: str = "wav-default-id"
    wav_format: str = "pcm"
    audio_fs: int = 16000
    hotwords: list[str] = field(default_factory=list)
    call_id: str | None = None  # extension: our call id (default: a new one per stream)


def parse_hotwords(value: Any, limit: int) -> list[str]:
    """FunASR hotwords: a JSON object string `{"词": weight}` (weights are not used: our decoder
    takes hotwords as a prompt) or, from older clients, words separated by spaces."""
    if value in (None, ""):
        return []
    if isinstance(value, dict):
        words = list(value)
    elif isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        words = list(parsed) if isinstance(parsed, dict) else value.split()
    else:
        raise ProtocolError("bad_hello", "hotwords must be a JSON object string such as {\"词\": 20}")
    words = [w.strip() for w in words if isinstance(w, str) and w.strip()]
    if any(len(w) > 32 for w in words):
        raise ProtocolError("bad_hello", "a hotword is longer than 32 characters")
    return list(dict.fromkeys(words))[:limit]


def parse_init(obj: dict[str, Any], opts: CallOptions) -> FunasrInit:
    mode = obj.get("mode", "2pass")
    if mode not in MODES:
        raise ProtocolError("bad_hello", f"mode must be one of {', '.join(MODES)}")
    wav_format = str(obj.get("wav_format") or "pcm").lower()
    if wav_format not in ("pcm", "wav"):
        raise ProtocolError("bad_hello", f"wav_format {wav_format!r} is not supported: send 16-bit PCM (pcm)")
    rate = obj.get("audio_fs", 16000)
    if not isinstance(rate, int) or isinstance(rate, bool) or not opts.min_sample_rate <= rate <= opts.max_sample_rate:
        raise ProtocolError("bad_hello", f"audio_fs must be an integer from {opts.min_sample_rate} to {opts.max_sample_rate}")
    call_id = obj.get("call_id")
    if call_id is not None and (not isinstance(call_id, str) or not CALL_ID_RE.match(call_id)):
        raise ProtocolError("bad_hello", "call_id must be 1-64 characters of letters, digits, . _ : -")
    wav_name = obj.get("wav_name")
    wav_name = wav_name[:128] if isinstance(wav_name, str) and wav_name else "wav-default-id"
    return FunasrInit(mode=mode, wav_name=wav_name, wav_format=wav_format, audio_fs=rate,
                      hotwords=parse_hotwords(obj.get("hotwords"), opts.max_hotwords), call_id=call_id)


def call_hello(init: FunasrInit) -> CallHello:
    call_id = init.call_id or datetime.now().strftime("funasr-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    return CallHello(sample_rate=init.audio_fs, channels=1, call_id=call_id, hotwords=init.hotwords,
                     source="funasr", caller={"wav_name": init.wav_name, "mode": init.mode})


# -- our events -> FunASR replies ----------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    """FunASR's timestamp units: one per Chinese character or Latin word, punctuation excluded."""
    return [t for t in _TOKEN.findall(text) if t not in _PUNCT]


def timestamps(text: str, start_s: float, end_s: float) -> tuple[list[list[int]], list[dict[str, Any]]]:
    """Per-token [start, end] ms and FunASR's stamp_sents for a final segment. Whisper times the
    segment only, so the tokens share its span evenly (docs/integration/funasr.md)."""
    toks = _tokens(text)
    start, end = int(round(start_s * 1000)), int(round(end_s * 1000))
    step = (end - start) / max(1, len(toks))
    ts = [[int(start + i * step), int(start + (i + 1) * step)] for i in range(len(toks))]
    sents: list[dict[str, Any]] = []
    words: list[str] = []
    spans: list[list[int]] = []
    i = 0
    for piece in _TOKEN.findall(text):
        if piece in _PUNCT:
            if words and (piece in _SENTENCE_END or piece in "，,、"):
                sents.append({"text_seg": " ".join(words), "punc": piece, "start": spans[0][0],
                              "end": spans[-1][1], "ts_list": spans})
                words, spans = [], []
            continue
        words.append(piece)
        spans.append(ts[i])
        i += 1
    if words:
        sents.append({"text_seg": " ".join(words), "punc": "", "start": spans[0][0], "end": spans[-1][1],
                      "ts_list": spans})
    return ts, sents


class FunasrReplies:
    """Turns one call's messages (web/live_call.py shapes) into FunASR replies.

    FunASR's online text is append-only (clients concatenate it and drop it at the next offline
    sentence), while our partials are whole hypotheses that may change. A hypothesis that extends
    what was sent goes out as the increment; one that revises it sends nothing (no retraction in
    FunASR): the utterance's offline sentence replaces the online text in the client.
    """

    def __init__(self, init: FunasrInit) -> None:
        self.init = init
        self.online_mode, self.offline_mode = MODES[init.mode]
        self._sent: dict[Any, str] = {}  # utterance id -> online text sent so far
        self.finished = False

    def _msg(self, mode: str, text: str, is_final: bool = False, **extra: Any) -> dict[str, Any]:
        return {"mode": mode, "wav_name": self.init.wav_name, "text": text, "is_final": is_final, **extra}

    def translate(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        kind = message.get("type")
        if kind == "partial":
            return self._partial(message)
        if kind == "final":
            return self._final(message)
        if kind == "draft" and message.get("final"):
            return [self.draft(message)]
        if kind == "error":
            return [self.error(message.get("code", "error"), message.get("message", ""))]
        return []  # ready, ticket, interim drafts: nothing a FunASR client knows

    def _partial(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        if self.online_mode is None:
            return []
        seg, text = message.get("id"), message.get("text") or ""
        sent = self._sent.get(seg, "")
        if len(text) <= len(sent) or not text.startswith(sent):
            return []  # a revision: FunASR has no retraction; the offline sentence will replace it
        self._sent[seg] = text
        return [self._msg(self.online_mode, text[len(sent):])]

    def _final(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        seg, text = message.get("id"), message.get("text") or ""
        self._sent.pop(seg, None)
        if not text:
            return []
        if self.init.mode == "online":  # append-only text, no timestamps (as FunASR's online results)
            return [self._msg("online", text)]
        ts, sents = timestamps(text, float(message.get("start") or 0.0), float(message.get("end") or 0.0))
        return [self._msg(self.offline_mode, text, timestamp=json.dumps(ts), stamp_sents=sents)]

    def draft(self, message: dict[str, Any]) -> dict[str, Any]:
        ticket = message.get("ticket") or {}
        return self._msg(DRAFT_MODE, "", draft=ticket, ticket_id=message.get("ticket_id"),
                         call_id=ticket.get("call_id"))

    def error(self, code: str, text: str, is_final: bool = False) -> dict[str, Any]:
        return self._msg(ERROR_MODE, "", is_final, code=code, message=text)

    def end(self) -> dict[str, Any]:
        """The last message: FunASR clients stop reading at `is_final: true`."""
        self.finished = True
        return self._msg(self.offline_mode, "", True)


class FunasrConnection(Connection):
    """A `Connection` that speaks FunASR: every message the call sends is translated first."""

    def __init__(self, ws: WebSocket, replies: FunasrReplies) -> None:
        super().__init__(ws)  # replies carry no "type": nothing is coalesced or dropped (increments add up)
        self.replies = replies

    def send(self, message: dict[str, Any]) -> None:
        if "type" not in message:  # already a FunASR reply
            super().send(message)
            return
        for reply in self.replies.translate(message):
            super().send(reply)


# -- audio in ---------------------------------------------------------------------------------

class PcmChunker:
    """Binary messages of any length -> whole PCM16 frames of at most FRAME_MS (a WAV header,
    if the client sends one with wav_format "wav", is skipped)."""

    def __init__(self, sample_rate: int, wav: bool) -> None:
        self.max_bytes = int(sample_rate * FRAME_MS / 1000) * 2
        self._rest = b""
        self._header = wav

    def split(self, data: bytes) -> list[bytes]:
        data = self._rest + data
        if self._header:
            if len(data) < 12 and b"RIFF".startswith(data[:4]):
                self._rest = data
                return []
            body = _wav_data(data)
            if body is None:
                self._rest = data if len(data) < 1 << 16 else b""
                return []
            self._header, data = False, body
        whole = len(data) - len(data) % 2
        data, self._rest = data[:whole], data[whole:]
        return [data[i:i + self.max_bytes] for i in range(0, whole, self.max_bytes)]


def _wav_data(data: bytes) -> bytes | None:
    """The bytes after a RIFF/WAVE header's `data` chunk id; the data itself if it is no WAV;
    None while the header is incomplete."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"data":
            return data[pos + 8:]
        pos += 8 + size + (size & 1)
    return None


# -- the socket -------------------------------------------------------------------------------

async def ws_funasr(ws: WebSocket, query_token: str | None, tokens: TokenStore, registry: CallRegistry,
                    executor: Executor | None) -> None:
    """Authenticate (`?token=` or `Authorization: Bearer`, as /ws/call), accept, serve."""
    loop = asyncio.get_running_loop()
    who = await loop.run_in_executor(executor, tokens.verify, websocket_token(ws.headers, query_token))
    offered = ws.scope.get("subprotocols") or []
    await ws.accept(subprotocol=next((p for p in offered if p in SUBPROTOCOLS), None))
    if who is None:
        await ws.send_text(json.dumps(FunasrReplies(FunasrInit()).error(
            "unauthorized", "a valid ?token= or Authorization: Bearer token is required", is_final=True)))
        await ws.close(code=4401)
        return
    await serve_funasr(ws, who, registry)


class _Stream:
    """One FunASR stream (init message to is_final) on a socket: its call and its audio."""

    def __init__(self, call: LiveCall, chunker: PcmChunker) -> None:
        self.call, self.chunker = call, chunker
        self.closing: asyncio.Task | None = None

    def feed(self, data: bytes, conn: "FunasrConnection") -> None:
        for frame in self.chunker.split(data):
            problem = self.call.feed(frame)
            if problem:
                conn.send(problem)
                return

    def end(self, conn: "FunasrConnection") -> asyncio.Task:
        """is_speaking false: hang up; the last finals, the final draft and the is_final message follow."""
        if self.closing is None:
            replies = conn.replies

            async def close() -> None:
                await self.call.finish()  # queues the remaining finals and the final draft to conn
                conn.send(replies.end())

            self.closing = asyncio.create_task(close())
        return self.closing


async def serve_funasr(ws: WebSocket, principal: Principal, registry: CallRegistry) -> None:
    """Run one FunASR socket: streams one after another, each a call, until the client leaves."""
    opts = registry.options
    conn = FunasrConnection(ws, FunasrReplies(FunasrInit()))
    stream: _Stream | None = None
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text, data = message.get("text"), message.get("bytes")
            if data is not None:
                if stream is not None and stream.closing is None:
                    stream.feed(data, conn)
                continue  # audio outside a stream is ignored, as FunASR servers do
            if text is None:
                continue
            try:
                obj = json.loads(text) if len(text) <= opts.max_text_bytes else None
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                conn.send(conn.replies.error("bad_message", "text messages must be JSON objects of the FunASR protocol"))
                continue
            speaking = obj.get("is_speaking", True)
            if stream is not None and stream.closing is None:
                if speaking is False:
                    stream.end(conn)
                elif obj.get("hotwords"):  # hotwords may be updated mid-stream
                    try:
                        stream.call.set_hotwords(parse_hotwords(obj["hotwords"], opts.max_hotwords))
                    except ProtocolError as exc:
                        conn.send(conn.replies.error(exc.code, str(exc)))
                continue
            if speaking is False:
                continue  # nothing to end
            if stream is not None:  # a new stream on the same socket once the last one is over
                await stream.closing
                stream.call.detach(conn)
                stream = None
            try:
                init = parse_init(obj, opts)
                conn.replies = FunasrReplies(init)
                call = await registry.open(call_hello(init), principal, conn)
            except ProtocolError as exc:
                conn.send(conn.replies.error(exc.code, str(exc), is_final=True))
                await conn.close(code=4400)
                return
            stream = _Stream(call, PcmChunker(init.audio_fs, init.wav_format == "wav"))
            log.info("call %s: FunASR %s stream %r, %d Hz, %d hotwords", call.call_id, init.mode,
                     init.wav_name, init.audio_fs, len(init.hotwords))
    except WebSocketDisconnect:
        pass
    except Exception:  # never let one socket's bug reach the server
        log.exception("FunASR websocket handler failed")
    finally:
        if stream is not None:
            stream.call.detach(conn)  # the socket closing is the hang-up (a "funasr" call ends on close)
        await conn.close(timeout=2.0)
