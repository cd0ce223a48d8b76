"""ASR-tolerant Shanghai place extraction: district, street/town, road, address, landmark.

Modules, one job each: nlp/place_match.py (gazetteer names by sound, steps 1-3),
nlp/district_vote.py (step 4), nlp/address_parse.py (roads, lanes, numbers, compounds as said),
nlp/address.py (road choice and the ticket address, step 5), nlp/map_import.py (a centre's own map).

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

from nlp.address import AddressBuilder
from nlp.address_parse import normalise_house_number
from nlp.district_vote import AreaVote
from nlp.gazetteer import Gazetteer
from nlp.place_match import PlaceMatcher
from nlp.place_types import LocationOptions, LocationResult, PlaceMatch

__all__ = ["LocationExtractor", "LocationOptions", "LocationResult", "PlaceMatch", "Gazetteer",
           "normalise_house_number"]


class LocationExtractor:
    def __init__(self, gazetteer: Gazetteer | None = None, options: LocationOptions | None = None):
        self.gaz = gazetteer or Gazetteer.load()
        self.opts = options or LocationOptions()
        self.matcher = PlaceMatcher(self.gaz, self.opts)
        self.voter = AreaVote(self.gaz, self.opts)
        self.builder = AddressBuilder(self.gaz, self.matcher)

    # ------------------------------------------------------------ public API
    def extract(self, text: str) -> LocationResult:
        if not isinstance(text, str):
            raise TypeError(f"extract() needs str, got {type(text).__name__}")
        res = LocationResult(corrected_text=text)
        if not text.strip():
            return res
        line_of, readback, n_lines = self.voter.lines(text)
        blocked, res.outside = self.matcher.outside_spans(text)
        cands = self.matcher.candidates(text, blocked)
        self.matcher.mark_context(text, cands, line_of)
        mentions = self.matcher.supported(self.matcher.select(text, cands))
        self.voter.weigh(text, mentions, line_of, readback, n_lines)
        # misheard streets/roads (merged sounds) do not decide the district on their own
        district, dshare, dcands = self.voter.vote(mentions, first=True)
        if district:
            again = self.matcher.supported(self.matcher.select(text, cands, district))
            if [(m.start, m.surface) for m in again] != [(m.start, m.surface) for m in mentions]:
                self.voter.weigh(text, again, line_of, readback, n_lines)
                mentions = again
                district, dshare, dcands = self.voter.vote(mentions)
            if district and self.voter.bare_only(mentions, district):
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
        res.street = self.voter.street(mentions, district, res)
        roads = self.builder.stated_roads(text, mentions, district, self._line_weight(line_of, readback, n_lines))
        res.road = self.builder.road(roads, district)
        res.landmark = self.builder.landmark(text, mentions)
        res.address = self.builder.address(text, mentions, res, roads)
        street_name = res.street.value if res.street and res.street.confidence >= 0.5 else None
        res.location = self._position(res, mentions, district, street_name)
        res.corrected_text = self.matcher.correct(text, mentions)
        return res

    def _line_weight(self, line_of: list[int], readback: list[bool], n_lines: int):
        """pos -> (weight, read-back?): later lines weigh more, the operator's read-back most."""
        def weight(pos: int) -> tuple[float, bool]:
            ln = line_of[pos]
            w = 1.0 + self.opts.late_weight * ln / max(1, n_lines - 1)
            return (w * self.opts.road_readback_weight, True) if readback[ln] else (w, False)
        return weight

    def _position(self, res: LocationResult, mentions: list, district: str | None,
                  street: str | None) -> dict | None:
        """Approximate position: the compound or landmark of the address (when the map has it),
        else the road's (its part in the district), else the street's or district's centre."""
        named = " ".join(m.value for m in (res.address, res.landmark) if m)
        best = None
        for m in mentions:
            if m.kind in ("compound", "village", "landmark") and m.match == "exact" and m.surface in named:
                for p in m.places:
                    if p.lat is not None and (district is None or district in p.districts):
                        if best is None or m.weight > best[0]:
                            best = (m.weight, p)
        if best:
            return self.gaz.position(best[1], district)
        road = self.gaz.roads.get(res.road.value) if res.road else None
        if road is not None and (road.lat is not None or road.centres) and (district is None or district in road.districts):
            return self.gaz.position(road, district)
        return self.gaz.centre(district, street) if district else None

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
