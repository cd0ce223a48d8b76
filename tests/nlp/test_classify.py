"""Appeal type / category / urgency classifier: the shipped pipeline on representative texts.

The texts here are written for the tests (not in the training data, not from the dev corpus).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nlp.classify import DEFAULT_PATH, Classifier

TESTS = Path(__file__).resolve().parents[1]
SHARED_DEV = Path(os.environ["HOTLINE_DEV_CORPUS"]) / "labels.jsonl"  # set by tests/conftest.py


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


def test_loads_from_shipped_folder(clf):
    assert (DEFAULT_PATH / "config.cfg").exists()
    names = clf.nlp.pipe_names
    assert names[0] == "textcat_appeal" and names[-2:] == ["textcat_category", "hotline_cues"]
    assert clf.appeal_pipes == names[:-2]     # the appeal ensemble's members, then the rest
    taxonomy = json.loads((DEFAULT_PATH.parent / "taxonomy.json").read_text(encoding="utf-8"))
    assert set(clf.category_labels) == {c["code"] for c in taxonomy["categories"]}
    assert set(clf.appeal_labels) == set(taxonomy["appeal_types"])


def test_missing_folder_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_classifier"):
        Classifier.load(tmp_path)


APPEAL_CASES = [
    ("我要投诉，我家对面那个KTV每天晚上唱到两三点，喇叭声音大得窗户都在震，我们根本没法睡觉", "投诉"),
    ("我想举报一下，我们小区后面有个没有执照的黑作坊，天天晚上在里面喷油漆，味道很大", "举报"),
    ("你好，帮帮忙，我们家门口的大树被风刮断了，树干压在我们的电瓶车上，麻烦派人来处理一下", "求助"),
    ("请问一下，我的房产证不小心弄丢了，补办的话需要带什么材料，要去哪里办", "咨询"),
    ("我想提个建议，我们这条路上的公交站离小区太远了，能不能在小区门口增设一个站点", "建议"),
    ("我打电话是想表扬一下社区卫生服务中心的王医生，我爸爸瘫痪在床，她每个礼拜都上门来给他检查", "表扬"),
]


@pytest.mark.parametrize("text,appeal", APPEAL_CASES)
def test_appeal_types(clf, text, appeal):
    c = clf.predict(text)
    assert c.appeal_type == appeal, c.appeal_type_candidates


CATEGORY_CASES = [
    ("您好，12345市民服务热线。\n喂，你好，我们这条马路上的路灯坏了一排，晚上黑乎乎的。\n好的，我帮您记录。", "streetlight"),
    ("楼上邻居家的水管爆了，水一直往我家天花板上渗，墙都湿透了", "house_leak"),
    ("我们公司拖了我们两个月的工资没发，老板说没钱", "wage_arrears"),
    ("小区消防通道上一直停着几辆车，消防车肯定开不进来", "fire_lane"),
    ("坐出租车司机故意兜圈子，多收了我六十块钱", "taxi"),
    ("我想问问灵活就业人员的社保怎么缴", "social_insurance"),
    # ASR-style noise: homophones (井改, 無業), no punctuation, Traditional leftovers
    ("喂你好 我们小区门口有个井改没了 一个大洞 晚上很危险", "manhole"),
    ("我要頭訴我們小區的無業 电梯坏了半个月都不修 物业费照收", "property_service"),
    ("马路上积了好深的鸡水 汽车开过去都熄火了 行人也过不去", "road_flooding"),
    # out of scope: a matter in another city
    ("我在江苏太仓买了一套房子，开发商拖着不给办产证，你们上海能管吗？\n"
     "这个不属于上海12345的受理范围，建议您向太仓当地的热线反映。", "other"),
]


@pytest.mark.parametrize("text,category", CATEGORY_CASES)
def test_categories(clf, text, category):
    c = clf.predict(text)
    assert c.category == category, c.category_candidates


def test_category_l1_and_default_urgency_follow_taxonomy(clf):
    taxonomy = json.loads((DEFAULT_PATH.parent / "taxonomy.json").read_text(encoding="utf-8"))
    by_code = {c["code"]: c for c in taxonomy["categories"]}
    for text, category in CATEGORY_CASES:
        c = clf.predict(text)
        assert c.category_l1 == by_code[c.category]["l1"]
    other = clf.predict(CATEGORY_CASES[-1][0])
    assert other.category_l1 == by_code["other"]["l1"]
    # an urgent category is urgent without any cue word
    c = clf.predict("我家门口人行道上的窨井盖不见了")
    assert c.category == "manhole" and c.urgency == "urgent"


def test_urgency_raised_by_acute_danger_cues(clf):
    calm = clf.predict("我家卫生间天花板渗水，楼上人家不肯修")
    assert calm.category == "house_leak" and calm.urgency == "normal"
    text = "我家卫生间天花板渗水，水流到灯里，现在电线在冒火花，家里漏电了"
    acute = clf.predict(text)
    assert acute.category == "house_leak" and acute.urgency == "urgent"
    assert acute.urgency_confidence >= 0.8
    s, e = acute.evidence["urgency"]
    assert "电" in text[s:e]
    trapped = clf.predict("小区电梯坏了，物业不管，刚才有个老人被困在电梯里面出不来")
    assert trapped.urgency == "urgent"


def test_hypothetical_danger_does_not_raise(clf):
    c = clf.predict("我家楼上漏水漏到卫生间，灯都不敢开，怕漏电")
    assert c.category == "house_leak" and c.urgency == "normal"


def test_confidences_and_candidates(clf):
    for text, _ in APPEAL_CASES + CATEGORY_CASES:
        c = clf.predict(text)
        for v in (c.appeal_type_confidence, c.category_confidence, c.urgency_confidence):
            assert 0.0 <= v <= 1.0
        assert c.appeal_type_candidates[0] == (c.appeal_type, c.appeal_type_confidence)
        assert c.category_candidates[0] == (c.category, c.category_confidence)
        probs = [p for _, p in c.category_candidates]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
        for field, (s, e) in c.evidence.items():
            assert 0 <= s < e <= len(text), field
        json.dumps(c.to_dict(), ensure_ascii=False)


def test_boilerplate_does_not_decide(clf):
    greeting = "您好，12345市民服务热线，很高兴为您服务。请问您贵姓？感谢您的来电，再见。"
    c = clf.predict(greeting)
    assert c.appeal_type is None and c.category is None and c.urgency is None
    assert c.category_confidence == 0.0
    # evidence offsets index the original text even though boilerplate was blanked
    text = greeting + "\n我们楼下的饭店油烟直接排到我家窗户里"
    c = clf.predict(text)
    assert c.category == "cooking_fumes"
    s, e = c.evidence["category"]
    assert text[s:e] == "油烟"


def test_bad_input(clf):
    with pytest.raises(TypeError):
        clf.predict(None)  # type: ignore[arg-type]
    assert clf.predict("").category is None


def _labelled(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_bundled_labelled_calls(clf):
    for row in _labelled(TESTS / "data" / "calls" / "labels.jsonl"):
        c = clf.predict(row["transcript"])
        assert (c.appeal_type, c.category, c.urgency, c.category_l1) == (
            row["appeal_type"], row["category"], row["urgency"], row["category_l1"]), row["id"]


@pytest.mark.skipif(not SHARED_DEV.exists(), reason="shared dev corpus not present")
def test_dev_corpus_accuracy(clf):
    rows = _labelled(SHARED_DEV)
    hits = {"appeal_type": 0, "category": 0, "urgency": 0}
    for row in rows:
        c = clf.predict(row["transcript"])
        for k in hits:
            hits[k] += getattr(c, k) == row[k]
    for k, v in hits.items():
        assert v / len(rows) >= 0.9, (k, v, len(rows))


def test_training_data_generator_is_deterministic_and_valid():
    from nlp.training.generate import GenOptions, generate

    taxonomy = json.loads((DEFAULT_PATH.parent / "taxonomy.json").read_text(encoding="utf-8"))
    codes = {c["code"] for c in taxonomy["categories"]}
    a = generate(GenOptions(per_category=4, seed=7))
    assert a == generate(GenOptions(per_category=4, seed=7))
    assert {e["category"] for e in a} == codes          # every category has examples
    assert {e["appeal_type"] for e in a} <= set(taxonomy["appeal_types"])
    held = generate(GenOptions(per_category=4, seed=7), split="held")
    assert held and all(e.get("kind") != "hand" for e in held)


def test_appeal_ensemble_averages_its_members(clf):
    """The appeal model's distribution is the mean of its members' (one member: its own)."""
    text = "我想问一下，老人的高龄补贴要到哪里去申请，需要带什么材料？"
    got = clf.appeal_model(text)
    doc = clf.nlp.make_doc(text)
    rows = [dict(zip(clf.nlp.get_pipe(n).labels, clf.nlp.get_pipe(n).predict([doc])[0].tolist()))
            for n in clf.appeal_pipes]
    for lab in clf.appeal_labels:
        assert abs(got[lab] - sum(r[lab] for r in rows) / len(rows)) < 1e-6
    assert abs(sum(got.values()) - 1.0) < 1e-4


def test_blocked_pavement_is_the_matter_not_who_blocks_it():
    """A gym that fences off the pavement with its equipment: the category is the obstruction
    (人走不过去), not the business's trade (健身/体育 in its name); 围 heard as 为, as Whisper writes it."""
    from nlp.classify import Classifier

    c = Classifier.load().predict("我们楼下有家健身房叫飞越体育，门口人行道上为了一圈器材，人根本走不过去，都要走到马路上。")
    assert c.category == "road_obstruction", c.category_candidates
