"""A websocket client of the call protocol that records what it receives, and the checks of
what was lost or repeated."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

# -- the client -------------------------------------------------------------------------------------

@dataclass
class CallRecord:
    """What one websocket client saw."""

    call_id: str
    ready: list[dict] = field(default_factory=list)
    finals: list[dict] = field(default_factory=list)
    drafts: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    final_draft: dict | None = None
    final_draft_at: float | None = None

    def texts(self) -> dict[int, str]:
        return {m["id"]: m["text"] for m in self.finals if m.get("text")}

    def duplicates(self) -> int:
        ids = [m["id"] for m in self.finals]
        return len(ids) - len(set(ids))


class WsCall:
    """One socket of the call protocol (asyncio, websockets)."""

    def __init__(self, url: str, call_id: str, record: CallRecord | None = None) -> None:
        self.url = url
        self.call_id = call_id
        self.record = record or CallRecord(call_id)
        self.ws: Any = None
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()

    async def open(self, sample_rate: int = 16000, channels: int = 1, resume_from: int | None = None,
                   timeout: float = 60.0) -> dict:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=30, ping_interval=None)
        hello: dict[str, Any] = {"type": "hello", "call_id": self.call_id, "sample_rate": sample_rate,
                                 "channels": channels}
        if resume_from is not None:
            hello["resume_from"] = resume_from
        await self.ws.send(json.dumps(hello))
        n = len(self.record.ready) + len(self.record.errors)
        self._reader = asyncio.create_task(self._read())
        await self.wait(lambda r: len(r.ready) + len(r.errors) > n, timeout)
        return (self.record.ready or self.record.errors)[-1]

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    continue
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "ready":
                    self.record.ready.append(msg)
                elif kind == "final":
                    self.record.finals.append(msg)
                elif kind == "draft":
                    if msg.get("final"):
                        self.record.final_draft, self.record.final_draft_at = msg, time.perf_counter()
                    else:
                        self.record.drafts.append(msg)
                elif kind == "error":
                    self.record.errors.append(msg)
        except Exception:  # noqa: BLE001 - the socket went away; the record says what arrived
            pass
        finally:
            self.closed.set()

    async def wait(self, pred, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not pred(self.record):
            if time.monotonic() > deadline or (self.closed.is_set() and not pred(self.record)):
                return pred(self.record)
            await asyncio.sleep(0.05)
        return True

    async def stream(self, pcm: bytes, *, speed: float = 1.0, frame_ms: int = 100, sample_rate: int = 16000,
                     start: int = 0, stop: int | None = None) -> int:
        """Send pcm[start:stop] in frames, `speed` x real time (0: as fast as the socket takes it)."""
        frame = int(sample_rate * frame_ms / 1000) * 2
        stop = len(pcm) if stop is None else stop
        t0 = time.perf_counter()
        sent = start
        for i, off in enumerate(range(start, stop, frame)):
            await self.ws.send(pcm[off:min(off + frame, stop)])
            sent = min(off + frame, stop)
            if speed > 0:
                delay = t0 + (i + 1) * frame_ms / 1000 / speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif i % 50 == 0:
                await asyncio.sleep(0)
        return sent

    async def end(self, timeout: float = 180.0) -> float | None:
        """Hang up; seconds from `end` to the final draft (None if it did not come)."""
        hung_up = time.perf_counter()
        await self.ws.send(json.dumps({"type": "end"}))
        await self.wait(lambda r: r.final_draft is not None, timeout)
        return None if self.record.final_draft_at is None else self.record.final_draft_at - hung_up

    def vanish(self) -> None:
        """Drop the TCP connection: no `end`, no close handshake."""
        transport = getattr(self.ws, "transport", None)
        if transport is not None:
            transport.abort()
        if self._reader is not None:
            self._reader.cancel()

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except Exception:  # noqa: BLE001
                pass
        if self._reader is not None:
            self._reader.cancel()


def lost_and_duplicated(received: dict[int, str], stored: list[dict]) -> tuple[list[int], list[int]]:
    """Finals the client got that the store lacks (or holds with other text), and stored ids twice."""
    by_id: dict[int, list[str]] = {}
    for s in stored:
        by_id.setdefault(int(s["id"]), []).append(s.get("text") or "")
    lost = [i for i, text in received.items() if text not in by_id.get(i, [])]
    dup = [i for i, texts in by_id.items() if len(texts) > 1]
    return lost, dup


def draft_lost(received: dict[int, str], draft: dict | None) -> list[int]:
    """Finals the client got that a draft's segments do not hold."""
    segs = {int(s.get("id", -1)): s.get("text") for s in ((draft or {}).get("segments") or [])}
    return [i for i, text in received.items() if segs.get(i) != text]
