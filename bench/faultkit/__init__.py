"""Fault suite (issue 16): each fault runs against a real `hotline serve` subprocess and returns a
Result; bench/faults.py prints them, tests/server/test_faults_*.py run the cheap ones."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.faultkit.harness import CALLS, Backend, Server


@dataclass
class Result:
    fault: int
    name: str
    backend: str
    survived: bool = True
    lost_finals: int = 0
    duplicated_finals: int = 0
    rss_growth_mib: float = 0.0
    errors: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str | None = None

    def error(self, message: str) -> None:
        self.errors.append(message)

    def skip(self, reason: str) -> None:
        self.skipped = reason

    def finish(self) -> "Result":
        self.survived = self.skipped is not None or (not self.errors and self.lost_finals == 0
                                                     and self.duplicated_finals == 0)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "name": self.name, "backend": self.backend, "survived": self.survived,
                "lost_finals": self.lost_finals, "duplicated_finals": self.duplicated_finals,
                "rss_growth_mib": round(self.rss_growth_mib, 1), "errors": self.errors, "seconds": round(self.seconds, 1),
                **({"skipped": self.skipped} if self.skipped else {}), **self.figures}


@dataclass
class Context:
    """One backend's running server, its tokens and the bench's own store handle."""

    backend: Backend
    server: Server
    tokens: dict[str, str]
    work: Path
    speed: float = 4.0  # how fast calls are fed where real time is not the point
    calls_dir: Path = CALLS
    _store: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            self._store = self.backend.store()
        return self._store

    def ws_url(self, token: str | None = None) -> str:
        return self.server.ws_url(token or self.tokens["operator"])

    def result(self, fault: int, name: str) -> Result:
        return Result(fault, name, self.backend.name)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


async def run_fault(ctx: Context, fn: Any, **kwargs: Any) -> Result:
    """Run one fault, time it, and note the server's RSS growth; an exception is a failed fault."""
    started = time.monotonic()
    rss0 = ctx.server.rss_mib()
    try:
        res = await fn(ctx, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the report says what broke
        import traceback

        res = ctx.result(getattr(fn, "fault_no", 0), fn.__name__)
        res.error(f"{type(exc).__name__}: {exc}")
        res.figures["traceback"] = traceback.format_exc(limit=4)
    if not ctx.server.alive:
        res.error("the server process died")
    res.rss_growth_mib = max(0.0, ctx.server.rss_mib() - rss0) if ctx.server.alive else 0.0
    res.seconds = time.monotonic() - started
    return res.finish()
