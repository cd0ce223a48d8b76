"""Leases on live calls (ticketing/leases.py): two or three "servers" on one database, each its
own CallLeases (and its own engine): a fresh lease is not taken, exactly one survivor claims an
orphan, the heartbeat is one UPDATE for all of a server's calls."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from ticketing import TicketStore
from ticketing.leases import CallLeases, LeaseHeld

LEASE_S, GRACE_S, T0 = 6.0, 30.0, 1_000_000.0


@pytest.fixture
def servers(store):
    """Three servers' lease handles, each on its own engine (as separate processes would be)."""
    stores = [store] + [TicketStore(store.url) for _ in range(2)]
    yield [CallLeases(s.engine, f"server-{n}", LEASE_S) for n, s in enumerate(stores)]
    for s in stores[1:]:
        s.close()


def _start(lease: CallLeases, call_id: str, now: float = T0) -> None:
    lease.start(call_id, operator="alice", sample_rate=16000, channels=1, now=now)


def test_a_fresh_lease_is_not_taken_over(servers):
    a, b, _ = servers
    _start(a, "c1")
    info = b.get("c1")
    assert info.server_id == "server-0" and info.operator == "alice" and not info.ended
    assert b.fresh(info, now=T0 + LEASE_S - 0.1)
    assert not b.take_over("c1", now=T0 + LEASE_S - 0.1)               # the holder is alive
    with pytest.raises(LeaseHeld) as held:                              # a new call with its id, elsewhere
        _start(b, "c1", now=T0 + 1)
    assert held.value.server_id == "server-0" and 0 < held.value.retry_after_s <= LEASE_S
    assert a.heartbeat(["c1"], now=T0 + 4) == 1                         # the holder's heartbeat
    assert not b.take_over("c1", now=T0 + 4 + LEASE_S - 0.1)
    assert b.take_over("c1", now=T0 + 4 + LEASE_S + 0.1)                # stale: the resumed-on server wins
    assert b.get("c1").server_id == "server-1"
    assert a.heartbeat(["c1"], now=T0 + 20) == 0                        # the old holder lost it


def test_exactly_one_of_two_takes_over(servers):
    a, b, c = servers
    _start(a, "c2")
    later = T0 + LEASE_S + 1
    assert [b.take_over("c2", now=later), c.take_over("c2", now=later)] == [True, False]


def test_same_server_id_after_a_restart_takes_back_at_once(servers, store):
    a, _, _ = servers
    _start(a, "c3")
    restarted = CallLeases(store.engine, "server-0", LEASE_S)           # HOTLINE_SERVER_ID kept
    assert restarted.take_over("c3", now=T0 + 0.5)


def test_exactly_one_survivor_claims_an_orphan(servers):
    a, b, c = servers
    _start(a, "c4")
    _start(a, "c5", now=T0 + 20)
    now = T0 + LEASE_S + GRACE_S + 1
    assert [o.call_id for o in b.orphans(GRACE_S, now=now)] == ["c4"]  # c5 is still in its grace time
    assert c.orphans(GRACE_S, now=now)[0].call_id == "c4"
    found = b.orphans(GRACE_S, now=now)[0]
    wins = [b.claim_orphan(found, GRACE_S, now=now), c.claim_orphan(found, GRACE_S, now=now)]
    assert wins == [True, False]
    assert b.orphans(GRACE_S, now=now) == []                            # claimed: its lease is fresh
    assert b.release("c4")
    info = c.get("c4")
    assert info.ended and info.lease_at is None
    assert [o.call_id for o in c.orphans(GRACE_S, now=now + 1000)] == ["c5"]   # the ended c4 is not
    assert not c.take_over("c4", now=now + 1000)                        # ended calls are not taken over


def test_survivors_racing_in_threads_claim_once(servers):
    a, b, c = servers
    for n in range(5):
        _start(a, f"race-{n}")
    now = T0 + LEASE_S + GRACE_S + 5
    won: dict[str, list[str]] = {}
    barrier = threading.Barrier(2)

    def survivor(lease: CallLeases) -> None:
        barrier.wait()
        for info in lease.orphans(GRACE_S, now=now):
            if lease.claim_orphan(info, GRACE_S, now=now):
                won.setdefault(info.call_id, []).append(lease.server_id)

    threads = [threading.Thread(target=survivor, args=(s,)) for s in (b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(won) == [f"race-{n}" for n in range(5)]
    assert all(len(v) == 1 for v in won.values()), won


def test_heartbeat_is_one_update_for_all_calls(servers):
    a, b, _ = servers
    for n in range(10):
        _start(a, f"hb-{n}")
    _start(b, "hb-other")
    statements: list[str] = []

    @sa.event.listens_for(a.engine, "before_cursor_execute")
    def count(conn, cursor, statement, *args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("UPDATE"):
            statements.append(statement)

    try:
        assert a.heartbeat([f"hb-{n}" for n in range(10)] + ["hb-other"], now=T0 + 3) == 10  # not b's call
    finally:
        sa.event.remove(a.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert a.get("hb-3").lease_at == T0 + 3 and b.get("hb-other").lease_at == T0
    assert a.heartbeat([]) == 0


def test_a_call_id_used_before_without_a_ticket_can_start_again(servers):
    a, b, _ = servers
    _start(a, "again")
    assert a.release("again") and a.get("again").ended
    _start(b, "again", now=T0 + 1)                                      # ended: free for a new call
    info = a.get("again")
    assert info.server_id == "server-1" and not info.ended
