"""One websocket's outgoing side (docs/server.md): JSON text messages queued per socket.

`Connection` drains its queue in its own writer task so a slow client only slows itself;
`NullConnection` is the listener of calls whose socket must not receive our messages
(a PBX: chan_websocket reads text frames as its own commands).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import deque
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket

from web.metrics import Metrics


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


class NullConnection:
    """A listener that drops every message (the call's results still reach the store)."""

    closed = False
    dropped_partials = 0

    def send(self, message: dict[str, Any]) -> None:
        pass

    async def close(self, code: int | None = None, timeout: float = 5.0) -> None:
        self.closed = True
