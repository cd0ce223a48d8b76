"""Surnames as an operator writes them: a spelling decides the character, an unspelled surname
with common homophones stays unconfirmed with its candidates (nlp/names.py, nlp/surnames.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp.evaluate import score_fields
from nlp.names import extract_name
from nlp.surnames import homophones, sound, spellings, tables

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "nlp" / "data" / "draft_ticket.schema.json")
                    .read_text("utf-8"))


@pytest.mark.parametrize("text, want", [
    # by its parts
    ("请问您贵姓？\n我姓陈，耳东陈。\n陈先生您好。", "陈先生"),
    ("请问您贵姓？\n姓张，弓长张。", "张"),
    ("请问您贵姓？\n我姓章，立早章。", "章"),
    ("您贵姓？\n我姓李，木子李。", "李"),
    ("您贵姓？\n姓吴，口天吴。", "吴"),
    ("您贵姓？\n我姓胡，古月胡。", "胡"),
    ("您贵姓？\n我姓许，言午许。", "许"),
    ("您贵姓？\n我姓林，双木林。", "林"),
    ("您贵姓？\n我姓程，禾口程。", "程"),
    # by its radical
    ("您贵姓？\n我姓汤，三点水的汤。", "汤"),
    ("您贵姓？\n我姓黄，草头黄。", "黄"),
    ("您贵姓？\n姓范，草字头的范。", "范"),
    ("您贵姓？\n姓汪，三点水加一个王。", "汪"),
    ("您贵姓？\n我姓江，三点水一个工的江。", "江"),
    ("您贵姓？\n我姓徐，双人徐。\n许先生您好。", "徐"),
    ("您贵姓？\n姓陈，耳朵陈。", "陈"),
    # by a word that holds it, also as X是Y的X
    ("您贵姓？\n我姓茅，茅草的茅。", "茅"),
    ("您贵姓？\n我姓时，时间的时。", "时"),
    ("您贵姓？\n我姓贺，是祝贺的贺。", "贺"),
    ("您贵姓？\n姓樊，樊是樊城的樊。", "樊"),
])
def test_spelled_surname_decides(text, want):
    got = extract_name(text)
    assert got is not None and got.value.startswith(want), got
    assert got.confirmed and got.homophones == []


@pytest.mark.parametrize("text, want", [
    # ASR wrote a homophone before the spelling (and in the read-back): the spelling wins
    ("您贵姓？\n我姓唐，三点水的汤。\n唐女士，我们会转交。", "汤女士"),
    ("您贵姓？\n我姓张，立早章。\n张先生，您别急。", "章先生"),
    ("您贵姓？\n我姓石，时间的时。\n石先生，感谢您的反映。", "时先生"),
    ("您贵姓？\n我姓毛，茅草的茅。\n毛女士您好。", "茅女士"),
    ("您贵姓？\n我姓何，祝贺的贺。\n何先生，请保持电话畅通。", "贺先生"),
    ("请问怎么称呼？\n何，人可何。\n贺先生，您好。", "何先生"),
    # the spelled character itself misheard: the parts and the sound still name it
    ("您贵姓？\n我姓张，立早张。", "章"),
    ("您贵姓？\n我姓汤，三点水的唐。", "汤"),
    ("您贵姓？\n我姓茅，茅草的毛。", "茅"),
    ("您贵姓？\n我姓唐，三点睡的汤。", "汤"),      # the radical's name misheard too
])
def test_spelling_wins_over_the_homophone_asr_wrote(text, want):
    got = extract_name(text)
    assert got is not None and got.value.startswith(want), got
    assert got.confirmed


@pytest.mark.parametrize("text, value, cands", [
    ("您贵姓？\n我姓何。\n何先生，我们会转交。", "何先生", ["何先生", "贺先生"]),
    ("您贵姓？\n我姓贺。\n贺女士，我们会转交。", "贺女士", ["贺女士", "何女士"]),
    ("您贵姓？\n姓唐，唐先生。", "唐先生", ["唐先生", "汤先生"]),
    ("您贵姓？\n姓范，范女士。", "范女士", ["范女士", "樊女士"]),
    # ASR wrote no surname (荷): the commonest surname of that sound, the rest as candidates
    ("您贵姓？\n我姓荷。", "何女士", ["何女士", "贺女士"]),
])
def test_unspelled_homophone_surname_is_unconfirmed(text, value, cands):
    got = extract_name(text)
    assert got is not None and got.value == value
    assert got.confirmed is False and got.homophones == cands


def test_surname_alone_in_its_sound_is_confirmed():
    got = extract_name("您贵姓？\n我姓周，周先生。")
    assert got.value == "周先生" and got.confirmed and got.homophones == []


@pytest.mark.parametrize("text", [
    "人可以在网上办吗？",              # 人可 is no 何 in a sentence
    "楼下施工的时候声音很大。",        # a word + 的 outside the reply is no spelling
    "河边三点水位很高。",              # a radical's name with nothing it writes
    "我们家买了张双人床。",
])
def test_no_spelling_in_everyday_sentences(text):
    assert extract_name(text) is None


def test_spellings_anywhere_only_when_unmistakable():
    assert [s.surname for s in spellings("对，耳东陈，陈先生。", given=False)] == ["陈"]
    assert spellings("他施工的施工队。", given=False) == []


def test_surname_readings_and_homophone_groups_are_data():
    t = tables()
    assert sound("曾") == "zeng" and sound("单") == "shan" and sound("仇") == "qiu"
    assert set(homophones("陈")) >= {"陈", "程"}            # chen / cheng: front and back nasals merge
    assert homophones("周") == ("周",)
    assert all(len(t.group[c]) >= 2 for c in t.group)
    # every surname a spelling names is in the surname list
    assert set(t.descriptions.values()) <= set(t.rank)
    assert all(set(v) <= set(t.rank) for v in t.radicals.values())


def test_score_counts_an_unconfirmed_surname_right_when_its_candidates_hold_it():
    label = {"caller_name": "贺先生"}
    unconfirmed = {"caller_name": "何先生", "caller_name_confirmed": False,
                   "caller_name_candidates": ["何先生", "贺先生"]}
    assert score_fields(label, unconfirmed)["caller_name"] is True
    # a spelled (confirmed) surname must have the right character
    confirmed = dict(unconfirmed, caller_name_confirmed=True)
    assert score_fields(label, confirmed)["caller_name"] is False
    assert score_fields({"caller_name": "汤先生"}, unconfirmed)["caller_name"] is False


def test_draft_carries_confirmation_and_candidates():
    from nlp.extract import extract_text

    d = extract_text("您好，请讲。\n我家门口路灯不亮。\n您贵姓？\n我姓何。\n何先生，我们会转交。").to_dict()
    assert d["caller_name"] == "何先生"
    assert d["caller_name_confirmed"] is False and d["caller_name_candidates"] == ["何先生", "贺先生"]
    assert {"caller_name_confirmed", "caller_name_candidates"} <= set(SCHEMA["properties"])
    d = extract_text("您贵姓？\n我姓汤，三点水的汤。").to_dict()
    assert d["caller_name"].startswith("汤") and d["caller_name_confirmed"] is True
    assert d["caller_name_candidates"] == []


@pytest.mark.parametrize("text, want", [
    ("请问怎么称呼？\n我叫张伟，电话13917654321。", "张"),
    ("我的名字叫欧阳明。", "欧阳"),
    ("您贵姓？\n刘。\n好的，我们会转交。", "刘"),       # the surname alone as the answer
])
def test_full_name_and_bare_surname_answer(text, want):
    got = extract_name(text)
    assert got is not None and got.value[:-2] == want


@pytest.mark.parametrize("text", ["我叫车来接我。", "我叫物业来修。", "我叫他们别吵了。", "您贵姓？\n对。"])
def test_no_name_from_jiao_or_a_bare_word(text):
    assert extract_name(text) is None


# issue 13: how callers give a name without 我姓X (sentences written for the tests)
@pytest.mark.parametrize("text, want", [
    ("请问怎么称呼您？\n你叫我小王就行，我想问个事。", "王"),
    ("请问您怎么称呼？\n叫我老赵吧，大家都这么叫。", "赵"),
    ("喂，我是老周啊，上回打过电话的。", "周"),
    ("你好，我是张师傅，开出租车的，想反映个情况。", "张先生"),
    ("您好，我是刘大姐，住在六号楼。", "刘女士"),
    ("我的名字是孙建国，我要反映一下小区的事。", "孙"),
    ("我名字叫冯晓梅，住在东湖小区。", "冯"),
])
def test_name_without_xing(text, want):
    n = extract_name(text)
    assert n is not None and n.value.startswith(want) and (len(want) == 1 or n.value == want), n


@pytest.mark.parametrize("text", [
    "我是老师，想咨询孩子上学的事。",
    "我是小区的业主，想反映一下停车的问题。",
])
def test_no_nickname_from_a_word(text):
    assert extract_name(text) is None


def test_rarer_surnames_are_surnames():
    for text, want in [("请问您贵姓？\n免贵姓屠，屠夫的屠。", "屠"), ("您贵姓？\n我姓杭，杭州的杭。", "杭"),
                       ("您贵姓？\n我姓计，计划的计。", "计"), ("我叫计小红，想问个事。", "计")]:
        n = extract_name(text)
        assert n is not None and n.value[0] == want, (text, n)
    assert "计" in homophones("纪")   # said, not spelled: one of the candidates the operator asks about


def test_caller_corrects_a_wrong_surname():
    n = extract_name("好的李先生。\n不是，我不姓李，我姓许，言午许。\n好的许先生。")
    assert n.value == "许先生" and n.confirmed
    n = extract_name("王女士您好。\n不是王女士，我是黄女士，草头黄。")
    assert n.value == "黄女士"


def test_compound_surname_spelled_with_a_word():
    n = extract_name("请问您贵姓？\n我姓欧阳，欧阳修的欧阳。")
    assert n.value.startswith("欧阳") and n.confirmed


def test_a_title_for_someone_else_is_not_the_callers_gender():
    # 那个阿姨 / 楼下的大爷: people the caller talks about, not the operator addressing the caller
    n = extract_name("请问您贵姓？\n姓金。\n好的。\n楼下那个阿姨天天半夜跳舞，我老婆都睡不着。")
    assert n.value == "金先生"
    n = extract_name("请问您贵姓？\n姓金。\n对面楼的大爷天天在楼道里堆东西，我老公说了也没用。")
    assert n.value == "金女士"
    n = extract_name("请问您贵姓？\n姓金，金子的金。\n好的女士，我帮您记录。")   # the operator's own word
    assert n.value == "金女士"


@pytest.mark.parametrize("text,name", [
    ("请留一下您的姓名。\n我叫陈建国。", "陈先生"),      # the given name says which, no title said
    ("请留一下您的姓名。\n我叫王秀英。", "王女士"),
    ("请留一下您的姓名。\n我叫李华。", "李女士"),        # 华 is either: the default
    ("请留一下您的姓名。\n我叫王秀英。\n好的王先生。", "王先生"),   # a title said wins
])
def test_gender_from_the_given_name(text, name):
    assert extract_name(text).value == name


def test_unconfirmed_surname_offers_the_others_the_call_heard():
    """The call votes 秦 (said) and 钱 (the operator's 钱先生): unspelled, the draft keeps 秦 and
    offers its homophones and 钱, so the operator's 哪个字？ has both in front of them."""
    n = extract_name("您贵姓？\n我姓秦。\n好的，钱先生，我们会转交。")
    assert (n.value, n.confirmed) == ("秦先生", False)
    assert n.homophones[:2] == ["秦先生", "覃先生"] and "钱先生" in n.homophones
    spelled = extract_name("您贵姓？\n我姓秦，秦始皇的秦。\n好的，钱先生。")
    assert spelled.confirmed and spelled.value == "秦先生"
