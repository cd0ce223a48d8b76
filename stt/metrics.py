"""Character error rate for Chinese transcripts, normalised the same way on both sides."""
from __future__ import annotations

import re

from stt.postprocess import to_simplified

_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4",
           "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUM_RUN = re.compile(r"[零〇一幺二两三四五六七八九十百千]+")


def _cn_number(run: str) -> str:
    """一三九 -> 139; 五百八十八 -> 588; 十五 -> 15. Spoken digits and positional numbers alike."""
    if not any(u in run for u in _UNITS):
        return "".join(_DIGITS.get(ch, ch) for ch in run)
    total, current = 0, 0
    for ch in run:
        if ch in _UNITS:
            total += (current or 1) * _UNITS[ch]
            current = 0
        elif ch == "两":
            current = 2
        else:
            current = int(_DIGITS[ch])
    return str(total + current)


def normalize(text: str) -> str:
    """Simplified, no punctuation or whitespace, Chinese numerals as digits, lower-case Latin."""
    text = to_simplified(text).lower()
    text = re.sub(r"[^\w]|_", "", text)
    # 两 alone is "two of" (两个人), not a digit: only convert runs that hold another numeral.
    text = _NUM_RUN.sub(lambda m: _cn_number(m.group()) if m.group() != "两" else m.group(), text)
    return text


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> tuple[float, int, int]:
    """(CER, edits, reference length) after `normalize` on both sides."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    edits = edit_distance(ref, hyp)
    return (edits / len(ref) if ref else float(bool(hyp))), edits, len(ref)
