"""A live call's writes to the ticket store, kept when the database is away (issue 16, fault 3).

`StoreWriter(store)` has the store's three call-time methods (`add_segment`, `upsert_draft`,
`end_call`). While the database answers, each write goes straight through and is committed
before the method returns (a final is on disk before the client is told of it). When a write
fails because the database cannot be reached (connection refused or dropped, SQLite locked
past its busy timeout), the call goes on: the write is queued, the log says so once, and a
background thread writes the queue in order as soon as the database is back. Later writes
queue behind it, so a call's segments and drafts reach the store in the order they were made;
a queued draft is replaced by a newer draft of the same call (it holds everything the older
one did). Errors that are not an outage (a bad draft) are raised as before.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import exc as sa_exc

log = logging.getLogger("hotline.ticketing.writer")

OUTAGE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def is_outage(error: BaseException) -> bool:
    """The database could not be reached (as opposed to refusing the data)."""
    if isinstance(error, OUTAGE_ERRORS):
        return True
    return isinstance(error, sa_exc.DBAPIError) and bool(getattr(error, "connection_invalidated", False))


def _short(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


class StoreWriter:
    def __init__(self, store: Any, *, retry_s: float = 1.0) -> None:
        self.store = store
        self.retry_s = retry_s
        self._queue: deque[tuple[str, str | None, tuple, dict]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None
        self.queued_total = 0
        self.outages = 0

    # -- the store's methods ----------------------------------------------------------------------
    def add_segment(self, call_id: str, segment: Any) -> None:
        self._write("add_segment", None, (call_id, segment), {})

    def upsert_draft(self, draft: dict, **kwargs: Any) -> int | None:
        return self._write("upsert_draft", f"draft:{draft.get('call_id')}", (draft,), kwargs)

    def end_call(self, call_id: str, call: dict) -> None:
        self._write("end_call", None, (call_id, call), {})

    # -- state ------------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def available(self) -> bool:
        return self._down_since is None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is written (True) or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while self._queue and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.05)
        return not self._queue

    # -- inside -----------------------------------------------------------------------------------
    def _write(self, method: str, key: str | None, args: tuple, kwargs: dict) -> Any:
        with self._lock:
            if self._queue:  # the database is (or was just) away: keep the order
                self._enqueue(method, key, args, kwargs)
                return None
        try:
            return getattr(self.store, method)(*args, **kwargs)
        except Exception as error:
            if not is_outage(error):
                raise
            with self._lock:
                self._enqueue(method, key, args, kwargs)
                self._went_down(error)
            return None

    def _enqueue(self, method: str, key: str | None, args: tuple, kwargs: dict) -> None:
        if key is not None:  # a newer draft of the same call replaces the queued one
            for i, item in enumerate(self._queue):
                if item[1] == key:
                    del self._queue[i]
                    break
        self._queue.append((method, key, args, kwargs))
        self.queued_total += 1
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._drain, name="hotline-store-retry", daemon=True)
            self._thread.start()
        self._wake.set()

    def _went_down(self, error: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self.outages += 1
            log.error("database unavailable (%s): calls go on, their segments and drafts are queued "
                      "(%d now) and written when it is back; retrying every %.0f s",
                      _short(error), len(self._queue), self.retry_s)

    def _drain(self) -> None:
        written, last_note = 0, time.monotonic()
        while True:
            with self._lock:
                if not self._queue:
                    if self._down_since is not None:
                        log.warning("database back: wrote the %d writes queued over the last %.1f s",
                                    written, time.monotonic() - self._down_since)
                        self._down_since = None
                    return
                method, key, args, kwargs = self._queue[0]
            try:
                getattr(self.store, method)(*args, **kwargs)
            except Exception as error:
                if is_outage(error):
                    with self._lock:
                        self._went_down(error)
                    if time.monotonic() - last_note > 30:
                        last_note = time.monotonic()
                        log.error("database still unavailable after %.0f s (%s): %d writes queued",
                                  time.monotonic() - (self._down_since or last_note), _short(error), len(self._queue))
                    self._wake.wait(self.retry_s)
                    self._wake.clear()
                    continue
                log.exception("a queued %s could not be written and is dropped", method)
            with self._lock:
                if self._queue and self._queue[0][:2] == (method, key) and self._queue[0][2] is args:
                    self._queue.popleft()
            written += 1
