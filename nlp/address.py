"""Road choice and the ticket address (step 5 of nlp/location.py): street, road, crossing, house
number, compound and landmark assembled as written on a ticket (杨浦区营口路588号,
宝山区牡丹江路密山路口, 松江区广富林路2158弄悦湖雅苑).
"""
from __future__ import annotations

import re
from collections import defaultdict

from dataclasses import dataclass
from typing import Callable

from nlp.address_parse import (_COMPOUND_SUFFIX_RE, _CROSSING_TAIL_RE, _LANDMARK_STOP, _LANDMARK_SUFFIX_RE,
                               _NUMBER_QUESTION_RE, compounds_as_heard, name_before,
                               numbers_as_heard, roads_as_heard, unit_kinds, ROAD_SUFFIX_ALIKE)
from nlp.gazetteer import Gazetteer, Place
from nlp.place_match import Mention, PlaceMatcher
from nlp.place_types import LocationResult, PlaceMatch

_COMPOUND_END_RE = re.compile(_COMPOUND_SUFFIX_RE.pattern + "$")
_CN_DIGITS = set("零〇一二两三四五六七八九十百千幺")
_STATION_RE = re.compile(r"(?:[那这]一?个?)?(?:地铁站|火车站|公交站|地铁|站)")
_SEP_AFTER_FIX = re.compile(r"[，,、 ]*(?:是|应该是)?[，,、 ]*")
_CORRECTION_RE = re.compile(r"不对|不是|说错|搞错|哦不|噢不|应该是|纠正一下")
# a road said after these is where the place is near, not the place's road (靠近徐家汇路)
_REFERENCE_BEFORE = ("靠近", "近", "离", "对面", "朝", "和", "与", "跟")
# between a compound and its building number: 东方花园小区12号楼, 锦绣苑的5号楼, 新村里面3号
_AFTER_COMPOUND_RE = re.compile(r"(?:小区|新村|公寓)?(?:里面的|里面|里的|里|的|那个)?")


@dataclass
class RoadSpan:
    """One statement of a road in the call."""
    start: int
    end: int
    name: str                  # the known road's name, or the name as heard
    weight: float
    place: Place | None        # the gazetteer road, None when kept as heard
    how: str                   # gazetteer | sound (corrected by sound) | heard
    readback: bool = False     # on a read-back line (…，对吗？)
    reference: bool = False    # a crossing's second road, or the road the place is near
    numbered: bool = False     # a house number follows
    corrected: bool = False    # the caller took it back (不对，…)


class AddressBuilder:
    """Picks the road and builds the address, crossing, compound and landmark of one call."""

    def __init__(self, gazetteer: Gazetteer, matcher: PlaceMatcher) -> None:
        self.gaz = gazetteer
        self.matcher = matcher

    @staticmethod
    def _road_mentions(text: str, mentions: list[Mention], district: str | None) -> list[Mention]:
        roads = [m for m in mentions if m.has("road") and not m.station]
        if district:
            inside = [m for m in roads if district in m.of("road")[0].districts]
            if inside:
                return inside
        return roads

    def stated_roads(self, text: str, mentions: list[Mention], district: str | None,
                     line_weight: Callable[[int], tuple[float, bool]]) -> list[RoadSpan]:
        """Every road the call states: gazetteer mentions, and road-shaped names as heard,
        corrected to a known road near in sound (in the district, or one the call names) or
        kept as heard. Weights: line position and read-back (line_weight), known > heard."""
        out: list[RoadSpan] = []
        for m in self._road_mentions(text, mentions, district):
            w, rb = line_weight(m.start)
            out.append(RoadSpan(m.start, m.end, m.surface, m.score * w, m.of("road")[0], "gazetteer", readback=rb))
        said = frozenset(r.name for r in out)
        blocked = {k for m in mentions for k in range(m.start, m.end)}
        attach = {m.end: m.start for m in mentions if m.kind in ("street", "district", "landmark")
                  and not m.surface.endswith(("区", "镇", "街道", "乡"))}
        for s_, e, word in roads_as_heard(text, blocked, attach):
            place = None
            misheard_suffix = word[-1] in ROAD_SUFFIX_ALIKE
            # where a heard name starts is uncertain (等太合亚院): the longest stem a known road fits
            for k in range(0, len(word) - 2):
                cand = word[k:-1] + "路" if misheard_suffix else word[k:]
                place = self.matcher.resolve(cand, ("road",), district, said)
                if place is not None:
                    s_ += k
                    break
            if place is None and misheard_suffix:
                continue
            w, rb = line_weight(s_)
            out.append(RoadSpan(s_, e, place.name if place else word, w * (0.8 if place else 0.6), place,
                                "sound" if place else "heard", readback=rb))
        out.sort(key=lambda r: r.start)
        for i, r in enumerate(out):
            before = text[max(0, r.start - 2):r.start]
            r.numbered = numbers_as_heard(text, r.end) is not None
            tail = _CROSSING_TAIL_RE.match(text, r.end) if text[r.end - 1] == "路" else None
            # A路B路口: the 路口 is B's when B starts before it; A is the road, B the crossing
            nxt = out[i + 1].start if i + 1 < len(out) else len(text)
            crossing_b = bool(tail) and not (r.end <= nxt < tail.end())
            r.reference = crossing_b or before.endswith(_REFERENCE_BEFORE)
            # a caller correcting themselves (X路，不对，Y路 / 不是X路，是Y路): the later road wins
            if text[max(0, r.start - 3):r.start].endswith(("不是", "不在")) or (
                    i + 1 < len(out) and "\n" not in text[r.end:out[i + 1].start]
                    and _CORRECTION_RE.search(text, r.end, min(out[i + 1].start, r.end + 14))):
                r.weight *= 0.25
                r.corrected = True
        return out

    def road(self, roads: list[RoadSpan], district: str | None) -> PlaceMatch | None:
        """The road of the address: the one stated most, numbered, read back; the second road of
        a crossing (密山路口) or the one it is near (靠近徐家汇路) counts less."""
        per: dict[str, list[RoadSpan]] = defaultdict(list)
        for r in roads:
            per[r.name].append(r)
        if not per:
            return None

        def strength(rs: list[RoadSpan]) -> float:
            return sum(r.weight * (0.4 if r.reference else 1.0) * (1.5 if r.numbered else 1.0) for r in rs)

        ranked = sorted(per.items(), key=lambda kv: (-strength(kv[1]), kv[1][0].start))
        total = sum(strength(v) for v in per.values())
        name, rs = ranked[0]
        p = next((r.place for r in rs if r.place is not None), None)
        consistent = p is None or district is None or district in p.districts
        known = 1.0 if p is not None else 0.8
        conf = strength(rs) / total * min(1.0, 0.5 + strength(rs) / 2) * (1.0 if consistent else 0.6) * known
        cands = [{"value": k, "confidence": round(strength(v) / total, 3)} for k, v in ranked[:5]]
        return PlaceMatch(name, "road", round(min(0.99, conf), 3), (rs[0].start, rs[0].end), cands)

    def _numbers_after(self, text: str, end: int) -> tuple[str, int] | None:
        return numbers_as_heard(text, end)

    def _compound_number(self, text: str, end: int) -> tuple[str, int] | None:
        """The building / house number said after a compound's name (its 小区 or 的 skipped)."""
        return numbers_as_heard(text, _AFTER_COMPOUND_RE.match(text, end).end())

    def address(self, text: str, mentions: list[Mention], res: LocationResult,
                roads: list[RoadSpan] = ()) -> PlaceMatch | None:
        district = res.district.value if res.district else None
        road = res.road.value if res.road else None
        parts: list[str] = [district] if district else []
        span_s, span_e = None, None
        conf = res.district.confidence if res.district else 0.5
        street = res.street.value if res.street and res.street.confidence >= 0.5 else None
        road_ms = [r for r in roads if r.name == road]
        compound = self._compound(text, mentions, district)
        if road:
            # 镇 said right before the road (城桥镇南门路) stays in the address
            st_ms = [m for m in mentions if m.kind == "street" and m.places[0].name == street]
            if street and street.endswith("镇") and any(
                    0 <= r.start - s.end <= 1 for s in st_ms for r in road_ms):
                parts.append(street)
            parts.append(road)
            number, crossing = "", ""
            best: tuple = ()
            for r in road_ms:
                got = self._numbers_after(text, r.end)
                if got and not r.corrected:
                    # 58号，不对，68号: the number said after the correction
                    fix = _CORRECTION_RE.match(text, got[1] + 1) or _CORRECTION_RE.match(text, got[1])
                    again = self._numbers_after(text, _SEP_AFTER_FIX.match(text, fix.end()).end()) if fix else None
                    got = again or got
                # the operator's read-back wins over the caller's first mention, unless the caller's
                # number says more (1050弄7号502室 read back as 1050弄7号)
                rank = (r.readback, len(got[0]), r.weight) if got else ()
                if got and (not best or rank > best[0]) and not (number and number.startswith(got[0])
                                                                   and len(number) > len(got[0])):
                    best, number = (rank,), got[0]
                    span_s, span_e = r.start, got[1]
                elif got and number and got[0].startswith(number) and len(got[0]) > len(number):
                    number, span_s, span_e = got[0], r.start, got[1]
            answered = self._answered_number(text)
            if answered and not number:
                number = answered
            elif answered and answered not in number and unit_kinds(answered).isdisjoint(unit_kinds(number)):
                number += answered              # 375弄 … 是几号楼呢？十二号楼 -> 375弄12号楼
            if not number:
                crossing = self._crossing(text, road_ms, roads, road)
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
                num = self._compound_number(text, compound[2])
                if num and (not number or (unit_kinds(number) <= {"弄", "支弄"}
                                           and unit_kinds(num[0]).isdisjoint(unit_kinds(number)))):
                    parts.append(num[0])        # 555弄盈翠苑8号楼: the lane, then the compound's building
            if span_s is None and road_ms:
                span_s, span_e = road_ms[0].start, road_ms[0].end
            conf *= res.road.confidence if res.road else 0.5
        elif compound:
            if street:
                parts.append(street)
            parts.append(compound[0])
            best = ""
            for c in compound[3]:
                num = self._compound_number(text, c)
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
            if _NUMBER_QUESTION_RE.search(q) and not re.search(r"\d", q):
                for i in range(len(a)):
                    got = numbers_as_heard(a, i, limit=20) if a[i].isdigit() or a[i] in _CN_DIGITS else None
                    if got:
                        return got[0]
        return ""

    def _crossing(self, text: str, road_ms: list[RoadSpan], roads: list[RoadSpan], road: str) -> str:
        """A路B路口 / A路，靠近B路那个路口 -> 'A路B路' (caller adds 口)."""
        best = ""
        for b in roads:
            if b.name == road or not (text[b.end - 1] == "路" and _CROSSING_TAIL_RE.match(text, b.end)):
                continue
            if any(0 <= b.start - a.end <= 10 and "\n" not in text[a.end:b.start] for a in road_ms):
                return b.name
            best = best or b.name
        return best

    def _compound(self, text: str, mentions: list[Mention], district: str | None):
        """(name, start, end, [ends of every mention]) of the residential compound, if any."""
        found: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for m in mentions:
            if m.kind in ("compound", "village") and (district is None or any(district in p.districts for p in m.places)):
                found[m.surface].append((m.start, m.end))
        # a known compound of another district (新家园 in 华新家园) does not hide the name as heard
        blocked = {k for m in mentions for k in range(m.start, m.end)
                   if not (m.kind in ("compound", "village") and district is not None
                           and all(district not in p.districts for p in m.places))}
        # a compound named after the town or road said just before its suffix (华新家园, 上大雅苑)
        named_after = {m.end: m.start for m in mentions if m.kind in ("street", "road", "landmark")
                       and not m.surface.endswith(("区", "镇", "街道", "乡", "路", "公路", "大道", "街"))}
        for s_, e, word in compounds_as_heard(text, blocked, named_after):
            # a compound heard by sound (泰合亚院) is the known one in the district (泰和雅苑);
            # an unknown one is kept as heard when its suffix is a compound's
            place = None
            for k in range(0, len(word) - 2) if district else ():
                place = self.matcher.resolve(word[k:], ("compound", "village"), district)
                if place is not None:
                    s_ += k
                    break
            if place is not None:
                found[place.name].append((s_, e))
            elif _COMPOUND_END_RE.search(word) and not (word.endswith("小区") and len(word) < 4):
                found[word].append((s_, e))
        if not found:
            return None
        name, spans = max(found.items(), key=lambda kv: (len(kv[1]), -kv[1][0][0]))
        return name, spans[0][0], spans[0][1], [e for _, e in spans]

    def landmark(self, text: str, mentions: list[Mention]) -> PlaceMatch | None:
        for m in mentions:
            if m.kind == "landmark":
                return PlaceMatch(m.surface, "landmark", round(min(0.99, m.score), 3), (m.start, m.end), [])
        best = None
        blocked = {k for m in mentions if m.kind == "district" for k in range(m.start, m.end)}
        for mt in _LANDMARK_SUFFIX_RE.finditer(text):
            s = name_before(text, mt.start(), 8, blocked, _LANDMARK_STOP)
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

