"""`WhisperDecoder`: utterance audio -> text with the CTranslate2 core of a faster-whisper model.

The encoder is fed the utterance padded with silence to a 15-s window (VAD caps utterances at
15 s) instead of faster-whisper's fixed 30-s one: about half the encode cost, and on the dev
calls a lower CER than 30 s (shorter windows are cheaper still but lose 1-2 CER points; see
TranscriberOptions.frame_bucket). Partials use 3-s buckets. Second passes (loops, copied
context, truncated utterances, prompt echoes, phone digits) and place-name correction run here.
"""
from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from stt.audio import SAMPLE_RATE
from stt.digits import needs_second_pass, phone_asked, second_pass
from stt.echo import echoed, repair
from stt.options import TranscriberOptions
from stt.postprocess import Vocabulary, default_vocabulary, postprocess, strip_punct, tidy_punctuation

log = logging.getLogger(__name__)


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
            for audio, r, ctx in zip(audios, out, contexts):
                # the operator's question just before (联系电话多少？) is the cue when the caller's
                # own 电话 was misheard (华妖三九…)
                if needs_second_pass(r.text, asked=phone_asked(ctx), options=o.digits):
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
