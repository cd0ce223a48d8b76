"""A centre's own map into the gazetteer: roads, compounds and landmarks with coordinates.

Sources: an OpenStreetMap extract (.osm.pbf / .osm / .osm.gz / .osm.bz2, read with PyPI
`osmium`, extra `maps`), a CSV (columns name,kind[,district,street,lat,lon]) or a GeoJSON
FeatureCollection (properties name + kind or OSM-style tags; any geometry, its centre is kept).

* roads: highway=* ways whose name ends like a road (路/街/大道/公路/巷/弄); one place per name, at
  the mean of its nodes, in every district its ways lie in;
* compounds: landuse=residential, place=neighbourhood/quarter, building=* with a name (place=village
  or hamlet: villages);
* landmarks: amenity/shop/tourism/leisure/healthcare/historic/office, stations, with a name. A name
  found more than twice (a chain: 全家, 中国银行) names no one place and is left out.

District (and street): the object's addr:district / addr:subdistrict / is_in tags; else the place
imported with a tag nearest to it (within 1.5 km); else the nearest bundled centre (street
centres within 2 km, then district centres). Everything is approximate.

The result is the overlay file nlp.gazetteer.overlay_path() (merged over the bundled gazetteer by
Gazetteer.load()); an import adds to the overlay already there unless replace=True.
"""
from __future__ import annotations

import json
import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from nlp.gazetteer import OVERLAY_FORMAT, Gazetteer, overlay_path, read_overlay
from nlp.map_readers import (FORMATS, KINDS, MapImportError, _csv_places, _geojson_places, _osm_places,  # noqa: F401
                             clean_name, detect_format, kind_of, name_of)
from nlp.pinyin import name_keys

ROAD_NAME_RE = re.compile(r"(?:路|街|大道|公路|巷|弄)$")
_DISTRICT_TAGS = ("addr:district", "is_in:district", "addr:city_district", "is_in", "addr:city")
_STREET_TAGS = ("addr:subdistrict", "is_in:subdistrict", "addr:town", "is_in:town")
NEIGHBOUR_KM = 1.5
STREET_CENTRE_KM = 2.0
CHAIN_LIMIT = 2


@dataclass
class MapPlace:
    name: str
    kind: str                         # road | compound | village | landmark
    points: list[tuple[float, float]]  # (lat, lon); a road: one per way
    district: str | None = None
    street: str | None = None
    by: str = ""                      # how the district was found: tag | neighbour | centre


@dataclass
class ImportResult:
    path: Path                        # the overlay written
    source: str
    format: str
    counts: dict[str, int]            # {road, compound, village, landmark} written by this import
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> objects
    district_by: dict[str, int] = field(default_factory=dict)  # tag | neighbour | centre -> places
    seconds: float = 0.0

def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[0] - b[0]) * 111.2
    dlon = (a[1] - b[1]) * 111.2 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(dlat, dlon)


def _centre(points: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    pts = list(points)
    if not pts:
        return None
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)

# ------------------------------------------------------------------------- places and districts


class _Areas:
    """District / street names in tag values, and the bundled centres to fall back on."""

    def __init__(self, gaz: Gazetteer) -> None:
        self.gaz = gaz
        self.district_names = sorted(((a.surface, a.place.name) for als in gaz.aliases.values() for a in als
                                      if a.place.kind == "district"), key=lambda x: -len(x[0]))
        self.street_centres = [(s.lat, s.lon, s.districts[0], s.name) for s in gaz.streets.values() if s.lat is not None]
        self.district_centres = [(d.lat, d.lon, d.name) for d in gaz.districts.values() if d.lat is not None]

    def district_in(self, value: str | None) -> str | None:
        if not value:
            return None
        for surface, name in self.district_names:
            if surface in value:
                return name
        return None

    def street_in(self, value: str | None, district: str | None) -> str | None:
        if not value:
            return None
        for s in self.gaz.streets.values():
            if district and s.districts[0] != district:
                continue
            short = [a.surface for a in self.gaz.aliases.get(s.name[:-2] if s.name.endswith("街道") else s.name[:-1], ())
                     if a.place is s]
            if s.name in value or any(len(x) >= 2 and x == value for x in short):
                return s.name
        return None

    def nearest_centre(self, pt: tuple[float, float]) -> tuple[str | None, str | None, float]:
        best = min(((_km(pt, (la, lo)), d, s) for la, lo, d, s in self.street_centres), default=None)
        if best and best[0] <= STREET_CENTRE_KM:
            return best[1], best[2], best[0]
        km, d = min(((_km(pt, (la, lo)), d) for la, lo, d in self.district_centres), default=(math.inf, None))
        return d, None, km


def collect(rows: Iterable[tuple[dict, list]], gaz: Gazetteer) -> tuple[list[MapPlace], Counter]:
    """MapPlace per usable object (a road: per way), district from tags where they name one."""
    areas = _Areas(gaz)
    out: list[MapPlace] = []
    skipped: Counter = Counter()
    for tags, pts in rows:
        kind = tags.get("hotline:kind") or kind_of(tags)
        if kind is None:
            skipped["not a road, compound or landmark"] += 1
            continue
        name = name_of(tags)
        if name is None:
            skipped["no usable Chinese name"] += 1
            continue
        if kind == "road" and not ROAD_NAME_RE.search(name):
            skipped["highway not named like a road"] += 1
            continue
        if kind != "road" and (len(name) < 3 or any(a.place.kind in ("district", "street") for a in gaz.aliases.get(name, ()))):
            skipped["name too short or a district/street name"] += 1
            continue
        district = next((d for k in _DISTRICT_TAGS if (d := areas.district_in(tags.get(k)))), None)
        street = next((s for k in _STREET_TAGS if (s := areas.street_in(tags.get(k), district))), None)
        if street and not district:
            district = gaz.streets[street].districts[0]
        centre = _centre(pts)
        if centre is None and district is None:
            skipped["no position and no district"] += 1
            continue
        out.append(MapPlace(name, kind, [centre] if centre else [], district, street, "tag" if district else ""))
    return out, skipped


def assign_districts(places: list[MapPlace], gaz: Gazetteer, skipped: Counter) -> list[MapPlace]:
    """Places without a district tag: the tagged place nearest (≤ NEIGHBOUR_KM), else the nearest
    bundled street/district centre; places far from every district centre are outside the city."""
    areas = _Areas(gaz)
    grid: dict[tuple[int, int], list[MapPlace]] = defaultdict(list)
    for p in places:
        if p.district and p.points:
            grid[(int(p.points[0][0] / 0.01), int(p.points[0][1] / 0.01))].append(p)
    kept = []
    for p in places:
        if not p.district:
            pt = p.points[0]
            ci, cj = int(pt[0] / 0.01), int(pt[1] / 0.01)
            near = [(_km(pt, q.points[0]), q) for di in range(-2, 3) for dj in range(-2, 3)
                    for q in grid.get((ci + di, cj + dj), ())]
            d_km, q = min(near, key=lambda x: x[0], default=(math.inf, None))
            if q is not None and d_km <= NEIGHBOUR_KM:
                p.district, p.street, p.by = q.district, q.street if d_km <= NEIGHBOUR_KM / 2 else None, "neighbour"
            else:
                d, s, km = areas.nearest_centre(pt)
                if d is None or km > 40:
                    skipped["outside the city's districts"] += 1
                    continue
                p.district, p.street, p.by = d, s, "centre"
        kept.append(p)
    return kept


def _rounded(pt: tuple[float, float] | None) -> tuple[float | None, float | None]:
    return (round(pt[0], 6), round(pt[1], 6)) if pt else (None, None)


def overlay_entries(places: list[MapPlace], skipped: Counter) -> dict[str, list[dict]]:
    """Gazetteer overlay entries: one road per name (its districts by number of ways, position and
    per-district centres), one compound per name and district, one landmark per name."""
    roads: dict[str, list[MapPlace]] = defaultdict(list)
    comps: dict[tuple[str, str, str], list[MapPlace]] = defaultdict(list)
    marks: dict[str, list[MapPlace]] = defaultdict(list)
    for p in places:
        if p.kind == "road":
            roads[p.name].append(p)
        elif p.kind == "landmark":
            marks[p.name].append(p)
        else:
            comps[(p.name, p.kind, p.district)].append(p)
    out: dict[str, list[dict]] = {"roads": [], "compounds": [], "landmarks": []}
    for name, ways in sorted(roads.items()):
        by_d = Counter(w.district for w in ways)
        districts = [d for d, _ in by_d.most_common()]
        centres = {d: _rounded(_centre(pt for w in ways if w.district == d for pt in w.points)) for d in districts}
        streets = [s for s, _ in Counter(w.street for w in ways if w.street).most_common()]
        lat, lon = centres[districts[0]]
        out["roads"].append({"name": name, "districts": districts, "streets": streets, "sources": ["map"],
                             "lat": lat, "lon": lon,
                             "centres": {d: list(c) for d, c in centres.items() if c[0] is not None}})
    for (name, kind, district), ps in sorted(comps.items()):
        street = Counter(p.street for p in ps if p.street).most_common(1)
        lat, lon = _rounded(_centre(pt for p in ps for pt in p.points))
        out["compounds"].append({"name": name, "kind": kind, "district": district,
                                 "street": street[0][0] if street else None, "lat": lat, "lon": lon,
                                 "sources": ["map"]})
    for name, ps in sorted(marks.items()):
        if len(ps) > CHAIN_LIMIT:
            skipped["landmark name used by many places (a chain)"] += len(ps)
            continue
        lat, lon = _rounded(_centre(ps[0].points))
        out["landmarks"].append({"name": name, "district": ps[0].district,
                                 "districts": list(dict.fromkeys(p.district for p in ps)),
                                 "street": ps[0].street, "lat": lat, "lon": lon, "sources": ["map"]})
    return out


def _merge_overlay(old: dict | None, new: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The overlay already there with this import's entries added (same name replaced)."""
    if not old:
        return new

    def key(section: str, e: dict) -> tuple:
        return (e["name"], e.get("kind"), e.get("district")) if section == "compounds" else (e["name"],)

    out = {}
    for section in ("roads", "compounds", "landmarks"):
        merged = {key(section, e): e for e in old.get(section, ())}
        merged.update({key(section, e): e for e in new.get(section, ())})
        out[section] = list(merged.values())
    return out


def import_map(source: str | Path, *, fmt: str | None = None, out: str | Path | None = None,
               replace: bool = False, gazetteer: Gazetteer | None = None,
               progress: Callable[[int], None] | None = None) -> ImportResult:
    """Read a map file and write the gazetteer overlay (default overlay_path()); see module doc."""
    t0 = time.perf_counter()
    src = Path(source)
    if not src.is_file():
        raise MapImportError(f"{src}: no such file")
    fmt = fmt or detect_format(src)
    if fmt not in FORMATS:
        raise MapImportError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    gaz = gazetteer or Gazetteer.load(overlay=False)
    rows = {"osm": lambda: _osm_places(src, progress), "csv": lambda: _csv_places(src),
            "geojson": lambda: _geojson_places(src)}[fmt]()
    try:
        places, skipped = collect(rows, gaz)
    except UnicodeDecodeError as e:
        raise MapImportError(f"{src}: not UTF-8 text ({e})") from None
    places = assign_districts(places, gaz, skipped)
    entries = overlay_entries(places, skipped)
    if not any(entries.values()):
        raise MapImportError(f"{src}: no road, compound or landmark with a Chinese name found "
                             f"(skipped: {dict(skipped) or 'nothing read'})")
    target = Path(out) if out is not None else overlay_path()
    old = None if replace else read_overlay(target) if target.is_file() else None
    merged = _merge_overlay(old, entries)
    names = {e["name"] for section in merged.values() for e in section}
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    counts = {"road": len(entries["roads"]), "compound": sum(e["kind"] == "compound" for e in entries["compounds"]),
              "village": sum(e["kind"] == "village" for e in entries["compounds"]), "landmark": len(entries["landmarks"])}
    by = Counter(p.by for p in places)
    sources = list((old or {}).get("sources", ())) + [{"file": src.name, "format": fmt, "imported_at": stamp,
                                                       "counts": counts}]
    data = {"format": OVERLAY_FORMAT, "version": 1, "note": "Imported map data; positions are approximate "
            "(centres of the mapped objects), districts from tags or the nearest known place.",
            "sources": sources, "source": sources[-1], **merged,
            "pinyin": {n: name_keys(n) for n in sorted(names)}}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=0), encoding="utf-8")
    tmp.replace(target)
    return ImportResult(target, str(src), fmt, counts, dict(skipped), dict(by), round(time.perf_counter() - t0, 3))
