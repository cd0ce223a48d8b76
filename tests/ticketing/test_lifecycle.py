"""Every legal move of ticketing/data/lifecycle.json and one illegal move per state, on both databases."""
from __future__ import annotations

from datetime import datetime

import pytest

from ticketing import TransitionError
from ticketing.lifecycle import allowed, lifecycle, states

T0 = datetime(2026, 9, 14, 9, 0)  # a Monday
ACTOR = "tester"


def _bring_to(store, make_draft, state: str, appeal_type: str = "投诉") -> int:
    """A ticket walked along the happy path to `state`."""
    tid = store.upsert_draft(make_draft(f"call-{state}-{appeal_type}", appeal_type=appeal_type), now=T0)
    path = {
        "draft": [], "submitted": ["submitted"], "dispatched": ["submitted", "dispatched"],
        "contacted": ["submitted", "dispatched", "contacted"], "in_progress": ["submitted", "dispatched", "in_progress"],
        "resolved": ["submitted", "dispatched", "contacted", "resolved"], "returned": ["submitted", "dispatched", "returned"],
        "visited": ["submitted", "dispatched", "contacted", "resolved", "visited"],
        "closed": ["submitted", "dispatched", "contacted", "resolved", "visited", "closed"],
        "merged": ["merged"],
    }[state]
    for step in path:
        _move(store, make_draft, tid, step)
    assert store.get(tid)["state"] == state
    return tid


def _move(store, make_draft, tid: int, to_state: str) -> dict:
    if to_state == "visited":
        return store.follow_up(tid, "满意", ACTOR, close=False, now=T0)
    if to_state == "merged":
        other = store.upsert_draft(make_draft(f"target-of-{tid}"), now=T0)
        return store.merge(tid, other, ACTOR)
    note = "不属于本单位职责" if to_state == "returned" else None
    return store.transition(tid, to_state, ACTOR, note, now=T0)


LEGAL = [(a, b) for a in states() for b in allowed(a) if not (a == "visited" and b == "dispatched")]


@pytest.mark.parametrize("from_state,to_state", LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_move_changes_state_and_is_logged(store, make_draft, from_state, to_state):
    appeal = "咨询" if (from_state, to_state) == ("submitted", "closed") else "投诉"
    tid = _bring_to(store, make_draft, from_state, appeal)
    before = len(store.events(tid))
    ticket = _move(store, make_draft, tid, to_state)
    assert ticket["state"] == to_state
    event = store.events(tid)[before]
    assert event["changes"]["state"] == [from_state, to_state]
    assert event["actor"] == ACTOR
    assert event["action"] == lifecycle()["transitions"][from_state][to_state]["action"]


def test_dissatisfied_follow_up_reopens_as_warning_ticket(store, make_draft):
    """visited -> dispatched happens only inside follow_up(不满意): 预警工单, round 2."""
    tid = _bring_to(store, make_draft, "resolved")
    reopened_at = datetime(2026, 9, 16, 10, 0)
    ticket = store.follow_up(tid, "不满意", "回访员", "路灯还是不亮", now=reopened_at)
    assert ticket["state"] == "dispatched"
    assert ticket["warning"] is True and ticket["round"] == 2 and ticket["satisfaction"] == "不满意"
    assert ticket["dispatched_at"] == "2026-09-16T10:00:00"
    # 5 working days from the reopening: 17, 18, 20 (make-up Sunday), 21, 22 Sep
    assert ticket["resolve_by"] == "2026-09-22T23:59:59"
    assert ticket["resolved_at"] is None
    moves = [e["changes"]["state"] for e in store.events(tid) if "state" in (e["changes"] or {})]
    assert moves[-2:] == [["resolved", "visited"], ["visited", "dispatched"]]
    # the second round runs the normal way and can close
    for state in ("contacted", "resolved"):
        store.transition(tid, state, ACTOR, now=reopened_at)
    closed = store.follow_up(tid, "基本满意", "回访员", now=reopened_at)
    assert closed["state"] == "closed" and closed["round"] == 2 and closed["warning"] is True


ILLEGAL = {
    "draft": "resolved", "submitted": "contacted", "dispatched": "closed", "contacted": "submitted",
    "in_progress": "returned", "resolved": "closed", "visited": "resolved", "closed": "dispatched",
    "returned": "resolved", "merged": "submitted",
}


def test_illegal_table_covers_every_state():
    assert set(ILLEGAL) == set(states())


@pytest.mark.parametrize("from_state", sorted(ILLEGAL))
def test_illegal_move_raises_and_changes_nothing(store, make_draft, from_state):
    tid = _bring_to(store, make_draft, from_state)
    events_before = store.events(tid)
    to_state = ILLEGAL[from_state]
    with pytest.raises(TransitionError) as err:
        store.transition(tid, to_state, ACTOR, "note", now=T0)
    targets = ", ".join(allowed(from_state)) or "none (final state)"
    assert str(err.value) == f"cannot go from {from_state} to {to_state}; allowed: {targets}"
    assert store.get(tid)["state"] == from_state
    assert store.events(tid) == events_before


def test_draft_error_message_matches_the_spec(store, make_draft):
    tid = store.upsert_draft(make_draft("c1"), now=T0)
    with pytest.raises(TransitionError, match=r"^cannot go from draft to resolved; allowed: submitted, merged$"):
        store.transition(tid, "resolved", ACTOR)


def test_moves_that_need_something(store, make_draft):
    tid = _bring_to(store, make_draft, "dispatched")
    with pytest.raises(TransitionError, match="needs a reason"):
        store.transition(tid, "returned", ACTOR)  # 退单 without a reason
    complaint = _bring_to(store, make_draft, "submitted")
    with pytest.raises(TransitionError, match="only a consultation"):
        store.direct_answer(complaint, ACTOR)
    resolved = _bring_to(store, make_draft, "resolved", "求助")
    with pytest.raises(TransitionError, match="follow_up"):
        store.transition(resolved, "visited", ACTOR)
    with pytest.raises(ValueError, match="satisfaction must be one of"):
        store.follow_up(resolved, "还行", ACTOR)
    with pytest.raises(TransitionError, match="merge"):
        store.transition(tid, "merged", ACTOR)
    with pytest.raises(TransitionError, match="unknown state"):
        store.transition(tid, "archived", ACTOR)
    assert store.get(tid)["state"] == "dispatched" and store.get(resolved)["state"] == "resolved"


def test_returned_ticket_is_dispatched_again_with_a_fresh_clock(store, make_draft):
    tid = _bring_to(store, make_draft, "returned")
    later = datetime(2026, 9, 21, 14, 0)
    ticket = store.dispatch(tid, ACTOR, "改派", department="宝山区友谊路街道办事处", now=later)
    assert ticket["state"] == "dispatched" and ticket["department"] == "宝山区友谊路街道办事处"
    assert ticket["dispatched_at"] == "2026-09-21T14:00:00"
    assert ticket["response_by"] == "2026-09-22T23:59:59"


def test_consultation_answered_on_the_call_is_closed_without_dispatch(store, make_draft):
    tid = store.upsert_draft(make_draft("kb-call", appeal_type="咨询", category="real_estate_registration"), now=T0)
    store.submit(tid, ACTOR)
    ticket = store.direct_answer(tid, ACTOR, "按知识库 kb-0001 答复")
    assert ticket["state"] == "closed" and ticket["dispatched_at"] is None
    assert store.events(tid)[-1]["action"] == "direct_answer"
