"""ASR-tolerant Shanghai place extraction: district, street/town, road, address, landmark.

Pipeline for one transcript (all steps are cheap; a 600-char call takes a few ms):
  1. candidates: every substring whose confusion-merged pinyin equals a gazetteer name
     (nlp/pinyin.py; exact characters, toneless homophones and merged sounds are scored apart);
  2. filters: fuzzy or everyday-word short forms need context (在/住/这边/附近 or a district next
     to them), compounds must match exactly, out-of-Shanghai names (江苏省昆山市) block matches;
  3. longest non-overlapping mentions win;
  4. district vote: direct mentions, then streets, landmarks, roads and compounds that imply a
     district, later mentions and the operator's read-back (…，对吗？) weighted higher; fuzzy
     streets/roads that disagree with the winner are dropped; a tie stays as candidates;
  5. street, road, crossing, house number, compound and landmark assembled into an address.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from nlp.gazetteer import Alias, Gazetteer, Place
from nlp.pinyin import char_keys, char_plain, merge_syllable, plain_equal

# ----------------------------------------------------------------------------- data shapes


@dataclass
class PlaceMatch:
    value: str
    kind: str
    confidence: float
    span: tuple[int, int] | None = None
    candidates: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["span"] = list(self.span) if self.span else None
        return d


@dataclass
class LocationResult:
    district: PlaceMatch | None = None
    street: PlaceMatch | None = None
    road: PlaceMatch | None = None
    address: PlaceMatch | None = None       # normalised ticket address, e.g. 杨浦区营口路588号
    landmark: PlaceMatch | None = None
    location: dict | None = None            # {"lat", "lon", "approximate": True, "level"}
    corrected_text: str = ""                # transcript with misheard place names replaced
    candidates: dict[str, list[dict]] = field(default_factory=dict)  # undecided fields
    outside: list[str] = field(default_factory=list)                 # out-of-Shanghai places named

    def to_dict(self) -> dict:
        out: dict = {}
        for k in ("district", "street", "road", "address", "landmark"):
            m = getattr(self, k)
            out[k] = m.to_dict() if m else None
        out["location"] = self.location
        out["corrected_text"] = self.corrected_text
        out["candidates"] = self.candidates
        out["outside"] = self.outside
        return out


@dataclass
class LocationOptions:
    fuzzy: bool = True                  # pinyin-fuzzy matching (off: exact characters only)
    min_district_share: float = 0.6     # below this share of the district vote: candidates only
    min_confidence: float = 0.5         # mentions scoring below are ignored
    readback_weight: float = 1.3        # operator read-back / confirmation lines
    late_weight: float = 0.3            # a mention at the end of the call counts 1 + this


@dataclass
class _Mention:
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
_KIND_VOTE = {"district": 1.0, "street": 0.9, "landmark": 0.8, "road": 0.6, "compound": 0.5,
              "village": 0.4}
_READBACK_RE = re.compile(r"对吗|是吗|对吧|是吧|核实|确认|重复一下|记录|转交|转给|派单")
_CUE_BEFORE = ("住在", "在", "住", "到", "去", "靠近", "近", "来自")
_CUE_AFTER = ("这边", "那边", "那里", "这里", "附近", "一带", "地区", "街道", "镇", "那块", "这块", "地铁",
              "站", "那站", "这站")
_PUNCT = set("，。、？！；：,.?!;: \n")
_STATION_RE = re.compile(r"(?:[那这]一?个?)?(?:地铁站|火车站|公交站|地铁|站)")
_NUM_CHARS = "0-9零〇一二两三四五六七八九十百千幺"
_NUM_UNIT_RE = re.compile(rf"([{_NUM_CHARS}]+)(支弄|弄|号楼|号|栋|幢|室)")
_ROAD_TAIL_RE = re.compile(r"[东西南北中]?[一二三四五六七八九]?(?:路|街|大道)")
_ROAD_WORD_TAIL = "面军程线费灯况过径由数子"
_NUMBER_QUESTION_RE = re.compile(r"多少号|几号|门牌号|几弄|哪一?栋|哪一?幢")
_CROSSING_TAIL_RE = re.compile(r"口|[^。？！\n]{0,6}?(?:路口|口子)")
_ROAD_SUFFIX_RE = re.compile(r"(?:[东西南北中]路|大道|公路|路)")
_COMPOUND_SUFFIX_RE = re.compile(r"(?:新村|小区|花园|雅苑|家园|公寓|苑)")
_LANDMARK_SUFFIX_RE = re.compile(
    r"地铁站|火车站|公交站|汽车站|大厦|广场|卫生服务中心|医院|小学|中学|大学|幼儿园|学校|公园|商场|超市|"
    r"菜市场|菜场|古镇|体育馆|游泳馆|图书馆|派出所|加油站|人行天桥|天桥|助餐点")
_STOP_PREFIX = set("在的到是那这个条上了住近靠我们你他她它就也还都跟与及从往向去来说叫有个边旁里吗呢啊吧一")
_LANDMARK_STOP = _STOP_PREFIX | set("映要想问找坐座家过了把被让给不对面用")
_NOT_ROAD_WORDS = {"马路", "走路", "道路", "公路", "小路", "大路", "一路", "线路", "绕路", "带路", "出路",
                   "思路", "铁路", "水路", "半路", "过路", "问路", "让路", "开路", "上路", "赶路", "迷路",
                   "近路", "远路", "电路", "回路", "套路", "弯路", "后路", "网路", "进路", "退路", "环路"}
_NOT_COMPOUND_PREFIX = ("我们", "你们", "他们", "这个", "那个", "隔壁", "边上", "旁边", "对面", "附近",
                        "整个", "一个", "老", "新", "别的", "其他", "周边", "本", "请问", "哪个", "什么",
                        "这些", "那些", "所有", "住的", "咱们")


# ASR writes 在 as 再 (再浦东新区): as a cue before a misheard name it means the same
_CUE_BEFORE_HEARD = _CUE_BEFORE + ("再",)
_CUE_AFTER_LOOSE = _CUE_AFTER + ("的", "人", "区")
# the operator (or caller) asking where: the next answer is a place
_PLACE_ASKED_RE = re.compile(r"哪个区|哪个街道|哪个镇|哪条路|哪个小区|在哪|哪里|哪儿|什么地方|什么位置|具体位置|地址")
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
    if (ia == ib and ia != "") or (fa == fb and len(fa) >= 2):
        return True
    # ASR hears in/ing, en/eng, an/ang alike (新普区 ← 青浦区): compare merged finals too
    _, ma = _split(merge_syllable(a))
    _, mb = _split(merge_syllable(b))
    return ma == mb and len(ma) >= 2


def _name_before(text: str, end: int, max_len: int, blocked: set[int],
                 stop: set[str] | None = None) -> int:
    """Start of the name that ends at `end`: walk back over name characters (not function
    words, not inside another mention)."""
    stop = _STOP_PREFIX if stop is None else stop
    k = end
    while k > 0 and end - k < max_len:
        c = text[k - 1]
        if not ("\u4e00" <= c <= "\u9fff" or c.isdigit()) or c in stop or (k - 1) in blocked:
            break
        k -= 1
    return k


def _cn_number(s: str) -> int | None:
    """五百八十八 -> 588, 一千零五十 -> 1050, 五零二 -> 502, 幺三九 -> 139, 588 -> 588."""
    s = s.replace("幺", "一").replace("两", "二").replace("〇", "零")
    if s.isdigit():
        return int(s)
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")}
    if not any(c in "十百千" for c in s):
        if all(c in digits or c.isdigit() for c in s):
            return int("".join(str(digits.get(c, c)) for c in s))
        return None
    total, cur = 0, 0
    units = {"十": 10, "百": 100, "千": 1000}
    for c in s:
        if c in digits:
            cur = digits[c]
        elif c.isdigit():
            cur = int(c)
        elif c in units:
            total += (cur or 1) * units[c]
            cur = 0
        else:
            return None
    return total + cur


def _unit_kinds(number: str) -> set[str]:
    return set(re.findall(r"支弄|弄|号楼|号|栋|幢|室", number))


def normalise_house_number(text: str) -> str:
    """'1050弄，7号五零二室' -> '1050弄7号502室'; unparsable parts are dropped."""
    out = []
    for num, unit in _NUM_UNIT_RE.findall(text):
        n = _cn_number(num)
        if n is not None:
            out.append(f"{n}{unit}")
    return "".join(out)


# ----------------------------------------------------------------------------- extractor


class LocationExtractor:
    def __init__(self, gazetteer: Gazetteer | None = None, options: LocationOptions | None = None):
        self.gaz = gazetteer or Gazetteer.load()
        self.opts = options or LocationOptions()
        self._max_len = max(len(s) for s in self.gaz.aliases)
        for ch in "上海市区路街道镇":       # pypinyin loads its tables on first use
            char_keys(ch)

    # ------------------------------------------------------------ public API
    def extract(self, text: str) -> LocationResult:
        if not isinstance(text, str):
            raise TypeError(f"extract() needs str, got {type(text).__name__}")
        res = LocationResult(corrected_text=text)
        if not text.strip():
            return res
        line_of, readback, n_lines = self._lines(text)
        blocked, res.outside = self._outside_spans(text)
        cands = self._candidates(text, blocked)
        self._mark_context(text, cands, line_of)
        mentions = self._supported(self._select(text, cands))
        self._weigh(text, mentions, line_of, readback, n_lines)
        # misheard streets/roads (merged sounds) do not decide the district on their own
        district, dshare, dcands = self._vote(mentions, first=True)
        if district:
            again = self._supported(self._select(text, cands, district))
            if [(m.start, m.surface) for m in again] != [(m.start, m.surface) for m in mentions]:
                self._weigh(text, again, line_of, readback, n_lines)
                mentions = again
                district, dshare, dcands = self._vote(mentions)
            if district and self._bare_only(mentions, district):
                # 杨浦保险 (养老保险 misheard), 徐汇乃是: a bare short form said as no place is no district
                district, dshare = None, 0.0
                mentions = [m for m in mentions if m.match != "merged" or m.kind == "district"]
        else:
            # nothing decides the district: a fuzzy street/road alone is too weak to keep
            mentions = [m for m in mentions if m.match != "merged" or m.kind == "district"]
        if district:
            best = max((m for m in mentions if district in m.places[0].districts or m.kind == "district"),
                       key=lambda m: m.weight, default=None)
            dm = [m for m in mentions if m.kind == "district" and m.places[0].name == district]
            span = (dm[-1].start, dm[-1].end) if dm else ((best.start, best.end) if best else None)
            conf = round(min(0.99, dshare * min(1.0, 0.5 + max(m.weight for m in mentions) / 2)), 3)
            res.district = PlaceMatch(district, "district", conf, span, dcands)
        elif dcands:
            res.candidates["district"] = dcands
        res.street = self._street(mentions, district, res)
        res.road = self._road(text, mentions, district, res)
        res.landmark = self._landmark(text, mentions)
        res.address = self._address(text, mentions, res)
        street_name = res.street.value if res.street and res.street.confidence >= 0.5 else None
        res.location = self.gaz.centre(district, street_name) if district else None
        res.corrected_text = self._correct(text, mentions)
        return res

    def _weigh(self, text: str, mentions: list[_Mention], line_of: list[int], readback: list[bool],
               n_lines: int) -> None:
        for m in mentions:
            ln = line_of[m.start]
            w = m.score * (1.0 + self.opts.late_weight * ln / max(1, n_lines - 1))
            if readback[ln]:
                w *= self.opts.readback_weight
            m.weight = w
            m.station = (m.has("street") or m.has("road")) and bool(_STATION_RE.match(text, m.end))

    def hotwords(self, text: str, limit: int = 20) -> list[str]:
        """Place names worth biasing the ASR towards, given what the call said so far."""
        words: list[str] = []

        def put(w: str | None) -> None:
            if w and w not in words:
                words.append(w)

        res = self.extract(text) if text and text.strip() else LocationResult()
        for m in (res.district, res.street, res.road):
            if m:
                put(m.value)
        for c in res.candidates.get("district", []):
            put(c["value"])
        d = res.district.value if res.district else None
        if d:
            # roads of the street being talked about first (the crossing road is likely there)
            st = res.street.value if res.street else None
            if st:
                for r in self.gaz.roads_of(d):
                    if st in r.streets:
                        put(r.name)
            for s in self.gaz.streets_of(d):
                if s.street_type != "其他":
                    put(s.name)
            curated = [r for r in self.gaz.roads_of(d) if "curated" in r.sources]
            for r in sorted(curated, key=lambda r: (len(r.districts), -len(r.streets))):
                put(r.name)
        else:
            for name in self.gaz.districts:
                put(name)
        return words[:limit]

    # ------------------------------------------------------------ steps
    @staticmethod
    def _lines(text: str) -> tuple[list[int], list[bool], int]:
        line_of = [0] * (len(text) + 1)
        readback = []
        ln, start = 0, 0
        for i, ch in enumerate(text):
            line_of[i] = ln
            if ch == "\n":
                readback.append(bool(_READBACK_RE.search(text, start, i)))
                ln, start = ln + 1, i + 1
        line_of[len(text)] = ln
        readback.append(bool(_READBACK_RE.search(text, start, len(text))))
        return line_of, readback, ln + 1

    def _outside_spans(self, text: str) -> tuple[list[tuple[int, int]], list[str]]:
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

    def _candidates(self, text: str, blocked: list[tuple[int, int]]) -> list[_Mention]:
        g = self.gaz
        n = len(text)
        keys = [_heard_keys(c) for c in text]
        out: list[_Mention] = []
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

    def _near(self, text: str, keys: list[tuple[str, ...]], found: list[_Mention]) -> list[_Mention]:
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
                            if L == 3:   # short names: the odd syllable must share initial or final
                                tk = char_plain(text[i + p])[:1]
                                nk = _PLACE_READINGS.get(surface[p]) or char_plain(surface[p])[:1]
                                if not any(_share_sound(x, y) for x in tk for y in nk):
                                    continue
                            aliases = [a for a in g.aliases[surface] if not a.short
                                       and a.place.kind in _NEAR_MIN_LEN]
                            if aliases and (i, j + 1) not in full:
                                # a street/road one syllable off only counts inside a district
                                # found otherwise; a district one syllable off needs support
                                weak = any(a.place.kind != "district" for a in aliases)
                                out.append(_Mention(i, j + 1, surface, aliases, "near",
                                                    _MATCH_SCORE["near"], needs_district=weak))
        return out

    def _near_short(self, text: str, keys: list[tuple[str, ...]], found: list[_Mention]) -> list[_Mention]:
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
                        out.append(_Mention(i, i + 2, surface, aliases, "near", _MATCH_SCORE["near"] * 0.9))
        return out

    def _judge(self, text: str, i: int, j: int, surface: str) -> _Mention | None:
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
        return _Mention(i, j, surface, aliases, match, score)

    @staticmethod
    def _cue(text: str, i: int, j: int, strict: bool) -> bool:
        before, after = text[max(0, i - 2):i], text[j:j + 2]
        b = any(before.endswith(c) for c in _CUE_BEFORE)
        a = any(after.startswith(c) for c in _CUE_AFTER)
        end = j >= len(text) or text[j] in _PUNCT
        return (b and (a or end)) if strict else (a or (b and end))

    def _select(self, text: str, cands: list[_Mention], district: str | None = None) -> list[_Mention]:
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
        chosen: list[_Mention] = []
        deferred: list[_Mention] = []
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

    def _mark_context(self, text: str, mentions: list[_Mention], line_of: list[int]) -> None:
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
            asked = bool(_PLACE_ASKED_RE.search(prev) or _PLACE_ASKED_RE.search(text, starts[ln], m.start))
            m.context = cue or asked

    @staticmethod
    def _bare(m: _Mention) -> bool:
        """A bare short form of a district (杨浦, no 区) said with no place cue."""
        return m.kind == "district" and m.end - m.start <= 2 and all(a.short for a in m.aliases) and not m.context

    def _bare_only(self, mentions: list[_Mention], district: str) -> bool:
        """The district rests only on bare short forms (杨浦, no 区) said with no place cue."""
        return all(self._bare(m) for m in mentions if district in {d for p in m.places for d in p.districts})

    @staticmethod
    def _supported(mentions: list[_Mention]) -> list[_Mention]:
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

    def _inside_word(self, text: str, m: _Mention) -> bool:
        b = self.gaz.boundary.get(m.surface)
        if not b:
            return False
        return (m.start > 0 and text[m.start - 1] in b[0]) or (m.end < len(text) and text[m.end] in b[1])

    def _vote(self, mentions: list[_Mention], first: bool = False) -> tuple[str | None, float, list[dict]]:
        """District by weighted vote. On the first pass misheard streets/roads (merged sounds)
        only support districts that something else already names, at half weight."""
        score: dict[str, float] = defaultdict(float)
        support: list[tuple[set[str], float]] = []
        placed: set[str] = set()   # districts named by more than a bare short form (徐汇 said as no place)
        for m in mentions:
            places = m.places
            dists = {d for p in places for d in p.districts}
            if not dists:
                continue
            if not self._bare(m):
                placed |= dists
            share = m.weight * _KIND_VOTE.get(m.kind, 0.4) / len(dists)
            strong = m.context and len(m.surface) >= 3 and m.match == "merged"   # 再近安四那站
            if first and m.match not in ("exact", "homophone") and m.kind != "district" and not strong:
                support.append((dists, share * 0.5))
                continue
            for d in dists:
                score[d] += share
        for dists, share in support:
            for d in dists:
                if score.get(d, 0.0) > 0:
                    score[d] += share
        if placed & set(score):
            # a misheard name (胡 as 徐汇, 姚女士 as 杨浦是) must not outvote a road or a 区 said as a place
            score = defaultdict(float, {d: v for d, v in score.items() if d in placed})
        if not score:
            return None, 0.0, []
        total = sum(score.values())
        ranked = sorted(score.items(), key=lambda kv: -kv[1])
        cands = [{"value": d, "confidence": round(s / total, 3)} for d, s in ranked[:5]]
        best, bs = ranked[0]
        share = bs / total
        if share < self.opts.min_district_share:
            return None, share, cands
        return best, share, cands

    def _street(self, mentions: list[_Mention], district: str | None, res: LocationResult) -> PlaceMatch | None:
        direct: dict[str, list[_Mention]] = defaultdict(list)
        for m in mentions:
            for p in m.of("street"):
                if district is None or p.districts[0] == district:
                    direct[p.name].append(m)
        if direct:
            ranked = sorted(direct.items(), key=lambda kv: -sum(m.weight for m in kv[1]))
            total = sum(m.weight for ms in direct.values() for m in ms)
            name, ms = ranked[0]
            w = sum(m.weight for m in ms)
            station_only = all(m.station for m in ms)
            road_named = all(m.has("road") for m in ms)   # 临汾路 names the road more than the street
            conf = min(0.99, w / total * (0.8 if station_only else 1.0) * (0.75 if road_named else 1.0)
                       * min(1.0, 0.5 + w / 2))
            last = ms[-1]
            cands = [{"value": k, "confidence": round(sum(m.weight for m in v) / total, 3)} for k, v in ranked[:5]]
            return PlaceMatch(name, "street", round(conf, 3), (last.start, last.end), cands)
        if district is None:
            return None
        # infer: landmark or compound with a known street, then a road named like a street
        inferred: dict[str, float] = defaultdict(float)
        for m in mentions:
            for p in m.places:
                if district not in p.districts:
                    continue
                if m.kind in ("landmark", "compound", "village") and p.streets:
                    inferred[p.streets[0]] += 0.7 * m.weight / len(m.places)
                elif p.kind == "road":
                    in_d = [s for s in p.streets if self.gaz.streets.get(s) and self.gaz.streets[s].districts[0] == district]
                    stem = re.sub(r"[东西南北中]?[一二三四]?(?:路|街|大道|公路)$", "", p.name)
                    named = [s for s in in_d if len(stem) >= 2 and s.startswith(stem)]
                    named += [s.name for s in self.gaz.streets_of(district)
                              if len(stem) >= 2 and s.name.startswith(stem) and s.name not in named]
                    if named:
                        inferred[named[0]] += 0.7 * m.weight
                    elif len(in_d) == 1 and "curated" in p.sources:
                        inferred[in_d[0]] += 0.55 * m.weight
                    else:
                        for s in in_d:
                            inferred[s] += 0.3 * m.weight / len(in_d)
        if not inferred:
            return None
        ranked = sorted(inferred.items(), key=lambda kv: -kv[1])
        total = sum(inferred.values())
        name, w = ranked[0]
        conf = round(min(0.75, w / total * min(1.0, w)), 3)
        cands = [{"value": k, "confidence": round(v / total, 3)} for k, v in ranked[:5]]
        if conf < 0.4:
            res.candidates["street"] = cands
            return None
        return PlaceMatch(name, "street", conf, None, cands)

    def _road_mentions(self, text: str, mentions: list[_Mention], district: str | None) -> list[_Mention]:
        roads = [m for m in mentions if m.has("road") and not m.station]
        if district:
            inside = [m for m in roads if district in m.of("road")[0].districts]
            if inside:
                return inside
        return roads

    def _road(self, text: str, mentions: list[_Mention], district: str | None, res: LocationResult) -> PlaceMatch | None:
        roads = self._road_mentions(text, mentions, district)
        # the second road of a crossing (密山路口, 靠近兰溪路那个路口) is where, not which road
        crossing_b = {id(m) for m in roads
                      if text[m.end - 1] == "路" and _CROSSING_TAIL_RE.match(text, m.end)}
        per: dict[str, list[_Mention]] = defaultdict(list)
        for m in roads:
            per[m.surface].append(m)
        if per:
            def strength(ms: list[_Mention]) -> float:
                return sum(m.weight * (0.4 if id(m) in crossing_b else 1.0) for m in ms)
            ranked = sorted(per.items(), key=lambda kv: (-strength(kv[1]), kv[1][0].start))
            total = sum(strength(v) for v in per.values())
            name, ms = ranked[0]
            p = ms[0].of("road")[0]
            consistent = district is None or district in p.districts
            conf = strength(ms) / total * min(1.0, 0.5 + strength(ms) / 2) * (1.0 if consistent else 0.6)
            cands = [{"value": k, "confidence": round(strength(v) / total, 3)} for k, v in ranked[:5]]
            first = ms[0]
            return PlaceMatch(name, "road", round(min(0.99, conf), 3), (first.start, first.end), cands)
        # a road the gazetteer does not know: a name ending 路/大道 with a place cue before it
        blocked = {k for m in mentions for k in range(m.start, m.end)}
        ends = {m.end for m in mentions}
        for mt in _ROAD_SUFFIX_RE.finditer(text):
            e = mt.end()
            if mt.start() in blocked or text[e:e + 1] in _ROAD_WORD_TAIL + "口段人边":
                continue
            s_ = _name_before(text, mt.start(), 4, blocked)
            word = text[s_:e]
            if len(word) < 3 or word in _NOT_ROAD_WORDS or word[-2:] in _NOT_ROAD_WORDS:
                continue
            prev = text[max(0, s_ - 2):s_]
            if s_ in ends or any(prev.endswith(c) for c in ("在", "到", "住", "近", "靠近")):
                return PlaceMatch(word, "road", 0.5, (s_, e), [])
        return None

    def _numbers_after(self, text: str, end: int) -> tuple[str, int] | None:
        m = re.match(rf"(?:[，,、 ]|上的?|的)?((?:[{_NUM_CHARS}]+(?:支弄|弄|号楼|号|栋|幢|室)[，,、 ]?)+)", text[end:end + 30])
        if not m:
            return None
        num = normalise_house_number(m.group(1))
        return (num, end + m.end(1)) if num else None

    def _address(self, text: str, mentions: list[_Mention], res: LocationResult) -> PlaceMatch | None:
        district = res.district.value if res.district else None
        road = res.road.value if res.road else None
        parts: list[str] = [district] if district else []
        span_s, span_e = None, None
        conf = res.district.confidence if res.district else 0.5
        street = res.street.value if res.street and res.street.confidence >= 0.5 else None
        road_ms = [m for m in mentions if m.surface == road and not m.station] if road else []
        if road and not road_ms and res.road and res.road.span:
            s, e = res.road.span
            road_ms = [_Mention(s, e, road, [], "exact", 0.5, 0.5)]
        compound = self._compound(text, mentions, district)
        if road:
            # 镇 said right before the road (城桥镇南门路) stays in the address
            st_ms = [m for m in mentions if m.kind == "street" and m.places[0].name == street]
            if street and street.endswith("镇") and any(
                    0 <= r.start - s.end <= 1 for s in st_ms for r in road_ms):
                parts.append(street)
            parts.append(road)
            number, crossing = "", ""
            best_w = -1.0
            for r in road_ms:
                got = self._numbers_after(text, r.end)
                if got and (len(got[0]) > len(number) or (len(got[0]) == len(number) and r.weight > best_w)):
                    number, best_w = got[0], r.weight
                    span_s, span_e = r.start, got[1]
            answered = self._answered_number(text)
            if answered and not number:
                number = answered
            elif answered and answered not in number and _unit_kinds(answered).isdisjoint(_unit_kinds(number)):
                number += answered              # 375弄 … 是几号楼呢？十二号楼 -> 375弄12号楼
            if not number:
                crossing = self._crossing(text, road_ms, mentions, road)
            if number:
                parts.append(number)
            elif crossing:
                parts.append(crossing + "口")
                if res.landmark is None:        # the crossing is the landmark operators write
                    res.landmark = PlaceMatch(road + crossing + "口", "landmark", 0.6, None, [])
            near = compound and any(r.end <= c_e - len(compound[0]) <= r.end + 12
                                    and "\n" not in text[r.end:c_e] for r in road_ms for c_e in compound[3])
            if near and not crossing:
                parts.append(compound[0])
                num = self._numbers_after(text, compound[2])
                if num and not number:
                    parts.append(num[0])
            if span_s is None and road_ms:
                span_s, span_e = road_ms[0].start, road_ms[0].end
            conf *= res.road.confidence if res.road else 0.5
        elif compound:
            if street:
                parts.append(street)
            parts.append(compound[0])
            best = ""
            for c in compound[3]:
                num = self._numbers_after(text, c)
                if num and len(num[0]) >= len(best):
                    best = num[0]
            best = best or self._answered_number(text)
            if best:
                parts.append(best)
            span_s, span_e = compound[1], compound[2]
        elif street and res.landmark and res.landmark.span and not res.landmark.value.endswith("站") and any(
                m.start == res.landmark.span[0] for m in mentions if m.kind == "street"):
            parts.append(res.landmark.value)      # 殷行社区卫生服务中心: the place is the building
            span_s, span_e = res.landmark.span
        elif street and res.street.span and not all(
                m.station for m in mentions if m.kind == "street" and m.places[0].name == street):
            parts.append(street)
            span_s, span_e = res.street.span
        elif res.landmark and street and res.landmark.value.startswith(street[:2]) \
                and not res.landmark.value.endswith("站"):      # a stop is not an address
            parts.append(res.landmark.value)
            span_s, span_e = res.landmark.span or (None, None)
        else:
            return None
        if not district and len(parts) < 2:
            return None
        value = "".join(parts)
        return PlaceMatch(value, "address", round(min(0.99, conf), 3),
                          (span_s, span_e) if span_s is not None else None, [])

    @staticmethod
    def _answered_number(text: str) -> str:
        """The number given in reply to 多少号/门牌号/几号楼 on the next line, if any."""
        lines = text.split("\n")
        for q, a in zip(lines, lines[1:]):
            if _NUMBER_QUESTION_RE.search(q):
                m = re.search(rf"(?:[{_NUM_CHARS}]+(?:支弄|弄|号楼|号|栋|幢|室)[，,、 ]?)+", a)
                if m:
                    num = normalise_house_number(m.group(0))
                    if num:
                        return num
        return ""

    def _crossing(self, text: str, road_ms: list[_Mention], mentions: list[_Mention], road: str) -> str:
        """A路B路口 / A路，靠近B路那个路口 -> 'A路B路' (caller adds 口)."""
        others = [m for m in mentions if m.has("road") and m.surface != road]
        best = ""
        for b in others:
            if not (text[b.end - 1] == "路" and _CROSSING_TAIL_RE.match(text, b.end)):
                continue
            if any(0 <= b.start - a.end <= 10 and "\n" not in text[a.end:b.start] for a in road_ms):
                return b.surface
            best = best or b.surface
        return best

    def _compound(self, text: str, mentions: list[_Mention], district: str | None):
        """(name, start, end, [ends of every mention]) of the residential compound, if any."""
        found: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for m in mentions:
            if m.kind in ("compound", "village") and (district is None or any(district in p.districts for p in m.places)):
                found[m.surface].append((m.start, m.end))
        blocked = {k for m in mentions if not (m.has("compound") or m.has("village"))
                   for k in range(m.start, m.end)}
        for mt in _COMPOUND_SUFFIX_RE.finditer(text):
            if mt.start() in blocked:
                continue
            s_ = _name_before(text, mt.start(), 4, blocked)
            word = text[s_:mt.end()]
            if len(word) < 3 or word.startswith(_NOT_COMPOUND_PREFIX) or (word.endswith("小区") and len(word) < 4):
                continue
            found[word].append((s_, mt.end()))
        if not found:
            return None
        name, spans = max(found.items(), key=lambda kv: (len(kv[1]), -kv[1][0][0]))
        return name, spans[0][0], spans[0][1], [e for _, e in spans]

    def _landmark(self, text: str, mentions: list[_Mention]) -> PlaceMatch | None:
        for m in mentions:
            if m.kind == "landmark":
                return PlaceMatch(m.surface, "landmark", round(min(0.99, m.score), 3), (m.start, m.end), [])
        best = None
        blocked = {k for m in mentions if m.kind == "district" for k in range(m.start, m.end)}
        for mt in _LANDMARK_SUFFIX_RE.finditer(text):
            s = _name_before(text, mt.start(), 8, blocked, _LANDMARK_STOP)
            word = text[s:mt.end()]
            if len(word) < 4 or mt.start() - s < 2:
                continue
            best = PlaceMatch(word, "landmark", 0.6, (s, mt.end()), [])
            break
        if best is None:
            for m in mentions:
                if m.station:
                    tail = _STATION_RE.match(text, m.end)
                    word = re.sub(r"^[那这]一?个?", "", tail.group(0)) if tail else ""
                    return PlaceMatch(m.surface + word, "landmark", 0.5, (m.start, tail.end() if tail else m.end), [])
        return best

    def _correct(self, text: str, mentions: list[_Mention]) -> str:
        out, pos = [], 0
        for m in sorted(mentions, key=lambda m: m.start):
            if m.match == "exact" or m.start < pos:
                continue
            out.append(text[pos:m.start])
            out.append(m.surface)
            pos = m.end
        out.append(text[pos:])
        return "".join(out)
