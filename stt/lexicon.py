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
# Last characters that can stand for a place suffix (路 heard as 陆/录, 区 as 去, 镇 as 阵 ...):
# only windows ending in one of these are looked up, which keeps the scan cheap.
_SUFFIX_SOUNDS = set("路陆录鹿露炉卢芦区去曲趣取渠镇阵振震真针珍街接节结界道到倒导岛弄农浓龙村存寸")
# everyday words that end in a suffix sound (已经记录 is not 金齐路, 情况记录 not 广纪路)
_WORD_ENDINGS = ("记录", "纪录", "目录", "登录", "收录", "笔录", "抄录", "语录", "实录", "道路", "马路", "思路",
                 "线路", "出路", "走路", "一路", "进去", "出去", "过去", "回去", "下去", "上去")
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


_ASPIRATION = {"p": "b", "t": "d", "k": "g", "c": "z", "q": "j"}


def _fuzzier(syllable: str) -> str:
    """Also merge aspirated/unaspirated initials (重明 ~ 崇明): only for names of 3+ syllables."""
    return _ASPIRATION.get(syllable[:1], syllable[:1]) + syllable[1:]


def _keys(text: str) -> tuple[str, str, str]:
    syl = _pinyin(text)
    fuzzy = [_fuzzy(s) for s in syl]
    return " ".join(syl), " ".join(fuzzy), " ".join(_fuzzier(s) for s in fuzzy)


class PlaceCorrector:
    """Replace sound-alike misspellings of known place names in a transcript line.

    Windows of the text are matched by the pinyin of the whole name, suffix included, so a
    misheard suffix is fixed too (杨普去 -> 杨浦区, 成乔阵 -> 城桥镇).
    """

    def __init__(self, names: Iterable[str], stopwords: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.stopwords = set(stopwords)
        self._exact: dict[str, set[str]] = {}   # toneless pinyin of the name -> names
        self._fuzzy: dict[str, set[str]] = {}
        self._fuzzier: dict[str, set[str]] = {}
        self._lengths: set[int] = set()
        self._cache: dict[str, tuple[str, str, str]] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        name = name.strip()
        suffix = next((s for s in SUFFIXES if name.endswith(s)), None)
        stem = name[: -len(suffix)] if suffix else ""
        if not suffix or len(stem) < 2 or name in self.names or not all(_CJK.match(c) for c in name):
            return  # one-character stems (东路, 新区) would match far too much ordinary speech
        self.names.add(name)
        exact, fuzzy, fuzzier = _keys(name)
        self._exact.setdefault(exact, set()).add(name)
        self._fuzzy.setdefault(fuzzy, set()).add(name)
        self._fuzzier.setdefault(fuzzier, set()).add(name)
        self._lengths.add(len(name))

    def _merge(self, other: "PlaceCorrector") -> None:
        self.names |= other.names
        for src, dst in ((other._exact, self._exact), (other._fuzzy, self._fuzzy), (other._fuzzier, self._fuzzier)):
            for k, v in src.items():
                dst.setdefault(k, set()).update(v)
        self._lengths |= other._lengths

    def _window_keys(self, window: str) -> tuple[str, str, str]:
        keys = self._cache.get(window)
        if keys is None:
            keys = _keys(window)
            if len(self._cache) > 50000:
                self._cache.clear()
            self._cache[window] = keys
        return keys

    def _match(self, window: str) -> str | None:
        exact, fuzzy, fuzzier = self._window_keys(window)
        hits = self._exact.get(exact) or self._fuzzy.get(fuzzy)
        if not hits and len(window) >= 3:
            hits = self._fuzzier.get(fuzzier)
        if hits and len(hits) == 1:
            return next(iter(hits))
        return None  # unknown or ambiguous: leave the text alone

    def correct(self, text: str, extra: Iterable[str] = ()) -> str:
        """Text with misheard place names replaced (extra: per-call names, e.g. hotwords)."""
        me = self
        new = [n for n in extra if n not in self.names] if extra else []
        if new:
            me = PlaceCorrector(new, self.stopwords)
            me._merge(self)
        if not me.names:
            return text
        lengths = sorted(me._lengths, reverse=True)
        out, i, n = [], 0, len(text)
        while i < n:
            if not _CJK.match(text[i]):
                out.append(text[i])
                i += 1
                continue
            for length in lengths:  # longest name first, left to right, no overlaps
                window = text[i:i + length]
                if len(window) < length or not all(_CJK.match(c) for c in window):
                    continue
                if window in me.names:
                    out.append(window)
                    i += length
                    break
                if window[-1] not in _SUFFIX_SOUNDS or any(window.startswith(w) for w in me.stopwords) \
                        or window.endswith(_WORD_ENDINGS):
                    continue
                name = me._match(window)
                if name:
                    out.append(name)
                    i += length
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)


def gazetteer_names(path: str | Path | None = None) -> list[str]:
    """District, street/town and road names from the project's gazetteer ([] if it is absent),
    with the roads of the centre's own map (the gazetteer overlay) when no path is given."""
    from config import NLP_DATA

    default = not path
    path = Path(path) if path else NLP_DATA / "gazetteer" / "shanghai.json"
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    names = [d["name"] for d in data.get("districts", [])]
    names += [s["name"] for s in data.get("streets", [])]
    # roads listed later without context ('curated-more') are matched by the extractor, not here
    names += [r["name"] for r in data.get("roads", []) if set(r.get("sources", ["curated"])) != {"curated-more"}]
    if default:
        from nlp.gazetteer import read_overlay

        try:
            names += [r["name"] for r in (read_overlay() or {}).get("roads", [])]
        except (OSError, ValueError) as e:   # a broken overlay must not stop transcription
            import logging

            logging.getLogger(__name__).warning("gazetteer overlay not used for ASR correction: %s", e)
    return names


@functools.lru_cache(maxsize=1)
def default_corrector() -> PlaceCorrector:
    from stt.postprocess import DATA

    stop = json.loads(DATA.read_text(encoding="utf-8")).get("place_stopwords", [])
    return PlaceCorrector(gazetteer_names(), stop)
