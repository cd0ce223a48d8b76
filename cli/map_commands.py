"""`hotline gazetteer import|info|search`: a centre's own map in the gazetteer.

`import FILE` reads an OpenStreetMap extract (.osm.pbf/.osm, needs the `maps` extra: osmium), a
CSV (name,kind[,district,street,lat,lon]) or a GeoJSON FeatureCollection into the overlay file
(HOTLINE_GAZETTEER, else HOTLINE_HOME/gazetteer_overlay.json) that the extractor, the place
search and the ASR place correction merge over the bundled Shanghai gazetteer (nlp/map_import.py).
"""
from __future__ import annotations

import argparse
import json
import sys


def cmd_import(args: argparse.Namespace) -> int:
    from nlp.map_import import MapImportError, import_map

    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(unit=" objects", unit_scale=True, desc="reading map", file=sys.stderr, disable=None)
    try:
        res = import_map(args.file, fmt=args.format, out=args.out, replace=args.replace,
                         progress=bar.update if bar is not None else None)
    except (MapImportError, FileNotFoundError, ValueError) as e:
        if bar is not None:
            bar.close()
        print(f"hotline gazetteer import: {e}", file=sys.stderr)
        return 1
    if bar is not None:
        bar.close()
    if args.json:
        print(json.dumps({"overlay": str(res.path), "format": res.format, "counts": res.counts,
                          "skipped": res.skipped, "district_by": res.district_by, "seconds": res.seconds},
                         ensure_ascii=False))
    else:
        c = res.counts
        print(f"imported {c['road']} roads, {c['compound']} compounds, {c['village']} villages, "
              f"{c['landmark']} landmarks from {res.source} ({res.format}, {res.seconds:.1f} s) into {res.path}")
        if res.district_by:
            print("district from: " + ", ".join(f"{k} {v}" for k, v in sorted(res.district_by.items())))
        for reason, n in sorted(res.skipped.items(), key=lambda kv: -kv[1]):
            print(f"  skipped {n}: {reason}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from nlp.gazetteer import Gazetteer, overlay_path, read_overlay

    try:
        over = read_overlay()
        gaz = Gazetteer.load()
    except (FileNotFoundError, ValueError) as e:
        print(f"hotline gazetteer info: {e}", file=sys.stderr)
        return 1
    info = {"districts": len(gaz.districts), "streets": len(gaz.streets), "roads": len(gaz.roads),
            "compounds": sum(len(v) for v in gaz.compounds.values()), "landmarks": len(gaz.landmarks),
            "overlay": str(overlay_path()) if over else None,
            "overlay_sources": (over or {}).get("sources", [])}
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        for k, v in info.items():
            print(f"{k:<16} {v}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from nlp.gazetteer import Gazetteer

    for hit in Gazetteer.load().search(args.query, limit=args.limit):
        print(json.dumps(hit, ensure_ascii=False) if args.json else
              f"{hit['score']:.2f}  {hit['kind']:<9} {hit['name']}  {'/'.join(hit['districts'])}  "
              f"{hit['lat']},{hit['lon']}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("gazetteer", help="the place gazetteer: import a centre's own map, info, search")
    sub = p.add_subparsers(dest="gazetteer_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import roads, compounds and landmarks from an OSM extract, CSV or GeoJSON")
    imp.add_argument("file", help=".osm.pbf / .osm (OpenStreetMap), .csv or .geojson")
    imp.add_argument("--format", choices=("osm", "csv", "geojson"), default=None,
                     help="input format (default: from the file name)")
    imp.add_argument("--replace", action="store_true", help="start a new overlay instead of adding to the one there")
    imp.add_argument("--out", default=None, help="overlay file to write (default: HOTLINE_GAZETTEER or "
                                                 "HOTLINE_HOME/gazetteer_overlay.json)")
    imp.add_argument("--json", action="store_true", help="print the result as one JSON line")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(func=cmd_import)
    info = sub.add_parser("info", help="counts of the gazetteer in use and the overlay's sources")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
    se = sub.add_parser("search", help="search places (as the console's place search does)")
    se.add_argument("query")
    se.add_argument("--limit", type=int, default=10)
    se.add_argument("--json", action="store_true")
    se.set_defaults(func=cmd_search)
