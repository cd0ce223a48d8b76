"""Readers of map files for nlp/map_import.py: OpenStreetMap (osmium), CSV, GeoJSON.

Each yields (tags, points): OSM-style tags ({"name", "highway", "addr:district", ...}; CSV and
GeoJSON rows with a kind carry "hotline:kind") and the object's (lat, lon) points.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Callable, Iterator

FORMATS = ("osm", "csv", "geojson")
KINDS = ("road", "compound", "village", "landmark")
_BRACKETS = re.compile(r"[（(【\[].*?[）)】\]]")
_CJK_NAME = re.compile(r"^[\u4e00-\u9fff]{2,16}$")
_UNIT_ONLY = re.compile(r"^[0-9零一二三四五六七八九十百]+(?:号楼|号|栋|幢|楼|弄|单元|期)$")
_LANDMARK_KEYS = ("amenity", "shop", "tourism", "leisure", "healthcare", "historic", "office")
_STATION = {("railway", "station"), ("public_transport", "station"), ("railway", "halt")}


class MapImportError(ValueError):
    """Input that cannot be imported (unreadable file, wrong columns, no usable place)."""

# ------------------------------------------------------------------------- names and tags


def clean_name(raw: str | None) -> str | None:
    """'静安寺 (南京西路)' -> '静安寺'; None unless 2-16 Chinese characters remain."""
    if not raw:
        return None
    name = _BRACKETS.sub("", str(raw)).replace(" ", "").replace("\u3000", "").strip()
    return name if _CJK_NAME.match(name) and not _UNIT_ONLY.match(name) else None


def kind_of(tags: dict[str, str]) -> str | None:
    """road | compound | village | landmark for OSM-style tags, None for anything else."""
    if tags.get("highway"):
        return "road"
    if tags.get("place") in ("village", "hamlet"):
        return "village"
    if any(tags.get(k) for k in _LANDMARK_KEYS) or any((k, tags.get(k)) in _STATION for k in ("railway", "public_transport")):
        return "landmark"
    if tags.get("landuse") == "residential" or tags.get("place") in ("neighbourhood", "quarter") or tags.get("building"):
        return "compound"
    return None


def name_of(tags: dict[str, str]) -> str | None:
    for k in ("name:zh-Hans", "name:zh_pinyin_no", "name:zh", "name"):
        n = clean_name(tags.get(k))
        if n:
            return n
    return None


# ------------------------------------------------------------------------- readers


def _osm_places(path: Path, progress: Callable[[int], None] | None) -> Iterator[tuple[dict, list]]:
    try:
        import osmium
    except ImportError:
        raise MapImportError("reading OpenStreetMap files needs the osmium package: pip install 'hotline[maps]'") from None
    try:
        proc = osmium.FileProcessor(str(path)).with_locations()
        n = 0
        for obj in proc:
            n += 1
            if progress and n % 20000 == 0:
                progress(20000)
            if obj.is_relation() or not len(obj.tags):
                continue
            tags = {t.k: t.v for t in obj.tags}
            if "name" not in tags and "name:zh" not in tags:
                continue
            if obj.is_node():
                pts = [(obj.location.lat, obj.location.lon)] if obj.location.valid() else []
            else:
                pts = [(nd.location.lat, nd.location.lon) for nd in obj.nodes if nd.location.valid()]
                if len(pts) > 1 and pts[0] == pts[-1]:
                    pts = pts[:-1]           # a closed way: the first node once
            yield tags, pts
        if progress:
            progress(n % 20000)
    except (RuntimeError, OSError) as e:       # osmium reports a broken file as RuntimeError
        raise MapImportError(f"{path}: not a readable OpenStreetMap file ({e})") from None


def _csv_places(path: Path) -> Iterator[tuple[dict, list]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or ())
        if not {"name", "kind"} <= cols:
            raise MapImportError(f"{path}: a CSV needs the columns name,kind (and district,street,lat,lon); got {sorted(cols)}")
        for row_no, row in enumerate(reader, start=2):
            kind = (row.get("kind") or "").strip()
            if kind not in KINDS:
                raise MapImportError(f"{path}:{row_no}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
            pts = []
            if (row.get("lat") or "").strip() or (row.get("lon") or "").strip():
                try:
                    pts = [(float(row["lat"]), float(row["lon"]))]
                except (TypeError, ValueError):
                    raise MapImportError(f"{path}:{row_no}: lat/lon must be numbers, got {row.get('lat')!r}, {row.get('lon')!r}") from None
            tags = {"name": row["name"], "hotline:kind": kind}
            for k in ("district", "street"):
                if (row.get(k) or "").strip():
                    tags[f"addr:{'subdistrict' if k == 'street' else k}"] = row[k].strip()
            yield tags, pts


def _coords(geom: dict) -> Iterator[tuple[float, float]]:
    c = geom.get("coordinates")
    if geom.get("type") == "GeometryCollection":
        for g in geom.get("geometries", ()):
            yield from _coords(g)
        return

    def walk(x):
        if isinstance(x, (list, tuple)) and len(x) >= 2 and all(isinstance(v, (int, float)) for v in x[:2]):
            yield float(x[1]), float(x[0])       # GeoJSON is lon, lat
        elif isinstance(x, (list, tuple)):
            for y in x:
                yield from walk(y)
    yield from walk(c)


def _geojson_places(path: Path) -> Iterator[tuple[dict, list]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise MapImportError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(data.get("features"), list):
        raise MapImportError(f"{path}: a GeoJSON FeatureCollection is needed")
    for i, feat in enumerate(data["features"]):
        props = dict((feat or {}).get("properties") or {})
        tags = {str(k): str(v) for k, v in props.items() if v is not None}
        if tags.get("kind"):
            if tags["kind"] not in KINDS:
                raise MapImportError(f"{path}: feature {i}: kind must be one of {', '.join(KINDS)}, got {tags['kind']!r}")
            tags["hotline:kind"] = tags["kind"]
        for k, t in (("district", "addr:district"), ("street", "addr:subdistrict")):
            if tags.get(k):
                tags.setdefault(t, tags[k])
        yield tags, list(_coords((feat or {}).get("geometry") or {}))


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2", ".osm.xml")):
        return "osm"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".geojson", ".json")):
        return "geojson"
    raise MapImportError(f"{path}: cannot tell the format from the name; give --format {'|'.join(FORMATS)}")
