"""The real model on real audio: accuracy bounds, 8 kHz, stereo speakers, silence, streaming = batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stt.audio import load_audio
from stt.metrics import cer
from stt.transcribe import StreamingTranscriber, TranscriberOptions, transcribe_audio

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"
pytestmark = pytest.mark.slow


def test_fixture_call_cer(decoder, labels):
    st = transcribe_audio(decoder, load_audio(CALLS / "dev-002.wav").samples, call_id="dev-002")
    segs = st.segments
    assert len(segs) >= 8 and all(s.final and s.speaker is None and s.text for s in segs)
    assert [s.id for s in segs] == sorted(s.id for s in segs)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(segs, segs[1:]))
    assert "12345市民服务热线" in segs[0].text
    c, _, _ = cer(labels["dev-002"]["transcript"], st.transcript())
    assert c < 0.25, st.transcript()


def test_8k_mulaw_call(decoder, labels):
    st = transcribe_audio(decoder, load_audio(CALLS / "dev-005.8k.wav").samples, call_id="dev-005.8k")
    c, _, _ = cer(labels["dev-005"]["transcript"], st.transcript())
    assert c < 0.35, st.transcript()


def test_stereo_speakers(decoder, labels, tmp_path, write_wav):
    """Operator on channel 0 (dev-002's first turn), caller on channel 1 (dev-005's second turn)."""
    op = load_audio(CALLS / "dev-002.wav").samples[0]
    ca = load_audio(CALLS / "dev-005.wav").samples[0]
    t_op = labels["dev-002"]["turns"][0]
    t_ca = labels["dev-005"]["turns"][1]
    op_turn = op[int((t_op["start"] - 0.3) * 16000): int((t_op["end"] + 0.3) * 16000)]
    ca_turn = ca[int((t_ca["start"] - 0.3) * 16000): int((t_ca["end"] + 0.3) * 16000)]
    n = int(1.0 * 16000) + len(op_turn) + int(0.8 * 16000) + len(ca_turn) + 16000
    stereo = np.zeros((2, n), np.float32)
    stereo[0, 16000:16000 + len(op_turn)] = op_turn
    c0 = 16000 + len(op_turn) + int(0.8 * 16000)
    stereo[1, c0:c0 + len(ca_turn)] = ca_turn
    path = write_wav(tmp_path / "stereo.wav", stereo)

    audio = load_audio(path)
    assert audio.channels == 2
    st = transcribe_audio(decoder, audio.samples, call_id="stereo")
    by = {s.speaker: s for s in st.segments}
    assert set(by) == {"operator", "caller"} and len(st.segments) == 2
    assert (by["operator"].channel, by["caller"].channel) == (0, 1)
    assert by["operator"].end <= c0 / 16000 + 0.3 < by["caller"].start + 0.6
    assert cer(t_op["text"], by["operator"].text)[0] < 0.3
    assert cer(t_ca["text"], by["caller"].text)[0] < 0.4


def test_silence_and_noise_give_no_text(decoder):
    rng = np.random.default_rng(3)
    quiet = np.zeros(16000 * 4, np.float32)
    hiss = (0.02 * rng.standard_normal(16000 * 4)).astype(np.float32)
    hum = (0.1 * np.sin(2 * np.pi * 50 * np.arange(16000 * 4) / 16000)).astype(np.float32)
    st = transcribe_audio(decoder, np.concatenate([quiet, hiss, hum]), call_id="silence")
    assert st.segments == []
    # and straight to the decoder (no VAD): Whisper's favourite silence phrases are filtered
    for res in decoder.decoder.decode([quiet[:32000], hiss[:32000]]):
        assert res.text == "", res.raw_text


def test_random_frames_same_finals_as_whole(decoder):
    x = load_audio(CALLS / "dev-021.wav").samples
    pcm = (x[0] * 32767).astype("<i2").tobytes()
    opts = TranscriberOptions(partials=False)
    whole = StreamingTranscriber(decoder, options=opts, call_id="whole")
    whole.feed_pcm16(pcm)
    whole.end()
    assert whole.wait(120)

    got = []
    pieces = StreamingTranscriber(decoder, options=TranscriberOptions(partials=True), call_id="pieces",
                                  on_segment=got.append)
    rng = np.random.default_rng(11)
    i = 0
    while i < len(pcm):
        n = int(rng.integers(1, 6400))  # 0-200 ms, odd byte counts included
        pieces.feed_pcm16(pcm[i:i + n])
        i += n
    pieces.end()
    assert pieces.wait(120)
    key = lambda st: [(s.id, round(s.start, 3), round(s.end, 3), s.text) for s in st.segments]
    assert key(whole) and key(pieces) == key(whole)
    finals = [s for s in got if s.final and s.text]
    assert [s.text for s in finals] == [s.text for s in whole.segments]
    # partials carry the id their final gets
    assert {s.id for s in got if not s.final} <= {s.id for s in got if s.final}


def test_two_workers_emit_a_calls_finals_in_order(decoder, labels):
    """Two replicas finish utterances out of order; the call still sees its finals in order."""
    got = []
    x = load_audio(CALLS / "dev-008.wav").samples
    st = StreamingTranscriber(decoder, options=TranscriberOptions(partials=False), call_id="order", on_segment=got.append)
    st.feed(x[0])   # all at once: every utterance is queued before the first is decoded
    st.end()
    assert st.wait(180)
    ids = [s.id for s in got]
    assert len(ids) >= 8 and ids == sorted(ids)
    assert [s.text for s in got if s.text] == [s.text for s in st.segments]
    assert cer(labels["dev-008"]["transcript"], st.transcript())[0] < 0.3


def test_hotwords_are_used(decoder):
    p0 = decoder.decoder.prompt(())
    p1 = decoder.decoder.prompt(("营口路", "杨浦区"))
    assert len(p1) > len(p0)
    assert decoder.decoder.tokenizer.decode(p1[1:len(p1) - len(p0) + 1]).strip().startswith("营口路")


def test_finals_of_different_calls_batched_together_keep_their_text():
    """--batch: finals of calls fed at once share one encode/generate only when their prompts
    (domain prompt + each call's own context) have the same length; CTranslate2 refuses a batch
    of prompts of different lengths, which used to empty those finals."""
    import threading

    from models import ModelOptions
    from stt.transcribe import SharedDecoder

    dec = SharedDecoder.load(ModelOptions(cpu_threads=1, workers=1), TranscriberOptions(partials=False, max_batch=4))
    try:
        calls = [load_audio(CALLS / name).samples[:, : 16000 * 20] for name in ("dev-008.wav", "dev-021.wav")]
        alone = [transcribe_audio(dec, x).transcript() for x in calls]
        together: list[str] = [""] * len(calls)

        def run(i: int) -> None:
            together[i] = transcribe_audio(dec, calls[i]).transcript()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(len(t) > 40 for t in alone)
        assert together == alone
    finally:
        dec.close()
