"""Post-processing and CER normalisation (no model)."""
from __future__ import annotations

import pytest

from stt.metrics import cer, normalize
from stt.postprocess import cut_loops, postprocess


def test_simplified_and_hotline_number():
    assert postprocess("您好,一二三四五市民服務熱線") == "您好，12345市民服务热线"


def test_set_phrases_of_the_hotline_heard_wrong():
    # the operator's script: 12345，请讲 / 感谢您的反映 / 保持电话畅通, as Whisper base writes them at 8 kHz
    assert postprocess("您好，12345,现象。") == "您好，12345，请讲。"
    assert postprocess("谢谢您的反应，我们转交相关部门和查。") == "谢谢您的反映，我们转交相关部门核查。"
    assert postprocess("请保持电话长通。") == "请保持电话畅通。"
    assert postprocess("这个现象很严重。") == "这个现象很严重。"     # the word itself stays


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


def test_place_names_by_sound():
    from stt.lexicon import PlaceCorrector

    c = PlaceCorrector(["牡丹江路", "密山路", "营口路", "杨浦区", "普陀区", "曹杨路", "兰溪路", "友谊路街道", "东路"])
    assert c.correct("母单将路，靠近密商路那个路口") == "牡丹江路，靠近密山路那个路口"
    assert c.correct("杨浦区银口路588号") == "杨浦区营口路588号"          # in/ing
    assert c.correct("浦陀区草扬路，靠近蓝西路") == "普陀区曹杨路，靠近兰溪路"
    assert c.correct("有一路街道") == "友谊路街道"
    # ordinary speech and correct names stay; one-character stems are not names to match
    for text in ("我们走这条路不好走", "都要绕到马路上", "营口路", "他说冬路"):
        assert c.correct(text) == text
    # per-call hotwords extend the list
    assert c.correct("在飞虹路", extra=["飞红路"]) == "在飞红路"


def test_ambiguous_sound_is_left_alone():
    from stt.lexicon import PlaceCorrector

    c = PlaceCorrector(["长江路", "常江路"])
    assert c.correct("昌江路") == "昌江路"  # two names sound like it: no guess


def test_gazetteer_correction_leaves_correct_transcripts_alone(labels):
    """The labelled (correct) transcripts must come out unchanged: no false 'corrections'."""
    from stt.lexicon import default_corrector

    c = default_corrector()
    if not c.names:
        pytest.skip("gazetteer not present")
    for label in labels.values():
        for line in label["transcript"].splitlines():
            assert c.correct(line) == line
    assert c.correct("嘉宏小学附近路口") == "嘉宏小学附近路口"
    assert c.correct("我帮您进路下来") == "我帮您进路下来"      # 您进路 sounds like 临青路, but 您 starts no place
    assert c.correct("杨普去引口路588号") == "杨浦区营口路588号"


def test_truncation_check_and_split_at_pause():
    import numpy as np

    from stt.transcribe import WhisperDecoder

    rng = np.random.default_rng(0)
    speech = lambda s: (0.3 * rng.standard_normal(int(s * 16000))).astype(np.float32)
    audio = np.concatenate([speech(2.0), np.zeros(8000, np.float32), speech(6.0)])
    assert WhisperDecoder._truncated(audio, "好的，您请讲。")          # 8.5 s, 5 characters
    assert not WhisperDecoder._truncated(audio, "好的" * 8)
    assert not WhisperDecoder._truncated(audio[:32000], "好的")         # short utterances are not checked
    left, right = WhisperDecoder._split(audio)
    assert len(left) + len(right) == len(audio)
    assert 2.0 * 16000 <= len(left) <= 2.5 * 16000                     # cut inside the pause


def test_context_copies_are_recognised():
    from stt.transcribe import _copied

    context = "您好，12345市民服务热线。"
    assert _copied("您好，12345市民服务热线", context)          # the caller's words lost to the greeting
    assert not _copied("好的。", "好的，您贵姓？")                # short replies recur, they are not copies
    assert not _copied("你好，我要反映一个问题", context)


def test_question_marks_copied_onto_statements_become_commas():
    from stt.postprocess import tidy_punctuation

    assert tidy_punctuation("好的？长宁区天山路树木倒伏？我们马上转交处置？您贵姓？") == \
        "好的，长宁区天山路树木倒伏，我们马上转交处置，您贵姓？"
    for asked in ("现在水位大概多高？", "有没有人受伤？", "是9号线七宝站吗？", "喂？喂？听得到吗？"):
        assert tidy_punctuation(asked) == asked
