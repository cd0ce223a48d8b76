"""Streaming transcription: VAD-cut utterances decoded one by one by a shared Whisper model.

- `WhisperDecoder` turns utterance audio into text with the CTranslate2 model directly. The
  encoder is fed the utterance padded with silence to a 15-s window (VAD caps utterances at
  15 s) instead of faster-whisper's fixed 30-s one: about half the encode cost, and on the dev
  calls a lower CER than 30 s (shorter windows are cheaper still but lose 1-2 CER points; see
  TranscriberOptions.frame_bucket). Partials use 3-s buckets.
- `SharedDecoder` owns the model and one worker thread per CTranslate2 replica (on CPU one
  single-threaded replica per core: twice the throughput of one two-threaded model on 2 cores);
  a priority queue orders the work: finals of calls that have hung up, then other finals, then
  partials (stale ones dropped). A call's finals are emitted in order whatever worker finishes first.
- `StreamingTranscriber` is one call: audio in (any frame size), VAD per channel, a final per
  finished utterance and throttled greedy partials while one is open.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from stt.audio import SAMPLE_RATE, PcmConverter
from stt.digits import DigitOptions, needs_second_pass, second_pass
from stt.echo import EchoOptions, echoed, repair
from stt.postprocess import Vocabulary, default_vocabulary, postprocess, strip_punct, tidy_punctuation
from stt.vad import StreamingVad, VadOptions

log = logging.getLogger(__name__)

PRIORITY_HUNG_UP, PRIORITY_FINAL, PRIORITY_PARTIAL = 0, 1, 2
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
class TranscriberOptions:
    language: str = "zh"
    beam_size: int = 5                    # finals
    initial_prompt: str | None = None     # None -> stt/data/hotline_vocab.json
    no_speech_threshold: float = 0.6      # drop a decode that is likely not speech ...
    log_prob_threshold: float = -1.0      # ... when it is also unsure
    compression_ratio_threshold: float = 2.4  # above: a loop; retried with a repetition penalty
    encoder: str = "short"                # "short": utterance frames only; "full": 30-s window
    tail_pad_s: float = 0.5               # silence after speech so the decoder sees the end
    # Encoder window: the utterance padded up to a multiple of frame_bucket mel frames (10 ms each).
    # Measured on 12 dev calls (16 kHz, CER): 1 s buckets 16.0 %, 3 s 15.4 %, 10 s 15.1 %, 15 s 14.4 %,
    # the 30-s window 15.7 %; padding with silent audio instead of zero features: 15 s -> 13.95 %.
    frame_bucket: int = 1500              # 15 s: VAD caps utterances at 15 s, so one window, half of 30 s
    pad_mode: str = "audio"               # "audio": silent samples (floor of the log-mel); "features": zeros
    partials: bool = True
    partial_interval_s: float = 1.0       # at most one partial per channel per this much audio
    partial_max_wait_s: float = 1.0       # a partial queued longer than this is outdated: dropped
    partial_frame_bucket: int = 300       # partials trade a little accuracy for speed (3-s buckets)
    max_batch: int = 1                    # finals decoded together in one encode/generate
    max_new_tokens: int = 160
    # The call so far as context: the last context_chars characters of the call's earlier finals
    # go after the domain prompt (Whisper's condition_on_previous_text, per call), so the reply
    # follows its question. A call's finals are then decoded one after another. Measured on the 36
    # dev calls, per utterance (mean CER 16 kHz / 8 kHz): none 14.6 / 21.1 %, 30 characters
    # 14.3 / 20.5 %, 60 characters (which pushes the start of the domain prompt out of Whisper's
    # 223-token prompt) 14.6 / 20.0 %.
    context_chars: int = 30
    place_correction: bool = True         # sound-alike place names -> gazetteer spelling (stt/lexicon.py)
    digits: DigitOptions = field(default_factory=DigitOptions)  # phone-number second pass (stt/digits.py)
    echo: EchoOptions = field(default_factory=EchoOptions)      # answers the prompt talked over (stt/echo.py)
    vad: VadOptions = field(default_factory=VadOptions)


@dataclass
class DecodeResult:
    text: str
    raw_text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    seconds: float          # wall time of this decode (shared by a batch, divided evenly)


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


def _copied(text: str, context: str, min_chars: int = 4) -> bool:
    """The decode repeats a stretch of the prompt's context (not short words like 对/好的 that recur)."""
    said = strip_punct(text)
    return len(said) >= min_chars and said in strip_punct(context)


class WhisperDecoder:
    """Utterance audio -> text with a faster-whisper model's CTranslate2 core. Not thread-safe."""

    def __init__(self, model, options: TranscriberOptions | None = None, vocabulary: Vocabulary | None = None) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.model = model
        self.options = options or TranscriberOptions()
        self.vocab = vocabulary or default_vocabulary()
        self.tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                                   language=self.options.language)
        self.suppress = get_suppressed_tokens(self.tokenizer, [-1])
        self.max_length = model.max_length
        prompt = self.options.initial_prompt if self.options.initial_prompt is not None else self.vocab.initial_prompt
        self._prompt_tokens = self.tokenizer.encode(" " + prompt.strip()) if prompt else []
        self._prompt_cache: dict[tuple, list[int]] = {}
        self._prompt_lock = threading.Lock()
        self.digit_passes = 0       # finals decoded again for a phone number, and their time
        self.digit_seconds = 0.0
        self.places = None
        if self.options.place_correction:
            from stt.lexicon import default_corrector

            self.places = default_corrector()

    # -- prompt ---------------------------------------------------------------------------
    def prompt(self, hotwords: Sequence[str] = (), context: str = "") -> list[int]:
        """[sot_prev] hotwords + domain prompt + call context [sot zh transcribe notimestamps]
        (the layout of faster-whisper's initial_prompt + previous text)."""
        key = (tuple(hotwords), context)
        with self._prompt_lock:     # SharedDecoder also asks for prompt lengths when it forms batches
            return self._prompt_locked(key, hotwords, context)

    def _prompt_locked(self, key: tuple, hotwords: Sequence[str], context: str) -> list[int]:
        if key not in self._prompt_cache:
            budget = self.max_length // 2 - 1
            hot = self.tokenizer.encode(" " + "，".join(hotwords)) if hotwords else []
            ctx = self.tokenizer.encode(context)[-(budget // 2):] if context else []
            prev = (hot + self._prompt_tokens)[-(budget - len(ctx)):] + ctx
            tokens = ([self.tokenizer.sot_prev] + prev if prev else []) + list(self.tokenizer.sot_sequence)
            self._prompt_cache[key] = tokens + [self.tokenizer.no_timestamps]
            if len(self._prompt_cache) > 256:
                self._prompt_cache.pop(next(iter(self._prompt_cache)))
        return self._prompt_cache[key]

    # -- features -------------------------------------------------------------------------
    def features(self, audio: np.ndarray) -> np.ndarray:
        fe = self.model.feature_extractor
        mel = fe(np.asarray(audio, np.float32))[:, :-1]
        mel = mel[:, : fe.nb_max_frames]
        return mel

    def target_frames(self, n_frames: int, bucket: int | None = None) -> int:
        full = self.model.feature_extractor.nb_max_frames
        if self.options.encoder == "full":
            return full
        tail = int(self.options.tail_pad_s * SAMPLE_RATE / self.model.feature_extractor.hop_length)
        bucket = bucket or self.options.frame_bucket
        return min(full, -(-(n_frames + tail) // bucket) * bucket)

    def frames_for(self, n_samples: int) -> int:
        return self.target_frames(min(n_samples // self.model.feature_extractor.hop_length,
                                      self.model.feature_extractor.nb_max_frames))

    # -- decoding -------------------------------------------------------------------------
    def decode(self, audios: Sequence[np.ndarray], hotwords: Sequence[Sequence[str]] | None = None,
               *, contexts: Sequence[str] | None = None, beam_size: int | None = None, bucket: int | None = None,
               depth: int = 0, correct: bool = True) -> list[DecodeResult]:
        """Decode utterances together (one encode + one generate for the batch)."""
        import ctranslate2

        t0 = time.perf_counter()
        o = self.options
        hotwords = hotwords or [()] * len(audios)
        contexts = contexts or [""] * len(audios)
        beam = beam_size or o.beam_size
        mels = [self.features(a) for a in audios]
        frames = max(self.target_frames(m.shape[1], bucket) for m in mels)
        if o.pad_mode == "audio":  # the padding is silence in the mel domain, not zero features
            hop = self.model.feature_extractor.hop_length
            mels = [self.features(np.pad(np.asarray(a, np.float32), (0, max(0, frames * hop - len(a)))))[:, :frames]
                    for a in audios]
        batch = np.zeros((len(mels), mels[0].shape[0], frames), np.float32)
        for i, m in enumerate(mels):
            batch[i, :, : m.shape[1]] = m
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)
        prompts = [self.prompt(tuple(h), c) for h, c in zip(hotwords, contexts)]
        max_length = min(self.max_length, max(len(p) for p in prompts) + o.max_new_tokens)
        results = self.model.model.generate(
            encoded, prompts, beam_size=beam, max_length=max_length, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self.suppress,
        )
        out = [self._result(r) for r in results]
        # Loops (very compressible text) get one more deterministic try with a repetition penalty.
        retry = [i for i, r in enumerate(out) if r.compression_ratio > o.compression_ratio_threshold]
        for i in retry:
            enc_i = self.model.model.encode(ctranslate2.StorageView.from_array(batch[i:i + 1]), to_cpu=False)
            again = self.model.model.generate(
                enc_i, [prompts[i]], beam_size=beam, max_length=max_length, return_scores=True,
                return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self.suppress,
                repetition_penalty=1.3, no_repeat_ngram_size=4,
            )[0]
            candidate = self._result(again)
            if candidate.compression_ratio < out[i].compression_ratio:
                out[i] = candidate
        # The context copied instead of the audio heard (a caller's first words written as the
        # operator's greeting just before them): decode that one again without the context.
        # (depth=2: no second passes inside; the ones below run on the new text)
        for i, r in enumerate(out):
            if contexts[i] and _copied(r.text, contexts[i]):
                out[i] = self.decode([audios[i]], [hotwords[i]], beam_size=beam, bucket=bucket, depth=2,
                                     correct=False)[0]
        # Whisper sometimes stops after the first sentence of a long utterance (the VAD merged a
        # short reply and the next turn across a pause under 0.5 s): far too little text for
        # the audio means decode the two halves, split at the quietest point, separately.
        if beam > 1 and depth < 2:
            for i, (audio, r) in enumerate(zip(audios, out)):
                if self._truncated(audio, r.text):
                    parts = self._split(audio)
                    if parts is None:
                        continue
                    subs = self.decode(parts, [hotwords[i]] * 2, contexts=[contexts[i]] * 2, beam_size=beam,
                                       bucket=bucket, depth=depth + 1, correct=False)
                    joined = tidy_punctuation("，".join(x.text for x in subs if x.text))
                    if len(strip_punct(joined)) > len(strip_punct(r.text)):
                        out[i] = DecodeResult(joined, " | ".join(x.raw_text for x in subs),
                                              min(x.avg_logprob for x in subs), min(x.no_speech_prob for x in subs),
                                              max(x.compression_ratio for x in subs), 0.0)
        # A short answer written as the prompt's question (姓蔡 -> 请问您贵姓): decode it again
        # with no prompt and keep the answer heard there (stt/echo.py).
        if beam > 1 and depth == 0 and o.echo.enabled:
            for audio, r in zip(audios, out):
                if echoed(r.text, o.echo):
                    plain = self.decode_prompted([audio], "", beam_size=beam)[0]
                    fixed = repair(r.text, plain, o.echo)
                    log.debug("prompt echo %r (unprompted %r) -> %r", r.text, plain, fixed)
                    if fixed:
                        r.text = fixed
        # Finals with a broken phone number: decode again with a digit prompt (stt/digits.py).
        if beam > 1 and depth == 0 and o.digits.enabled:
            for audio, r in zip(audios, out):
                if needs_second_pass(r.text, options=o.digits):
                    res = second_pass(audio, r.text, lambda xs: self.decode_prompted(
                        xs, o.digits.prompt, beam_size=o.digits.beam_size), o.digits)
                    self.digit_passes += 1
                    self.digit_seconds += res.seconds
                    log.debug("digit pass %.2fs %r -> %r (%s)", res.seconds, r.text, res.text, res.tries)
                    r.text = res.text
        if self.places is not None and correct:
            for r, hot in zip(out, hotwords):
                if r.text:
                    r.text = self.places.correct(r.text, extra=hot)
        seconds = (time.perf_counter() - t0) / max(1, len(out))
        for r in out:
            r.seconds = seconds
        return out

    def decode_prompted(self, audios: Sequence[np.ndarray], prompt: str, *, beam_size: int | None = None) -> list[str]:
        """Decode with ``prompt`` in place of the domain prompt and hotwords (stt/digits.py's tries)."""
        import ctranslate2

        o = self.options
        hop = self.model.feature_extractor.hop_length
        frames = max(self.target_frames(self.features(a).shape[1]) for a in audios)
        batch = np.stack([self.features(np.pad(np.asarray(a, np.float32), (0, max(0, frames * hop - len(a)))))[:, :frames]
                          for a in audios])
        tokens = self.tokenizer.encode(" " + prompt.strip())[-(self.max_length // 2 - 1):]
        head = [self.tokenizer.sot_prev] + tokens + list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(batch), to_cpu=False)
        results = self.model.model.generate(
            encoded, [head] * len(audios), beam_size=beam_size or o.beam_size,
            max_length=min(self.max_length, len(head) + o.max_new_tokens), return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=self.suppress,
        )
        return [self._result(r).text for r in results]

    @staticmethod
    def _truncated(audio: np.ndarray, text: str, min_seconds: float = 4.0, chars_per_second: float = 1.5) -> bool:
        seconds = len(audio) / SAMPLE_RATE
        return seconds >= min_seconds and len(strip_punct(text)) < chars_per_second * seconds

    @staticmethod
    def _split(audio: np.ndarray, margin_s: float = 1.0) -> list[np.ndarray] | None:
        """Two halves cut in the quietest 200 ms (10-ms energy frames) at least margin_s from each end."""
        hop = SAMPLE_RATE // 100
        n = len(audio) // hop
        margin = int(margin_s * 100)
        if n < 2 * margin + 20:
            return None
        energy = (np.asarray(audio[: n * hop], np.float32).reshape(n, hop) ** 2).mean(1)
        smooth = np.convolve(energy, np.ones(20) / 20, mode="same")
        cut = (margin + int(np.argmin(smooth[margin:n - margin]))) * hop
        return [audio[:cut], audio[cut:]]

    def _result(self, r) -> DecodeResult:
        tokens = r.sequences_ids[0]
        raw = self.tokenizer.decode(tokens).strip()
        avg_logprob = r.scores[0] * (len(tokens) ** 1.0) / (len(tokens) + 1)
        ratio = _compression_ratio(raw)
        text = postprocess(raw, self.vocab)
        o = self.options
        # Silence, music or noise. With a domain prompt Whisper echoes the prompt over noise
        # with a good log-prob, so a high no-speech probability alone is enough to drop it;
        # a moderate one drops it only together with an unsure decode (Whisper's own rule).
        if r.no_speech_prob > o.no_speech_threshold or (
                r.no_speech_prob > o.no_speech_threshold / 2 and avg_logprob < o.log_prob_threshold):
            text = ""
        return DecodeResult(text, raw, float(avg_logprob), float(r.no_speech_prob), ratio, 0.0)


# --------------------------------------------------------------------------------------------
@dataclass(order=True)
class _Entry:
    priority: int
    seq: int
    job: "DecodeJob" = field(compare=False)


@dataclass
class DecodeJob:
    audio: np.ndarray
    hotwords: tuple[str, ...]
    final: bool
    callback: Callable[[DecodeResult | None], None]     # None: dropped (stale partial)
    owner: object = None
    context: str = ""                                   # the call's earlier text (TranscriberOptions.context_chars)
    is_stale: Callable[[], bool] = lambda: False
    submitted: float = field(default_factory=time.monotonic)


class SharedDecoder:
    """One loaded model for many calls: worker threads and a priority queue of decode jobs.

    ``workers`` threads each take the most urgent job; with a model loaded with as many
    CTranslate2 replicas (``num_workers``) they decode at the same time. A call's finals may then
    finish out of order: `StreamingTranscriber` emits them in order.
    """

    def __init__(self, model, options: TranscriberOptions | None = None, vocabulary: Vocabulary | None = None,
                 workers: int | None = None) -> None:
        self.options = options or TranscriberOptions()
        # default: as many threads as the model has replicas (CTranslate2 inter_threads)
        count = max(1, workers or int(getattr(model.model, "num_workers", 1) or 1))
        self.decoders = [WhisperDecoder(model, self.options, vocabulary) for _ in range(count)]
        self.decoder = self.decoders[0]
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stats = threading.Lock()
        self._closed = False
        self.busy_seconds = 0.0   # decoder time summed over workers
        self.decoded = 0
        self.batches = 0
        self.dropped_partials = 0
        self.partial_cost = 0.0   # moving average of a partial's decode time (s)
        self._threads = [threading.Thread(target=self._run, args=(d,), name=f"whisper-decoder-{i}", daemon=True)
                         for i, d in enumerate(self.decoders)]
        for t in self._threads:
            t.start()

    @property
    def workers(self) -> int:
        return len(self.decoders)

    @classmethod
    def load(cls, model_options=None, options: TranscriberOptions | None = None) -> "SharedDecoder":
        from models import load_whisper

        return cls(load_whisper(model_options), options)

    @property
    def model(self):
        return self.decoder.model

    def submit(self, job: DecodeJob, priority: int) -> None:
        with self._cv:
            if self._closed:
                raise RuntimeError("SharedDecoder is closed")
            heapq.heappush(self._heap, _Entry(priority, next(self._seq), job))
            self._cv.notify()

    def promote(self, owner: object) -> None:
        """A call hung up: its queued finals jump ahead of every other call's."""
        with self._cv:
            changed = False
            for e in self._heap:
                if e.job.owner is owner and e.job.final and e.priority != PRIORITY_HUNG_UP:
                    e.priority = PRIORITY_HUNG_UP
                    changed = True
            if changed:
                heapq.heapify(self._heap)

    def queue_length(self) -> int:
        with self._cv:
            return len(self._heap)

    def finals_waiting(self) -> int:
        with self._cv:
            return sum(1 for e in self._heap if e.job.final)

    @property
    def digit_passes(self) -> int:
        """Finals decoded again for a phone number (stt/digits.py), all workers."""
        return sum(d.digit_passes for d in self.decoders)

    @property
    def digit_seconds(self) -> float:
        return sum(d.digit_seconds for d in self.decoders)

    def _take(self) -> list[DecodeJob] | None:
        with self._cv:
            while not self._heap and not self._closed:
                self._cv.wait()
            if not self._heap:
                return None
            first = heapq.heappop(self._heap).job
            jobs = [first]
            if first.final and self.options.max_batch > 1:
                # Batch only finals of the same encoder length (padding would change their results)
                # and the same prompt length (CTranslate2's Whisper decodes a batch of prompts of
                # different lengths wrongly: measured, most of the text lost).
                shape = self._batch_shape(first)
                keep = []
                while self._heap and len(jobs) < self.options.max_batch:
                    e = heapq.heappop(self._heap)
                    if e.job.final and self._batch_shape(e.job) == shape:
                        jobs.append(e.job)
                    else:
                        keep.append(e)
                for e in keep:
                    heapq.heappush(self._heap, e)
            return jobs

    def _batch_shape(self, job: DecodeJob) -> tuple[int, int]:
        return self.decoder.frames_for(len(job.audio)), len(self.decoder.prompt(job.hotwords, job.context))

    def _run(self, decoder: WhisperDecoder) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            live = []
            now = time.monotonic()
            for job in jobs:
                if not job.final and (job.is_stale() or now - job.submitted > self.options.partial_max_wait_s):
                    self.dropped_partials += 1
                    job.callback(None)
                else:
                    live.append(job)
            if not live:
                continue
            t0 = time.perf_counter()
            try:
                final = live[0].final  # partials: greedy, shorter encoder window
                results = decoder.decode([j.audio for j in live], [j.hotwords for j in live],
                                         contexts=[j.context for j in live], beam_size=None if final else 1,
                                         bucket=None if final else self.options.partial_frame_bucket)
            except Exception:  # a bad job must not kill the worker that every call shares
                log.exception("decode failed")
                results = [None] * len(live)
            spent = time.perf_counter() - t0
            with self._stats:
                self.busy_seconds += spent
                if not live[0].final:
                    self.partial_cost = spent if not self.partial_cost else 0.8 * self.partial_cost + 0.2 * spent
                self.decoded += len(live)
                self.batches += 1
            for job, res in zip(live, results):
                try:
                    job.callback(res)
                except Exception:
                    log.exception("segment callback failed")

    def close(self, timeout: float | None = 10.0) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout)


# --------------------------------------------------------------------------------------------
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

    def __init__(self, decoder: SharedDecoder, *, sample_rate: int = SAMPLE_RATE, channels: int = 1,
                 hotwords: Iterable[str] = (), on_segment: Callable[[Segment], None] | None = None,
                 call_id: str | None = None, options: TranscriberOptions | None = None) -> None:
        self.decoder = decoder
        self.options = options or decoder.options
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.channels = channels
        self.on_segment = on_segment
        self._hotwords = tuple(dict.fromkeys(w for w in hotwords if w))
        self._converter = PcmConverter(sample_rate, channels)
        self._channels = [_Channel(i, self.options.vad) for i in range(channels)]
        self._ids = itertools.count()
        self._lock = threading.RLock()
        self._done = threading.Condition(self._lock)
        self._pending_finals = 0
        self._order: collections.deque[_PendingFinal] = collections.deque()  # finals not yet emitted
        self._emit_lock = threading.Lock()
        self._finals: list[Segment] = []
        self._chain: collections.deque[DecodeJob] = collections.deque()  # finals waiting for their context
        self._chain_busy = False        # a final of this call is being decoded (context_chars > 0)
        self.ended = False
        self.ended_at: float | None = None      # monotonic time of end() ("hang-up")
        self.last_final_at: float | None = None
        self.asr_seconds = 0.0                  # decoder time spent on this call
        self.audio_seconds = 0.0
        self.final_timing: dict[int, tuple[float, float]] = {}  # id -> (submitted, decoded) monotonic

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
                self._emit(Segment(utt.id, ev.start / SAMPLE_RATE, ch.vad.position / SAMPLE_RATE, "",
                                   self._speaker(ch), True, ch.index))
            return
        self._submit_final(ch, utt, ev.start, ev.end)

    def _speaker(self, ch: _Channel) -> str | None:
        return SPEAKERS[ch.index] if self.channels == 2 else None

    def _submit_final(self, ch: _Channel, utt: _Utterance, start: int, end: int) -> None:
        audio = ch.slice(start, end)
        seg = Segment(utt.id, start / SAMPLE_RATE, end / SAMPLE_RATE, "", self._speaker(ch), True, ch.index)
        submitted = time.monotonic()

        entry = _PendingFinal(seg, utt)

        def done(res: DecodeResult | None) -> None:
            with self._lock:
                self.asr_seconds += res.seconds if res else 0.0
                seg.text = res.text if res else ""
                now = time.monotonic()
                self.final_timing[seg.id] = (submitted, now)
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
        start_s, end_s = utt.start / SAMPLE_RATE, pos / SAMPLE_RATE

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


def transcribe_audio(decoder: SharedDecoder, samples: np.ndarray, *, hotwords: Iterable[str] = (),
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
