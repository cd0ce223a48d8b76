"""Stateless front ends (docs/scale.md): several `hotline serve` on one database carry each
other's calls.

`LeaseKeeper` is this server's side of ticketing/leases.py:

- every new call is leased to this server (`start`), released when it ends;
- a heartbeat every lease_s / 3 refreshes the leases of all live calls here (one UPDATE);
- a resume hello for a call this server does not hold, whose stored call is not ended and
  whose holder is gone, *takes the call over* (`take_over`): a new live call under the same
  call_id that continues from the stored finals (ids after theirs, the draft keeps them), the
  stored finals after resume_from and the latest draft sent once, then the audio the client
  re-sends from `audio_from` (the end of the last stored final). While the holder's lease is
  fresh the answer is the error `call_elsewhere` with `retry_after_s`;
- every lease_s it looks for orphans (lease stale for lease_s + grace) and finishes them with
  the pipeline's own hang-up path (`CallSession.end` on the stored finals): final draft stored,
  call ended; one conditional UPDATE claims each, so one survivor does it.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ticketing.leases import CallLeases, LeaseHeld, LeaseInfo
from web.protocol import CallHello, ProtocolError

if TYPE_CHECKING:
    from web.auth import Principal
    from web.calls import CallRegistry
    from web.live_call import LiveCall
    from web.connection import Connection, NullConnection

log = logging.getLogger("hotline.server.leases")


def server_id() -> str:
    """HOTLINE_SERVER_ID (stable across restarts: a restarted server takes its calls back at
    once), else a new uuid per process."""
    return os.environ.get("HOTLINE_SERVER_ID") or uuid.uuid4().hex


def call_elsewhere(exc: LeaseHeld) -> ProtocolError:
    err = ProtocolError("call_elsewhere", f"call {exc.call_id} is live on another server; reconnect there, or "
                                          f"retry in {exc.retry_after_s:.1f} s (once its lease ends)")
    err.extra = {"retry_after_s": round(exc.retry_after_s + 0.5, 1)}
    return err


class LeaseKeeper:
    def __init__(self, leases: CallLeases, registry: "CallRegistry", stored: Callable[[str], dict[str, Any]]) -> None:
        """stored(call_id) -> {"ticket_id", "draft", "segments"} from the store (no ticket: None, {}, [])."""
        self.leases = leases
        self.registry = registry
        self.stored = stored
        self.grace_s = registry.options.grace_s
        self._task: asyncio.Task | None = None
        self._healthy_since = time.monotonic()
        self.taken_over = 0
        self.orphans_finished = 0

    @property
    def server_id(self) -> str:
        return self.leases.server_id

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.registry.executor, fn, *args)

    # -- calls of this server --------------------------------------------------------------------
    async def start_call(self, call_id: str, principal: "Principal", hello: CallHello) -> None:
        try:
            await self._run(lambda: self.leases.start(call_id, operator=principal.name,
                                                      sample_rate=hello.sample_rate, channels=hello.channels))
        except LeaseHeld as exc:
            raise call_elsewhere(exc) from None
        except Exception:  # the database is away: the call goes on (its writes queue), unleased
            self._unhealthy("leasing call %s", call_id)

    async def release(self, call_id: str) -> None:
        try:
            await self._run(self.leases.release, call_id)
        except Exception:
            self._unhealthy("releasing call %s", call_id)

    # -- takeover --------------------------------------------------------------------------------
    def can_resume(self, pipeline: Any) -> bool:
        try:
            return "resume" in inspect.signature(pipeline.open_call).parameters
        except (TypeError, ValueError):
            return False

    async def take_over(self, hello: CallHello, principal: "Principal",
                        conn: "Connection | NullConnection") -> "LiveCall | None":
        """Adopt a call whose server is gone; None when there is nothing to adopt (no such call,
        or it ended: the caller answers from the store as before)."""
        from pipeline import CallResume
        from web.live_call import LiveCall

        call_id = hello.call_id
        assert call_id and hello.resume_from is not None
        info: LeaseInfo | None = await self._run(self.leases.get, call_id)
        if info is None or info.ended:
            return None
        if info.operator and info.operator != principal.name and not principal.is_admin:
            raise ProtocolError("forbidden", "this call belongs to another operator")
        if info.sample_rate and (info.sample_rate, info.channels or 1) != (hello.sample_rate, hello.channels):
            raise ProtocolError("bad_hello", f"call {call_id} streams {info.sample_rate} Hz x {info.channels}; "
                                             f"resume with the same format")
        stored = await self._run(self.stored, call_id)
        if (stored.get("draft") or {}).get("final"):
            return None  # finished, only its row was not marked: answered from the store
        pipeline = await self.registry.get_pipeline()
        if not self.can_resume(pipeline):
            return None
        if not await self._run(self.leases.take_over, call_id):
            again = await self._run(self.leases.get, call_id)
            if again is None or again.ended:
                return None
            raise call_elsewhere(LeaseHeld(call_id, again.server_id, self.leases.retry_after(again)))
        resume = CallResume.from_stored(stored, started_at=info.started_at)
        segments = resume.segments
        call = LiveCall(self.registry, call_id, principal, hello.sample_rate, hello.channels)
        call.finals = [{"type": "final", **s} for s in segments]
        call._final_ids = {s["id"] for s in segments}
        call.ticket_id = stored.get("ticket_id")
        call.ready_extra = {"taken_over": True, "audio_from": round(resume.audio_from, 2)}
        self.registry.calls[call_id] = call
        try:
            await call.start(hello.hotwords, hello.language, resume=resume)
        except Exception as exc:
            self.registry.calls.pop(call_id, None)
            log.exception("taking over call %s failed", call_id)
            raise ProtocolError("internal", f"could not take the call over: {exc}") from exc
        draft = getattr(call.session, "draft", None) or stored.get("draft")
        if draft:
            call.last_draft = call._with_ticket_id({"type": "draft", "final": False, "ticket": draft})
        call.attach(conn, hello.resume_from)
        self.taken_over += 1
        log.info("call %s: taken over from server %s (%d stored finals, audio from %.2f s)", call_id,
                 info.server_id, len(segments), resume.audio_from)
        return call

    # -- the periodic work -----------------------------------------------------------------------
    def start(self) -> asyncio.Task:
        self._task = asyncio.create_task(self._loop())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _loop(self) -> None:
        period = self.leases.lease_s / 3
        next_scan = time.monotonic() + self.leases.lease_s * random.uniform(0.5, 1.0)
        while True:
            await asyncio.sleep(period)
            await self.beat()
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self.leases.lease_s
                await self.finish_orphans()

    async def beat(self) -> None:
        ids = [call.call_id for call in list(self.registry.calls.values()) if not call.ended]
        if not ids:
            return
        try:
            await self._run(self.leases.heartbeat, ids)
        except Exception:
            self._unhealthy("heartbeat of %d calls", len(ids))

    async def finish_orphans(self) -> int:
        """Claim and finish calls whose server is gone; how many this server finished. Skipped
        until the database has answered for lease_s + grace (after an outage every lease looks
        stale, their holders included)."""
        if time.monotonic() - self._healthy_since < self.leases.lease_s + self.grace_s:
            return 0
        try:
            found = await self._run(self.leases.orphans, self.grace_s)
        except Exception:
            self._unhealthy("looking for orphaned calls")
            return 0
        done = 0
        for info in found:
            if info.call_id in self.registry.calls:
                continue  # ours (e.g. ending): the heartbeat covers it
            try:
                if not await self._run(self.leases.claim_orphan, info, self.grace_s):
                    continue  # another survivor was first
                await self._run(self.finish_orphan, info)
                done += 1
            except Exception:
                log.exception("finishing orphaned call %s failed (another server retries after its lease)",
                              info.call_id)
        self.orphans_finished += done
        return done

    def finish_orphan(self, info: LeaseInfo) -> None:
        """(worker thread) The hang-up of a call whose server died and whose client did not come
        back: the pipeline's own end() on the stored finals stores the final draft and ends it."""
        from pipeline import CallResume

        pipeline = self.registry._get_pipeline()
        if not self.can_resume(pipeline):
            log.warning("call %s is orphaned but this pipeline cannot finish it", info.call_id)
            return
        stored = self.stored(info.call_id)
        resume = CallResume.from_stored(stored, started_at=info.started_at, interrupted=True)
        session = pipeline.open_call(call_id=info.call_id, sample_rate=info.sample_rate or 16000,
                                     channels=info.channels or 1, on_event=None, adapt_hotwords=False,
                                     resume=resume)
        session.end()
        self.leases.release(info.call_id)
        log.info("call %s: its server %s is gone and its client did not come back; finished here "
                 "(%d stored finals, final draft stored)", info.call_id, info.server_id, len(resume.segments))

    def _unhealthy(self, what: str, *args: Any) -> None:
        self._healthy_since = time.monotonic()
        log.warning("lease database work failed: " + what, *args, exc_info=True)


def attach_leases(registry: "CallRegistry", store: Any, stored: Callable[[str], dict[str, Any]]) -> LeaseKeeper | None:
    """A LeaseKeeper for this registry when the store is a database (TicketStore); None otherwise."""
    engine = getattr(store, "engine", None)
    if engine is None:
        return None
    keeper = LeaseKeeper(CallLeases(engine, server_id(), registry.options.lease_s), registry, stored)
    registry.leases = keeper
    return keeper
