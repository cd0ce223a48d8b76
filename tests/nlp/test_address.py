"""Addresses as a call states them: roads the gazetteer does not know kept as heard, known ones
corrected by sound, house numbers with the units Whisper writes by sound, the read-back winning.

Roads named 青枫塘路 / 樱桃湾路 are invented here and are not in the bundled gazetteer."""
from __future__ import annotations

import pytest

from nlp.address_parse import numbers_as_heard, roads_as_heard
from nlp.location import LocationExtractor


@pytest.fixture(scope="module")
def ex() -> LocationExtractor:
    return LocationExtractor()


def fields(r) -> tuple:
    return tuple(m.value if m else None for m in (r.district, r.road, r.address))


@pytest.mark.parametrize("heard,number", [
    ("588号门口", "588号"),
    ("三百七十五路十二号楼楼顶", "375弄12号楼"),     # 路 after a road's number is its lane
    ("二一五八孟，垃圾", "2158弄"),                   # 弄 heard as 孟
    ("1050 Meng，号", "1050弄"),
    ("1050弄，7号五零二室", "1050弄7号502室"),
    ("七号五零二是", "7号502室"),                      # 室 heard as 是 after a 号
    ("二十八好，", "28号"),
    ("88号、一楼是饭店", "88号"),                     # 一楼 is a floor, not a number to keep
    ("8龙", None),                                     # a sound-alike unit needs a lane-sized number
    ("八百弄，八百弄三十二号，楼道", "800弄32号"),      # the lane said again before the house
    ("四百五十弄十号，三零二。", "450弄10号302室"),     # a lane's house, then the room, 室 unsaid
    ("一百五十号，三零二", "150号"),                     # after a road's own number: not a room
])
def test_numbers_as_heard(heard, number):
    got = numbers_as_heard(heard, 0)
    assert (got[0] if got else None) == number


@pytest.mark.parametrize("text,words", [
    ("我家在青枫塘路三百二十八号。", ["青枫塘路"]),
    ("就在青枫塘路樱桃湾路口。", ["青枫塘路", "樱桃湾路"]),
    ("我坐的是七十六路公交车。", []),                 # a bus line
    ("马路上有个大坑，走路都要绕着走。", []),
    ("这个思路很清楚，一路上都很顺。", []),
    ("那条路黑得要命。", []),
])
def test_roads_as_heard(text, words):
    assert [w for _, _, w in roads_as_heard(text, set())] == words


def test_unknown_road_kept_with_its_number(ex):
    r = ex.extract("你好，我家在青枫塘路三百二十八号，楼道灯坏了。")
    assert fields(r) == (None, "青枫塘路", "青枫塘路328号")


def test_known_road_corrected_by_sound_without_a_district(ex):
    # 银口路 is 营口路 heard by sound: the only known road that fits, with its number
    r = ex.extract("我家在银口路五百八十八号，门口井盖没了。")
    assert fields(r) == ("杨浦区", "营口路", "杨浦区营口路588号")


def test_readback_wins_over_the_first_mention(ex):
    text = "喂，我住在青风塘路二十八弄，楼下天天有人烧烤。\n好的，青枫塘路28弄，对吗？\n对对。"
    assert fields(ex.extract(text))[1:] == ("青枫塘路", "青枫塘路28弄")


def test_lane_heard_by_sound(ex):
    r = ex.extract("杨浦区营口路三百七十五龙十二号楼顶有人搭违章。")
    assert r.address.value == "杨浦区营口路375弄12号楼"


def test_crossing_of_two_unknown_roads(ex):
    r = ex.extract("就在青枫塘路樱桃湾路口，红绿灯坏了。")
    assert (r.road.value, r.address.value) == ("青枫塘路", "青枫塘路樱桃湾路口")


def test_road_the_place_is_near_is_not_its_road(ex):
    text = "杨浦区樱桃湾路，靠近营口路那边，有个工地晚上施工。\n您说的是樱桃湾路靠近营口路的工地，对吗？"
    assert ex.extract(text).road.value == "樱桃湾路"


def test_compound_heard_by_sound(ex):
    # 共康雅苑 (a known compound in 宝山) heard as 共康雅院; the building number answers 几号楼呢？
    r = ex.extract("宝山区共康雅院，我们小区电梯坏了。\n几号楼呢？\n十五号楼。")
    assert r.address.value == "宝山区共康雅苑15号楼"


@pytest.mark.parametrize("text", [
    "我坐的是七十六路公交车，司机态度很差。",
    "今天的路况很差，一路上都堵车。",
    "他在医院住了三天，一分钱都没报。",
])
def test_no_road_in_non_place_text(ex, text):
    r = ex.extract(text)
    assert r.road is None and r.address is None


@pytest.mark.parametrize("heard,number", [
    ("3栋2单元501室", "3栋2单元501室"),
    ("三号楼两零一。", "3号楼201室"),       # the room of a building, 室 unsaid
    ("3号楼2021年", "3号楼"),
])
def test_building_and_room(heard, number):
    assert numbers_as_heard(heard, 0)[0] == number


def test_unknown_road_is_not_replaced_by_a_known_one_a_syllable_off(ex):
    # 泰和路 (not in the gazetteer) must not become 通河路 (known, in 宝山区, one syllable off)
    assert ex.extract("我在宝山区，泰和路上，小区门口路灯坏了。").road.value == "泰和路"


def test_road_named_after_a_town(ex):
    r = ex.extract("您好，我在松江区九亭镇，九亭大街，三百号，有个店招快掉了。")
    assert r.address.value == "松江区九亭镇九亭大街300号"


def test_crossing_said_with_and(ex):
    r = ex.extract("在静安区共和新路和广中西路交叉口，红绿灯坏了。")
    assert (r.road.value, r.address.value) == ("共和新路", "静安区共和新路广中西路口")


def test_numbered_road_is_not_a_lane(ex):
    r = ex.extract("崇明区城桥镇，八一路，八一路两百号，有棵树倒了。")
    assert r.address.value == "崇明区城桥镇八一路200号"


@pytest.mark.parametrize("text,address", [
    ("我家在杨浦区营口路，不对，是控江路三百号。", "杨浦区控江路300号"),          # the road taken back
    ("不是营口路，是控江路，控江路三百号，杨浦区的。", "杨浦区控江路300号"),
    ("杨浦区营口路五十八号，不对，六十八号，门口有垃圾。", "杨浦区营口路68号"),   # the number taken back
    ("杨浦区营口路，嗯，五百八十八号。", "杨浦区营口路588号"),                   # hesitations
    ("杨浦区营口路，好像是五百八十八号吧。", "杨浦区营口路588号"),
    ("杨浦区营口路588弄，嗯，7号，502室。", "杨浦区营口路588弄7号502室"),
    ("杨浦区营口路，那个，我住三楼。", "杨浦区营口路"),                           # a floor is no number
])
def test_corrections_and_hesitations(ex, text, address):
    assert ex.extract(text).address.value == address


@pytest.mark.parametrize("text,address", [
    ("我住在普陀区中远两湾城，12号楼楼下有人乱扔垃圾。", "普陀区中远两湾城12号楼"),
    ("我在浦东新区，锦绣路上的一个小区，叫明月华庭，2栋1单元602。", "浦东新区锦绣路明月华庭2栋1单元602室"),
])
def test_compound_suffixes(ex, text, address):
    assert ex.extract(text).address.value == address


def test_place_key_of_estates():
    from ticketing.places import place_key

    assert place_key(district="普陀区", address="普陀区中远两湾城12号楼") == "普陀区|中远两湾城"
    assert place_key(district="浦东新区", address="浦东新区明月华庭2栋1单元602室") == "浦东新区|明月华庭"


def test_village_group_and_house_number(ex):
    r = ex.extract("我是青浦区练塘镇的，住在东田村，五组十二号，门口河道有人倒垃圾。")
    assert r.address.value == "青浦区练塘镇东田村5组12号"


# the compound after a lane: its own name (never the lane's digits) and its building number
# (invented compounds: 青枫苑 / 樱桃湾家园 are not in the bundled gazetteer)
@pytest.mark.parametrize("text,address", [
    ("我住在长宁区天山路600弄青枫苑8号楼，楼道里的灯坏了。", "长宁区天山路600弄青枫苑8号楼"),
    ("我家是闵行区莘松路一千二百弄樱桃湾家园十二号楼，楼下垃圾没人清。", "闵行区莘松路1200弄樱桃湾家园12号楼"),
    # a number with a building already after the road: the compound adds no second one
    ("我住在长宁区天山路600弄8号青枫苑，楼道里的灯坏了。", "长宁区天山路600弄8号青枫苑"),
])
def test_compound_after_a_lane_keeps_its_building(ex, text, address):
    assert ex.extract(text).address.value == address


def test_compound_named_x_huayuan(ex):
    # X花苑 is a compound (花 is no stem that rules it out here)
    r = ex.extract("我住浦东新区张杨路青枫花苑7号楼502，楼上漏水。")
    assert r.address.value == "浦东新区张杨路青枫花苑7号楼502室"


# 朱行公路, 航北公路, 羽林路, 联明路 are invented here: not in the bundled gazetteer.
@pytest.mark.parametrize("text,road,address", [
    # an unknown X公路 is a road, not the everyday word 公路
    ("您好。\n我在奉贤区航北公路那边，河道里有人倒垃圾。\n奉贤区航北公路，好的。",
     "航北公路", "奉贤区航北公路"),
    # two syllables before 公路, one of them unlike the known 浦星公路's: kept as heard
    ("您好。\n闵行区朱行公路和联明路路口，有个大坑。\n闵行区朱行公路联明路路口是吧？\n对。",
     "朱行公路", "闵行区朱行公路联明路口"),
    # 羽 yu and 沂 yi share only the glide: 羽林路 is not the known 沂林路
    ("您好。\n我住在浦东新区羽林路，小区门口的路灯坏了。\n好的，浦东新区羽林路。",
     "羽林路", "浦东新区羽林路"),
])
def test_unknown_roads_stay_as_stated(ex, text, road, address):
    r = ex.extract(text)
    assert (r.road.value if r.road else None, r.address.value if r.address else None) == (road, address)


def test_second_road_of_a_crossing_starts_after_the_first():
    text = "闵行区朱行公路和联明路路口"
    assert [w for _, _, w in roads_as_heard(text, set(range(0, 3)))] == ["朱行公路", "联明路"]


def test_a_compound_named_after_its_road_keeps_a_stop_character(ex):
    # 上枫路 / 上枫雅苑 are invented: 上 is usually "on" (路上), here it starts the road's own name
    r = ex.extract("您好。\n我住宝山区上枫路上枫雅苑3号楼，楼道里堆满杂物。\n宝山区上枫路上枫雅苑3号楼，好的。")
    assert r.address.value == "宝山区上枫路上枫雅苑3号楼"
    r = ex.extract("您好。\n宝山区上枫路上那个小区门口，垃圾没人收。")
    assert "小区" not in (r.address.value if r.address else "")


@pytest.mark.parametrize("text,address", [
    # X路和Y路附近: near where the two roads meet, written as their crossing
    ("就在杨浦区青枫塘路和樱桃湾路附近，有个工地半夜施工。", "杨浦区青枫塘路樱桃湾路口"),
    ("杨浦区青枫塘路跟樱桃湾路交界那一带晚上很黑。", "杨浦区青枫塘路樱桃湾路口"),
])
def test_near_two_roads_is_their_crossing(ex, text, address):
    r = ex.extract(text)
    assert (r.road.value, r.address.value) == ("青枫塘路", address)


@pytest.mark.parametrize("text,address", [
    # the building number after the compound, its 小区 / 的 between them
    ("我住在青枫塘路的樱桃湾花园小区12号楼，楼道灯坏了。", "青枫塘路樱桃湾花园12号楼"),
    ("青枫塘路88弄樱桃湾苑的5号楼，电梯坏了。", "青枫塘路88弄樱桃湾苑5号楼"),
])
def test_compound_building_number(ex, text, address):
    assert ex.extract(text).address.value == address


def test_a_road_alone_near_something_is_no_crossing(ex):
    r = ex.extract("我住在杨浦区青枫塘路附近，晚上有人放鞭炮。")
    assert (r.road.value, r.address.value) == ("青枫塘路", "杨浦区青枫塘路")
