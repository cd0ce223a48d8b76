"""Streaming Silero VAD: state across frames, utterances where the labelled turns are."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stt.audio import load_audio
from stt.vad import StreamingVad, VadOptions

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"


def _run(vad: StreamingVad, x: np.ndarray, sizes) -> list[tuple[int, int]]:
    events, i = [], 0
    for n in sizes:
        if i >= len(x):
            break
        events += vad.feed(x[i:i + n])
        i += n
    if i < len(x):
        events += vad.feed(x[i:])
    events += vad.flush()
    return [(e.start, e.end) for e in events if e.kind == "end" and e.end]


def test_random_frames_equal_whole(labels):
    x = load_audio(CALLS / "dev-002.wav").samples[0]
    whole = _run(StreamingVad(), x, [len(x)])
    rng = np.random.default_rng(7)
    pieces = _run(StreamingVad(), x, rng.integers(1, 3000, size=len(x)))
    assert whole == pieces
    turns = labels["dev-002"]["turns"]
    assert len(whole) == len(turns)
    for (s, e), t in zip(whole, turns):  # every turn found, boundaries within ~0.3 s
        assert abs(s / 16000 - t["start"]) < 0.3 and abs(e / 16000 - t["end"]) < 0.3


def test_long_speech_is_split():
    x = load_audio(CALLS / "dev-008.wav").samples[0]
    utts = _run(StreamingVad(VadOptions(max_utterance_s=5.0)), x, [1600] * 1000)
    assert utts and max(e - s for s, e in utts) <= 5.0 * 16000
    assert len(utts) > 9  # the 9 turns, some cut


def test_silence_and_noise_have_no_speech():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(16000 * 3), 0.01 * rng.standard_normal(16000 * 3)]).astype(np.float32)
    assert _run(StreamingVad(), x, [512] * 200) == []
