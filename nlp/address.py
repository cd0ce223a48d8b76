"""Road choice and the ticket address (step 5 of nlp/location.py): street, road, crossing, house
number, compound and landmark assembled as written on a ticket (杨浦区营口路588号,
宝山区牡丹江路密山路口, 松江区广富林路2158弄悦湖雅苑).
"""
from __future__ import annotations

import re
from collections import defaultdict

from nlp.address_parse import (_COMPOUND_SUFFIX_RE, _CROSSING_TAIL_RE, _LANDMARK_STOP, _LANDMARK_SUFFIX_RE,
                               _NOT_COMPOUND_PREFIX, _NOT_ROAD_WORDS, _NUM_CHARS, _NUMBER_QUESTION_RE,
                               _ROAD_SUFFIX_RE, name_before, normalise_house_number, unit_kinds)
from nlp.gazetteer import Gazetteer
from nlp.place_match import _ROAD_WORD_TAIL, Mention
from nlp.place_types import LocationResult, PlaceMatch

_STATION_RE = re.compile(r"(?:[那这]一?个?)?(?:地铁站|火车站|公交站|地铁|站)")


class AddressBuilder:
    """Picks the road and builds the address, crossing, compound and landmark of one call."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gaz = gazetteer

    def _road_mentions(self, text: str, mentions: list[Mention], district: str | None) -> list[Mention]:
        roads = [m for m in mentions if m.has("road") and not m.station]
        if district:
            inside = [m for m in roads if district in m.of("road")[0].districts]
            if inside:
                return inside
        return roads

    def road(self, text: str, mentions: list[Mention], district: str | None, res: LocationResult) -> PlaceMatch | None:
        roads = self._road_mentions(text, mentions, district)
        # the second road of a crossing (密山路口, 靠近兰溪路那个路口) is where, not which road
        crossing_b = {id(m) for m in roads
                      if text[m.end - 1] == "路" and _CROSSING_TAIL_RE.match(text, m.end)}
        per: dict[str, list[Mention]] = defaultdict(list)
        for m in roads:
            per[m.surface].append(m)
        if per:
            def strength(ms: list[Mention]) -> float:
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
            s_ = name_before(text, mt.start(), 4, blocked)
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

    def address(self, text: str, mentions: list[Mention], res: LocationResult) -> PlaceMatch | None:
        district = res.district.value if res.district else None
        road = res.road.value if res.road else None
        parts: list[str] = [district] if district else []
        span_s, span_e = None, None
        conf = res.district.confidence if res.district else 0.5
        street = res.street.value if res.street and res.street.confidence >= 0.5 else None
        road_ms = [m for m in mentions if m.surface == road and not m.station] if road else []
        if road and not road_ms and res.road and res.road.span:
            s, e = res.road.span
            road_ms = [Mention(s, e, road, [], "exact", 0.5, 0.5)]
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
            elif answered and answered not in number and unit_kinds(answered).isdisjoint(unit_kinds(number)):
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

    def _crossing(self, text: str, road_ms: list[Mention], mentions: list[Mention], road: str) -> str:
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

    def _compound(self, text: str, mentions: list[Mention], district: str | None):
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
            s_ = name_before(text, mt.start(), 4, blocked)
            word = text[s_:mt.end()]
            if len(word) < 3 or word.startswith(_NOT_COMPOUND_PREFIX) or (word.endswith("小区") and len(word) < 4):
                continue
            found[word].append((s_, mt.end()))
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

