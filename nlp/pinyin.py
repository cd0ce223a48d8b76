"""Pinyin keys that are tolerant of ASR / accent confusions.

A *key* is a tuple of toneless syllables after merging sounds that Whisper and southern-accented
speakers confuse (zh/z, ch/c, sh/s, l/n, h/f, in/ing, en/eng, an/ang). Every reading of a
heteronym is kept (长 chang/zhang, 行 hang/xing), so 闵行 matches "min hang" and 长宁 "chang ning".
"""
from __future__ import annotations

from functools import lru_cache
from itertools import product

from pypinyin import Style, pinyin

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h",
             "j", "q", "x", "r", "z", "c", "s", "y", "w")
_INITIAL_MERGE = {"zh": "z", "ch": "c", "sh": "s", "n": "l", "f": "h"}
# front/back nasal merges (iang -> ian, uang -> uan follow from ang -> an). ie/ian is not
# merged: it made 街 (jie) match 江/间 and cost more precision than it bought recall.
_FINAL_MERGE = (("ing", "in"), ("eng", "en"), ("ang", "an"))
MAX_READINGS = 2        # per character: pypinyin lists common readings first; rarer ones add noise


def merge_syllable(syl: str) -> str:
    """Map one toneless pinyin syllable to its confusion-class representative."""
    syl = syl.lower().replace("ü", "v")
    ini = ""
    for cand in _INITIALS:
        if syl.startswith(cand):
            ini = cand
            break
    fin = syl[len(ini):]
    ini = _INITIAL_MERGE.get(ini, ini)
    for a, b in _FINAL_MERGE:
        if fin.endswith(a):
            fin = fin[: -len(a)] + b
            break
    return ini + fin


@lru_cache(maxsize=20000)
def char_keys(ch: str) -> tuple[str, ...]:
    """Merged readings of one character ('' tuple for non-Chinese characters)."""
    if not ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"):
        return ()
    reads = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    if not reads or not reads[0]:
        return ()
    out: list[str] = []
    for r in reads[0][:MAX_READINGS]:
        m = merge_syllable(r)
        if m not in out:
            out.append(m)
    return tuple(out)


@lru_cache(maxsize=20000)
def char_plain(ch: str) -> tuple[str, ...]:
    """Unmerged toneless readings of one character (for scoring exactness)."""
    if not ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"):
        return ()
    reads = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return tuple(reads[0][:MAX_READINGS]) if reads and reads[0] else ()


def name_keys(name: str, limit: int = 16) -> list[str]:
    """All merged keys of a name (space-joined syllables), heteronym combinations capped."""
    per = [char_keys(c) for c in name]
    if any(not p for p in per):
        return []
    keys: list[str] = []
    for combo in product(*per):
        keys.append(" ".join(combo))
        if len(keys) >= limit:
            break
    return keys


def plain_syllables(text: str) -> list[tuple[str, ...]]:
    return [char_plain(c) for c in text]


def plain_equal(a: str, b: str) -> bool:
    """True when two strings of equal length share a toneless reading at every position."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if not set(char_plain(x)) & set(char_plain(y)):
            return False
    return True
