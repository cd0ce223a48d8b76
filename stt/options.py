"""`TranscriberOptions`: how utterances are cut, decoded and cleaned (one definition for the decoder
pool, the Whisper decoder and the per-call transcriber)."""
from __future__ import annotations

from dataclasses import dataclass, field

from stt.digits import DigitOptions
from stt.echo import EchoOptions
from stt.vad import VadOptions


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

