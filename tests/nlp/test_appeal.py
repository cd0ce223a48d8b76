"""Appeal type as the centre defines it (taxonomy.json appeal_definitions), on the shipped model.

Each rule's general case, with sentences written for this test (not in the training data, not
from any labelled corpus): the caller's request decides, not the word they use and not the
operator's closing formula.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nlp.classify import DEFAULT_PATH, Classifier
from nlp.cues import CueMatcher, appeal_cues_from_taxonomy
from nlp.taxonomy import Taxonomy

TAXONOMY = DEFAULT_PATH.parent / "taxonomy.json"
# the shared spec lives beside the checkout, like the dev corpus (tests/conftest.py)
SPEC = Path(os.environ["HOTLINE_DEV_CORPUS"]).parents[1] / "spec" / "taxonomy.json"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load()


RULES = [
    # the wrong word: 投诉 said, a proposal made
    ("wrong word", "我要投诉一下，我们这边的社区食堂只开中午，晚上没地方吃饭，建议你们晚上也开两个钟头", "建议"),
    ("wrong word, question form", "我想反映个问题，小区门口的公交站牌字太小了，老人根本看不清，能不能换一块大一点的", "建议"),
    # no word: praise without 表扬
    ("no word", "前天我在菜场门口晕倒了，一个路过的小伙子背着我跑到医院，还垫了挂号费，我到现在都不知道他叫什么", "表扬"),
    # a neighbour's illegal building: 举报, even when called a complaint
    ("neighbour's 违建", "我要投诉，我们后面那栋楼一楼的人家把院子围起来，搭了一间彩钢板房子出租", "举报"),
    ("unlicensed business", "我们弄堂里有个人在家里开了个小作坊做熟食卖，什么证都没有，卫生条件很差", "举报"),
    # own harm: 投诉
    ("own harm", "我在网上订的家具送来就是坏的，商家说要我自己承担运费才给换，我付了钱凭什么还要我出", "投诉"),
    ("own harm, wrong word", "我要举报这家洗车店，把我的车漆刮掉一大块，不承认也不肯赔", "投诉"),
    # urgent help now: 求助
    ("urgent help", "我们楼道里的水管爆了，水哗哗地往下流，电梯井都进水了，物业没人接电话，能不能马上派人来关水", "求助"),
    # how / where / whether: 咨询
    ("asks how", "请问一下，居住证到期了续签是在网上办还是要去派出所，需要带哪些东西", "咨询"),
    # asks what they are entitled to after a problem with a business: 咨询, not 投诉
    ("asks own rights", "我在理发店办了一张卡，充了两千块，现在店要转让了，我想问问按规定剩下的钱他们该不该退给我，我应该去哪里问", "咨询"),
    # "什么证都没有": unlicensed, said the way callers say it
    ("no licence at all", "我们小区门口有人摆摊卖自己灌的香肠，什么手续都没有办，天热放在外面一整天", "举报"),
    # an office serving the caller badly: 投诉 with no word for it
    ("bad service at a window", "我去区行政服务中心办事，窗口工作人员一直玩手机，让我等了一个多小时", "投诉"),
    # gambling and work without its permit reported: 举报
    ("gambling", "我们楼下有家棋牌室，天天有人在里面赌钱，赌得很大", "举报"),
    ("no permit, words between", "那个建筑工地晚上十二点以后还在浇混凝土，也没有夜间施工许可证", "举报"),
    # hardship the caller cannot get out of alone: 求助, though nobody is blamed and nothing is asked
    ("hardship", "我老公瘫痪在床，孩子还在读书，日子真的过不下去了", "求助"),
    ("cannot wait", "我们小区加装电梯卡了一年多了，楼里老人都八十多了，真的等不起了", "求助"),
    # praise that tells the old problem first, then who put it right
    ("praise after a fixed problem", "前阵子我们楼下的窨井盖松了，一踩就晃，我打了电话以后，第三天施工的师傅就来换好了，还在旁边拉了警示带，做事很仔细", "表扬"),
]


@pytest.mark.parametrize("rule,text,appeal", RULES, ids=[r[0] for r in RULES])
def test_rule(clf, rule, text, appeal):
    c = clf.predict(text)
    assert c.appeal_type == appeal, (rule, c.appeal_type_candidates)


def test_operator_formula_does_not_decide(clf):
    # a proposal, closed by an operator formula that names 投诉
    call = ("您好，12345，请讲。\n"
            "你好，我们小区旁边的公园晚上关门太早了，七点就锁门，能不能延长到九点，大家吃好晚饭可以去走走。\n"
            "好的，我们会把您的投诉转给绿化部门处理。\n好的谢谢。")
    assert clf.predict(call).appeal_type == "建议"
    # own harm, closed by a formula that names 建议
    call = ("您好，12345，请讲。\n"
            "我在你们推荐的那家装修公司装的房子，墙面全裂了，他们收了尾款就不接电话了，我要他们返工赔钱。\n"
            "好的，您的建议我们记录了，会转给相关部门。\n嗯。")
    assert clf.predict(call).appeal_type == "投诉"


def test_operator_sentences_found_without_speaker_labels(clf):
    # mono transcript: no speaker field; the operator is known by what operators say
    text = ("您好，12345市民服务热线，请问有什么可以帮您？\n"
            "我家门口的路灯坏了三天了。\n"
            "好的，我跟您确认一下，是长宁路上的路灯，对吗？\n"
            "对的。\n"
            "您的诉求我帮您记录下来了，我们会尽快转交处理。")
    caller = clf.cues.caller_text(text)
    assert len(caller) == len(text)                      # offsets stay valid
    assert "路灯坏了三天" in caller and "对的" in caller  # the caller's words stay
    assert "确认一下" not in caller and "转交" not in caller and "诉求" not in caller


def test_operator_passing_it_on_is_blanked(clf):
    # "我帮您把情况反映给…": the operator passing the matter on, not the caller asking
    text = ("您好，12345，请讲。\n我家楼上漏水好几天了。\n"
            "好的，我帮您把情况反映给房管所，请他们上门看看。\n好的谢谢。")
    caller = clf.cues.caller_text(text)
    assert "楼上漏水" in caller and "房管所" not in caller and "上门看看" not in caller


def test_appeal_evidence_is_callers_words(clf):
    text = "我想提个建议，地铁站出口能不能多装一个自动扶梯，现在只有楼梯。\n好的，您的投诉我们记录了。"
    c = clf.predict(text)
    assert c.appeal_type == "建议"
    s, e = c.evidence["appeal_type"]
    assert e <= text.index("\n")                         # the span is in the caller's line


def test_definitions_live_in_taxonomy():
    raw = json.loads(TAXONOMY.read_text(encoding="utf-8"))
    defs = raw["appeal_definitions"]["types"]
    assert list(defs) == raw["appeal_types"]             # one definition per appeal type
    for label, d in defs.items():
        assert d["definition"] and d["cue_groups"], label
    assert Taxonomy.load(TAXONOMY).appeal_types == raw["appeal_types"]
    cues = appeal_cues_from_taxonomy(raw)
    # the shipped pipeline carries the same cue groups as the taxonomy it was trained with
    shipped = json.loads((DEFAULT_PATH / "hotline_cues" / "cues.json").read_text(encoding="utf-8"))
    assert shipped["appeal"] == cues["appeal"]


@pytest.mark.skipif(not SPEC.exists(), reason="shared spec taxonomy not present")
def test_spec_taxonomy_still_loads_as_a_centres_own():
    # the spec copy has no appeal_definitions: the pipeline's own cue groups are used
    assert appeal_cues_from_taxonomy(json.loads(SPEC.read_text(encoding="utf-8"))) is None
    assert Taxonomy.load(SPEC).appeal_types
    c = Classifier.load(taxonomy_path=SPEC)
    assert c.predict(RULES[0][1]).appeal_type == "建议"


def test_centre_definitions_replace_the_cues(tmp_path):
    raw = json.loads(TAXONOMY.read_text(encoding="utf-8"))
    raw["appeal_definitions"]["types"]["表扬"]["cue_groups"] = {
        "thanks_word": {"weight": 9.0, "patterns": ["谢天谢地"]}}
    p = tmp_path / "taxonomy.json"
    p.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    c = Classifier.load(taxonomy_path=p)
    assert c.predict("谢天谢地，我们门口的树终于修剪了").appeal_type == "表扬"
    assert "谢天谢地" not in json.dumps(Classifier.load().cues.cues["appeal"], ensure_ascii=False)


def test_cue_group_scores_once():
    m = CueMatcher({"appeal": {"建议": [["proposal", 2.0, ["增设", "加装"]]]}})
    one = m.appeal_scores("能不能增设一个站")["建议"][0]
    two = m.appeal_scores("能不能增设一个站，再加装个电梯")["建议"][0]
    assert one == 2.0 and 2.0 < two < 4.0                # repeats add a little, not a whole group
    neg = CueMatcher({"appeal": {"投诉": [["said", 1.2, ["投诉"]]]}, "appeal_negations": {"投诉": ["不是投诉"]}})
    assert "投诉" not in neg.appeal_scores("我不是投诉，我是想问问")


def test_generator_teaches_the_confusable_cases():
    from nlp.training.generate import GenOptions, generate

    ex = [e for e in generate(GenOptions(per_category=30, seed=11)) if e.get("kind") != "hand"]
    # a proposal called a complaint, an illegal act called a complaint: the word alone cannot decide
    assert any(e["appeal_type"] == "建议" and "投诉" in e["text"] for e in ex)
    assert any(e["appeal_type"] == "举报" and "投诉" in e["text"] and "举报" not in e["text"] for e in ex)
    # operator formulas naming another type are mixed into calls
    assert any(e["kind"] == "call" and e["appeal_type"] != "投诉" and "您的投诉" in e["text"] for e in ex)
    # every appeal type occurs in categories that are usually framed otherwise
    assert {e["appeal_type"] for e in ex if e["category"] == "streetlight"} >= {"投诉", "建议", "咨询", "表扬"}


@pytest.mark.parametrize("text", [
    "饭店天天晚上把泔水倒进雨水井里",            # dumping into a drain, what is dumped named
    "那个厂晚上偷偷的排废水",                    # 的 for 地, as callers and Whisper write it
    "工地的渣土半夜往河浜里倒",
])
def test_illegal_dumping_is_an_illegal_act(text):
    """The taxonomy's 举报 cue groups (nlp/data/taxonomy.json) find dumping said colloquially."""
    from nlp.cues import appeal_cues_from_taxonomy

    tax = json.loads((Path(__file__).resolve().parents[2] / "nlp" / "data" / "taxonomy.json").read_text(encoding="utf-8"))
    m = CueMatcher(appeal_cues_from_taxonomy(tax))
    assert m.appeal_scores(text).get("举报", (0.0,))[0] >= 1.8


def _taxonomy_cues() -> CueMatcher:
    from nlp.cues import appeal_cues_from_taxonomy

    tax = json.loads((Path(__file__).resolve().parents[2] / "nlp" / "data" / "taxonomy.json").read_text(encoding="utf-8"))
    return CueMatcher(appeal_cues_from_taxonomy(tax))


def test_a_household_that_will_not_is_for_mediation():
    """A neighbour or one household refusing (楼上那户就是不开门, 一户死活不签字) asks for 协调: 求助;
    a shop downstairs refusing is a business, left to the 投诉 cues."""
    m = _taxonomy_cues()
    for text in ("漏水是楼上渗下来的，楼上那户就是不开门", "大家都签了，就二楼有户人家死活不签字"):
        assert m.appeal_scores(text).get("求助", (0.0,))[0] >= 1.2, text
    assert "求助" not in m.appeal_scores("我们楼下那家饭店就是不肯装油烟净化器")


def test_cues_tell_help_given_from_help_asked():
    """帮我们 asks for help; 帮我们解决了 tells of help given (a praise call); praise for work done
    quickly, expired goods sold with their dates changed, and a business damaging the caller's
    things each find their type's cue group."""
    m = _taxonomy_cues()
    assert m.appeal_scores("你们能不能帮我们协调一下").get("求助", (0.0,))[0] > 0
    assert "求助" not in m.appeal_scores("街道的王书记跑了好几趟帮我们解决了")
    assert "表扬" in m.appeal_scores("城管这次处理得很快，摊位都清掉了")
    assert "举报" in m.appeal_scores("药房在卖过期的药，日期都改过了")
    assert "投诉" in m.appeal_scores("这家洗车店把我的车漆刮掉一大块")
