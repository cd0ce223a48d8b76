"""`StreamingTranscriber`: one call. Audio in (any frame size), VAD per channel, a final per
finished utterance and throttled greedy partials while one is open; finals emitted in order
whatever decoder worker finishes first.
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from stt.audio import SAMPLE_RATE, PcmConverter
from stt.decoder import PRIORITY_FINAL, PRIORITY_HUNG_UP, PRIORITY_PARTIAL, DecodeJob, DecoderPool
from stt.options import TranscriberOptions
from stt.vad import StreamingVad, VadOptions
from stt.whisper import DecodeResult

log = logging.getLogger(__name__)

SPEAKERS = ("operator", "caller")


@dataclass
class Segment:
    id: int                 # per call, increasing; partials carry the id their final will get
    start: float            # seconds from call start
    end: float
    text: str               # Simplified Chinese, post-processed ("" on a final = retract the partial)
    speaker: str | None     # "operator"/"caller" for stereo (channel 0/1), None for mono
    final: bool
    channel: int = 0

    def to_dict(self) -> dict:
        return {"id": self.id, "start": round(self.start, 2), "end": round(self.end, 2), "text": self.text,
                "speaker": self.speaker, "final": self.final, "channel": self.channel}


@dataclass
class _Utterance:
    id: int
    start: int                 # sample index (16 kHz, call start = 0)
    partial_pos: int = 0       # audio position of the last partial request
    partial_pending: bool = False
    partial_shown: bool = False
    closed: bool = False


@dataclass
class _PendingFinal:
    segment: Segment
    utterance: _Utterance
    done: bool = False


class _Channel:
    def __init__(self, index: int, vad: VadOptions) -> None:
        self.index = index
        self.vad = StreamingVad(vad)
        self.buf = np.zeros(0, np.float32)
        self.base = 0              # sample index of buf[0]
        self.open: _Utterance | None = None

    @property
    def position(self) -> int:
        return self.base + len(self.buf)

    def slice(self, start: int, end: int) -> np.ndarray:
        return self.buf[max(0, start - self.base): max(0, end - self.base)].copy()

    def trim(self) -> None:
        keep_from = self.open.start if self.open else self.position - SAMPLE_RATE  # 1 s covers VAD's look-back
        keep_from = min(keep_from, self.vad.speech_start if self.vad.in_speech else keep_from)
        cut = keep_from - self.base
        if cut > 4 * SAMPLE_RATE:  # trim in steps: copying on every frame would be quadratic
            self.buf = self.buf[cut:].copy()
            self.base += cut


class StreamingTranscriber:
    """One call: feed audio incrementally, get partial and final Segments via `on_segment`."""

    def __init__(self, decoder: DecoderPool, *, sample_rate: int = SAMPLE_RATE, channels: int = 1,
                 hotwords: Iterable[str] = (), on_segment: Callable[[Segment], None] | None = None,
                 call_id: str | None = None, options: TranscriberOptions | None = None,
                 prior: Iterable[Segment] = (), time_offset: float = 0.0) -> None:
        """prior / time_offset: a call taken over from another server (web/leases.py): its stored
        finals (context for the next decode, and in `.segments`), new ids after theirs, and the
        audio fed from now on starts `time_offset` seconds into the call."""
        self.decoder = decoder
        self.options = options or decoder.options
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.channels = channels
        self.on_segment = on_segment
        self._hotwords = tuple(dict.fromkeys(w for w in hotwords if w))
        self._converter = PcmConverter(sample_rate, channels)
        self._channels = [_Channel(i, self.options.vad) for i in range(channels)]
        prior = sorted(prior, key=lambda seg: (seg.start, seg.id))
        self.time_offset = float(time_offset)
        self._ids = itertools.count(max((seg.id for seg in prior), default=-1) + 1)
        self._lock = threading.RLock()
        self._done = threading.Condition(self._lock)
        self._pending_finals = 0
        self._order: collections.deque[_PendingFinal] = collections.deque()  # finals not yet emitted
        self._emit_lock = threading.Lock()
        self._finals: list[Segment] = list(prior)
        self._chain: collections.deque[DecodeJob] = collections.deque()  # finals waiting for their context
        self._chain_busy = False        # a final of this call is being decoded (context_chars > 0)
        self.ended = False
        self.ended_at: float | None = None      # monotonic time of end() ("hang-up")
        self.last_final_at: float | None = None
        self.asr_seconds = 0.0                  # decoder time spent on this call
        self.audio_seconds = 0.0
        self.final_timing: dict[int, tuple[float, float]] = {}  # id -> (submitted, decoded) monotonic
        self.final_seconds: dict[int, float] = {}  # id -> decoder time of that final (server metrics)

    # -- input ----------------------------------------------------------------------------
    def feed_pcm16(self, data: bytes) -> None:
        self.feed(self._converter.pcm16(data))

    def feed(self, samples: np.ndarray) -> None:
        """float32 samples at the call's sample_rate, shape (n,) or (channels, n)."""
        if self.ended:
            raise RuntimeError(f"call {self.call_id}: feed() after end()")
        audio = self._converter.convert(samples)
        self._process(audio)

    def _process(self, audio: np.ndarray) -> None:
        if audio.shape[1] == 0:
            return
        with self._lock:
            self.audio_seconds += audio.shape[1] / SAMPLE_RATE
            for ch in self._channels:
                ch.buf = np.concatenate([ch.buf, audio[ch.index]])
                for ev in ch.vad.feed(audio[ch.index]):
                    self._on_vad(ch, ev)
                self._maybe_partial(ch)
                ch.trim()

    def set_hotwords(self, words: Iterable[str]) -> None:
        """Hotwords for this call's later decodes (e.g. place names the extractor suspects)."""
        with self._lock:
            self._hotwords = tuple(dict.fromkeys(w for w in words if w))

    @property
    def hotwords(self) -> tuple[str, ...]:
        return self._hotwords

    # -- VAD events -------------------------------------------------------------------------
    def _on_vad(self, ch: _Channel, ev) -> None:
        if ev.kind == "start":
            ch.open = _Utterance(next(self._ids), ev.start, partial_pos=ev.start)
            return
        utt, ch.open = ch.open, None
        if utt is None:
            return
        utt.closed = True
        if ev.end is None:  # too short to be speech
            if utt.partial_shown:
                self._emit(Segment(utt.id, self._t(ev.start), self._t(ch.vad.position), "",
                                   self._speaker(ch), True, ch.index))
            return
        self._submit_final(ch, utt, ev.start, ev.end)

    def _t(self, sample: int) -> float:
        """Seconds from the call's start of a sample position in the audio fed here."""
        return sample / SAMPLE_RATE + self.time_offset

    def _speaker(self, ch: _Channel) -> str | None:
        return SPEAKERS[ch.index] if self.channels == 2 else None

    def _submit_final(self, ch: _Channel, utt: _Utterance, start: int, end: int) -> None:
        audio = ch.slice(start, end)
        seg = Segment(utt.id, self._t(start), self._t(end), "", self._speaker(ch), True, ch.index)
        submitted = time.monotonic()

        entry = _PendingFinal(seg, utt)

        def done(res: DecodeResult | None) -> None:
            with self._lock:
                self.asr_seconds += res.seconds if res else 0.0
                seg.text = res.text if res else ""
                now = time.monotonic()
                self.final_timing[seg.id] = (submitted, now)
                self.final_seconds[seg.id] = res.seconds if res else 0.0
                if seg.text:
                    self._finals.append(seg)
                    self._finals.sort(key=lambda s: (s.start, s.id))
                self.last_final_at = now
                entry.done = True
                self._chain_busy = False
            self._emit_finals_in_order()
            self._next_in_chain()

        with self._lock:
            self._pending_finals += 1
            self._order.append(entry)
            self._chain.append(DecodeJob(audio, self._hotwords, True, done, owner=self))
        self._next_in_chain()

    def _context(self) -> str:
        """The end of the call's text so far (the prompt's context for the next decode)."""
        n = self.options.context_chars
        tail, size = [], 0
        for seg in reversed(self._finals):      # only the last few finals: partials ask for it too
            if size >= n:
                break
            tail.append(seg.text)
            size += len(seg.text)
        return "".join(reversed(tail))[-n:] if n > 0 else ""

    def _next_in_chain(self) -> None:
        """Submit waiting finals. With context on, a call's finals go one after another, each with
        the text before it; without, all at once."""
        while True:
            with self._lock:
                if not self._chain or (self._chain_busy and self.options.context_chars > 0):
                    return
                job = self._chain.popleft()
                job.context = self._context()
                job.hotwords = self._hotwords          # the newest (place names found meanwhile)
                self._chain_busy = True
                prio = PRIORITY_HUNG_UP if self.ended else PRIORITY_FINAL
            try:
                self.decoder.submit(job, prio)
            except RuntimeError:                       # decoder closed: the final ends empty, nothing hangs
                job.callback(None)

    def _emit_finals_in_order(self) -> None:
        """Emit decoded finals in submission order (several decoder workers finish out of order)."""
        with self._emit_lock:   # one emitter at a time, so the order holds across threads
            while True:
                with self._lock:
                    if not self._order or not self._order[0].done:
                        return
                    entry = self._order.popleft()
                if entry.segment.text or entry.utterance.partial_shown:
                    self._emit(entry.segment)
                with self._lock:
                    self._pending_finals -= 1
                    self._done.notify_all()

    def _maybe_partial(self, ch: _Channel) -> None:
        utt = ch.open
        o = self.options
        if not o.partials or utt is None or utt.partial_pending:
            return
        pos = ch.position
        # Not more often than the decoders can afford: at least 3x a partial's own decode time
        # apart (per worker). The first partial of an utterance is short, cheap audio: it comes
        # after partial_interval_s whatever long partials cost (they set partial_cost).
        first = utt.partial_pos == utt.start   # no partial asked for yet
        workers = max(1, getattr(self.decoder, "workers", 1))
        interval = o.partial_interval_s if first else max(o.partial_interval_s, 3.0 * self.decoder.partial_cost / workers)
        if pos - utt.partial_pos < interval * SAMPLE_RATE or pos - utt.start < 0.5 * SAMPLE_RATE:
            return
        # Skipped when behind: finals waiting means the decoder has no time to spare for previews.
        if self.decoder.finals_waiting() > 0:
            return
        utt.partial_pos = pos
        utt.partial_pending = True
        audio = ch.slice(utt.start, pos)
        start_s, end_s = self._t(utt.start), self._t(pos)

        def done(res: DecodeResult | None) -> None:
            with self._lock:
                utt.partial_pending = False
                if res is None or utt.closed or not res.text:
                    return
                self.asr_seconds += res.seconds
                utt.partial_shown = True
            self._emit(Segment(utt.id, start_s, end_s, res.text, self._speaker(ch), False, ch.index))

        self.decoder.submit(DecodeJob(audio, self._hotwords, False, done, owner=self,
                                      is_stale=lambda: utt.closed, context=self._context()), PRIORITY_PARTIAL)

    def _emit(self, seg: Segment) -> None:
        if self.on_segment:
            try:
                self.on_segment(seg)
            except Exception:
                log.exception("on_segment failed")

    # -- end of call ---------------------------------------------------------------------------
    def end(self) -> None:
        """Hang-up: close open utterances now and decode them ahead of every other call."""
        with self._lock:
            if self.ended:
                return
            tail = self._converter.flush()
            if tail.shape[1]:
                self._process(tail)
            self.ended = True
            self.ended_at = time.monotonic()
            for ch in self._channels:
                for ev in ch.vad.flush():
                    self._on_vad(ch, ev)
        self.decoder.promote(self)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted final is decoded; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while self._pending_finals > 0:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._done.wait(left)
            return True

    @property
    def segments(self) -> list[Segment]:
        with self._lock:
            return list(self._finals)

    def transcript(self) -> str:
        return "\n".join(s.text for s in self.segments)


def transcribe_audio(decoder: DecoderPool, samples: np.ndarray, *, hotwords: Iterable[str] = (),
                     call_id: str | None = None, chunk_s: float = 1.0,
                     options: TranscriberOptions | None = None) -> StreamingTranscriber:
    """Batch helper: feed a whole (channels, n) 16-kHz array as fast as possible, return the finished call."""
    samples = np.atleast_2d(samples)
    opts = options or TranscriberOptions(**{**decoder.options.__dict__, "partials": False})
    st = StreamingTranscriber(decoder, sample_rate=SAMPLE_RATE, channels=samples.shape[0], hotwords=hotwords,
                              call_id=call_id, options=opts)
    step = int(chunk_s * SAMPLE_RATE)
    for i in range(0, samples.shape[1], step):
        st.feed(samples[:, i:i + step])
    st.end()
    st.wait()
    return st
