"""Which character a caller's surname is: the surname tables (nlp/data/names.json), sounds,
homophones and the ways callers spell a surname out.

* ``surname_of_char``: a character ASR wrote, as a surname (itself, else the commonest surname
  that sounds like it: 洲 -> 周).
* ``homophones``: the common surnames of one sound (何/贺, 陈/程/成): a surname said but not
  spelled is one of these until the operator asks 哪个字.
* ``spellings``: a surname spelled out in a stretch of text, by sound as ASR writes it --
  its parts (耳东陈, 弓长张, 立早章, 木子李), a radical (三点水的汤, 草字头的范), or a word that
  holds it (茅草的茅, 时间的时, 是祝贺的贺; a misheard 深无空的深 still reads 孙悟空的孙). The
  spelled character is the surname, whatever homophone ASR wrote for it elsewhere.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path

from pypinyin import lazy_pinyin

from nlp.pinyin import char_keys, merge_syllable

DATA = Path(__file__).resolve().parent / "data" / "names.json"
CJK = r"\u4e00-\u9fff"
# words that stand before a title without being a name (我先生, 这位女士, 好的先生)
NEVER_SURNAME = set("我你您他她它这那哪位个的是了和跟给让叫请问好谢老小大各两一诸们嗯啊呢吧呀哦喂对")


@dataclass(frozen=True)
class SurnameTables:
    surnames: str
    rank: dict[str, int]
    compound: tuple[str, ...]
    readings: dict[str, str]
    group: dict[str, tuple[str, ...]]            # surname -> its homophone group, commonest first
    descriptions: dict[str, str]                 # 耳东 -> 陈
    radicals: dict[str, str]                     # radical name or alias -> surnames written with it
    radical_parts: dict[str, dict[str, str]]     # radical name -> {the other part: surname} (三点水+工: 江)
    male_titles: tuple[str, ...]
    female_titles: tuple[str, ...]
    male_cues: tuple[str, ...]
    female_cues: tuple[str, ...]
    default_title: str
    ambiguous: str
    by_pinyin: dict[str, str]
    # (word length, surname position, merged syllables of the other characters) -> [(word, surname)]
    spelling_words: dict[tuple, list[tuple[str, str]]]
    name_leads: tuple[str, ...] = ()                 # 我叫 / 我的名字是 (before the whole name)
    self_intro: dict = field(default_factory=dict)   # leads, nick_prefixes, self_titles, not_nicknames
    negations: tuple[str, ...] = ()                  # 不姓 / 不是 (a wrong surname corrected)
    given_gender: dict[str, str] = field(default_factory=dict)   # given-name character -> 先生/女士


@lru_cache(maxsize=1)
def tables() -> SurnameTables:
    d = json.loads(DATA.read_text(encoding="utf-8"))
    s = d["surnames"]
    readings = dict(d.get("readings", {}))
    by_py: dict[str, str] = {}
    for ch in s:  # most common first: the first surname with a pinyin wins the homophone tie
        by_py.setdefault(readings.get(ch) or lazy_pinyin(ch)[0], ch)
    for ch in s:  # then ASR-tolerant keys (陈 ← 尘 chen, 曹 ← 吵 chao→cao)
        for k in char_keys(ch):
            by_py.setdefault("~" + k, ch)
    spelling: dict[tuple, list[tuple[str, str]]] = {}
    for sur, words in d.get("spelling_words", {}).items():
        for w in words:
            for p, ch in enumerate(w):
                if ch != sur:
                    continue
                for others in _other_keys(w, p):
                    spelling.setdefault((len(w), p, others), []).append((w, sur))
    group: dict[str, tuple[str, ...]] = {}
    for members in d.get("homophones", {}).values():
        for ch in members:
            group[ch] = tuple(members)
    radicals = dict(d.get("radicals", {}))
    radical_parts = {k: dict(v) for k, v in d.get("radical_parts", {}).items()}
    for alias, name in d.get("radical_aliases", {}).items():
        radicals.setdefault(alias, radicals.get(name, ""))
        radical_parts.setdefault(alias, radical_parts.get(name, {}))
    return SurnameTables(
        surnames=s, rank={c: i for i, c in enumerate(s)}, compound=tuple(d.get("compound", [])),
        readings=readings, group=group, descriptions=dict(d.get("descriptions", {})), radicals=radicals,
        radical_parts=radical_parts,
        male_titles=tuple(sorted(d["male_titles"], key=len, reverse=True)),
        female_titles=tuple(sorted(d["female_titles"], key=len, reverse=True)),
        male_cues=tuple(d.get("male_cues", [])), female_cues=tuple(d.get("female_cues", [])),
        default_title=d.get("default_title", "女士"), ambiguous=d.get("ambiguous", ""), by_pinyin=by_py,
        spelling_words=spelling,
        name_leads=tuple(sorted(d.get("name_leads", ["我叫", "本人叫", "我的名字叫"]), key=len, reverse=True)),
        self_intro=dict(d.get("self_intro", {})),
        negations=tuple(sorted(d.get("negations", []), key=len, reverse=True)),
        given_gender={c: title for title, chars in d.get("given_name_gender", {}).items()
                      if title != "about" for c in chars},
    )


def _other_keys(word: str, skip: int) -> list[tuple[str, ...]]:
    """Merged-pinyin readings of ``word`` without the character at ``skip`` (heteronyms: each)."""
    per = [char_keys(c) for k, c in enumerate(word) if k != skip]
    if any(not p for p in per):
        return []
    return [tuple(c) for c in product(*per)][:8]


def sound(ch: str) -> str:
    """Toneless pinyin of a surname as a surname is read (曾 zeng, 单 shan), else of the character."""
    t = tables()
    return t.readings.get(ch) or (lazy_pinyin(ch)[0] if ch else "")


def sounds_alike(a: str, b: str) -> bool:
    """Two characters ASR may write for one spoken syllable (merged keys: zh/z, in/ing …)."""
    if a == b:
        return True
    ka = set(char_keys(a)) | {_merged(sound(a))}
    kb = set(char_keys(b)) | {_merged(sound(b))}
    return bool(ka & kb)


def _merged(py: str) -> str:
    return merge_syllable(py) if py else ""


def homophones(surname: str) -> tuple[str, ...]:
    """The common surnames that sound like ``surname`` (itself first, then commonest first); a
    surname alone in its sound gives just itself."""
    g = tables().group.get(surname)
    if not g:
        return (surname,)
    return (surname,) + tuple(c for c in g if c != surname)


@lru_cache(maxsize=20000)
def surname_of_char(ch: str) -> tuple[str, float] | None:
    """(surname, quality) a single character stands for: itself, or the commonest homophone."""
    t = tables()
    if ch in t.rank:
        return ch, 1.0
    if not re.match(rf"[{CJK}]", ch) or ch in NEVER_SURNAME:
        return None
    py = lazy_pinyin(ch)[0]
    if py in t.by_pinyin:  # ASR wrote a homophone (洲 for 周)
        return t.by_pinyin[py], 0.6
    for k in char_keys(ch):  # a near-homophone (尘 for 陈)
        if "~" + k in t.by_pinyin:
            return t.by_pinyin["~" + k], 0.5
    return None


def surname_at(text: str, i: int) -> tuple[str, float] | None:
    """Surname starting at text[i] (compound first); homophones map to the commonest surname."""
    t = tables()
    two = text[i:i + 2]
    if two in t.compound:
        return two, 1.0
    ch = text[i:i + 1]
    return surname_of_char(ch) if ch else None


# ------------------------------------------------------------------------------------ spellings

@dataclass
class Spelling:
    surname: str
    span: tuple[int, int]      # [start, end) of the spelling in the text
    how: str                   # "parts" (耳东陈), "radical" (三点水的汤), "word" (时间的时)


_SPELL = re.compile(rf"([{CJK}]{{1,3}})的([{CJK}])")        # 施工的施 / 照顾的顾 / 是时间的时
# between a spelling and its character (三点水的汤, 弓长的张, 三点水加一个王, 耳东那个陈)
_LINKS = ("加一个", "加上", "加个", "一个", "那个", "旁边", "边上", "再加", "加", "的", "之", "旁", "，", ",", " ")


def _match_by_sound(text: str, i: int, phrase: str) -> bool:
    if text.startswith(phrase, i):
        return True
    if i + len(phrase) > len(text):
        return False
    return all(set(char_keys(text[i + k])) & set(char_keys(c)) for k, c in enumerate(phrase))


def _skip_link(text: str, j: int, end: int, most: int = 2) -> int:
    k = j
    for _ in range(most):
        w = next((w for w in _LINKS if text.startswith(w, k) and k + len(w) <= end), None)
        if not w:
            break
        k += len(w)
    return k


@lru_cache(maxsize=1)
def _parts_by_first_key() -> dict[str, list[tuple[str, str]]]:
    idx: dict[str, list[tuple[str, str]]] = {}
    for desc, sur in tables().descriptions.items():
        for k in char_keys(desc[0]):
            idx.setdefault(k, []).append((desc, sur))
    return idx


def _by_parts(text: str, lo: int, hi: int, t: SurnameTables, fuzzy: bool) -> list[Spelling]:
    """耳东陈 / 弓长的张 / 立早章: the parts, then the character by sound (立早张 is 章).
    ``fuzzy``: the parts by sound too (力早张), and the parts alone (我姓陈，耳东) -- only where
    a surname is being given."""
    out = []
    idx = _parts_by_first_key()
    for i in range(lo, hi):
        seen = set()
        for k in char_keys(text[i]):
            for desc, sur in idx.get(k, ()):
                if desc in seen:
                    continue
                seen.add(desc)
                exact = text.startswith(desc, i)
                if not exact and not (fuzzy and _match_by_sound(text, i, desc)):
                    continue
                j = _skip_link(text, i + len(desc), hi)
                said = text[j:j + 1]
                if said and sounds_alike(said, sur):
                    out.append(Spelling(sur, (i, j + 1), "parts"))
                elif exact and fuzzy and not re.match(rf"[{CJK}]", text[i + len(desc):i + len(desc) + 1]):
                    out.append(Spelling(sur, (i, i + len(desc)), "parts"))   # 我姓陈，耳东。 (not 人可以)
    return out


@lru_cache(maxsize=1)
def _radical_re() -> re.Pattern:
    names = sorted((n for n in tables().radicals if len(n) >= 2), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


def _radical_by_sound(text: str, i: int, hi: int, t: SurnameTables) -> str | None:
    """A radical name of three or more characters heard by sound (三点睡 for 三点水) at text[i]."""
    idx = _radicals_by_first_key()
    for k in char_keys(text[i]):
        for name in idx.get(k, ()):
            if i + len(name) <= hi and _match_by_sound(text, i, name):
                return name
    return None


@lru_cache(maxsize=1)
def _radicals_by_first_key() -> dict[str, list[str]]:
    idx: dict[str, list[str]] = {}
    for name in sorted(tables().radicals, key=len, reverse=True):
        if len(name) >= 3:
            for k in char_keys(name[0]):
                idx.setdefault(k, []).append(name)
    return idx


def _next_radical(text: str, i: int, hi: int, t: SurnameTables, fuzzy: bool) -> tuple[int, str] | None:
    """(start, name) of the next radical name said in text[i:hi]."""
    m = _radical_re().search(text, i, hi)
    if fuzzy:
        for k in range(i, m.start() if m else hi):
            name = _radical_by_sound(text, k, hi, t)
            if name:
                return k, name
    return (m.start(), m.group(0)) if m else None


def _by_radical(text: str, lo: int, hi: int, t: SurnameTables, fuzzy: bool = False) -> list[Spelling]:
    """三点水的汤 / 草字头的范 / 三点水加一个王 (汪): the surname with that radical that the
    character said after it is, is a part of (radical_parts) or sounds like. ``fuzzy``: the
    radical's name by sound too (三点睡的汤), only where a surname is being given."""
    out = []
    i = lo
    while i < hi:
        found = _next_radical(text, i, hi, t, fuzzy)
        if found is None:
            break
        i, name = found
        j = _skip_link(text, i + len(name), hi)
        said = text[j:j + 1]
        pool, parts = t.radicals[name], t.radical_parts.get(name, {})
        pick = None
        if said:
            pick = parts.get(said) or (said if said in pool else None) \
                or next((c for c in pool if sound(c) == sound(said)), None) \
                or next((c for c in pool if sounds_alike(c, said)), None)
        if pick:
            end = j + 1 + (text[j + 1:j + 2] == "字")
            k = _skip_link(text, end, hi, 1)     # 三点水一个王的汪: the character named again
            if k > end and text[k:k + 1] and sounds_alike(text[k], pick):
                end = k + 1
            out.append(Spelling(pick, (i, end), "radical"))
            i = end
            continue
        i += len(name)
    return out


def _spelled_word(word: str, said: str, t: SurnameTables) -> str | None:
    """The surname a spelling "word的said" names, matched by sound (深无空的深 -> 孙悟空的孙).

    The word's other characters must sound like a known spelling word's, and the surname's own
    sound must be heard at least once (in ``said`` or in its place in the word) -- unless the
    word has two or more other syllables that agree (悟空 of 孙悟空)."""
    fallback = None
    for p in range(len(word)):
        for others in _other_keys(word, p):
            for _w, sur in t.spelling_words.get((len(word), p, others), ()):
                if sounds_alike(said, sur):
                    return sur   # 祝贺的贺: the character said after 的 picks among the word's surnames
                if fallback is None and (set(char_keys(sur)) & set(char_keys(word[p])) or len(others) >= 2):
                    fallback = sur   # 深无空的分: 悟空 heard right says 孙悟空 even with 孙 heard twice wrong
    return fallback


def _by_word(text: str, lo: int, hi: int, t: SurnameTables) -> list[Spelling]:
    """时间的时 / 茅草的毛 (the word holds the surname, the character after 的 a homophone) /
    是祝贺的贺 / a known spelling word heard by sound."""
    out = []
    for sm in _SPELL.finditer(text, lo, hi):
        word, ch = sm.group(1), sm.group(2)
        got = None
        for n in (3, 2):   # a known spelling word by sound (深无空的深: 孙悟空的孙)
            sur = _spelled_word(word[-n:], ch, t) if len(word) >= n else None
            if sur:
                got = Spelling(sur, (sm.end(1) - n, sm.end(2)), "word")
                break
        if got is not None and ch in word and ch in t.rank and sound(ch) != sound(got.surname):
            got = None   # 屠夫的屠 heard twice alike is 屠, not a spelling word that only nearly rhymes (杜甫)
        if got is None and ch in word and ch in t.rank:
            got = Spelling(ch, (sm.start(1) + word.index(ch), sm.end(2)), "word")
        if got is None:
            for k, w in enumerate(word):   # 茅草的毛: the word's character is the surname
                if w in t.rank and sound(w) == sound(ch):
                    got = Spelling(w, (sm.start(1) + k, sm.end(2)), "word")
                    break
        if got:
            out.append(got)
    return out


def spellings(text: str, lo: int = 0, hi: int | None = None, *, given: bool = True) -> list[Spelling]:
    """Surnames spelled out in text[lo:hi], in text order. ``given``: the text is where a caller
    gives the surname (after 我姓X, the reply to 您贵姓): spelling words count (施工的施) and parts
    by sound; elsewhere only what no everyday sentence says (耳东陈, 三点水的汤) -- "施工的时候"
    and "人可以" are no spellings."""
    t = tables()
    hi = len(text) if hi is None else min(hi, len(text))
    found = _by_parts(text, lo, hi, t, given) + _by_radical(text, lo, hi, t, given)
    if given:
        taken = [s.span for s in found]
        found += [s for s in _by_word(text, lo, hi, t)
                  if not any(a < s.span[1] and s.span[0] < b for a, b in taken)]
    return sorted(found, key=lambda s: s.span)
