"""Sound-alike correction of place names: 母单将路 -> 牡丹江路, 银口路 -> 营口路, 浦陀区 -> 普陀区.

Whisper base hears Shanghai place names by sound and writes whatever characters fit. A name
ending in a place suffix (路, 区, 街道, 镇, ...) whose pinyin matches a known place is replaced by
that place. Exact toneless pinyin first; then a "fuzzy" pinyin that merges the pairs Whisper
and Shanghai speakers confuse (in/ing, en/eng, an/ang, z/zh, c/ch, s/sh, l/n). A window is
replaced only when exactly one known name fits, so ambiguity leaves the text alone.

The names come from the project's gazetteer (nlp/data/gazetteer/shanghai.json) plus per-call
hotwords; without the gazetteer nothing is corrected.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Iterable

SUFFIXES = ("街道", "公路", "大道", "新村", "路", "区", "镇", "街", "弄")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FUZZY_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"), ("iong", "ong"))


def _pinyin(text: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return lazy_pinyin(text)


def _fuzzy(syllable: str) -> str:
    for a, b in _FUZZY_INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a):]
            break
    for a, b in _FUZZY_FINALS:
        if syllable.endswith(a):
            syllable = syllable[: -len(a)] + b
            break
    return syllable


def _keys(text: str) -> tuple[str, str]:
    syl = _pinyin(text)
    return " ".join(syl), " ".join(_fuzzy(s) for s in syl)


class PlaceCorrector:
    """Replace sound-alike misspellings of known place names in a transcript line."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: set[str] = set()
        self._exact: dict[tuple[str, str], set[str]] = {}   # (suffix, pinyin of stem) -> names
        self._fuzzy: dict[tuple[str, str], set[str]] = {}
        self._lengths: set[int] = set()
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        name = name.strip()
        suffix = next((s for s in SUFFIXES if name.endswith(s)), None)
        stem = name[: -len(suffix)] if suffix else ""
        if not suffix or len(stem) < 2 or name in self.names or not all(_CJK.match(c) for c in name):
            return  # one-character stems (东路, 新区) would match far too much ordinary speech
        self.names.add(name)
        exact, fuzzy = _keys(stem)
        self._exact.setdefault((suffix, exact), set()).add(name)
        self._fuzzy.setdefault((suffix, fuzzy), set()).add(name)
        self._lengths.add(len(stem))

    def correct(self, text: str, extra: Iterable[str] = ()) -> str:
        """Text with misheard place names replaced (extra: per-call names, e.g. hotwords)."""
        if not self.names and not extra:
            return text
        me = self
        if extra:
            new = [n for n in extra if n not in self.names]
            if new:
                me = PlaceCorrector(new)
                me._merge(self)
        out, i = [], 0
        pattern = re.compile("|".join(map(re.escape, SUFFIXES)))
        last = 0
        for m in pattern.finditer(text):
            if m.start() < last:
                continue
            suffix = m.group()
            replaced = me._best(text, m.start(), suffix, last)
            if replaced:
                start, name = replaced
                out.append(text[last:start])
                out.append(name)
                last = m.end()
        out.append(text[last:])
        return "".join(out)

    def _merge(self, other: "PlaceCorrector") -> None:
        self.names |= other.names
        for src, dst in ((other._exact, self._exact), (other._fuzzy, self._fuzzy)):
            for k, v in src.items():
                dst.setdefault(k, set()).update(v)
        self._lengths |= other._lengths

    def _best(self, text: str, end: int, suffix: str, floor: int) -> tuple[int, str] | None:
        """(start, name) for the stem just before text[end:] + suffix, longest stem first."""
        for n in sorted(self._lengths, reverse=True):
            start = end - n
            if start < floor:
                continue
            stem = text[start:end]
            if not all(_CJK.match(c) for c in stem):
                continue
            if stem + suffix in self.names:
                return None  # already a known place (a shorter window must not rewrite it)
            exact, fuzzy = _keys(stem)
            hits = self._exact.get((suffix, exact))
            if not hits:
                hits = self._fuzzy.get((suffix, fuzzy))
            if hits and len(hits) == 1:
                return start, next(iter(hits))
        return None


def gazetteer_names(path: str | Path | None = None) -> list[str]:
    """District, street/town and road names from the project's gazetteer ([] if it is absent)."""
    from config import NLP_DATA

    path = Path(path) if path else NLP_DATA / "gazetteer" / "shanghai.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    names = [d["name"] for d in data.get("districts", [])]
    names += [s["name"] for s in data.get("streets", [])]
    names += [r["name"] for r in data.get("roads", [])]
    return names


@functools.lru_cache(maxsize=1)
def default_corrector() -> PlaceCorrector:
    return PlaceCorrector(gazetteer_names())
