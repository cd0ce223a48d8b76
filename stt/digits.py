"""Second-pass decode of utterances that carry a phone number.

Whisper base drops or regroups digits when a caller says an 11-digit mobile fast
("13601855472" -> "136-185-452"). An utterance whose text has a digit run that is not a valid
number (stt/phone_numbers.py: a mobile or a Shanghai landline; 12xxx service lines
excepted), or a phone cue with such a run, is decoded again a few ways that favour digits: a
prompt full of digit-form numbers and no hotwords, and the audio slowed down (pitch-preserving
``atempo``). The valid number most tries agree on replaces the broken digit run in the
first-pass text. Utterances without that need cost nothing.

Measured when it was added, with two tries (whole pipeline, transcribe_audio, the 18 dev calls
with a phone label; shared CPU): phone right 8/18 -> 16/18 at 16 kHz, 4/18 -> 13/18 at 8 kHz;
mean CER 0.1470 -> 0.1437 (16k), 0.2149 -> 0.2137 (8k); 0.7-1.0 s one try, 1.3-2.3 s two. Up to
four tries now (DigitOptions.tempos): see the README for the full eval.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from stt.phone_numbers import SERVICE_NUMBERS, service_number, valid_phone

SAMPLE_RATE = 16000
_CN = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
       "六": "6", "七": "7", "八": "8", "九": "9"}
_DIGIT = {**{str(i): str(i) for i in range(10)}, **{chr(0xFF10 + i): str(i) for i in range(10)}, **_CN}
_SEP = set("-－— ")          # ASR groups a number as 136-185-452 or 136 185 452
_GAP = set("，,、。. -－—")
_YAO = set("要妖腰药邀雕")   # 幺 (yao, "one") as the digit-prompted decode sometimes writes it
_CUES = ("电话", "号码", "手机", "联系方式", "联系电话", "座机")


@dataclass
class DigitOptions:
    enabled: bool = True
    # Numbers in the prompt written as Chinese digits: Whisper then writes one token per digit
    # instead of multi-digit Arabic tokens, and drops far fewer digits of a fast-said number
    # (label-turn slices of the 18 dev calls with a phone, 16k+8k: Arabic-digit prompt 13/36
    # right, no prompt 18/36, this prompt 30/36, slowed to 0.85x 28/36).
    prompt: str = "我的电话是一三八一二三四五六七八。手机号码幺五九八七六五四三二一。联系电话一八六零一七六二三九五。"
    beam_size: int = 5
    # Tries in order: the audio as is, then slower and slower (pitch kept). A number heard
    # `agreement` times ends the tries; after the last, the number heard most often wins (ties:
    # the first heard). Label-turn slices of the 18 dev calls with a phone, right at 16 / 8 kHz:
    # (1.0, 0.85) first valid 16 / 14 (1 wrong); these four, agreement 2: 16 / 16 (1 wrong),
    # 2.5 / 2.7 tries per number instead of 1.2 / 1.3.
    tempos: tuple[float, ...] = (1.0, 0.85, 0.75, 0.7)
    agreement: int = 2
    min_run: int = 5              # shorter digit runs are house numbers, dates, prices
    # Service numbers said whole (a line the caller is referred to): never a broken phone. Every
    # 12xxx government line (12345 itself, 12333 ...) is one too: no phone starts with 12.
    known: tuple[str, ...] = SERVICE_NUMBERS
    max_seconds: float = 15.0     # longer audio: not a phone utterance (VAD caps at 15 s anyway)


@dataclass
class DigitRun:
    digits: str
    start: int          # [start, end) in the text
    end: int


@dataclass
class DigitResult:
    text: str               # the text to emit (the original when nothing better was found)
    number: str | None      # the valid number the tries agreed on
    tries: list[str]        # texts of the tries, in order
    seconds: float


def digit_runs(text: str, yao: bool = False) -> list[DigitRun]:
    """Runs of Arabic or Chinese digits, single separators inside allowed ("136-185-452");
    ``yao``: a homophone of 幺 next to Chinese digits counts as 1 (only for digit-prompted text)."""
    def is_digit(k: int) -> bool:
        if text[k] in _DIGIT:
            return True
        return yao and text[k] in _YAO and ((k + 1 < n and text[k + 1] in _CN) or (k > 0 and text[k - 1] in _CN))

    runs: list[DigitRun] = []
    i, n = 0, len(text)
    while i < n:
        if not is_digit(i):
            i += 1
            continue
        j, ds = i, []
        while j < n:
            if is_digit(j):
                ds.append(_DIGIT.get(text[j], "1"))
                j += 1
            elif text[j] in _SEP and j + 1 < n and is_digit(j + 1) and j > i:
                j += 1
            else:
                break
        runs.append(DigitRun("".join(ds), i, j))
        i = j
    return runs


def valid_number(digits: str) -> bool:
    """A caller's phone number as stt/phone_numbers.py defines it (the one nlp.phones takes)."""
    return valid_phone(digits)


# How people group a phone number when they say it (mobile 3-4-4, landline 4-4) and how Whisper
# writes it: a valid-looking number grouped any other way ("136-1018-545-2") had digits dropped
# and others split or repeated, so it is decoded again like a broken one.
_GROUPINGS = {(11,), (3, 4, 4), (3, 8), (7, 4), (8,), (4, 4)}


def _grouping(text: str, run: DigitRun) -> tuple[int, ...]:
    return tuple(len(g) for g in re.split("[" + re.escape("".join(_SEP)) + "]", text[run.start:run.end]) if g)


def _service(digits: str, known: tuple[str, ...]) -> bool:
    return service_number(digits, known)     # 12333 社保, 12366 税务, 12329 公积金 ... and ``known``


def _suspect_runs(text: str, min_run: int, known: tuple[str, ...] = ()) -> list[DigitRun]:
    # Chinese-digit runs need more length: 一 and 两 are ordinary words too.
    out = []
    for r in digit_runs(text):
        spoken = not text[r.start].isdigit()
        if len(r.digits) < (min_run if not spoken else max(min_run, 7)) or _service(r.digits, known):
            continue
        if not valid_number(r.digits) or _grouping(text, r) not in _GROUPINGS:
            out.append(r)
    return out


def phone_asked(context: str, tail: int = 24) -> bool:
    """The text just before an utterance (its decode context) asks for a phone number: a cue in
    its last sentence (请问您贵姓，联系电话多少？)."""
    last = re.split(r"[。！!\n]", (context or "")[-tail:])[-1]
    return any(c in last for c in _CUES)


def needs_second_pass(text: str, *, asked: bool = False, options: DigitOptions | None = None) -> bool:
    """A digit run that is no valid number; or (cue in text or operator just asked) and no number."""
    o = options or DigitOptions()
    if not o.enabled or not text:
        return False
    if _suspect_runs(text, o.min_run, o.known):
        return True
    runs = digit_runs(text)
    if any(valid_number(r.digits) for r in runs):
        return False
    # A cue with a few digits left (the rest dropped): "电话是136"; the operator's question alone
    # ("您的电话是多少") has none and is not decoded again.
    cue = asked or any(c in text for c in _CUES)
    return cue and any(len(r.digits) >= 3 and not _service(r.digits, o.known) for r in runs)


def stretch(audio: np.ndarray, tempo: float) -> np.ndarray:
    """Time-stretch 16-kHz mono float32 audio by ``tempo`` (<1 slower), pitch kept (ffmpeg atempo)."""
    if tempo == 1.0:
        return audio
    import av

    graph = av.filter.Graph()
    src = graph.add_abuffer(format="flt", sample_rate=SAMPLE_RATE, layout="mono")
    f = graph.add("atempo", str(tempo))
    sink = graph.add("abuffersink")
    src.link_to(f)
    f.link_to(sink)
    graph.configure()
    frame = av.AudioFrame.from_ndarray(np.asarray(audio, np.float32).reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = 0
    graph.push(frame)
    graph.push(None)
    out = []
    while True:
        try:
            out.append(graph.pull().to_ndarray().reshape(-1))
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return np.concatenate(out).astype(np.float32) if out else audio


def _numbers(text: str) -> list[str]:
    return [r.digits for r in digit_runs(text, yao=True) if valid_number(r.digits)]


def _merge(text: str, number: str, min_run: int, known: tuple[str, ...] = ()) -> str:
    """Put ``number`` in place of the broken number in ``text``: digit runs at most two
    punctuation marks apart ("139、1765、421") count as one; the suspect or the longest such group."""
    groups: list[list[DigitRun]] = []
    for r in digit_runs(text):
        gap = text[groups[-1][-1].end:r.start] if groups else None
        if gap is not None and len(gap) <= 2 and all(c in _GAP for c in gap):
            groups[-1].append(r)
        else:
            groups.append([r])
    groups = [g for g in groups if sum(len(r.digits) for r in g) >= 3 and not _service("".join(r.digits for r in g), known)]
    if not groups:
        return text
    suspect = {(r.start, r.end) for r in _suspect_runs(text, min_run, known)}
    g = next((g for g in groups if any((r.start, r.end) in suspect for r in g)), None) \
        or max(groups, key=lambda g: sum(len(r.digits) for r in g))
    return text[:g[0].start] + number + text[g[-1].end:]


def second_pass(audio: np.ndarray, text: str, decode: Callable[[Sequence[np.ndarray]], list[str]],
                options: DigitOptions | None = None) -> DigitResult:
    """Decode ``audio`` again per ``options.tempos`` with ``decode`` (digit prompt, no hotwords),
    one try at a time until a valid number has been heard ``options.agreement`` times (else the
    one heard most often); that number replaces the broken run."""
    o = options or DigitOptions()
    t0 = time.perf_counter()
    tries: list[str] = []
    if len(audio) > o.max_seconds * SAMPLE_RATE:
        return DigitResult(text, None, tries, 0.0)
    heard: dict[str, int] = {}      # insertion order = the order first heard
    for tempo in o.tempos:
        out = decode([stretch(audio, tempo)])[0]
        tries.append(out)
        nums = _numbers(out)
        if nums:
            heard[nums[0]] = heard.get(nums[0], 0) + 1
            if heard[nums[0]] >= o.agreement:
                break
    if not heard:
        return DigitResult(text, None, tries, time.perf_counter() - t0)
    number = max(heard, key=heard.get)    # max keeps the first of equal counts
    return DigitResult(_merge(text, number, o.min_run, o.known), number, tries, time.perf_counter() - t0)
