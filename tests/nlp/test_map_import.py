"""`hotline gazetteer import`: a centre's own map (OSM / CSV / GeoJSON) into the gazetteer overlay,
and the draft naming an imported road carries its district, address and position."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cli import main as cli_main
from nlp.gazetteer import Gazetteer
from nlp.location import LocationExtractor
from nlp.map_import import MapImportError, import_map

# invented names: none of them is in the bundled gazetteer
ROAD, ROAD2, COMPOUND, HOSPITAL = "樱桃湾路", "青枫塘路", "青枫雅苑", "樱湾社区医院"
YANGPU = (31.2700, 121.5300)          # near the 杨浦区 centre of the bundled gazetteer

OSM_XML = f"""<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="31.2700" lon="121.5300"/>
  <node id="2" lat="31.2710" lon="121.5320"/>
  <node id="3" lat="31.2720" lon="121.5340"/>
  <node id="4" lat="31.2690" lon="121.5290"/>
  <node id="5" lat="31.2690" lon="121.5310"/>
  <node id="6" lat="31.2680" lon="121.5310"/>
  <node id="7" lat="31.2705" lon="121.5305"><tag k="amenity" v="hospital"/><tag k="name" v="{HOSPITAL}"/></node>
  <node id="8" lat="31.2705" lon="121.5305"><tag k="shop" v="convenience"/><tag k="name" v="全家便利店"/></node>
  <node id="9" lat="31.1000" lon="121.4000"><tag k="shop" v="convenience"/><tag k="name" v="全家便利店"/></node>
  <node id="10" lat="31.0000" lon="121.2000"><tag k="shop" v="convenience"/><tag k="name" v="全家便利店"/></node>
  <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="{ROAD}"/><tag k="addr:district" v="杨浦区"/></way>
  <way id="101"><nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="tertiary"/><tag k="name" v="{ROAD2}"/></way>
  <way id="102"><nd ref="4"/><nd ref="5"/><nd ref="6"/><nd ref="4"/>
    <tag k="landuse" v="residential"/><tag k="name" v="{COMPOUND}"/></way>
  <way id="103"><nd ref="5"/><nd ref="6"/><tag k="highway" v="service"/><tag k="name" v="Service Lane"/></way>
</osm>
"""


@pytest.fixture()
def osm_xml(tmp_path: Path) -> Path:
    p = tmp_path / "centre.osm"
    p.write_text(OSM_XML, encoding="utf-8")
    return p


def test_osm_xml_import_and_draft(osm_xml: Path, tmp_path: Path) -> None:
    pytest.importorskip("osmium", reason="the maps extra (osmium) is not installed")
    out = tmp_path / "overlay.json"
    seen: list[int] = []
    res = import_map(osm_xml, out=out, progress=seen.append)
    assert res.counts == {"road": 2, "compound": 1, "village": 0, "landmark": 1}
    assert sum(seen) == 14                               # every object read was counted
    assert any("chain" in k for k in res.skipped)         # 全家便利店 x3 names no one place
    assert res.district_by.get("tag") == 1 and res.district_by.get("neighbour", 0) >= 2
    data = json.loads(out.read_text(encoding="utf-8"))
    road = next(r for r in data["roads"] if r["name"] == ROAD)
    assert road["districts"] == ["杨浦区"] and abs(road["lat"] - 31.271) < 1e-3

    gaz = Gazetteer.load(overlay=out)
    assert gaz.roads[ROAD2].districts == ("杨浦区",)      # untagged: its tagged neighbour's district
    assert ROAD not in Gazetteer.load(overlay=False).roads
    ex = LocationExtractor(gaz)
    r = ex.extract(f"你好，我家在{ROAD}一百二十八号，楼下的下水道堵了。")
    assert r.road.value == ROAD and r.district.value == "杨浦区"
    assert r.address.value == f"杨浦区{ROAD}128号"
    assert r.location["level"] == "road" and abs(r.location["lat"] - 31.271) < 1e-3
    r = ex.extract(f"我住在{COMPOUND}，小区门口的路灯坏了。")
    assert r.district.value == "杨浦区" and r.location["level"] == "compound"
    assert abs(r.location["lon"] - 121.5303) < 1e-3

    # the whole draft: location carried, and the place search finds the imported road
    from nlp.extract import extract_text, load_resources

    resources = dataclasses.replace(load_resources(), gazetteer=gaz, locator=ex)
    draft = extract_text(f"喂，{ROAD}一百二十八号门口井盖坏了。\n好的，杨浦区{ROAD}128号，对吗？",
                         resources=resources).to_dict()
    assert draft["road"] == ROAD and draft["address"] == f"杨浦区{ROAD}128号"
    assert abs(draft["location"]["lat"] - 31.271) < 1e-3 and abs(draft["location"]["lon"] - 121.532) < 1e-3
    hit = gaz.search(ROAD, limit=1)[0]
    assert hit["name"] == ROAD and hit["kind"] == "road" and abs(hit["lat"] - 31.271) < 1e-3


def test_osm_pbf_written_by_osmium(tmp_path: Path) -> None:
    osmium = pytest.importorskip("osmium", reason="the maps extra (osmium) is not installed")
    from osmium.osm.mutable import Node, Way

    pbf = tmp_path / "centre.osm.pbf"
    w = osmium.SimpleWriter(str(pbf))
    w.add_node(Node(id=1, location=(121.530, 31.270)))
    w.add_node(Node(id=2, location=(121.532, 31.271)))
    w.add_node(Node(id=3, location=(121.5305, 31.2705), tags={"tourism": "museum", "name": "樱湾纪念馆",
                                                              "addr:district": "杨浦"}))
    w.add_way(Way(id=10, nodes=[1, 2], tags={"highway": "residential", "name": ROAD}))
    w.close()
    res = import_map(pbf, out=tmp_path / "o.json")
    assert res.counts["road"] == 1 and res.counts["landmark"] == 1
    gaz = Gazetteer.load(overlay=tmp_path / "o.json")
    assert gaz.landmarks["樱湾纪念馆"].districts == ("杨浦区",)
    assert gaz.roads[ROAD].districts == ("杨浦区",)


def test_csv_and_geojson_add_to_the_overlay(tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    csv_p = tmp_path / "roads.csv"
    csv_p.write_text(f"name,kind,district,street,lat,lon\n{ROAD},road,杨浦区,,31.27,121.53\n"
                     f"{COMPOUND},compound,,,31.2690,121.5300\n", encoding="utf-8")
    res = import_map(csv_p, out=out)
    assert res.counts["road"] == 1 and res.counts["compound"] == 1
    gj = tmp_path / "more.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": ROAD2, "highway": "primary", "district": "闵行区"},
         "geometry": {"type": "LineString", "coordinates": [[121.38, 31.11], [121.39, 31.12]]}}]},
        ensure_ascii=False), encoding="utf-8")
    import_map(gj, out=out)
    gaz = Gazetteer.load(overlay=out)
    assert gaz.roads[ROAD].districts == ("杨浦区",) and gaz.roads[ROAD2].districts == ("闵行区",)
    assert abs(gaz.roads[ROAD2].lat - 31.115) < 1e-6
    import_map(gj, out=out, replace=True)
    assert ROAD not in Gazetteer.load(overlay=out).roads


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("名字,类型\n樱桃湾路,路\n", encoding="utf-8")
    with pytest.raises(MapImportError, match="name,kind"):
        import_map(bad, out=tmp_path / "o.json")
    rows = tmp_path / "rows.csv"
    rows.write_text("name,kind,lat,lon\n樱桃湾路,road,north,121.5\n", encoding="utf-8")
    with pytest.raises(MapImportError, match=r"rows.csv:2: lat/lon"):
        import_map(rows, out=tmp_path / "o.json")
    with pytest.raises(MapImportError, match="format"):
        import_map(tmp_path / "rows.csv", fmt="shp", out=tmp_path / "o.json")
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"\x00not a pbf at all" * 10)
    if pytest.importorskip("osmium"):
        with pytest.raises(MapImportError, match="junk.osm.pbf"):
            import_map(junk, out=tmp_path / "o.json")
    assert not (tmp_path / "o.json").exists()            # nothing written on bad input
    # the command: exit 1 and one line saying why
    assert cli_main(["gazetteer", "import", str(bad), "--out", str(tmp_path / "o.json"), "--quiet"]) == 1
    assert "name,kind" in capsys.readouterr().err


def test_cli_import_info(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOTLINE_GAZETTEER", str(tmp_path / "overlay.json"))
    csv_p = tmp_path / "roads.csv"
    csv_p.write_text(f"name,kind,district\n{ROAD},road,杨浦区\n", encoding="utf-8")
    assert cli_main(["gazetteer", "import", str(csv_p), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["road"] == 1 and out["overlay"] == str(tmp_path / "overlay.json")
    assert ROAD in Gazetteer.load().roads                   # the default gazetteer merges the overlay
    assert cli_main(["gazetteer", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["overlay"] == str(tmp_path / "overlay.json") and info["overlay_sources"][0]["file"] == "roads.csv"
