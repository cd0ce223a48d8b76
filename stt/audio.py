"""Audio in: files (anything PyAV/FFmpeg decodes) and raw PCM16 frames -> float32 at 16 kHz.

Channels are kept (shape ``(channels, n)``): on a stereo call recording channel 0 is the operator
and channel 1 the caller, and that split must survive into the transcript.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MIN_RATE, MAX_RATE = 8000, 192000   # telephone narrowband up to studio rates
MAX_CHANNELS = 2                     # operator + caller
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".m4a", ".ogg", ".opus", ".aac", ".webm")


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file and the reason."""


@dataclass
class Audio:
    samples: np.ndarray      # float32, (channels, n) at `sample_rate`
    sample_rate: int
    source_rate: int
    source_codec: str
    path: str | None = None

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) data bytes of a RIFF/WAVE file whose data chunk is cut short, else None.

    FFmpeg derives a WAV's duration from the file size, so a cut-off file decodes silently
    shorter; the data chunk header still says how much there should be.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                present = path.stat().st_size - fh.tell()
                # 0 / 0xFFFFFFFF mean "unknown length" (streamed WAVs): not a truncation.
                if size not in (0, 0xFFFFFFFF) and present < size:
                    return size, present
                return None
            fh.seek(size + (size & 1), 1)


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Decode a whole file to float32 ``(channels, n)`` at `sample_rate`.

    Raises AudioError (naming the file) for a missing file, non-audio, no samples, a truncated
    file, or a rate outside 8-192 kHz.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    short = _wav_shortfall(path)
    if short:
        raise AudioError(f"{path}: truncated WAV (data chunk declares {short[0]} bytes, file holds {short[1]})")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:  # type: ignore[attr-defined]
        raise AudioError(f"{path}: not a readable audio file ({exc})") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: contains no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if not MIN_RATE <= rate <= MAX_RATE:
            raise AudioError(f"{path}: unsupported sample rate {rate} Hz (need {MIN_RATE}-{MAX_RATE})")
        src_channels = int(stream.codec_context.channels or 1)
        channels = min(src_channels, MAX_CHANNELS)
        resampler = av.AudioResampler(format="fltp", layout=_layout(channels), rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None  # decoders of broken files emit odd pts; the resampler does not need them
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            raise AudioError(f"{path}: decoding failed ({exc})") from None
        declared = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        codec = stream.codec_context.name
    if not chunks:
        raise AudioError(f"{path}: no audio samples could be decoded")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if samples.shape[1] == 0:
        raise AudioError(f"{path}: no audio samples could be decoded")
    got = samples.shape[1] / sample_rate
    # A header promising more than the file holds means a cut-off upload or copy.
    if declared is not None and declared - got > max(0.5, 0.02 * declared):
        raise AudioError(f"{path}: truncated (header says {declared:.2f} s, only {got:.2f} s decodable)")
    return Audio(samples, sample_rate, rate, codec, str(path))


class PcmConverter:
    """Interleaved little-endian int16 frames at any rate -> float32 ``(channels, n)`` at 16 kHz.

    Stateful: an odd trailing byte or partial sample frame is kept for the next call, and
    the resampler's filter state carries across calls so chunk boundaries are inaudible.
    """

    def __init__(self, sample_rate: int, channels: int, out_rate: int = SAMPLE_RATE) -> None:
        if not MIN_RATE <= sample_rate <= MAX_RATE:
            raise AudioError(f"stream: unsupported sample rate {sample_rate} Hz (need {MIN_RATE}-{MAX_RATE})")
        if channels not in (1, 2):
            raise AudioError(f"stream: unsupported channel count {channels} (need 1 or 2)")
        self.sample_rate = sample_rate
        self.channels = channels
        self.out_rate = out_rate
        self._pending = b""
        self._resampler = None
        if sample_rate != out_rate:
            import av

            self._resampler = av.AudioResampler(format="fltp", layout=_layout(channels), rate=out_rate)

    def pcm16(self, data: bytes) -> np.ndarray:
        """Decode PCM16 bytes (interleaved) to float32 (channels, n) at the stream's own rate."""
        data = self._pending + bytes(data)
        frame_bytes = 2 * self.channels
        usable = len(data) - len(data) % frame_bytes
        self._pending = data[usable:]
        ints = np.frombuffer(data[:usable], dtype="<i2")
        return (ints.reshape(-1, self.channels).T.astype(np.float32) / 32768.0)

    def convert(self, samples: np.ndarray) -> np.ndarray:
        """float32 (channels, n) or (n,) at the stream's rate -> (channels, m) at out_rate."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[None, :]
        if samples.ndim != 2 or samples.shape[0] != self.channels:
            raise AudioError(f"stream: expected {self.channels} channel(s), got array of shape {samples.shape}")
        if self._resampler is None or samples.shape[1] == 0:
            return np.ascontiguousarray(samples)
        import av

        # av wants interleaved packed s16/flt or planar fltp; planar float keeps full precision.
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=_layout(self.channels))
        frame.sample_rate = self.sample_rate
        outs = [o.to_ndarray() for o in self._resampler.resample(frame)]
        if not outs:
            return np.zeros((self.channels, 0), np.float32)
        return np.concatenate(outs, axis=1).astype(np.float32, copy=False)

    def flush(self) -> np.ndarray:
        if self._resampler is None:
            return np.zeros((self.channels, 0), np.float32)
        outs = [o.to_ndarray() for o in self._resampler.resample(None)]
        return np.concatenate(outs, axis=1).astype(np.float32) if outs else np.zeros((self.channels, 0), np.float32)


def iter_audio_files(paths: list[str | Path]) -> list[Path]:
    """Files given directly, plus audio files found recursively in given folders (sorted)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS))
        else:
            found.append(p)
    return found
