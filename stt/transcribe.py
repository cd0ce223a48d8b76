"""Streaming transcription: VAD-cut utterances decoded one by one by a shared Whisper model.

The parts live in modules of their own; this one keeps the names others import:

- `stt.options`: `TranscriberOptions`.
- `stt.whisper`: `WhisperDecoder` (utterance audio -> text with the CTranslate2 model), `DecodeResult`.
- `stt.decoder`: `DecoderPool` (the interface: a priority queue of `DecodeJob`s — finals of calls
  that have hung up, then other finals, then partials), `SharedDecoder` (in-process threads, the
  default), `load_decoder` (picks it or `stt.ray_decoder.RayDecoder`, Ray Serve replicas).
- `stt.streaming`: `StreamingTranscriber` (one call), `Segment`, `transcribe_audio`.
"""
from __future__ import annotations

from stt.decoder import (PRIORITY_FINAL, PRIORITY_HUNG_UP, PRIORITY_PARTIAL, DecodeJob, DecoderPool, SharedDecoder,
                         load_decoder)
from stt.options import TranscriberOptions
from stt.streaming import SPEAKERS, Segment, StreamingTranscriber, transcribe_audio
from stt.whisper import DecodeResult, WhisperDecoder, _compression_ratio, _copied

__all__ = [
    "PRIORITY_FINAL", "PRIORITY_HUNG_UP", "PRIORITY_PARTIAL", "SPEAKERS", "DecodeJob", "DecodeResult", "DecoderPool",
    "Segment", "SharedDecoder", "StreamingTranscriber", "TranscriberOptions", "WhisperDecoder", "load_decoder",
    "transcribe_audio",
    "_compression_ratio", "_copied",
]
