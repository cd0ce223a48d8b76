"""Drafts during the call, operator edits and routing, the event log, search, time limits,
duplicates and reference data — on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from ticketing import TicketNotFound, TransitionError

T0 = datetime(2026, 9, 30, 10, 0)  # eve of the National Day holiday


# -- drafts -------------------------------------------------------------------------------

def test_upsert_draft_is_idempotent_per_call(store, labelled_drafts):
    draft = dict(labelled_drafts["dev-005"])
    call = {"audio": "tests/data/calls/dev-005.wav", "channels": 1, "sample_rate": 16000,
            "started_at": "2026-09-30T02:00:00+00:00"}
    first = store.upsert_draft(draft, call=call, now=T0)
    assert store.upsert_draft(draft, call=call, now=T0) == first
    assert store.count() == 1
    ticket = store.get(first)
    assert ticket["state"] == "draft" and ticket["call_id"] == "dev-005"
    assert ticket["phone"] == "13816572039" and ticket["urgency"] == "urgent"
    assert ticket["department"] == "普陀区建设和管理委员会"
    assert ticket["co_handler"] == "普陀区曹杨新村街道办事处"
    assert ticket["place_key"] == "普陀区|路口:兰溪路+曹杨路"
    assert ticket["draft"]["summary"] == draft["summary"]
    assert ticket["response_by"] == "2026-09-30T12:00:00"  # provisional: urgent, 2 h from drafting
    assert store.call("dev-005")["started_at"] == "2026-09-30T10:00:00"  # UTC -> Shanghai time
    assert json.loads(json.dumps(ticket, ensure_ascii=False)) == ticket  # JSON-serialisable as is
    assert [e["action"] for e in store.events(first)] == ["draft"]  # the repeat changed nothing


def test_draft_grows_during_the_call(store, make_draft):
    tid = store.upsert_draft(make_draft("live-1", category=None, district=None, street=None, address=None), now=T0)
    assert store.get(tid)["department"] is None
    store.upsert_draft(make_draft("live-1", category="road_obstruction", district="杨浦区", street="长海路街道",
                                  address="杨浦区营口路588号"), now=T0)
    ticket = store.get(tid)
    assert ticket["department"] == "杨浦区长海路街道办事处"  # routed by the store when the draft has none
    assert ticket["co_handler"] == "杨浦区城市管理行政执法局"
    assert ticket["place_key"] == "杨浦区|营口路588号"
    update = store.events(tid)[-1]
    assert update["action"] == "draft_update" and update["changes"]["category"] == [None, "road_obstruction"]


def test_segments_are_stored_and_resent_ones_replace(store):
    store.add_segment("seg-call", {"id": 0, "start": 0.4, "end": 2.9, "text": "您好", "speaker": "operator"})
    store.add_segment("seg-call", {"id": 1, "start": 3.3, "end": 7.1, "text": "路灯怀了", "speaker": "caller"})
    store.add_segment("seg-call", {"id": 1, "start": 3.3, "end": 7.2, "text": "路灯坏了", "speaker": "caller"})
    assert store.segments("seg-call") == [
        {"id": 0, "start": 0.4, "end": 2.9, "text": "您好", "speaker": "operator"},
        {"id": 1, "start": 3.3, "end": 7.2, "text": "路灯坏了", "speaker": "caller"},
    ]
    store.end_call("seg-call", {"duration": 7.5, "ended_at": "2026-09-30T10:00:08", "timings": {"asr_s": 1.2}})
    assert store.call("seg-call")["duration"] == 7.5


def test_bad_input_is_a_clear_error(store, make_draft):
    with pytest.raises(ValueError, match="no call_id"):
        store.upsert_draft({"summary": "no call"})
    with pytest.raises(ValueError, match="lacks text"):
        store.add_segment("c", {"id": 0, "start": 0, "end": 1})
    with pytest.raises(TicketNotFound, match="no ticket 424242"):
        store.get(424242)
    tid = store.upsert_draft(make_draft("c"))
    with pytest.raises(ValueError, match="cannot edit state"):
        store.update(tid, {"state": "closed"})
    with pytest.raises(ValueError, match="unknown category"):
        store.update(tid, {"category": "ufo_sighting"})
    assert store.get(tid)["state"] == "draft"


# -- operator edits, routing, locked fields -----------------------------------------------

def test_operator_edits_reroute_and_survive_later_drafts(store, make_draft):
    tid = store.upsert_draft(make_draft("edit-1"), now=T0)
    assert store.get(tid)["department"] == "宝山区绿化和市容管理局"
    ticket = store.update(tid, {"category": "road_flooding"}, actor="op7", now=T0)
    assert ticket["department"] == "宝山区水务局" and ticket["co_handler"] == "宝山区友谊路街道办事处"
    assert ticket["urgency"] == "urgent"  # the category's default urgency follows
    assert ticket["resolve_by"] == "2026-10-01T10:00:00"  # urgent: 24 calendar hours
    ticket = store.update(tid, {"district": "闵行区", "street": "七宝镇"}, actor="op7")
    assert ticket["department"] == "闵行区水务局" and ticket["co_handler"] == "闵行区七宝镇人民政府"
    event = store.events(tid)[-1]
    assert event["actor"] == "op7" and event["action"] == "update"
    assert event["changes"]["district"] == ["宝山区", "闵行区"]
    assert event["changes"]["department"] == ["宝山区水务局", "闵行区水务局"]
    # the pipeline keeps sending its (older) idea of category and place: the operator's choice stays
    store.upsert_draft(make_draft("edit-1", summary="路灯不亮，已一周"), now=T0)
    ticket = store.get(tid)
    assert (ticket["category"], ticket["district"], ticket["summary"]) == ("road_flooding", "闵行区", "路灯不亮，已一周")
    # an explicit department wins over routing
    ticket = store.update(tid, {"street": "莘庄镇", "department": "闵行区莘庄镇人民政府"})
    assert ticket["department"] == "闵行区莘庄镇人民政府"


def test_after_submission_the_pipeline_only_updates_the_transcript(store, make_draft):
    tid = store.upsert_draft(make_draft("sub-1"), now=T0)
    store.submit(tid, "op")
    store.upsert_draft(make_draft("sub-1", district="徐汇区", transcript="路灯不亮。好的。"), now=T0)
    ticket = store.get(tid)
    assert ticket["district"] == "宝山区" and ticket["transcript"] == "路灯不亮。好的。"


# -- event log ----------------------------------------------------------------------------

def test_event_log_records_who_when_and_old_to_new(store, make_draft):
    tid = store.upsert_draft(make_draft("log-1"), now=T0)
    store.submit(tid, "op1", now=T0 + timedelta(minutes=1))
    store.dispatch(tid, "op1", now=T0 + timedelta(minutes=2))
    store.transition(tid, "contacted", "宝山区绿化和市容管理局", "已电话联系", now=datetime(2026, 10, 8, 9))
    events = store.events(tid)
    assert [e["action"] for e in events] == ["draft", "submit", "dispatch", "contact"]
    dispatch = events[2]
    assert dispatch["at"] == "2026-09-30T10:02:00" and dispatch["actor"] == "op1"
    assert dispatch["changes"]["state"] == ["submitted", "dispatched"]
    assert dispatch["changes"]["dispatched_at"] == [None, "2026-09-30T10:02:00"]
    assert events[3]["note"] == "已电话联系" and events[3]["changes"]["contacted_at"] == [None, "2026-10-08T09:00:00"]
    assert all(e["ticket_id"] == tid for e in events)


# -- search -------------------------------------------------------------------------------

def test_search_filters(store, make_draft):
    a = store.upsert_draft(make_draft("s-a", phone="138 1657 2039", summary="路灯不亮"), now=datetime(2026, 9, 1, 9))
    b = store.upsert_draft(make_draft("s-b", category="noise", district="杨浦区", address="杨浦区控江路1500弄",
                                      summary="夜间施工噪声"), now=datetime(2026, 9, 10, 9))
    c = store.upsert_draft(make_draft("s-c", category="noise", district="杨浦区", address="杨浦区控江路1500弄3号",
                                      summary="广场舞噪声"), now=datetime(2026, 9, 20, 9))
    store.submit(c, "op")
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731
    assert ids(store.search()) == [c, b, a]  # newest first
    assert ids(store.search(phone="13816572039")) == [a]
    assert ids(store.search(category="noise")) == [c, b]
    assert ids(store.search(district="杨浦区", state="draft")) == [b]
    assert ids(store.search(state=["draft", "submitted"], category="noise")) == [c, b]
    assert ids(store.search(place="控江路1500弄")) == [c, b]
    assert ids(store.search(text="广场舞")) == [c]
    assert ids(store.search(date_from="2026-09-10", date_to="2026-09-10")) == [b]
    assert ids(store.search(date_from=datetime(2026, 9, 5))) == [c, b]
    assert ids(store.search(limit=1, offset=1)) == [b]
    assert store.count(category="noise") == 2 and store.count() == 3


# -- time limits --------------------------------------------------------------------------

def test_dispatch_sets_deadlines_across_national_day(store, make_draft):
    tid = store.upsert_draft(make_draft("sla-1"), now=T0)
    store.submit(tid, "op")
    ticket = store.dispatch(tid, "op", now=T0)
    assert ticket["dispatched_at"] == "2026-09-30T10:00:00"
    assert ticket["response_by"] == "2026-10-08T23:59:59"
    assert ticket["resolve_by"] == "2026-10-13T23:59:59"  # Oct 10 (Saturday) is a make-up working day


def test_dispatch_without_department_or_outside_calendar_changes_nothing(store, make_draft):
    tid = store.upsert_draft(make_draft("nodept", category=None, district=None), now=T0)
    store.submit(tid, "op")
    with pytest.raises(TransitionError, match="no department"):
        store.dispatch(tid, "op", now=T0)
    from ticketing import CalendarRangeError

    with pytest.raises(CalendarRangeError, match="chinese_calendar"):
        store.dispatch(tid, "op", department="宝山区友谊路街道办事处", now=datetime(2003, 1, 6, 9))
    assert store.get(tid)["state"] == "submitted" and store.get(tid)["department"] is None


def test_draft_outside_calendar_is_still_stored(store, make_draft):
    tid = store.upsert_draft(make_draft("future"), now=datetime(2003, 1, 6, 9))
    ticket = store.get(tid)
    assert ticket["state"] == "draft" and ticket["resolve_by"] is None and ticket["summary"] == "路灯不亮"


def test_extension_once_with_a_reason(store, make_draft):
    tid = store.upsert_draft(make_draft("ext-1"), now=T0)
    store.submit(tid, "op")
    with pytest.raises(TransitionError, match="only a dispatched"):
        store.extend(tid, "复杂", "op")
    store.dispatch(tid, "op", now=T0)
    with pytest.raises(ValueError, match="needs a reason"):
        store.extend(tid, "  ", "op")
    ticket = store.extend(tid, "涉及多个部门，需现场协调", "处置部门", now=datetime(2026, 10, 9, 9))
    assert ticket["extended"] is True and ticket["resolve_by"] == "2026-10-27T23:59:59"
    assert store.events(tid)[-1]["changes"]["resolve_by"] == ["2026-10-13T23:59:59", "2026-10-27T23:59:59"]
    with pytest.raises(TransitionError, match="second extension is refused"):
        store.extend(tid, "还要再延", "处置部门")
    assert store.get(tid)["resolve_by"] == "2026-10-27T23:59:59"


def test_overdue_and_supervision(store, make_draft):
    late = store.upsert_draft(make_draft("od-late"), now=T0)
    urgent = store.upsert_draft(make_draft("od-urgent", category="manhole", urgency="urgent"), now=T0)
    fine = store.upsert_draft(make_draft("od-fine"), now=T0)
    done = store.upsert_draft(make_draft("od-done"), now=T0)
    for tid in (late, urgent, fine, done):
        store.submit(tid, "op")
        store.dispatch(tid, "op", now=T0)
    store.transition(urgent, "contacted", "dept", now=T0 + timedelta(hours=1))
    store.transition(fine, "in_progress", "dept", now=T0 + timedelta(hours=1))
    store.extend(fine, "需要协调", "dept")  # resolve_by Oct 27
    for state in ("contacted", "resolved"):
        store.transition(done, state, "dept", now=T0 + timedelta(hours=1))
    now = datetime(2026, 10, 14, 8, 0)  # after the normal resolve_by of Oct 13
    rows = {t["id"]: t["overdue"] for t in store.overdue(now)}
    assert rows == {late: ["response", "resolve"], urgent: ["resolve"]}
    assert store.overdue_map(now) == rows
    assert [t["id"] for t in store.overdue(now, limit=1)] == [urgent]  # most overdue first
    assert {t["id"] for t in store.overdue(datetime(2026, 10, 1, 11))} == {urgent}  # 24 h passed
    assert store.overdue(datetime(2026, 9, 30, 11)) == []
    flagged = store.supervise(now, actor="督办系统")
    assert sorted(t["id"] for t in flagged) == sorted([late, urgent])
    assert store.get(late)["supervised"] is True and store.get(fine)["supervised"] is False
    event = store.events(late)[-1]
    assert event["action"] == "supervise" and event["actor"] == "督办系统"
    assert event["note"] == "督办: 首次联系超时、办结超时"
    assert store.supervise(now) == []  # flagged once only


# -- duplicates and related cases ---------------------------------------------------------

def test_related_same_place_same_category_and_same_phone(store, make_draft):
    base = dict(category="manhole", urgency="urgent", district="普陀区", street="曹杨新村街道", road="曹杨路")
    first = store.upsert_draft(make_draft("d-1", address="普陀区曹杨路兰溪路口公交站旁", phone="13816572039", **base),
                               now=datetime(2026, 9, 20, 9))
    second = store.upsert_draft(make_draft("d-2", address="兰溪路与曹杨路交叉口", phone="13900000000", **base),
                                now=datetime(2026, 9, 28, 9))
    other_kind = store.upsert_draft(make_draft("d-3", address="曹杨路兰溪路口", **{**base, "category": "road_damage"}),
                                    now=datetime(2026, 9, 28, 9))
    too_old = store.upsert_draft(make_draft("d-4", address="曹杨路兰溪路口", **base), now=datetime(2026, 8, 1, 9))
    closed = store.upsert_draft(make_draft("d-5", address="曹杨路兰溪路口", **base), now=datetime(2026, 9, 25, 9))
    store.update(closed, {"appeal_type": "咨询"})
    store.submit(closed, "op")
    store.direct_answer(closed, "op")
    same_phone = store.upsert_draft(make_draft("d-6", phone="13816572039"), now=datetime(2026, 9, 29, 9))

    related = store.related(second)
    assert [(r["id"], r["reasons"]) for r in related] == [(first, ["同一地点同类诉求"])]
    by_id = {r["id"]: r["reasons"] for r in store.related(first)}
    assert by_id == {second: ["同一地点同类诉求"], same_phone: ["同一来电号码"]}
    assert other_kind not in by_id and too_old not in by_id and closed not in by_id

    merged = store.merge(second, first, "op", "同一井盖")
    assert merged["state"] == "merged" and merged["merged_into"] == first
    assert store.events(first)[-1]["action"] == "merged_from"
    with pytest.raises(TransitionError, match="itself merged"):
        store.merge(other_kind, second, "op")
    with pytest.raises(TransitionError, match="into itself"):
        store.merge(first, first, "op")
    # merged tickets still count as repeated reports of the place
    counts = store.place_counts(category="manhole")
    assert counts[0]["place_key"] == "普陀区|路口:兰溪路+曹杨路" and counts[0]["count"] == 4


# -- reference data -----------------------------------------------------------------------

def test_reference_data_loads_and_reloads(store):
    first = store.init_reference_data()
    assert first["companies"] == 1500 and first["kb_articles"] == 64
    again = store.init_reference_data()
    assert again == first  # a reload updates in place
    names = {d["name"] for d in store.departments()}
    assert {"杨浦区水务局", "上海市交通委员会", "12345热线工作机构"} <= names
