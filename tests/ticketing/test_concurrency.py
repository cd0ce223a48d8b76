"""Two operators acting on one ticket at once (issue 16, fault 9): one wins, the other gets a
conflict, and the event log records only what happened. On SQLite and PostgreSQL (`store`)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from ticketing import ConflictError, TransitionError


def _at_once(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions in threads released together; each result is a value or the exception."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = actions[i]()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def _submitted(store, make_draft, call_id: str) -> int:
    tid = store.upsert_draft(make_draft(call_id))
    store.submit(tid, actor="op")
    return tid


def test_every_change_bumps_the_version(store, make_draft):
    tid = store.upsert_draft(make_draft("ver-1"))
    v1 = store.get(tid)["version"]
    store.upsert_draft(make_draft("ver-1", summary="路灯不亮两周了"))
    v2 = store.get(tid)["version"]
    store.upsert_draft(make_draft("ver-1", summary="路灯不亮两周了"))  # nothing changed
    assert store.get(tid)["version"] == v2 > v1
    assert store.submit(tid, actor="op")["version"] == v2 + 1


def test_a_stale_version_is_refused_and_changes_nothing(store, make_draft):
    tid = _submitted(store, make_draft, "ver-2")
    seen = store.get(tid)["version"]
    store.update(tid, {"summary": "改过了"}, actor="alice", expect_version=seen)
    with pytest.raises(ConflictError, match="changed since version"):
        store.dispatch(tid, actor="bob", expect_version=seen)
    ticket = store.get(tid)
    assert ticket["state"] == "submitted" and ticket["summary"] == "改过了"
    assert [e["action"] for e in store.events(tid)] == ["draft", "submit", "update"]


@pytest.mark.parametrize("rounds", [8])
def test_two_dispatches_at_once_one_wins(store, make_draft, rounds):
    for r in range(rounds):
        tid = _submitted(store, make_draft, f"race-d-{r}")
        results = _at_once(lambda: store.dispatch(tid, actor="alice"), lambda: store.dispatch(tid, actor="bob"))
        wins = [x for x in results if isinstance(x, dict)]
        losses = [x for x in results if isinstance(x, Exception)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert isinstance(losses[0], TransitionError), repr(losses[0])
        actions = [e["action"] for e in store.events(tid)]
        assert actions.count("dispatch") == 1, actions
        assert store.get(tid)["state"] == "dispatched"


def test_merge_and_edit_at_once_one_wins(store, make_draft):
    into = _submitted(store, make_draft, "race-m-into")
    for r in range(6):
        tid = _submitted(store, make_draft, f"race-m-{r}")
        seen = store.get(tid)["version"]
        results = _at_once(lambda: store.merge(tid, into, actor="alice", expect_version=seen),
                           lambda: store.update(tid, {"summary": f"编辑{r}"}, actor="bob", expect_version=seen))
        wins = [x for x in results if isinstance(x, dict)]
        losses = [x for x in results if isinstance(x, Exception)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert isinstance(losses[0], ConflictError), repr(losses[0])
        ticket = store.get(tid)
        actions = [e["action"] for e in store.events(tid)]
        if ticket["state"] == "merged":
            assert ticket["merged_into"] == into and "update" not in actions and ticket["summary"] != f"编辑{r}"
        else:
            assert ticket["summary"] == f"编辑{r}" and "merge" not in actions
        assert actions[-1] in ("merge", "update") and len(actions) == 3
