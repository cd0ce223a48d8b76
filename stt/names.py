"""Second-pass decode of the caller's short answer to 您贵姓.

The answer is two or three syllables said once ("我姓杨。", "姓戴，戴先生。"), and Whisper base,
prompted with the hotline's domain text, often writes 姓 as a sound-alike (我先扬, 新戴、戴新生,
信谁) or the surname as another word. A short utterance whose first-pass text has a 姓-like
syllable or a title is decoded again with a prompt made of surname answers; the new text is
kept when it states a surname (姓X) that sounds like something in the first pass (the prompt's
surnames must not name the caller) and loses no phone number the first pass had. Like the digit
pass (stt/digits.py) it looks only at the utterance itself, so it needs no call context and
works the same live and in batch. Which surname is right is nlp's business (nlp/entities.py).
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from stt.digits import digit_runs, valid_number

SAMPLE_RATE = 16000
_CJK = "\u4e00-\u9fff"
# 姓 (xing) as a first pass writes it: 信/新/心 (xin), 先/现/陷 (xian), 尽/近 (jin), 行/星 (xing), 希 (xi).
_XING_SOUNDS = {"xing", "xin", "xian", "jin", "xi"}   # 姓王 -> 希望
_STATES_SURNAME = re.compile(rf"姓[{_CJK}]")
_ASKS = re.compile(r"(?<!免)贵姓|怎么称呼")   # the operator asking, not 免贵姓


@dataclass
class NameOptions:
    enabled: bool = True
    # Surname answers as callers give them: 姓 said plainly, with the title, with the spelling.
    # Many surnames once each (百家姓 order), so that none is favoured.
    prompt: str = ("请问您贵姓？免贵姓赵。我姓钱，钱先生。姓孙，孙女士。我姓李，木子李。姓周。"
                   "我姓吴，口天吴。姓郑，郑先生。我姓王。姓冯。我姓陈，耳东陈。")
    max_seconds: float = 8.0      # the answer, perhaps with the phone number after it
    lead_chars: int = 3           # 姓 opens the answer: 姓黄 / 我姓杨 / 免贵姓赵
    beam_size: int = 5


@dataclass
class NameResult:
    text: str             # the text to emit (the first pass when the name pass did not help)
    tried: str | None     # the name pass's text
    seconds: float


def needs_name_pass(text: str, seconds: float, options: NameOptions | None = None) -> bool:
    """A short utterance that opens with 姓 or a syllable that sounds like it."""
    from pypinyin import lazy_pinyin

    o = options or NameOptions()
    if not o.enabled or not text or seconds > o.max_seconds or _ASKS.search(text):
        return False
    lead = re.sub(rf"[^{_CJK}]", "", text)[: o.lead_chars]
    return "姓" in lead or any(p in _XING_SOUNDS for p in lazy_pinyin(lead))


def _sounds(ch: str) -> set[str]:
    """Every reading of a character, with confusable sounds merged (stt/lexicon.py)."""
    from pypinyin import Style, pinyin

    from stt.lexicon import _fuzzy

    return {_fuzzy(p) for p in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]}


def _heard(surname: str, first_pass: str, lead: int) -> bool:
    """The opening of the first pass has a character that sounds like ``surname``: the prompt's
    surnames must not put a name in the caller's mouth (the prompt fixes how 姓 is heard, not who)."""
    want = _sounds(surname)
    return any(want & _sounds(ch) for ch in re.sub(rf"[^{_CJK}]", "", first_pass)[:lead])


def _numbers(text: str) -> set[str]:
    return {r.digits for r in digit_runs(text) if valid_number(r.digits)}


def name_pass(audio: np.ndarray, text: str, decode: Callable[[Sequence[np.ndarray]], list[str]],
              options: NameOptions | None = None) -> NameResult:
    """Decode ``audio`` with the surname prompt; keep it if it states a surname and drops no number."""
    o = options or NameOptions()
    t0 = time.perf_counter()
    out = decode([audio])[0]
    # the answer opens with 姓X (姓X / 我姓X / 免贵姓X), and X was heard near the start before
    stated = _STATES_SURNAME.search(re.sub(rf"[^{_CJK}]", "", out or "")[: o.lead_chars + 1])
    keep = bool(stated) and _heard(stated.group()[-1], text, o.lead_chars + 2) \
        and _numbers(text) <= _numbers(out) and out.strip("。，") not in o.prompt
    return NameResult(out if keep else text, out, time.perf_counter() - t0)
