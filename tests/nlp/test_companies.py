"""Company matching against the shipped directory: short forms, homophones, look-alike distractors."""
from __future__ import annotations

import time

import pytest

from nlp.companies import CompanyDirectory


@pytest.fixture(scope="module")
def directory() -> CompanyDirectory:
    return CompanyDirectory.load()


def test_load_is_fast_and_complete(directory):
    t0 = time.perf_counter()
    d = CompanyDirectory.load()
    assert time.perf_counter() - t0 < 2.0   # generous bound for a loaded CI box; bench measures the real number
    assert len(d) == len(directory) >= 1000


def test_short_form_with_address_picks_the_right_one_of_four(directory):
    # four companies are called 飞跃体育 (杨浦, 虹口分公司, 闵行, 青浦): the address decides
    text = "杨浦区营口路，营口路588号，那个大楼门口。一楼那个健身房，叫飞跃体育的，在门口人行道上围了一圈铁栅栏。"
    m = directory.match(text, district="杨浦区")
    assert m is not None and m.name == "上海飞跃体育发展有限公司"
    assert text[m.span[0]:m.span[1]] == "飞跃体育"
    assert m.candidates[0]["value"] == m.name and len(m.candidates) > 1


def test_misheard_short_form(directory):
    # ASR: 非越 for 飞跃; the directory also has 上海非跃体育文化有限公司 (虹口) and 斐跃 (奉贤)
    text = "健身房叫非越体育的，在杨浦区营口路588号门口堆器材，人走不过去。"
    m = directory.match(text, district="杨浦区")
    assert m is not None and m.name == "上海飞跃体育发展有限公司"


def test_same_trade_name_other_business(directory):
    # 飞跃 also makes electrical equipment in 宝山; a sports complaint must not pick it
    m = directory.match("飞跃体育的教练不负责，杨浦区营口路那家健身房。", district="杨浦区")
    assert m is not None and "体育" in m.name
    m2 = directory.match("宝山区殷高西路飞跃机电的设备噪音很大。", district="宝山区")
    assert m2 is not None and m2.name == "上海飞跃电气设备有限公司"


def test_full_name_beats_branch_and_lookalikes(directory):
    text = "上海鼎盛装饰工程有限公司，就是鼎盛装饰，在松江九亭，沪亭北路上。拖欠工资三个月了。"
    m = directory.match(text, district="松江区")
    assert m is not None and m.name == "上海鼎盛装饰工程有限公司"
    # without a district the branch in 浦东 must still lose to the head office named in full
    m = directory.match("上海鼎盛装饰工程有限公司拖欠工资。")
    assert m is not None and m.name == "上海鼎盛装饰工程有限公司"


def test_district_picks_branch(directory):
    m = directory.match("浦东那边鼎盛装饰的工人装修噪音，在龙阳路。", district="浦东新区")
    assert m is not None and m.name == "上海鼎盛装饰工程有限公司浦东分公司"


@pytest.mark.parametrize("text", [
    "共享单车堆在人行道和盲道上，人走不过去。",        # 道和 is a trade name (道和机电)
    "每天中午十一点开饭，我们老人都在那里吃。",        # 天中 is a trade name (天中汽车)
    "解放中路上，菜场对面那家，叫鑫隆超市，小票我都留着。",  # a shop sign, no legal entity
    "",
])
def test_no_company(directory, text):
    assert directory.match(text) is None


def test_no_name_across_punctuation(directory):
    # 申请，也 sounds like 森青置业 (shen qing zhi ye) only with the comma taken as a character
    text = "您可以在服务平台上直接申请，也可以到社区事务受理服务中心提交。"
    assert not directory.has_mention(text)
    assert directory.has_mention(text.replace("申请，也", "森青置业"))


def test_search(directory):
    hits = directory.search("飞跃体育")
    assert hits and all("飞跃体育" in h["short_name"] for h in hits[:4])
    assert directory.search("91310110MA10B37M15")[0]["name"] == "上海飞跃体育发展有限公司"
    assert directory.search("飞跃体育", district="杨浦区")[0]["district"] == "杨浦区"
    assert directory.search("") == []


def test_bad_file(tmp_path):
    bad = tmp_path / "c.csv"
    bad.write_text("name,district\n上海甲有限公司,杨浦区\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing columns"):
        CompanyDirectory.load(bad)
    with pytest.raises(FileNotFoundError):
        CompanyDirectory.load(tmp_path / "none.csv")


def test_custom_directory(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("credit_code,name,short_name,district,address,industry\n"
                 "X1,上海星河餐饮管理有限公司,星河餐饮,徐汇区,徐汇区漕溪路1号,餐饮\n", encoding="utf-8")
    d = CompanyDirectory.load(p)
    m = d.match("星和餐饮的油烟太大了，徐汇漕溪路。")
    assert m is not None and m.name == "上海星河餐饮管理有限公司"


def test_first_character_misheard_with_company_context(directory):
    # 8 kHz ASR: 铭生装是 for 鼎盛装饰 — the first syllable is lost, 工程有限公司 + the road confirm it
    text = "上海铭生装是工程有限公司，就是铭生装是在松江九亭、沪亭北路上。我们十几个工人工资没拿到。"
    m = directory.match(text)
    assert m is not None and m.name == "上海鼎盛装饰工程有限公司"
    # 飞践体育 for 飞跃体育: the company's road and number (营口路588号) back the weak mention
    text = "杨浦区营口路588号，那个大楼门口。健身房，小飞践体育的，在门口人行道上围了一圈铁栅栏。"
    m = directory.match(text, district="杨浦区")
    assert m is not None and m.name == "上海飞跃体育发展有限公司"


def test_one_syllable_off_without_context_is_no_company(directory):
    # three syllables of four alike, but neither 公司 after it nor the company's road: no match
    assert directory.match("小区门口那个铭生装饰的广告牌被风吹倒了，砸到了人行道。") is None
