"""place_key normalisation and the routing fallback (pure functions)."""
from __future__ import annotations

import pytest

from ticketing.places import place_key
from ticketing.routing import _route_here, route, street_office
from ticketing.taxonomy_data import load_taxonomy


@pytest.mark.parametrize("fields,key", [
    ({"district": "普陀区", "address": "普陀区曹杨路兰溪路口公交站旁人行道"}, "普陀区|路口:兰溪路+曹杨路"),
    ({"district": "普陀区", "address": "兰溪路与曹杨路交叉口"}, "普陀区|路口:兰溪路+曹杨路"),
    ({"district": "杨浦区", "address": "杨浦区营口路５８８号旁"}, "杨浦区|营口路588号"),
    ({"district": "杨浦区", "address": "营口路五八八号门口"}, "杨浦区|营口路588号"),
    ({"district": "杨浦区", "address": "控江路1500弄3号"}, "杨浦区|控江路1500弄"),
    ({"district": "闵行区", "address": "闵行区七宝镇万科城市花园"}, "闵行区|万科城市花园"),
    ({"district": "宝山区", "road": "牡丹江路", "address": "牡丹江路上"}, "宝山区|牡丹江路"),
    ({"district": "杨浦区", "street": "长海路街道"}, "杨浦区|长海路街道"),
    ({"address": "上海市徐汇区漕溪北路88号"}, "徐汇区|漕溪北路88号"),
    ({}, None),
])
def test_place_key(fields, key):
    assert place_key(**fields) == key


def test_same_road_in_two_districts_stays_apart():
    assert place_key(district="浦东新区", address="中山路1号") != place_key(district="黄浦区", address="中山路1号")


def test_street_office_names():
    assert street_office("杨浦区", "长海路街道") == "杨浦区长海路街道办事处"
    assert street_office("闵行区", "七宝镇") == "闵行区七宝镇人民政府"
    assert street_office("杨浦区", None) is None


@pytest.mark.parametrize("category,district,street,expected", [
    ("road_flooding", "杨浦区", "长海路街道", ("杨浦区水务局", "杨浦区长海路街道办事处")),
    ("road_flooding", "杨浦区", None, ("杨浦区水务局", None)),
    ("road_obstruction", "杨浦区", "长海路街道", ("杨浦区长海路街道办事处", "杨浦区城市管理行政执法局")),
    ("road_obstruction", "杨浦区", None, ("杨浦区城市管理行政执法局", None)),  # street unknown
    ("streetlight", None, None, (None, None)),  # district unknown: the operator chooses
    ("public_transport", None, None, ("上海市交通委员会", None)),
    ("no_such_category", "杨浦区", None, (None, None)),
])
def test_local_routing(category, district, street, expected):
    found = _route_here(category, district, street, load_taxonomy())
    assert (found.department, found.co_handler) == expected


def test_routing_agrees_with_the_local_rules_on_known_streets():
    for category in ("road_flooding", "manhole", "noise", "property_service", "consumer_dispute"):
        local = _route_here(category, "普陀区", "曹杨新村街道", load_taxonomy())
        assert route(category, "普陀区", "曹杨新村街道") == local


def test_place_key_compound_named_xiaoqu_and_street_named_after_a_compound():
    from ticketing.places import place_key

    assert place_key(district="虹口区", address="虹口区曲阳小区") == "虹口区|曲阳小区"
    assert place_key(district="浦东新区", street="上钢新村街道", address="浦东新区上钢新村街道") == "浦东新区|上钢新村街道"
    assert place_key(district="杨浦区", address="杨浦区控江路鞍山新村") == "杨浦区|鞍山新村"
