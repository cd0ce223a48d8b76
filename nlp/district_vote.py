"""District and street by weighted vote over the places a call names (step 4 of nlp/location.py).

Direct mentions, then streets, landmarks, roads and compounds that imply a district; later mentions
and the operator's read-back (…，对吗？) weigh more; misheard streets/roads only support a district
something else names; a tie stays as candidates. The street is the one said, else the one a
landmark, compound or road implies.
"""
from __future__ import annotations

import re
from collections import defaultdict

from nlp.gazetteer import Gazetteer
from nlp.place_match import Mention
from nlp.place_types import LocationOptions, LocationResult, PlaceMatch

_KIND_VOTE = {"district": 1.0, "street": 0.9, "landmark": 0.8, "road": 0.6, "compound": 0.5,
              "village": 0.4}
_READBACK_RE = re.compile(r"对吗|是吗|对吧|是吧|核实|确认|重复一下|记录|转交|转给|派单")
_STATION_RE = re.compile(r"(?:[那这]一?个?)?(?:地铁站|火车站|公交站|地铁|站)")


class AreaVote:
    """Weights mentions and votes the district and street of one call."""

    def __init__(self, gazetteer: Gazetteer, options: LocationOptions) -> None:
        self.gaz = gazetteer
        self.opts = options

    @staticmethod
    def lines(text: str) -> tuple[list[int], list[bool], int]:
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

    def weigh(self, text: str, mentions: list[Mention], line_of: list[int], readback: list[bool],
               n_lines: int) -> None:
        for m in mentions:
            ln = line_of[m.start]
            w = m.score * (1.0 + self.opts.late_weight * ln / max(1, n_lines - 1))
            if readback[ln]:
                w *= self.opts.readback_weight
            m.weight = w
            m.station = (m.has("street") or m.has("road")) and bool(_STATION_RE.match(text, m.end))

    @staticmethod
    def bare(m: Mention) -> bool:
        """A bare short form of a district (杨浦, no 区) said with no place cue."""
        return m.kind == "district" and m.end - m.start <= 2 and all(a.short for a in m.aliases) and not m.context

    def bare_only(self, mentions: list[Mention], district: str) -> bool:
        """The district rests only on bare short forms (杨浦, no 区) said with no place cue."""
        return all(self.bare(m) for m in mentions if district in {d for p in m.places for d in p.districts})

    def vote(self, mentions: list[Mention], first: bool = False) -> tuple[str | None, float, list[dict]]:
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
            if not self.bare(m):
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

    def street(self, mentions: list[Mention], district: str | None, res: LocationResult) -> PlaceMatch | None:
        direct: dict[str, list[Mention]] = defaultdict(list)
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

