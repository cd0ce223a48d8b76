"""Streaming voice activity detection with the Silero VAD model bundled in faster-whisper.

faster-whisper runs Silero over a whole file at once; here the LSTM state (h, c) and the
64-sample context are carried from call to call, so audio can arrive in frames of any size.
Audio is processed in fixed 512-sample (32 ms) chunks at 16 kHz; leftovers wait for more.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

CHUNK = 512       # samples per VAD step at 16 kHz
CONTEXT = 64      # samples of the previous chunk the v6 model sees


@functools.lru_cache(maxsize=1)
def _session():
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


class SileroStream:
    """Speech probability per 512-sample chunk, state carried across `__call__`s."""

    def __init__(self) -> None:
        self._session = _session()
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._leftover = np.zeros(0, np.float32)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities for every complete chunk now available (may be empty)."""
        audio = np.concatenate([self._leftover, np.asarray(samples, np.float32)])
        n = len(audio) // CHUNK
        self._leftover = audio[n * CHUNK:]
        if n == 0:
            return np.zeros(0, np.float32)
        chunks = audio[: n * CHUNK].reshape(n, CHUNK)
        contexts = np.concatenate([self._context[None, :], chunks[:-1, -CONTEXT:]], axis=0)
        batch = np.concatenate([contexts, chunks], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = chunks[-1, -CONTEXT:].copy()
        return np.asarray(probs, np.float32).reshape(-1)


@dataclass
class VadOptions:
    threshold: float = 0.5            # speech starts above this probability
    neg_threshold: float = 0.35       # and ends below this one (hysteresis)
    min_silence_s: float = 0.5        # silence that ends an utterance
    max_utterance_s: float = 15.0     # force a split (at the last short pause if any)
    split_silence_s: float = 0.1      # a pause this long is a good place for a forced split
    min_speech_s: float = 0.25        # shorter blips (clicks, breaths) are dropped
    pad_s: float = 0.2                # audio kept around speech on each side


@dataclass
class VadEvent:
    kind: str           # "start" (utterance opened) or "end" (utterance closed)
    start: int          # sample index (16 kHz, from stream start), padding included
    end: int | None     # for "end"


class StreamingVad:
    """Turns a stream of 16 kHz samples into utterance start/end events.

    Mirrors faster-whisper's get_speech_timestamps (threshold hysteresis, min silence, forced
    split at the last pause) but decides online, so an utterance is closed min_silence_s after
    the speech stops instead of after the whole file has been seen.
    """

    def __init__(self, options: VadOptions | None = None, sample_rate: int = 16000) -> None:
        self.opt = options or VadOptions()
        self.sr = sample_rate
        self.model = SileroStream()
        self.position = 0                # samples consumed by the model (multiple of CHUNK)
        self._triggered = False
        self._start = 0                  # speech start (unpadded)
        self._temp_end = 0               # start of the current silence run inside speech
        self._prev_end = 0               # end of the last pause long enough to split at
        self._next_start = 0             # speech restart after that pause
        self._last_end = 0               # padded end of the previous utterance (no overlap)
        self._pad = int(self.opt.pad_s * sample_rate)

    @property
    def in_speech(self) -> bool:
        return self._triggered

    @property
    def speech_start(self) -> int:
        """Padded start sample of the open utterance."""
        return max(self._last_end, self._start - self._pad)

    def _close(self, end: int, events: list[VadEvent]) -> None:
        start = self.speech_start
        if end - self._start >= self.opt.min_speech_s * self.sr:
            padded_end = min(end + self._pad, self.position)  # never past the audio we have
            events.append(VadEvent("end", start, padded_end))
            self._last_end = padded_end
        else:
            events.append(VadEvent("end", start, None))  # dropped: too short to be speech
        self._triggered = False
        self._temp_end = self._prev_end = self._next_start = 0

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        events: list[VadEvent] = []
        o = self.opt
        min_silence = o.min_silence_s * self.sr
        split_silence = o.split_silence_s * self.sr
        max_len = o.max_utterance_s * self.sr - 2 * self._pad
        for prob in self.model(samples):
            i = self.position
            self.position += CHUNK
            if prob >= o.threshold and self._temp_end:
                self._temp_end = 0
                if self._next_start < self._prev_end:
                    self._next_start = i
            if prob >= o.threshold and not self._triggered:
                self._triggered = True
                self._start = i
                self._temp_end = self._prev_end = self._next_start = 0
                events.append(VadEvent("start", self.speech_start, None))
                continue
            if self._triggered and i - self._start > max_len:
                if self._prev_end:
                    restart = self._next_start if self._next_start >= self._prev_end else 0
                    self._close(self._prev_end, events)
                    if restart:
                        # speech resumed after the pause: open the next utterance right there
                        self._triggered = True
                        self._start = restart
                        events.append(VadEvent("start", self.speech_start, None))
                else:
                    self._close(i, events)
                    # still speaking: continue in a new utterance without padding overlap
                    self._triggered = True
                    self._start = i
                    events.append(VadEvent("start", self.speech_start, None))
                continue
            if prob < o.neg_threshold and self._triggered:
                if not self._temp_end:
                    self._temp_end = i
                if i - self._temp_end > split_silence:
                    self._prev_end = self._temp_end
                if i - self._temp_end >= min_silence:
                    self._close(self._temp_end, events)
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open utterance at the last sample seen."""
        events: list[VadEvent] = []
        if self._triggered:
            end = self._temp_end or self.position
            self._close(end, events)
        return events
