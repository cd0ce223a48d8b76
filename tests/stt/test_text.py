"""Post-processing and CER normalisation (no model)."""
from __future__ import annotations

from stt.metrics import cer, normalize
from stt.postprocess import cut_loops, postprocess


def test_simplified_and_hotline_number():
    assert postprocess("您好,一二三四五市民服務熱線") == "您好，12345市民服务热线"


def test_hallucinations_become_nothing():
    for text in ("字幕由Amara.org社群提供", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "謝謝觀看", " 。"):
        assert postprocess(text) == "", text
    assert postprocess("路灯坏了 谢谢观看") == "路灯坏了"


def test_loops_are_cut():
    assert cut_loops("对对对对对对对对对") == "对对"
    assert cut_loops("对对对") == "对对对"
    assert cut_loops("我说的是我说的是我说的是我说的是") == "我说的是我说的是"
    assert postprocess("好的" * 30) == "好的好的"


def test_broken_fullwidth_punctuation():
    assert postprocess("热线�请问有什么可以帮您") == "热线，请问有什么可以帮您"
    assert postprocess("门口Ｇ我们") == "门口，我们"


def test_cer_normalisation():
    assert normalize("电话幺三九，幺七六五。") == "电话1391765"
    assert normalize("营口路五百八十八号") == "营口路588号"
    assert normalize("兩個人") == "两个人"
    assert cer("您好，12345市民服务热线。", "您好 一二三四五 市民服务热线")[0] == 0.0
    c, edits, n = cer("牡丹江路", "母丹将路")
    assert (edits, n) == (2, 4) and c == 0.5
