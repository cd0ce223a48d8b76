"""Asterisk AudioSocket in: `hotline serve --audiosocket PORT` (docs/integration/asterisk.md).

AudioSocket is a TCP protocol: each message is a 3-byte header (kind, big-endian 16-bit payload
length) and the payload. Asterisk's `AudioSocket(uuid,host:port)` dialplan application sends

    0x01  the call's UUID (16 bytes), first
    0x10  audio: PCM16 mono 8 kHz (0x11-0x18: 12/16/24/32/44.1/48/96/192 kHz in newer Asterisk)
    0x03  a DTMF digit (ignored here)
    0x00  hang-up (the Asterisk observed here just closes the socket instead)
    0xff  an error (1 byte code)

Each connection is one call: the UUID is its call_id, the audio goes to a `web.live_call.LiveCall`
like any other front end's, and the connection closing (or 0x00, or 0xff from Asterisk) is the
hang-up: the call is ended and its final draft stored. Frames may have any length, odd ones
included (a sample split across frames is joined). What the server cannot take (no UUID first,
an unknown kind, a refused call) is answered with 0xff and the socket is closed, which makes
Asterisk hang up the channel. AudioSocket has no authentication: listen on the PBX's network only.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from web.auth import Principal
from web.calls import CallRegistry
from web.live_call import LiveCall
from web.connection import NullConnection
from web.protocol import CallHello, ProtocolError

log = logging.getLogger("hotline.server.audiosocket")

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_ERROR = 0xFF
AUDIO_RATES = {0x10: 8000, 0x11: 12000, 0x12: 16000, 0x13: 24000, 0x14: 32000, 0x15: 44100,
               0x16: 48000, 0x17: 96000, 0x18: 192000}
# the error codes of the AudioSocket spec (0xff payload)
ERROR_HANGUP, ERROR_FRAME, ERROR_MEMORY = 0x01, 0x02, 0x04

# calls from the PBX belong to this principal (AudioSocket carries no token)
PRINCIPAL = Principal(token_id=0, name="audiosocket", role="operator")


@dataclass
class AudioSocketOptions:
    host: str = "127.0.0.1"
    port: int = 9092
    first_message_timeout_s: float = 10.0  # the UUID must come this soon after connecting
    idle_timeout_s: float = 60.0  # Asterisk sends a frame every 20 ms, silence included


class AudioSocketError(Exception):
    """What the server refuses; answered with 0xff and a close."""

    def __init__(self, message: str, code: int = ERROR_FRAME) -> None:
        super().__init__(message)
        self.code = code


def message(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket message (for a client, or a test)."""
    return struct.pack(">BH", kind, len(payload)) + payload


async def read_message(reader: asyncio.StreamReader, timeout: float) -> tuple[int, bytes] | None:
    """(kind, payload), or None when the peer closed the socket."""
    try:
        header = await asyncio.wait_for(reader.readexactly(3), timeout)
        kind, length = struct.unpack(">BH", header)
        payload = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    except asyncio.IncompleteReadError:
        return None
    except ConnectionError:
        return None
    return kind, payload


class AudioSocketServer:
    """The TCP listener; one `_Connection` per accepted socket."""

    def __init__(self, registry: CallRegistry, options: AudioSocketOptions) -> None:
        self.registry = registry
        self.options = options
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None and self._server.sockets
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> "AudioSocketServer":
        self._server = await asyncio.start_server(self._accept, self.options.host, self.options.port)
        log.info("AudioSocket listening on %s:%d", self.options.host, self.port)
        return self

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and hang up open connections (their calls end and are stored)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=timeout)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await _Connection(self.registry, self.options, reader, writer).run()
        finally:
            self._connections.discard(task)


class _Connection:
    def __init__(self, registry: CallRegistry, options: AudioSocketOptions, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.registry = registry
        self.options = options
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.call_id: str | None = None
        self.call: LiveCall | None = None
        self.listener = NullConnection()  # the PBX reads nothing back but 0xff / 0x00
        self._odd = b""  # a byte of a sample split across two frames

    async def run(self) -> None:
        try:
            await self._serve()
        except AudioSocketError as exc:
            log.warning("AudioSocket %s (call %s): %s", self.peer, self.call_id, exc)
            await self._send(message(KIND_ERROR, bytes([exc.code])))
        except asyncio.CancelledError:  # server shutdown: tell Asterisk to hang up
            await self._send(message(KIND_HANGUP))
        except Exception:
            log.exception("AudioSocket %s: handler failed", self.peer)
            await self._send(message(KIND_ERROR, bytes([ERROR_FRAME])))
        finally:
            if self.call is not None:
                self.call.detach(self.listener)  # the hang-up: the call ends, its draft is stored
            try:
                self.writer.close()
            except Exception:
                pass

    async def _send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), 2.0)
        except Exception:
            pass

    async def _serve(self) -> None:
        first = await read_message(self.reader, self.options.first_message_timeout_s)
        if first is None:
            return
        kind, payload = first
        if kind != KIND_UUID or len(payload) != 16:
            raise AudioSocketError(f"the first message must be the call's UUID (kind 0x01, 16 bytes), "
                                   f"got kind 0x{kind:02x} of {len(payload)} bytes")
        self.call_id = str(uuid.UUID(bytes=payload))
        while True:
            got = await read_message(self.reader, self.options.idle_timeout_s)
            if got is None:
                return  # closed: Asterisk's usual hang-up
            kind, payload = got
            if kind == KIND_HANGUP:
                return
            if kind == KIND_ERROR:
                code = payload[0] if payload else 0
                log.warning("AudioSocket call %s: Asterisk reports error 0x%02x; ending the call", self.call_id, code)
                return
            if kind == KIND_DTMF or kind == KIND_UUID:
                continue
            rate = AUDIO_RATES.get(kind)
            if rate is None:
                raise AudioSocketError(f"unknown message kind 0x{kind:02x}")
            await self._audio(rate, payload)

    async def _audio(self, rate: int, payload: bytes) -> None:
        if self.call is None:
            await self._open(rate)
        assert self.call is not None
        if rate != self.call.sample_rate:
            raise AudioSocketError(f"audio changed from {self.call.sample_rate} to {rate} Hz within the call")
        data = self._odd + payload
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        for start in range(0, cut, self.call.max_frame_bytes):  # any frame length: long ones in pieces
            problem = self.call.feed(data[start:min(cut, start + self.call.max_frame_bytes)])
            if problem:
                raise AudioSocketError(f"{problem['code']}: {problem['message']}")

    async def _open(self, rate: int) -> None:
        caller = {"uuid": self.call_id}
        if self.peer:
            caller["peer"] = f"{self.peer[0]}:{self.peer[1]}"
        hello = CallHello(sample_rate=rate, channels=1, call_id=self.call_id, source="audiosocket", caller=caller)
        opts = self.registry.options
        if not opts.min_sample_rate <= rate <= opts.max_sample_rate:
            raise AudioSocketError(f"{rate} Hz audio is outside {opts.min_sample_rate}-{opts.max_sample_rate} Hz")
        try:
            self.call = await self.registry.open(hello, PRINCIPAL, self.listener)
        except ProtocolError as exc:
            raise AudioSocketError(f"call refused: {exc.code}: {exc.message}") from exc
        log.info("call %s: AudioSocket from %s, %d Hz", self.call_id, self.peer, rate)


def serve_alongside(app: Any, options: AudioSocketOptions) -> None:
    """Run an AudioSocket listener for the app's calls for as long as the app runs (its lifespan)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any):
        async with inner(app_) as state:
            server = await AudioSocketServer(app_.state.registry, options).start()
            app_.state.audiosocket = server
            try:
                yield state
            finally:
                await server.stop()

    app.router.lifespan_context = lifespan
