"""Unit test of one part: finals decoded out of order are emitted in order (fake decoder)."""
from __future__ import annotations

from pathlib import Path

from stt.audio import load_audio
from stt.transcribe import DecodeResult, StreamingTranscriber, TranscriberOptions

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"


class HoldingDecoder:
    """Stands in for SharedDecoder: keeps the jobs so the test decides when each finishes."""

    options = TranscriberOptions(partials=False)
    partial_cost = 0.0

    def __init__(self) -> None:
        self.jobs = []

    def submit(self, job, priority) -> None:
        self.jobs.append(job)

    def promote(self, owner) -> None:
        pass

    def finals_waiting(self) -> int:
        return 0


def test_out_of_order_decodes_are_emitted_in_order():
    dec = HoldingDecoder()
    dec.options = TranscriberOptions(partials=False, context_chars=0)   # no context: finals decode in parallel
    got = []
    st = StreamingTranscriber(dec, options=dec.options, call_id="fake", on_segment=got.append)
    st.feed(load_audio(CALLS / "dev-021.wav").samples[0])   # real speech for the real VAD
    st.end()
    assert len(dec.jobs) >= 5
    for k, job in reversed(list(enumerate(dec.jobs))):
        job.callback(DecodeResult(f"第{k}句", f"第{k}句", -0.1, 0.0, 1.0, 0.01))
        if k:
            assert got == [], "nothing may be emitted while an earlier final is still decoding"
    assert [s.text for s in got] == [f"第{k}句" for k in range(len(dec.jobs))]
    assert [s.id for s in got] == sorted(s.id for s in got)
    assert st.wait(1)


def test_with_context_a_call_decodes_one_final_at_a_time_after_the_text_before_it():
    dec = HoldingDecoder()
    dec.options = TranscriberOptions(partials=False, context_chars=6)
    got = []
    st = StreamingTranscriber(dec, options=dec.options, call_id="fake", on_segment=got.append)
    st.feed(load_audio(CALLS / "dev-021.wav").samples[0])
    st.end()
    assert len(dec.jobs) == 1, "the second final must wait for the first one's text"
    assert dec.jobs[0].context == ""
    dec.jobs[0].callback(DecodeResult("您好，请问您贵姓？", "", -0.1, 0.0, 1.0, 0.01))
    assert len(dec.jobs) == 2 and dec.jobs[1].context == "请问您贵姓？"   # the last 6 characters
    dec.jobs[1].callback(DecodeResult("我姓杨。", "", -0.1, 0.0, 1.0, 0.01))
    assert dec.jobs[2].context == "您贵姓？我姓杨。"[-6:]
    while not st.wait(0):
        dec.jobs[-1].callback(DecodeResult("好的。", "", -0.1, 0.0, 1.0, 0.01))
    assert [s.text for s in got][:2] == ["您好，请问您贵姓？", "我姓杨。"]


def test_first_partial_is_not_held_back_by_expensive_long_partials():
    """partial_cost comes from long partials; the first partial of an utterance still comes at 1 s."""
    dec = HoldingDecoder()
    dec.options = TranscriberOptions(partials=True)
    dec.partial_cost = 2.0          # 3x that would mean one partial every 6 s
    st = StreamingTranscriber(dec, options=dec.options, call_id="fake")
    x = load_audio(CALLS / "dev-021.wav").samples[0]
    for i in range(0, int(3.0 * 16000), 640):
        st.feed(x[i:i + 640])
    partials = [j for j in dec.jobs if not j.final]
    assert partials, "no partial within the first 3 s of speech"
    assert len(partials[0].audio) <= 1.6 * 16000
