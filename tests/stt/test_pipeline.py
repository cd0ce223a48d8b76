"""Pipeline/CallSession over real audio with the shared decoder: events, draft keys, store calls."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import Settings
from pipeline import DRAFT_KEYS, Pipeline
from stt.audio import load_audio

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"
pytestmark = pytest.mark.slow
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "nlp" / "data" / "draft_ticket.schema.json").read_text())


class RecordingStore:
    """Stands in for ticketing.TicketStore: records what the pipeline hands it."""

    def __init__(self) -> None:
        self.drafts: list[dict] = []
        self.segments: list[tuple[str, dict]] = []
        self.calls: dict[str, dict] = {}

    def upsert_draft(self, draft: dict, *, call: dict | None = None) -> int:
        self.drafts.append(json.loads(json.dumps(draft, default=str)))
        return 1

    def add_segment(self, call_id: str, segment: dict) -> None:
        self.segments.append((call_id, segment))

    def end_call(self, call_id: str, call: dict) -> None:
        self.calls[call_id] = call


@pytest.mark.parametrize("nlp", [False, True], ids=["transcript-only", "with-extractor"])
def test_call_session_events_and_draft(decoder, nlp):
    store = RecordingStore()
    pipe = Pipeline.load(Settings(), store=store, nlp=nlp, decoder=decoder)
    if nlp and pipe.extractor_cls is None:
        pytest.skip("nlp.extract not importable")
    events: list[dict] = []
    call = pipe.open_call(call_id="t-dev-005", on_event=events.append)
    x = load_audio(CALLS / "dev-005.wav").samples[0]
    pcm = (x * 32767).astype("<i2").tobytes()
    for i in range(0, len(pcm), 3200):  # 100 ms frames, as fast as possible
        call.feed_pcm16(pcm[i:i + 3200])
    draft = call.end()

    finals = [e for e in events if e["type"] == "final"]
    assert len(finals) >= 6
    for e in events:
        if e["type"] in ("partial", "final"):
            assert set(e) == {"type", "id", "start", "end", "text", "speaker"}
    drafts = [e for e in events if e["type"] == "draft"]
    assert drafts[-1]["final"] is True and drafts[-1]["ticket"] is draft
    assert all(d["final"] is False for d in drafts[:-1])
    assert set(DRAFT_KEYS) <= set(draft) and set(SCHEMA["required"]) <= set(draft)
    assert draft["call_id"] == "t-dev-005"
    assert draft["transcript"] and "12345" in draft["transcript"]
    assert [s["text"] for s in draft["segments"]] == [e["text"] for e in finals if e["text"]]
    t = draft["timings"]
    assert set(t) >= {"audio_s", "asr_s", "nlp_s", "ready_after_hangup_s"}
    assert abs(t["audio_s"] - 35.81) < 0.1 and 0 < t["asr_s"] < t["audio_s"]
    # the store saw every final segment and the final draft
    assert [s["text"] for _, s in store.segments] == [e["text"] for e in finals if e["text"]]
    assert store.drafts[-1]["call_id"] == "t-dev-005" and store.drafts[-1]["transcript"] == draft["transcript"]
    assert store.calls["t-dev-005"]["duration"] == t["audio_s"]
    if nlp:
        assert draft["district"] == "普陀区" or draft["road"] == "曹杨路" or draft["phone"] == "13816572039"


@pytest.mark.parametrize("context_chars", [0, 30])
def test_hung_up_call_finals_first(decoder, context_chars):
    """Two calls share the decoder: the one that hangs up gets its finals decoded first."""
    from stt.transcribe import TranscriberOptions

    pipe = Pipeline.load(Settings(), store=None, nlp=False, decoder=decoder)
    opts = TranscriberOptions(partials=False, context_chars=context_chars)
    x = load_audio(CALLS / "dev-002.wav").samples[0]
    order: list[str] = []
    a = pipe.open_call(call_id="a", options=opts, on_event=lambda e: e["type"] == "final" and order.append("a"))
    b = pipe.open_call(call_id="b", options=opts, on_event=lambda e: e["type"] == "final" and order.append("b"))
    a.feed(x)           # a's finals queue up first ...
    b.feed(x[: 16000 * 9])
    b.end()             # ... but b hangs up, so its finals jump ahead of a's still queued ones
    a.end()
    n_a, n_b = order.count("a"), order.count("b")
    assert n_b == 3 and n_a >= 10
    first_b, last_b = order.index("b"), len(order) - 1 - order[::-1].index("b")
    # b's finals come before most of a's.
    assert order[last_b + 1:].count("a") >= n_a // 2
    if context_chars == 0:
        # Only finals already on a decoder worker when b hung up may land between b's finals
        # (with context, a call has one final queued at a time and a's next one may run beside b's).
        assert order[first_b:last_b + 1].count("a") <= decoder.workers
        assert first_b <= 2 * decoder.workers


def test_draft_deadlines_come_from_the_ticket_system():
    from datetime import datetime

    from pipeline import _deadlines
    from ticketing.sla import deadlines

    start = datetime(2026, 9, 30, 10)
    assert _deadlines("投诉", "normal", start) == deadlines("投诉", "normal", start)
    assert _deadlines("投诉", "normal", start)["response_by"] == "2026-10-08T23:59:59"  # National Day
    assert _deadlines("投诉", "normal", datetime(2001, 1, 2, 9)) is None  # before the calendar: no deadline
