"""Gazetteer names in a transcript by sound: exact characters, homophones, merged sounds, one
syllable off; the filters that keep everyday words out; the corrected text.

Step 1-3 of nlp/location.py: candidates (every substring whose confusion-merged pinyin equals a
gazetteer name, nlp/pinyin.py), filters (fuzzy or everyday short forms need context: 在/住/这边 or a
district next to them; compounds must match exactly; out-of-Shanghai names block matches), then the
longest non-overlapping mentions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from nlp.gazetteer import Alias, Gazetteer, Place
from nlp.pinyin import char_keys, char_plain, merge_syllable, plain_equal


@dataclass
class Mention:
    start: int
    end: int
    surface: str
    aliases: list[Alias]
    match: str              # exact | homophone | merged
    score: float
    weight: float = 0.0
    station: bool = False   # name used as a station (南京西路地铁站): no road/street for address
    needs_district: bool = False   # too weak alone: only counts inside an already-found district
    context: bool = False   # said as a place: a cue around it (在X/X那边) or answering 哪个区？

    @property
    def kind(self) -> str:
        return self.aliases[0].place.kind

    def has(self, kind: str) -> bool:
        return any(a.place.kind == kind for a in self.aliases)

    def of(self, kind: str) -> list[Place]:
        return [a.place for a in self.aliases if a.place.kind == kind]

    @property
    def places(self) -> list[Place]:
        return [a.place for a in self.aliases]



_MATCH_SCORE = {"exact": 1.0, "homophone": 0.85, "merged": 0.7, "near": 0.55}
# below these lengths a name one syllable off is only taken once the district is known and holds it
_NEAR_MIN_LEN = {"district": 3, "street": 5, "road": 5}
_NEAR_SUFFIX = set("区路镇道街")
# how these characters are read inside place names (长宁 chang, 闵行 hang, 重固 chong, 莘庄 xin);
# other name characters must be heard with their usual reading
_PLACE_READINGS = {"长": ("chang",), "行": ("hang",), "重": ("chong",),
                   "莘": ("xin",), "六": ("lu", "liu"), "堡": ("bao",), "曾": ("zeng", "ceng"),
                   "厦": ("xia", "sha"), "朝": ("chao", "zhao"), "乐": ("le", "yue")}
_NEAR_MAX_LEN = 8
_CUE_BEFORE = ("住在", "在", "住", "到", "去", "靠近", "近", "来自")
_CUE_AFTER = ("这边", "那边", "那里", "这里", "附近", "一带", "地区", "街道", "镇", "那块", "这块", "地铁",
              "站", "那站", "这站")
_PUNCT = set("，。、？！；：,.?!;: \n")
_ROAD_TAIL_RE = re.compile(r"[东西南北中]?[一二三四五六七八九]?(?:路|街|大道)")
_ROAD_WORD_TAIL = "面军程线费灯况过径由数子"

# ASR writes 在 as 再 (再浦东新区): as a cue before a misheard name it means the same
_CUE_BEFORE_HEARD = _CUE_BEFORE + ("再",)
_CUE_AFTER_LOOSE = _CUE_AFTER + ("的", "人", "区")
# the operator (or caller) asking where: the next answer is a place
_PLACE_ASKED_RE = re.compile(r"哪个区|哪个街道|哪个镇|哪条路|哪个小区|在哪|哪里|哪儿|什么地方|什么位置|具体位置|地址")
# …and the line asks it (请问您在哪个区？), not tells it (不知道塞到哪里去了)
_QUESTION_RE = re.compile(r"[？?]|请问|您|你[们的]?(在|住|家)|[吗呢][。，,\s]*$")
_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x",
             "r", "z", "c", "s", "y", "w")


@lru_cache(maxsize=64)
def _place_keys(ch: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(merge_syllable(r) for r in _PLACE_READINGS.get(ch, ())))


@lru_cache(maxsize=8192)
def _heard_keys(ch: str) -> tuple[str, ...]:
    """Readings a heard character can stand for: its usual one (+ place readings of 长/行/重…)."""
    k = char_keys(ch)
    return tuple(dict.fromkeys(k[:1] + _place_keys(ch))) if k else ()


@lru_cache(maxsize=4096)
def _split(syl: str) -> tuple[str, str]:
    for ini in _INITIALS:
        if syl.startswith(ini):
            return ini, syl[len(ini):]
    return "", syl


@lru_cache(maxsize=16384)
def _share_sound(a: str, b: str) -> bool:
    ia, fa = _split(a)
    ib, fb = _split(b)
    # y/w are glides, not consonants: 羽 yu and 沂 yi share no sound a listener would confuse
    if (ia == ib and ia not in ("", "y", "w")) or (fa == fb and len(fa) >= 2):
        return True
    # ASR hears in/ing, en/eng, an/ang alike (新普区 ← 青浦区): compare merged finals too
    _, ma = _split(merge_syllable(a))
    _, mb = _split(merge_syllable(b))
    return ma == mb and len(ma) >= 2


class PlaceMatcher:
    """Finds gazetteer mentions in a text (LocationOptions: fuzzy, min_confidence)."""

    def __init__(self, gazetteer: Gazetteer, options) -> None:
        self.gaz = gazetteer
        self.opts = options
        self._max_len = max(len(s) for s in self.gaz.aliases)
        for ch in "上海市区路街道镇":       # pypinyin loads its tables on first use
            char_keys(ch)

    def outside_spans(self, text: str) -> tuple[list[tuple[int, int]], list[str]]:
        spans, names = [], []
        for name in self.gaz.outside_places:
            for mt in re.finditer(re.escape(name), text):
                e = mt.end()
                if _ROAD_TAIL_RE.match(text, e):         # 南京西路, 江苏路: Shanghai roads
                    continue
                if mt.start() > 0 and text[mt.start() - 1] in "新":
                    continue
                m2 = re.match(r"[省市县区]", text[e:e + 1])
                end = e + (1 if m2 else 0)
                spans.append((mt.start(), end))
                if name not in names:
                    names.append(name)
        return spans, names

    def candidates(self, text: str, blocked: list[tuple[int, int]]) -> list[Mention]:
        g = self.gaz
        n = len(text)
        keys = [_heard_keys(c) for c in text]
        out: list[Mention] = []
        not_place = [(mt.start(), mt.end()) for w in g.not_places for mt in re.finditer(re.escape(w), text)]
        for i in range(n):
            if not keys[i]:
                continue
            frontier: list[tuple[str, ...]] = [()]
            for j in range(i, min(n, i + self._max_len)):
                ks = keys[j]
                if not ks:
                    break
                nxt = [p + (k,) for p in frontier for k in ks if p + (k,) in g.key_prefixes]
                if not nxt:
                    break
                frontier = nxt
                seen = set()
                for q in nxt:
                    for surface in g.key_index.get(q, ()):
                        if surface in seen:
                            continue
                        seen.add(surface)
                        m = self._judge(text, i, j + 1, surface)
                        if m is not None:
                            out.append(m)
        if self.opts.fuzzy:
            out.extend(self._near(text, keys, out))
            out.extend(self._near_short(text, keys, out))
        keep = []
        for m in out:
            if any(s <= m.start < e + 3 for s, e in blocked) and m.kind != "district":
                continue
            if any(s <= m.start and m.end <= e for s, e in not_place):
                continue
            keep.append(m)
        return keep

    def _near(self, text: str, keys: list[tuple[str, ...]], found: list[Mention]) -> list[Mention]:
        """Names one syllable off (同民区 -> 崇明区), suffix character exact."""
        g = self.gaz
        out = []
        full = {(m.start, m.end) for m in found}
        for j, ch in enumerate(text):
            if ch not in _NEAR_SUFFIX:
                continue
            combos: list[tuple[str, ...]] = [(keys[j][0],)] if keys[j] else []   # suffix: usual reading
            for L in range(2, _NEAR_MAX_LEN + 1):
                i = j - L + 1
                if i < 0 or not keys[i] or not combos:
                    break
                # heard text: usual readings only, but 重/长/行… may stand for their other sound
                reads = keys[i]
                combos = [(r,) + c for r in reads for c in combos][:8]
                if L < 3:
                    continue
                seen = set()
                for c in combos:
                    for p in range(L - 1):
                        for surface in g.near_index.get(c[:p] + ("*",) + c[p + 1:], ()):
                            if surface in seen or surface[-1] != ch or len(surface) != L:
                                continue
                            seen.add(surface)
                            # a name of two syllables before its suffix (泰和路, 朱行公路): the odd
                            # syllable must share its initial or final with the name's, else a road
                            # the gazetteer does not know would become a known one (浦星公路); a
                            # longer name (组冲区路 -> 祖冲之路) is told by its other syllables
                            suffix = 2 if surface.endswith(("公路", "大道", "街道")) else 1
                            if L - suffix <= 2:
                                tk = char_plain(text[i + p])[:1]
                                nk = _PLACE_READINGS.get(surface[p]) or char_plain(surface[p])[:1]
                                if not any(_share_sound(x, y) for x in tk for y in nk):
                                    continue
                            if L == 3:
                                # a road or street of two syllables + 路: the other one must be the
                                # same character (打土路 -> 打浦路), else a road the gazetteer does not
                                # know (泰和路) would become a known one (通河路)
                                if surface[-1] != "区" and not any(text[i + q] == surface[q] for q in range(2) if q != p):
                                    continue
                            aliases = [a for a in g.aliases[surface] if not a.short
                                       and a.place.kind in _NEAR_MIN_LEN]
                            if aliases and (i, j + 1) not in full:
                                # a street/road one syllable off only counts inside a district
                                # found otherwise; a district one syllable off needs support
                                weak = any(a.place.kind != "district" for a in aliases)
                                out.append(Mention(i, j + 1, surface, aliases, "near",
                                                    _MATCH_SCORE["near"], needs_district=weak))
        return out

    def _near_short(self, text: str, keys: list[tuple[str, ...]], found: list[Mention]) -> list[Mention]:
        """District short forms one syllable off (我在习会 -> 徐汇); they need 在/住在 before them."""
        g = self.gaz
        full = {(m.start, m.end) for m in found}
        out = []
        for i in range(len(text) - 1):
            if not keys[i] or not keys[i + 1] or (i, i + 2) in full:
                continue
            if not text[max(0, i - 1):i] == "在":        # 我在/住在 X: the strongest cue there is
                continue
            a, b = keys[i][0], keys[i + 1][0]
            for p, key in ((0, ("*", b)), (1, (a, "*"))):
                for surface in g.near_index.get(key, ()):
                    if len(surface) != 2:
                        continue
                    nk = _PLACE_READINGS.get(surface[p]) or char_plain(surface[p])[:1]
                    if not any(_share_sound(x, y) for x in char_plain(text[i + p])[:1] for y in nk):
                        continue
                    aliases = [al for al in g.aliases[surface] if al.place.kind == "district"]
                    if aliases:
                        out.append(Mention(i, i + 2, surface, aliases, "near", _MATCH_SCORE["near"] * 0.9))
        return out

    def _judge(self, text: str, i: int, j: int, surface: str) -> Mention | None:
        span = text[i:j]
        aliases = self.gaz.aliases[surface]
        if span == surface:
            match = "exact"
        elif not self.opts.fuzzy:
            return None
        elif plain_equal(span, surface):
            match = "homophone"
        else:
            match = "merged"
        a0 = aliases[0]
        kind = a0.place.kind
        if match != "exact":
            # a misheard character is written with a character whose *usual* reading is the sound
            # (和 is "he", not "huo": 和线路 must not become 藿香路)
            # and the name's character must be read its usual way too, except the heteronyms
            # place names are known for (长宁 chang, 闵行 hang, 重固 chong, 莘庄 xin)
            for a, b in zip(span, surface):
                if a == b:
                    continue
                kb = _place_keys(b) or char_keys(b)[:1]
                if char_keys(a)[0] not in kb:
                    return None
            if kind in ("compound", "village", "landmark"):
                return None
            if len(surface) >= 3 and not any(a == b for a, b in zip(span, surface)):
                return None
            if kind == "road" and (span[-1] != surface[-1] or text[j:j + 1] in _ROAD_WORD_TAIL):
                return None             # 路线/路程/路面: the 路 belongs to another word
            # only the suffix misheard after an everyday word (建设正 is not 建设镇)
            stem = surface[:-2] if surface.endswith("街道") else surface[:-1]
            if span.startswith(stem) and any(a.common for a in self.gaz.aliases.get(stem, ())):
                return None
        score = _MATCH_SCORE[match]
        if any(a.short for a in aliases):
            score *= 0.95 if match == "exact" else 0.9
        if any(a.common for a in aliases):
            score *= 0.9
        if score < self.opts.min_confidence:
            return None
        return Mention(i, j, surface, aliases, match, score)

    @staticmethod
    def _cue(text: str, i: int, j: int, strict: bool) -> bool:
        before, after = text[max(0, i - 2):i], text[j:j + 2]
        b = any(before.endswith(c) for c in _CUE_BEFORE)
        a = any(after.startswith(c) for c in _CUE_AFTER)
        end = j >= len(text) or text[j] in _PUNCT
        return (b and (a or end)) if strict else (a or (b and end))

    def select(self, text: str, cands: list[Mention], district: str | None = None) -> list[Mention]:
        # longest and best first (length x match score); mentions needing context are checked
        # against the unconditional ones (金山石化: 石化 counts because 金山 precedes it). With a
        # district known, misheard names must lie in it (重宁区 is 崇明区 when 城桥镇 is said).
        if district:
            cands = [m for m in cands if m.match == "exact" or m.kind == "landmark"
                     or any(district in p.districts for p in m.places)]
        else:
            cands = [m for m in cands if not m.needs_district]
        cands = sorted(cands, key=lambda m: (-(m.end - m.start) * m.score, -m.score, m.start))
        taken = bytearray(len(text) + 1)
        chosen: list[Mention] = []
        deferred: list[Mention] = []
        for m in cands:
            if any(taken[m.start:m.end]):
                continue
            if (len(m.surface) <= 2 and (m.match != "exact" or self._inside_word(text, m))) or (
                    all(a.short for a in m.aliases) and any(a.common for a in m.aliases)):
                deferred.append(m)      # everyday word or misheard 2-character name: needs context
                continue
            chosen.append(m)
            for k in range(m.start, m.end):
                taken[k] = 1
        for m in deferred:
            if any(taken[m.start:m.end]):
                continue
            adjacent = any(o.kind in ("district", "street") and (
                m.start == o.end or (m.start - o.end == 1 and text[o.end] in _PUNCT)) for o in chosen)
            strict = any(a.common for a in m.aliases) or m.match == "near"
            if adjacent or self._cue(text, m.start, m.end, strict=strict):
                chosen.append(m)
                for k in range(m.start, m.end):
                    taken[k] = 1
        chosen.sort(key=lambda m: m.start)
        return chosen

    def mark_context(self, text: str, mentions: list[Mention], line_of: list[int]) -> None:
        """Set m.context: a place cue right before/after the name, or its line (or the one
        before) asks where (请问在哪个区？ → 再骨东新区)."""
        starts = [0]
        for k, ch in enumerate(text):
            if ch == "\n":
                starts.append(k + 1)
        for m in mentions:
            before, after = text[max(0, m.start - 2):m.start], text[m.end:m.end + 2]
            cue = (any(before.endswith(c) for c in _CUE_BEFORE_HEARD)
                   or any(after.startswith(c) for c in _CUE_AFTER_LOOSE))
            ln = line_of[m.start]
            prev = text[starts[ln - 1]:starts[ln]] if ln > 0 else ""
            asked = bool((_PLACE_ASKED_RE.search(prev) and _QUESTION_RE.search(prev))
                         or _PLACE_ASKED_RE.search(text, starts[ln], m.start))
            m.context = cue or asked

    @staticmethod
    @staticmethod
    def supported(mentions: list[Mention]) -> list[Mention]:
        """A district heard one syllable off (同民区) counts only if something else names it too,
        or it is said as a place (在 before it, or the answer to 哪个区？)."""
        out = []
        for m in mentions:
            if m.match == "near" and m.kind == "district" and len(m.surface) > 2 and not m.context:
                d = m.places[0].name
                if not any(o is not m and d in {x for p in o.places for x in p.districts}
                           and (o.match != "near" or o.start != m.start) for o in mentions):
                    continue
            out.append(m)
        return out

    def _inside_word(self, text: str, m: Mention) -> bool:
        b = self.gaz.boundary.get(m.surface)
        if not b:
            return False
        return (m.start > 0 and text[m.start - 1] in b[0]) or (m.end < len(text) and text[m.end] in b[1])

    def correct(self, text: str, mentions: list[Mention]) -> str:
        out, pos = [], 0
        for m in sorted(mentions, key=lambda m: m.start):
            if m.match == "exact" or m.start < pos:
                continue
            out.append(text[pos:m.start])
            out.append(m.surface)
            pos = m.end
        out.append(text[pos:])
        return "".join(out)

    # ------------------------------------------------------------ names said in an address
    def resolve(self, word: str, kinds: tuple[str, ...], district: str | None = None,
                said: frozenset[str] | set[str] = frozenset()) -> Place | None:
        """The known place a road- or compound-shaped name heard as `word` stands for
        (nlp/place_resolve.py)."""
        from nlp.place_resolve import resolve

        return resolve(self.gaz, word, kinds, district, said, fuzzy=self.opts.fuzzy)
