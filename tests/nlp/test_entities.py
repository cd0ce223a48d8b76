"""Caller name and phone parsing on noisy ASR-style text."""
from __future__ import annotations

import pytest

from nlp.entities import extract_name, extract_phone, phone_candidates


@pytest.mark.parametrize("text, want", [
    ("请问您贵姓？\n我姓周，周先生。", "周先生"),
    ("您贵姓？\n免贵姓赵。\n赵女士，我们会尽快转给相关部门。", "赵女士"),
    ("您贵姓？\n我姓施，施工的施。\n施先生，感谢您的反映。", "施先生"),
    ("您贵姓？\n我姓吴，口天吴。\n吴女士，我们会转交。", "吴女士"),
    ("好的王先生，我们会转交属地街道。", "王先生"),
    ("请问老先生您贵姓？\n我姓顾，照顾的顾。\n顾老先生，方便留个电话吗？", "顾先生"),
    ("请问阿姨您贵姓？\n我姓孙，孙悟空的孙。\n孙阿姨，方便留一个联系电话吗？", "孙女士"),
    # a compound surname
    ("我姓欧阳，欧阳先生。", "欧阳先生"),
])
def test_caller_name(text, want):
    got = extract_name(text)
    assert got is not None and got.value == want
    assert 0 < got.confidence <= 1
    s, e = got.span
    assert text[s:e].startswith(want[0])


def test_homophone_surname():
    # ASR wrote 洲, which is no surname: 周 is the common surname that sounds the same
    text = "您贵姓？\n我姓洲。\n好的，我们会转交。"
    got = extract_name(text)
    assert got is not None and got.value == "周女士"
    assert text[got.span[0]:got.span[1]] == "洲"
    assert got.confidence < extract_name("您贵姓？\n我姓周。").confidence


@pytest.mark.parametrize("text", [
    "司机师傅马上停好车下来扶她。",          # 师傅 is not a name
    "全科的陆医生，陆地的陆。",               # nor a doctor
    "张老师教得很好。",                       # nor a teacher
    "请问您贵姓？",                          # the operator asking
    "我先生昨天去的。",                       # 'my husband'
])
def test_no_caller_name(text):
    assert extract_name(text) is None


def test_gender_from_cue_when_no_title():
    got = extract_name("家里老婆孩子等着钱吃饭。\n您贵姓？\n姓邓，电话13918267543。")
    assert got is not None and got.value == "邓先生"


@pytest.mark.parametrize("text, want", [
    ("电话是13816572039。", "13816572039"),
    ("我姓王，电话幺三九，幺七六五，四三二一。", "13917654321"),
    ("电话 139 1765 4321", "13917654321"),
    ("手机一三九一七六五四三二一", "13917654321"),
    ("电话幺三八两六五七，二零三九", "13826572039"),
    ("找到了，幺三九，零幺七六，二五八三。这个是我自己的手机。", "13901762583"),
    ("座机是021-64871234", "021-64871234"),
    ("家里电话六四八七一二三四", "64871234"),
    # the number split across two ASR segments
    ("电话是幺三九幺七六五\n四三二一", "13917654321"),
])
def test_phone(text, want):
    got = extract_phone(text)
    assert got is not None and got.value == want
    s, e = got.span
    assert 0 <= s < e <= len(text)


@pytest.mark.parametrize("text", [
    "您好，12345市民服务热线。",
    "工号我记下来了，是零五三七二，车牌没看清。",         # 5 digits
    "凉城路1050弄，7号五零二室。",                      # house numbers
    "2024年7月5日，20240705那天的事。",                 # a date, no phone context
    "电话12345678901",                                  # 11 digits but not a mobile (1[3-9])
    "电话幺二三四五",                                   # 12345 spoken
    "我身份证号310101199001011234",                      # 18 digits
    "四川北路一千八百多号那边",
])
def test_not_a_phone(text):
    assert extract_phone(text) is None


def test_last_number_wins_and_repeat_raises_confidence():
    text = "电话13816572039，不对不对，是13816572093。\n13816572093，对吗？\n对的。"
    got = extract_phone(text)
    assert got.value == "13816572093"
    single = extract_phone("不对，是13816572093。")
    assert got.confidence > single.confidence
    assert [c.value for c in phone_candidates(text)] == ["13816572039", "13816572093", "13816572093"]


# ---- what 8 kHz Whisper really writes (dev calls decoded by the pipeline) ----------------------
@pytest.mark.parametrize("text, want", [
    ("您怎么称呼，联系电话是多少？\n信尘，神仙生，话是13816572039", "陈先生"),     # 姓陈，陈先生
    ("您贵姓\n信留，留心声，片话是159\n琉先生，我们会转交", "刘先生"),          # 姓刘 … 刘先生
    ("我姓周周行生\n周先生，我们会尽快转交处理。", "周先生"),
    ("您贵姓\n信谁，神女士的电话", "沈女士"),
])
def test_caller_name_from_asr(text, want):
    got = extract_name(text)
    assert got is not None and got.value == want
    assert 0 < got.confidence <= 0.99


@pytest.mark.parametrize("text", ["这位女士，您别急。", "好的，先生，感谢您的建议。", "对，先生您说。"])
def test_no_name_from_bare_titles(text):
    assert extract_name(text) is None


def test_phone_with_misheard_leading_one():
    got = extract_phone("神女士的电话于三九一七零四六六二八？")
    assert got is not None and got.value == "13917046628" and got.confidence <= 0.5
    assert extract_phone("一共于三九一七零四六六二八") is None    # no phone word: not taken


def test_operator_stating_own_surname_is_ignored_on_stereo():
    text = "您好，我姓李，工号1024，请问有什么可以帮您？\n我姓陈。\n好的陈先生。"
    assert extract_name(text).value == "陈先生"
    op = [(0, text.index("\n"))]
    text2 = "您好，我姓李，工号1024，请问有什么可以帮您？\n我要反映路灯坏了。"
    assert extract_name(text2).value.startswith("李")          # mono: no way to tell
    assert extract_name(text2, operator_spans=op) is None       # stereo: the operator's own name


# ---------------------------------------------------------------- names from noisy ASR text
def test_name_tie_goes_to_the_commoner_surname():
    # the read-back heard twice, once wrong (宗 for 宋): equal votes, 宋 is far commoner
    text = "消防通道被私家车占用，我们会转给消防部门处理。您贵姓\n请坐宗女士的？\n宋女士的请保持电话畅通。"
    assert extract_name(text).value == "宋女士"


def test_name_gender_from_bare_title_after_it():
    # 姓钱，钱先生 heard as 向前，先生: the surname has no title of its own, the next word is one
    text = "电梯故障半月未修，我帮您反映给房管部门。您贵姓\n向前，先生。\n请先生，我们会尽快转交处理。"
    assert extract_name(text).value == "钱先生"


def test_name_misheard_spelling_beats_homophone_readback():
    # 我姓施，施工的施 heard as 我现实施工的事; the read-back 时先生 is the same sound
    text = "无证废品回收站，我们转交相关部门核查。您贵姓\n我现实施工的事。\n时先生感谢您的反应。"
    assert extract_name(text).value == "施先生"


def test_name_answer_run_into_the_question_line():
    # 8 kHz ASR joined the turns: 请问您贵姓，我姓李 heard as 请问您贵姓，我尽李; the read-back 另女士
    # is a homophone guess (凌) and must not outvote the surname the caller stated
    text = "地下通道积水很深。\n请问您贵姓，我尽李联系电话。\n好的另女士，我们马上转交水务部门紧急处置。"
    assert extract_name(text).value == "李女士"


def test_name_question_alone_is_no_name():
    assert extract_name("好的，我这边帮您反映，请问您贵姓？") is None


@pytest.mark.parametrize("text, want", [
    ("请问您贵姓\n信麻，麻路的麻。", "马"),          # 姓马，马路的马: both 马 heard as 麻
    ("您怎么称呼\n尽尹、深无空的深。", "孙"),        # 孙悟空的孙, the surname itself misheard twice
    ("请问您贵姓\n今年，严实的阴。", "殷"),          # 殷实的殷: the word misheard, the surname heard
    ("您贵姓\n我信深，深无空的分。", "孙"),          # 悟空 heard right is enough: 孙 misheard both times
])
def test_name_spelled_with_a_known_word_heard_by_sound(text, want):
    got = extract_name(text)
    assert got is not None and got.value.startswith(want)


def test_spelling_words_only_count_in_the_reply():
    # 施工的时候 is no spelling outside the answer to 您贵姓
    assert extract_name("楼下施工的时候声音很大。") is None


def test_name_gender_from_the_first_title_after_the_reply():
    # the operator's 许先生 heard as 请先生: no surname, still the caller's title
    text = "我们转交相关部门处理。请问您贵姓\n信许。\n请先生您放心，我们马上处理。"
    assert extract_name(text).value == "许先生"
    # 我先生 (my husband) is no title of the caller's
    assert extract_name("请问您贵姓\n信许。\n我先生也打过电话。").value != "许先生"


def test_xing_inside_a_misheard_word_names_no_one():
    # 培训机构 heard as 陪姓机构: 姓 + 机 (a homophone of 纪) is no surname statement
    assert extract_name("我在一家陪姓机构报了课，他们不退费。") is None
    assert extract_name("您贵姓\n我姓纪，纪律的纪。").value.startswith("纪")   # a real one still counts
