"""Leases on live calls, so any `hotline serve` sharing the database can carry a call on.

A live call's `call` row names the server holding it (`server_id`, a uuid per process or
HOTLINE_SERVER_ID) and that server's last heartbeat (`lease_at`, epoch seconds). The holder
refreshes the heartbeat of all its live calls in one UPDATE per period; when the call ends,
`lease_at` goes back to NULL (and `ended_at` is set), so only live calls sit in its index.

- A lease is *fresh* for `lease_s` after its heartbeat: nobody else may take the call.
- A stale lease may be taken over by the server a client resumes on (`take_over`).
- A lease stale for `lease_s + grace_s` is an orphan: the client did not come back either;
  a surviving server claims it (`claim_orphan`) and finishes the call.

Every change is one conditional UPDATE, so of two servers trying at once exactly one wins
(the other's UPDATE matches no row). Epoch seconds come from each server's clock: the servers
need clocks within a fraction of `lease_s` of each other (NTP).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ticketing.clock import TZ, now_local
from ticketing.models import Call

CALL = Call.__table__
c = CALL.c


class LeaseHeld(Exception):
    """The call is live on another server whose lease is fresh."""

    def __init__(self, call_id: str, server_id: str | None, retry_after_s: float) -> None:
        super().__init__(f"call {call_id} is live on server {server_id}; its lease ends in {retry_after_s:.1f} s")
        self.call_id = call_id
        self.server_id = server_id
        self.retry_after_s = retry_after_s


@dataclass
class LeaseInfo:
    call_id: str
    server_id: str | None
    lease_at: float | None
    operator: str | None
    ended: bool
    sample_rate: int | None
    channels: int | None
    started_at: datetime | None  # aware (Asia/Shanghai)

    @classmethod
    def of(cls, row: Any) -> "LeaseInfo":
        started = row.started_at
        if isinstance(started, str):
            started = datetime.fromisoformat(started)
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=TZ)
        return cls(row.call_id, row.server_id, row.lease_at, row.operator, row.ended_at is not None,
                   row.sample_rate, row.channels, started)


class CallLeases:
    """The lease statements of one server (`server_id`) on one database engine."""

    def __init__(self, engine: sa.Engine, server_id: str, lease_s: float = 6.0) -> None:
        self.engine = engine
        self.server_id = server_id
        self.lease_s = float(lease_s)

    # -- reading -----------------------------------------------------------------------------
    def get(self, call_id: str) -> LeaseInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(c.call_id, c.server_id, c.lease_at, c.operator, c.ended_at, c.sample_rate,
                                         c.channels, c.started_at).where(c.call_id == call_id)).first()
        return LeaseInfo.of(row) if row is not None else None

    def fresh(self, info: LeaseInfo, now: float | None = None) -> bool:
        """Held by a live server (not ended, heartbeat younger than lease_s)."""
        now = time.time() if now is None else now
        return not info.ended and info.lease_at is not None and now - info.lease_at < self.lease_s

    def retry_after(self, info: LeaseInfo, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return max(0.0, (info.lease_at or now) + self.lease_s - now)

    def orphans(self, grace_s: float, now: float | None = None, limit: int = 20) -> list[LeaseInfo]:
        """Calls not ended whose holder has not been heard of for lease_s + grace_s (uses the
        lease_at index: ended calls have NULL there)."""
        now = time.time() if now is None else now
        cutoff = now - self.lease_s - grace_s
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.call_id, c.server_id, c.lease_at, c.operator, c.ended_at, c.sample_rate,
                                          c.channels, c.started_at)
                                .where(c.lease_at < cutoff, c.ended_at.is_(None))
                                .order_by(c.lease_at).limit(limit)).all()
        return [LeaseInfo.of(r) for r in rows]

    # -- writing (each one conditional UPDATE or one INSERT) ----------------------------------
    def start(self, call_id: str, *, operator: str | None, sample_rate: int, channels: int,
              now: float | None = None) -> None:
        """A new call on this server: its row, leased to us. LeaseHeld if it is live elsewhere."""
        now = time.time() if now is None else now
        values = dict(server_id=self.server_id, lease_at=now, operator=operator, sample_rate=sample_rate,
                      channels=channels)
        try:
            with self.engine.begin() as conn:
                conn.execute(CALL.insert().values(call_id=call_id, started_at=now_local(), **values))
            return
        except IntegrityError:
            pass  # the row exists: a call id used before (without a ticket), or live elsewhere
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(CALL).where(c.call_id == call_id, self._takeable(now, ended_ok=True))
                                .values(ended_at=None, **values)).rowcount
        if not done:
            info = self.get(call_id)
            raise LeaseHeld(call_id, info.server_id if info else None,
                            self.retry_after(info, now) if info else self.lease_s)

    def take_over(self, call_id: str, now: float | None = None) -> bool:
        """Lease a call that is not ended and whose holder is gone (stale lease, or this server
        id before a restart). False if its lease is fresh elsewhere or it ended meanwhile."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            return conn.execute(sa.update(CALL).where(c.call_id == call_id, c.ended_at.is_(None),
                                                      self._takeable(now))
                                .values(server_id=self.server_id, lease_at=now)).rowcount == 1

    def claim_orphan(self, info: LeaseInfo, grace_s: float, now: float | None = None) -> bool:
        """Claim an orphan to finish it: exactly one of several survivors gets True."""
        now = time.time() if now is None else now
        owner = c.server_id.is_(None) if info.server_id is None else c.server_id == info.server_id
        with self.engine.begin() as conn:
            return conn.execute(sa.update(CALL).where(c.call_id == info.call_id, c.ended_at.is_(None), owner,
                                                      c.lease_at < now - self.lease_s - grace_s)
                                .values(server_id=self.server_id, lease_at=now)).rowcount == 1

    def heartbeat(self, call_ids: Iterable[str], now: float | None = None) -> int:
        """Refresh the leases of this server's live calls: one UPDATE for all of them. Returns
        how many rows it refreshed (fewer than asked: a call was taken from us, or has no row)."""
        ids = sorted(set(call_ids))
        if not ids:
            return 0
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            return conn.execute(sa.update(CALL).where(c.call_id.in_(ids), c.server_id == self.server_id,
                                                      c.ended_at.is_(None))
                                .values(lease_at=now)).rowcount

    def release(self, call_id: str) -> bool:
        """The call ended here: no lease any more, ended_at set if the pipeline did not."""
        with self.engine.begin() as conn:
            return conn.execute(sa.update(CALL).where(c.call_id == call_id, c.server_id == self.server_id)
                                .values(lease_at=None, ended_at=sa.func.coalesce(c.ended_at, now_local()))
                                ).rowcount == 1

    def _takeable(self, now: float, *, ended_ok: bool = False) -> Any:
        cond = sa.or_(c.server_id == self.server_id, c.server_id.is_(None), c.lease_at.is_(None),
                      c.lease_at < now - self.lease_s)
        return sa.or_(cond, c.ended_at.is_not(None)) if ended_ok else cond
