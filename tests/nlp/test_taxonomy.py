"""Taxonomy: categories, routing to full office names (with fallbacks), SLA deadlines."""
from __future__ import annotations

import json

import pytest

from nlp.taxonomy import Taxonomy, street_office_name


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load()


def test_vocabulary(tax):
    assert len(tax.categories) == 35
    assert tax.l1("road_flooding") == "市政设施"
    assert tax.default_urgency("manhole") == "urgent"
    assert "咨询" in tax.appeal_types
    assert tax.category("nope") is None and tax.l1(None) is None


@pytest.mark.parametrize("cat, district, street, want", [
    # {street} alone as lead: the street office / town government by full name
    ("road_obstruction", "杨浦区", "长海路街道", ("杨浦区长海路街道办事处", "杨浦区城市管理行政执法局")),
    ("street_vendor", "闵行区", "七宝镇", ("闵行区城市管理行政执法局", "闵行区七宝镇人民政府")),
    ("bike_parking", "静安区", "南京西路街道", ("静安区南京西路街道办事处", None)),
    ("manhole", "普陀区", "曹杨新村街道", ("普陀区建设和管理委员会", "普陀区曹杨新村街道办事处")),
    # street unknown: a {street} co-handler is dropped ...
    ("garbage", "松江区", None, ("松江区绿化和市容管理局", None)),
    # ... and a {street} lead falls back to the district's own office for that duty
    ("road_obstruction", "杨浦区", None, ("杨浦区城市管理行政执法局", None)),
    ("bike_parking", "静安区", None, ("静安区人民政府", None)),
    # district unknown: the operator chooses
    ("social_insurance", None, None, (None, None)),
    ("noise", None, "打浦桥街道", (None, None)),
    # city-level and out of scope: fixed names
    ("public_transport", "静安区", None, ("上海市交通委员会", None)),
    ("other", None, None, ("12345热线工作机构", None)),
    (None, "杨浦区", None, (None, None)),
])
def test_route(tax, cat, district, street, want):
    assert tax.route(cat, district, street) == want


def test_route_matches_dev_labels(tax, calls_dir):
    n = 0
    for line in (calls_dir / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        lab = json.loads(line)
        assert tax.route(lab["category"], lab["district"], lab["street"]) == (lab["department"], lab["co_handler"]), lab["id"]
        n += 1
    assert n >= 4


def test_office_name_rule():
    assert street_office_name("杨浦区", "长海路街道") == "杨浦区长海路街道办事处"
    assert street_office_name("闵行区", "七宝镇") == "闵行区七宝镇人民政府"


def test_custom_taxonomy(tmp_path, monkeypatch):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"appeal_types": ["咨询"], "categories": [
        {"code": "x", "l1": "L", "name": "X", "department": "{street}", "co_handler": None,
         "department_fallback": "{district}城市管理行政执法局"}]}, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("HOTLINE_TAXONOMY", str(p))
    t = Taxonomy.load()
    assert list(t.categories) == ["x"]
    assert t.route("x", "徐汇区", None) == ("徐汇区城市管理行政执法局", None)
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        Taxonomy.load(bad)
