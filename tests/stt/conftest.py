"""Shared fixtures for the speech tests: one loaded model for the whole session."""
from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"


@pytest.fixture(scope="session")
def labels() -> dict[str, dict]:
    lines = (CALLS / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    return {d["id"]: d for d in map(json.loads, filter(None, lines))}


@pytest.fixture(scope="session")
def decoder():
    """The bundled Whisper base, loaded once (the model is assembled on first use), with two
    single-threaded replicas as on a 2-core machine: the tests run the parallel decoding path."""
    from models import ModelOptions
    from stt.transcribe import SharedDecoder, TranscriberOptions

    dec = SharedDecoder.load(ModelOptions(cpu_threads=1, workers=2), TranscriberOptions())
    assert dec.workers == 2
    yield dec
    dec.close()


@pytest.fixture(scope="session")
def write_wav():
    return _write_wav


def _write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """float32 (channels, n) -> PCM16 WAV (stdlib only, so the test does not trust our reader)."""
    samples = np.atleast_2d(samples)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").T.tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path
