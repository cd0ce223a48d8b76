"""Second decode of a reply the domain prompt talked over.

With the domain prompt, Whisper base writes a caller's short answer to 您贵姓 ("姓蔡，电话…"),
mostly on 8-kHz audio, as the prompt's own question ("请问您贵姓，联系电话…"): the surname is
lost. A final that *opens* with that question is decoded again with no prompt at all. If that
decode hears the question too, the operator really asked it and nothing changes; otherwise its
words before the first digit or phone cue (the answer: 姓蔡, 姓袁袁女士, 幸因，因始的因) replace
the echoed question. The rest of the prompted text stays when it holds a number (its digits are
better than the unprompted decode's); otherwise the unprompted decode replaces the whole text.
The call's own text as context (TranscriberOptions.context_chars) ends with the operator's
您贵姓？ before the answer, and Whisper copies its 贵姓 after a misheard word or two (戴先生 as
带贵姓): that opening counts as an echo too.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from stt.digits import digit_runs
from stt.postprocess import strip_punct

_PUNCT = "，,。.？?！!、；; "
_CUES = ("电话", "联系", "手机", "号码", "座机")


@dataclass
class EchoOptions:
    enabled: bool = True
    question: str = "请问您贵姓"      # the prompt's question Whisper copies onto the answer
    min_tail: int = 3                 # "您贵姓" (its last characters) at the start counts too
    max_lead: int = 3                 # its last two ("贵姓") after up to this many other characters
                                      # too (请带贵姓: the call's context ends with the question)


@functools.lru_cache(maxsize=8)
def _question_re(question: str, min_tail: int, max_lead: int) -> re.Pattern:
    tails = sorted({question[i:] for i in range(0, len(question) - min_tail + 1)}, key=len, reverse=True)
    led = f"[^{re.escape(_PUNCT)}\\d]{{1,{max_lead}}}?{re.escape(question[-2:])}" if max_lead else None
    return re.compile("(?:" + "|".join([*map(re.escape, tails), *([led] if led else [])]) + f")[{re.escape(_PUNCT)}]*")


def _echo_prefix(text: str, o: EchoOptions) -> int:
    """Length of the echoed question(s) the text opens with (0: none)."""
    pat = _question_re(o.question, o.min_tail, o.max_lead)
    end = 0
    while (m := pat.match(text, end)) and m.end() > end:
        end = m.end()
    return end


def echoed(text: str, options: EchoOptions | None = None) -> bool:
    o = options or EchoOptions()
    return o.enabled and bool(text) and _echo_prefix(text, o) > 0


def _says(text: str, word: str) -> bool:
    """``word`` in ``text`` by sound (toneless pinyin, in/ing merged): 请问你贵性 still asks."""
    from pypinyin import lazy_pinyin

    def keys(s: str) -> list[str]:
        return [p[:-1] if p.endswith("ng") and p[-3:-2] == "i" else p for p in lazy_pinyin(s)]

    hay, needle = keys(strip_punct(text)), keys(word)
    return any(hay[i:i + len(needle)] == needle for i in range(len(hay) - len(needle) + 1))


def _number_starts(text: str) -> list[int]:
    return [r.start for r in digit_runs(text) if len(r.digits) >= 3]


def _answer_head(plain: str) -> str:
    """The unprompted decode up to its first number or phone cue."""
    cut = len(plain)
    runs = _number_starts(plain)
    cues = [plain.find(c) for c in _CUES if c in plain]
    cut = min([cut] + runs + cues)
    return plain[:cut].strip(_PUNCT)


def repair(text: str, plain: str, options: EchoOptions | None = None) -> str | None:
    """``text`` with its echoed question replaced by the answer heard in ``plain`` (the same
    audio decoded without a prompt); None when there is nothing to change."""
    o = options or EchoOptions()
    n = _echo_prefix(text, o)
    if not n or not plain or _says(plain, o.question[-2:]):
        return None        # not an echo, or the question really was asked
    rest = text[n:]
    if not _number_starts(rest):
        return plain       # no number to keep from the prompted decode: the unprompted one, whole
    head = _answer_head(plain)
    if not head:
        return None
    return head + "，" + rest
