"""LocationExtractor: exact and pinyin-fuzzy places, district inference, addresses, false positives."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nlp.location import LocationExtractor, LocationResult, normalise_house_number

CALLS = Path(__file__).resolve().parents[1] / "data" / "calls"
DEV = Path(os.environ["HOTLINE_DEV_CORPUS"]) / "labels.jsonl"  # set by tests/conftest.py


@pytest.fixture(scope="module")
def ex() -> LocationExtractor:
    return LocationExtractor()


def val(m):
    return m.value if m else None


# ---------------------------------------------------------------- fuzzy matching
@pytest.mark.parametrize("text,district,road", [
    ("我要反映个事情，杨普去银口路588号门口。", "杨浦区", "营口路"),
    ("普托区草洋路上面有个井盖没了。", "普陀区", "曹杨路"),
    ("喂，是这样的，普陀区潮阳路靠近兰溪路那个路口。", "普陀区", "曹杨路"),
])
def test_homophones_corrected(ex, text, district, road):
    r = ex.extract(text)
    assert val(r.district) == district
    assert val(r.road) == road
    assert district in r.corrected_text and road in r.corrected_text
    assert len(r.corrected_text) == len(text)          # same length: spans index both texts


def test_heteronyms(ex):
    # 闵行 is min hang (not xing), 长宁 is chang ning (not zhang)
    assert val(ex.extract("我住在民航区，莘庄这边。").district) == "闵行区"
    assert val(ex.extract("我是常宁区的，天山路上。").district) == "长宁区"
    r = ex.extract("我住在民航区。")
    assert r.corrected_text == "我住在闵行区。"


def test_one_syllable_off_district(ex):
    r = ex.extract("你好，我要举报，同民区城乔阵南门路这边，有个废品回收站。")
    assert (val(r.district), val(r.street), val(r.road)) == ("崇明区", "城桥镇", "南门路")


# lines as Whisper base wrote them for the 8 kHz telephone renditions of dev calls
@pytest.mark.parametrize("text,district,road", [
    ("母单将路，靠近密山路那个路口网贝。\n好的，我和时依下，母单将路米山路口往每一段，对吗？", "宝山区", "牡丹江路"),
    ("您好，我要取报，同民区城乔阵南门路这边，有科学比回收这样", "崇明区", "南门路"),
    ("普陀区、普陀区、潮阳路、靠近南西路那个路口，就在公交站旁边的人行道上。", "普陀区", "曹杨路"),
    ("中将区、寡附林路上的6月湖雅院\n果附林路多少号，您知道吗？\n明白了，从江区国普林罗岸158公页湖亚运",
     "松江区", "广富林路"),
    ("你好，我在习会，好歧北路这里，陶近新加坏地铁战纳的出口", "徐汇区", "漕溪北路"),
    ("在张江、组冲区路上靠近张江高科帝体战那个山场。", "浦东新区", "祖冲之路"),
])
def test_real_whisper_mishearings(ex, text, district, road):
    r = ex.extract(text)
    assert (val(r.district), val(r.road)) == (district, road)


def test_wrong_district_rejected(ex):
    # 草洋路 sounds like 曹杨路 (普陀): with 杨浦区 said, the misheard road is not accepted
    r = ex.extract("杨浦区草洋路这边有人乱倒垃圾。")
    assert val(r.district) == "杨浦区"
    assert val(r.road) != "曹杨路"
    assert "曹杨路" not in r.corrected_text


def test_misheard_alternatives_follow_the_district(ex):
    # 重宁区 is one syllable from both 崇明区 and 长宁区; 城桥镇 decides
    r = ex.extract("好的，重宁区乘乔镇南门路加油站南侧。")
    assert val(r.district) == "崇明区"
    assert r.corrected_text.startswith("好的，崇明区城桥镇南门路")


# ---------------------------------------------------------------- inference and ambiguity
@pytest.mark.parametrize("text,district", [
    ("我在营口路588号这边。", "杨浦区"),                 # road
    ("我住在七宝这边，路灯坏了。", "闵行区"),             # street short form
    ("我们是延吉七村，一个老公房。", "杨浦区"),           # compound
    ("从虹桥火车站打车回家。", "闵行区"),                 # landmark
    ("五角场那边有个工地晚上施工。", "杨浦区"),
])
def test_district_inferred(ex, text, district):
    r = ex.extract(text)
    assert val(r.district) == district
    assert r.district.confidence > 0.3


def test_street_inferred_from_road(ex):
    r = ex.extract("我在营口路588号。")
    assert val(r.street) == "长海路街道"
    assert r.street.confidence < 0.9       # inferred, not said


def test_road_across_districts_keeps_candidates(ex):
    r = ex.extract("漕宝路上有个井盖没了。")
    assert r.district is None
    names = {c["value"] for c in r.candidates["district"]}
    assert {"徐汇区", "闵行区"} <= names
    assert val(r.road) == "漕宝路"


def test_readback_outweighs_passing_mention(ex):
    text = ("我是宝山区的，住在通河新村，张庙这边。\n我儿子在浦东上班。\n"
            "好的，宝山区张庙街道通河路菜场旁边的助餐点，对吗？")
    r = ex.extract(text)
    assert val(r.district) == "宝山区" and val(r.street) == "张庙街道"
    assert r.district.candidates[0]["value"] == "宝山区"


# ---------------------------------------------------------------- addresses
@pytest.mark.parametrize("raw,norm", [
    ("五百八十八号", "588号"), ("588号", "588号"), ("一千零五十弄，七号五零二室", "1050弄7号502室"),
    ("二十三号楼", "23号楼"), ("幺零八号", "108号"), ("十二号楼", "12号楼"), ("三百七十五弄", "375弄"),
])
def test_house_numbers(raw, norm):
    assert normalise_house_number(raw) == norm


@pytest.mark.parametrize("text,address", [
    ("杨浦区营口路五百八十八号门口。", "杨浦区营口路588号"),
    ("虹口区凉城路，凉城路1050弄，7号五零二室。", "虹口区凉城路1050弄7号502室"),
    ("好的，我核实一下，宝山区牡丹江路密山路口往北一段，对吗？", "宝山区牡丹江路密山路口"),
    ("普陀区曹杨路，靠近兰溪路那个路口，就在公交站旁边。", "普陀区曹杨路兰溪路口"),
    ("好的，宝山区顾村镇泰和雅苑23号楼电梯故障。", "宝山区顾村镇泰和雅苑23号楼"),
    ("松江区，广富林路上的，叫悦湖雅苑。广富林路2158弄。", "松江区广富林路2158弄悦湖雅苑"),
    ("我是黄浦区老西门街道的。", "黄浦区老西门街道"),
    ("虹口区四川北路，就是多伦路进去那个口子，再往北走一点。", "虹口区四川北路多伦路口"),
    ("我想表扬杨浦区殷行社区卫生服务中心的医生。", "杨浦区殷行社区卫生服务中心"),
    ("松江区，广富林路上的。\n广富林路多少号，您知道吗？\n呃……好像是2158弄吧。", "松江区广富林路2158弄"),
    ("静安区临汾路，375弄。\n是几号楼呢？\n十二号楼，我住五楼。", "静安区临汾路375弄12号楼"),
])
def test_addresses(ex, text, address):
    assert val(ex.extract(text).address) == address


def test_landmark(ex):
    r = ex.extract("就是南京西路地铁站，靠吴江路那个出口。静安区。")
    assert val(r.road) == "吴江路"                # 南京西路 is the station here
    assert val(r.landmark) == "南京西路地铁站"
    assert r.location and r.location["approximate"] is True


# ---------------------------------------------------------------- false positives
NON_PLACE = [
    "你好，我想咨询一下社保转移的事情，交了五年社保。",
    "民航的航班延误了，我想问问怎么投诉。",
    "这个建设项目什么时候能完工啊？",
    "我们小区的路灯坏了，晚上那条路黑得要命。",
    "具体包括部分时段和线路的乘车优惠。",
    "马路上有个大坑，走路都要绕着走。",
    "他们公司拖欠工资三个月了，老板电话都不接。",
    "我妈妈八十多岁了，上车的时候腿软，差点摔倒。",
    "请问您贵姓，联系电话是多少？",
    "三星级酒店的卫生太差了，床单都没换。",
    "孩子在中山医院看病，挂号排了两个小时。",
    "我长期住在这边，一直很安静，最近楼下开了饭店。",
]


@pytest.mark.parametrize("text", NON_PLACE)
def test_no_place_in_non_place_text(ex, text):
    r = ex.extract(text)
    assert r.district is None and r.street is None and r.road is None and r.address is None, r.to_dict()
    assert r.corrected_text == text


def test_out_of_shanghai(ex):
    r = ex.extract("我在苏州昆山买了一套房子。\n先生，您的房子是在江苏省昆山市，对吗？\n对，我人在上海工作。")
    assert r.district is None and r.street is None
    assert "昆山" in r.outside
    r = ex.extract("我老家是苏州吴江的。")
    assert r.road is None


def test_shanghai_roads_named_after_provinces_are_not_outside(ex):
    r = ex.extract("静安区南京西路街道这边，共享单车乱停。")
    assert val(r.street) == "南京西路街道" and r.outside == []
    assert val(ex.extract("四川北路上有一段人行道坏了。").road) == "四川北路"


def test_bad_input(ex):
    with pytest.raises(TypeError):
        ex.extract(None)  # type: ignore[arg-type]
    r = ex.extract("")
    assert isinstance(r, LocationResult) and r.district is None and r.corrected_text == ""


def test_to_dict_is_json(ex):
    d = ex.extract("杨浦区营口路588号").to_dict()
    s = json.dumps(d, ensure_ascii=False)
    assert d["address"]["value"] == "杨浦区营口路588号" and "span" in d["road"]
    assert "corrected_text" in json.loads(s)


def test_hotwords(ex):
    hw = ex.hotwords("喂，你好，杨浦区营口路那边。", limit=12)
    assert hw[:2] == ["杨浦区", "长海路街道"] or hw[0] == "杨浦区"
    assert "营口路" in hw and len(hw) <= 12
    assert set(ex.hotwords("", limit=20)) >= {"浦东新区", "闵行区"}


# ---------------------------------------------------------------- labelled calls
def _labels(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_fixture_calls(ex):
    for d in _labels(CALLS / "labels.jsonl"):
        r = ex.extract(d["transcript"])
        assert val(r.district) == d["district"], d["id"]
        assert val(r.road) == d["road"], d["id"]


@pytest.mark.skipif(not DEV.exists(), reason="dev corpus not present")
def test_dev_corpus_accuracy(ex):
    rows = _labels(DEV)
    hits = {k: 0 for k in ("district", "street", "road")}
    addr = 0
    for d in rows:
        r = ex.extract(d["transcript"])
        for k in hits:
            hits[k] += val(getattr(r, k)) == d[k]
        got = val(r.address)
        addr += (got is None and d["address"] is None) or bool(got and d["address"] and d["address"].startswith(got))
    n = len(rows)
    assert hits["district"] / n >= 0.9 and hits["road"] / n >= 0.8 and hits["street"] / n >= 0.75, hits
    assert addr / n >= 0.7, addr


# ---------------------------------------------------------------- place context (ASR text)
def test_misheard_district_answering_where(ex):
    # 再骨东新区 (在浦东新区): one syllable off, alone — but it answers 哪个区？
    text = "房产证丢了要怎么补办啊？\n请问您的房子在哪个区？\n再骨东新区，我家搬家的时候不知道塞到哪里去了。"
    assert val(ex.extract(text).district) == "浦东新区"
    # the same words with no question and no cue stay undecided
    assert ex.extract("骨东新区这个说法我没听过。").district is None


def test_misheard_landmark_with_place_cue(ex):
    # 再近安四那站 (在静安寺那站): a 3-syllable name with 在…那站 around it decides the district
    text = "昨天下午四点多，我坐的是76路，再近安四那站上的车。"
    assert val(ex.extract(text).district) == "静安区"


@pytest.mark.parametrize("text", [
    "好的，杨浦保险跨省转移，您可以在国家社会保险公共服务平台上直接申请。",   # 养老保险 misheard
    "徐汇乃是怎么算的？一般是低保、低收入家庭。",                          # 需要 misheard
])
def test_bare_short_district_without_place_cue(ex, text):
    r = ex.extract(text)
    assert r.district is None
    assert r.candidates.get("district")      # kept as a candidate for the operator


@pytest.mark.parametrize("text,district", [
    ("我住在杨浦，小区门口的路灯坏了。", "杨浦区"),
    ("我是徐汇的，想问一下养老服务补贴。", "徐汇区"),
])
def test_bare_short_district_with_cue(ex, text, district):
    assert val(ex.extract(text).district) == district


def test_one_syllable_off_with_merged_final(ex):
    # 8 kHz ASR: 新普区 for 青浦区 (xin/qing share the final once in/ing merge); 北大街 is in 青浦
    text = "北大街上有一块店招牌快掉下来了。\n好的，新普区都加小针北大街216号，我们会尽快通知处理。"
    assert val(ex.extract(text).district) == "青浦区"


def test_bare_short_form_does_not_outvote_a_road(ex):
    # a surname misheard as a district short form (胡 -> 徐汇) said as no place, against a road
    # that lies in one district only
    text = "我家楼下营口路上的井盖坏了，很危险。\n好的，请问您贵姓？\n徐汇，是女士。"
    res = ex.extract(text)
    assert res.district is not None and res.district.value == "杨浦区"


def test_a_line_that_tells_where_is_no_question():
    """A district heard one syllable off counts after a line that asks where (请问…哪个区), not
    after one that only says 哪里 (不知道放到哪里去了); a bare short form in misheard words (窗口徐汇
    办理, ASR text) does not take over from the answer."""
    ex = LocationExtractor()
    asked = "请问您在哪个区\n在古东新区，证件不知道放到哪里去了\n可以到登记窗口徐汇办理。"
    assert ex.extract(asked).district.value == "浦东新区"
    told = "证件不知道放到哪里去了\n古东新区。"
    assert ex.extract(told).district is None
