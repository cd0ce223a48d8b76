"""Audio in: files of several formats, 8 kHz mu-law, stereo, PCM16 streams, and bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stt.audio import AudioError, PcmConverter, load_audio

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"


def test_mulaw_8k_is_resampled_to_16k():
    a = load_audio(CALLS / "dev-005.8k.wav")
    b = load_audio(CALLS / "dev-005.wav")
    assert (a.source_rate, a.source_codec, a.sample_rate) == (8000, "pcm_mulaw", 16000)
    assert abs(a.duration - b.duration) < 0.01
    # same speech: the envelopes correlate strongly
    ea = np.abs(a.samples[0][:480000]).reshape(-1, 160).mean(1)
    eb = np.abs(b.samples[0][:480000]).reshape(-1, 160).mean(1)
    assert np.corrcoef(ea, eb)[0, 1] > 0.9


def test_stereo_keeps_channels(tmp_path, write_wav):
    x = load_audio(CALLS / "dev-002.wav").samples[0][:16000]
    path = write_wav(tmp_path / "st.wav", np.stack([x, np.zeros_like(x)]))
    a = load_audio(path)
    assert a.channels == 2
    assert np.abs(a.samples[0]).max() > 0.05 and np.abs(a.samples[1]).max() == 0


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"this is not audio at all" * 50, "not a readable audio file"),
    (b"RIFF\x24\x00\x00\x00WAVEjunk" * 3, "not a readable audio file"),
])
def test_bad_files_name_the_file(tmp_path, content, reason):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=reason) as err:
        load_audio(path)
    assert "broken.wav" in str(err.value)


def test_truncated_wav(tmp_path):
    data = (CALLS / "dev-002.wav").read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioError, match="truncated") as err:
        load_audio(path)
    assert "cut.wav" in str(err.value)


def test_unsupported_rate(tmp_path, write_wav):
    path = write_wav(tmp_path / "slow.wav", np.zeros((1, 4000), np.float32), rate=4000)
    with pytest.raises(AudioError, match="unsupported sample rate 4000"):
        load_audio(path)


def test_missing_file():
    with pytest.raises(AudioError, match="no such file"):
        load_audio("/nonexistent/call.wav")


def test_pcm16_stream_any_split_matches_whole():
    x = load_audio(CALLS / "dev-008.8k.wav", sample_rate=8000).samples
    pcm = (x.T * 32767).astype("<i2").tobytes()
    whole = PcmConverter(8000, 1)
    ref = np.concatenate([whole.convert(whole.pcm16(pcm)), whole.flush()], axis=1)
    conv = PcmConverter(8000, 1)
    rng = np.random.default_rng(1)
    parts, i = [], 0
    while i < len(pcm):
        n = int(rng.integers(1, 2000))  # odd byte counts split samples in half
        parts.append(conv.convert(conv.pcm16(pcm[i:i + n])))
        i += n
    parts.append(conv.flush())
    got = np.concatenate(parts, axis=1)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-3


def test_stream_rejects_bad_shape():
    with pytest.raises(AudioError, match="expected 2 channel"):
        PcmConverter(16000, 2).convert(np.zeros(100, np.float32))
