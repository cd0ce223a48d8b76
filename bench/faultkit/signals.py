"""Sounds that are not speech, synthesised (no files): silence, music, white noise, DTMF, and
the broken recordings of fault 5. 16 kHz float32 mono unless said otherwise."""
from __future__ import annotations

import io
import struct
import wave
from pathlib import Path

import numpy as np

RATE = 16000
DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
        "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
        "0": (941, 1336), "#": (941, 1477)}


def silence(seconds: float, seed: int = 0) -> np.ndarray:
    """Line silence: a faint hiss (-66 dBFS), as a telephone line is never all zeros."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * RATE)) * 0.0005).astype(np.float32)


def white_noise(seconds: float, level: float = 0.1, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.standard_normal(int(seconds * RATE)) * level, -1, 1).astype(np.float32)


def _tone(freqs: list[float], seconds: float, level: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    for f in freqs:
        for h, amp in ((1, 1.0), (2, 0.4), (3, 0.2)):  # a few harmonics: an instrument, not a sine
            out += amp * np.sin(2 * np.pi * f * h * t)
    env = np.minimum(1.0, np.minimum(t / 0.02, (seconds - t) / 0.05).clip(0))  # attack / release
    return (out / (len(freqs) * 1.6) * level * env).astype(np.float32)


def music(seconds: float, seed: int = 2) -> np.ndarray:
    """Hold music: chords (I-V-vi-IV in C) with a melody on top, half-second beats."""
    rng = np.random.default_rng(seed)
    chords = [[261.6, 329.6, 392.0], [196.0, 246.9, 293.7], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6]]
    scale = [523.3, 587.3, 659.3, 698.5, 784.0, 880.0]
    parts, total, i = [], 0, 0
    while total < seconds * RATE:
        chord = chords[(i // 4) % len(chords)]
        beat = _tone(chord, 0.5, 0.25) + _tone([float(rng.choice(scale))], 0.5, 0.2)
        parts.append(beat)
        total += beat.size
        i += 1
    return np.concatenate(parts)[: int(seconds * RATE)]


def dtmf(seconds: float, seed: int = 3) -> np.ndarray:
    """Key presses: 100 ms tones, 100 ms gaps, a 1 s pause after every 11 digits (a phone number)."""
    rng = np.random.default_rng(seed)
    keys = list(DTMF)
    parts, total, n = [], 0, 0
    gap = np.zeros(int(0.1 * RATE), dtype=np.float32)
    while total < seconds * RATE:
        low, high = DTMF[keys[int(rng.integers(len(keys)))]]
        tone = _tone([low, high], 0.1, 0.5)
        parts += [tone, gap]
        total += tone.size + gap.size
        n += 1
        if n % 11 == 0:
            parts.append(np.zeros(RATE, dtype=np.float32))
            total += RATE
    return np.concatenate(parts)[: int(seconds * RATE)]


SIGNALS = {"silence": silence, "music": music, "white_noise": white_noise, "dtmf": dtmf}


# -- recordings for fault 5 ---------------------------------------------------------------------------

def wav_bytes(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    n = int(samples.size * rate / RATE)
    return np.interp(np.linspace(0, samples.size - 1, n), np.arange(samples.size), samples).astype(np.float32)


def bad_files(folder: Path, speech: np.ndarray) -> dict[str, bool]:
    """Write the fault-5 set into `folder`; {file name: should it transcribe}."""
    folder.mkdir(parents=True, exist_ok=True)
    good = wav_bytes(speech, RATE)
    rng = np.random.default_rng(5)
    files: dict[str, tuple[bytes, bool]] = {
        "good.wav": (good, True),
        "odd-rate-11025.wav": (wav_bytes(resample(speech, 11025), 11025), True),
        "odd-rate-22050-stereo.wav": (wav_bytes(np.repeat(resample(speech, 22050), 2), 22050, 2), True),
        "corrupt.wav": (b"RIFF" + rng.bytes(40_000), False),
        "random.mp3": (rng.bytes(30_000), False),
        "text.wav": ("这不是录音，是一段文字。\n".encode() * 100, False),
        "truncated.wav": (good[: len(good) // 3], False),
        "header-only.wav": (good[:44], False),
        "empty.wav": (b"", False),
        "rate-1hz.wav": (_wav_with_rate(good, 1), False),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: ok for name, (_, ok) in files.items()}


def _wav_with_rate(wav: bytes, rate: int) -> bytes:
    """The same WAV whose header claims another sample rate (byte rate to match)."""
    head = bytearray(wav[:44])
    struct.pack_into("<I", head, 24, rate)
    struct.pack_into("<I", head, 28, rate * 2)
    return bytes(head) + wav[44:]
