"""KB ranking: the caller's question finds its article, also as ASR hears it (sentences written here)."""
from __future__ import annotations

import json

import pytest

from nlp.kb import KbOptions, KnowledgeBase, caller_question, tokenize
from nlp.kb_index import Synonyms
from nlp.kb_query import split_call


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def _ids(hits) -> list[str]:
    return [h.id for h in hits]


# paraphrases: none uses the article's title, most not its keywords
@pytest.mark.parametrize("query, want", [
    ("我在外地交了好几年社保，现在人到上海了，那边的能不能转过来", "kb-0008"),
    ("我想把我老婆的名字也写到房产证上去，要交税吗", "kb-0003"),
    ("我妈七十多了，听说老人每个月有钱可以领，要怎么申请", "kb-0024"),
    ("旁边工地每天晚上十二点了还在打桩，这种允许吗", "kb-0056"),
    ("我给儿子报的补习班突然关门了，剩下的课时费能不能退回来", "kb-0045"),
    ("我刚毕业来上海工作，听说有政府的租赁房子，我能不能申请", "kb-0062"),
])
def test_paraphrase_finds_article(kb, query, want):
    hits = kb.search(query, k=3)
    assert hits and hits[0].id == want, [(h.id, round(h.score, 1)) for h in hits]
    assert hits[0].answer and hits[0].title


# as ASR hears it: homophones swapped (设保, 公鸡金, 居主正) and characters dropped (公积贷款, 养老服补贴)
@pytest.mark.parametrize("query, want", [
    ("我想打印一份我的设保交费记录，看看单位给我交了几年", "kb-0009"),
    ("我年底退休了，公鸡金里面的钱能不能一次全部取出来", "kb-0015"),
    ("我是外地过来上班的，想办个居主正要准备什么", "kb-0005"),
    ("我们准备买第一套房子，用公积贷款最多能贷多少", "kb-0016"),
    ("我妈八十多了，想申请那个养老服补贴", "kb-0022"),
    ("我爸瘫在床上，能不能申请那个长户险，让人上门来户理", "kb-0023"),
])
def test_asr_errors_still_find_article(kb, query, want):
    assert _ids(kb.search(query, k=3))[:1] == [want]


def test_synonyms_come_from_data(tmp_path):
    rows = [{"id": "x1", "title": "新生儿落户", "keywords": ["落户"], "questions": [], "answer": "凭出生医学证明办理。"},
            {"id": "x2", "title": "居住证办理", "keywords": ["居住证"], "questions": [], "answer": "到社区事务受理中心办理。"}]
    p = tmp_path / "kb.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    q = "宝宝要上户口"                                  # says neither 落户 nor 新生儿
    bare = KnowledgeBase.load(p, synonyms=Synonyms([]))
    assert bare.search(q) == []
    syn = tmp_path / "syn.json"
    syn.write_text(json.dumps({"groups": [["落户", "上户口"], ["新生儿", "宝宝"]]}, ensure_ascii=False), encoding="utf-8")
    with_syn = KnowledgeBase.load(p, synonyms=Synonyms.load(syn))
    assert _ids(with_syn.search(q)) == ["x1"]
    # the shipped groups hold the same everyday words
    shipped = KnowledgeBase.load(p)
    assert _ids(shipped.search(q))[:1] == ["x1"]
    syn.write_text('{"groups": "落户"}', encoding="utf-8")
    with pytest.raises(ValueError, match="syn.json"):
        Synonyms.load(syn)


@pytest.mark.parametrize("query", [
    "我们小区门口的路灯不亮已经一个星期了",
    "楼下饭店的油烟太大了，熏得窗户都不敢开",
    "马路上有一棵树倒下来了，挡住了半条路",
    "嗯嗯，啊，好的，谢谢",
    "",
])
def test_unrelated_finds_nothing(kb, query):
    assert kb.search(query) == []


def test_ranked_limited_and_threshold(kb):
    hits = kb.search("公积金 提取", k=3, min_score=0)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score > kb.options.min_score for h in kb.search("公积金 提取", k=10))


def test_tokenize_segments_chinese():
    toks = tokenize("房产证丢了怎么补办")
    assert "房产证" in toks and "补办" in toks
    assert "怎么" not in toks


def test_caller_lines_not_operator():
    call = ("您好，12345市民服务热线，请问有什么可以帮您？\n"
            "喂，你好，我跟您讲，我想问一下居住证到期了怎么续？\n"
            "好的，居住证签注可以在社区事务受理服务中心办理。\n"
            "您可以带上身份证原件。\n"
            "那要不要预约？\n"
            "赵女士，我们会把材料清单发给您。")
    caller, other = split_call(call)
    assert caller == ["我跟您讲，我想问一下居住证到期了怎么续？", "那要不要预约？"]
    assert other[0].startswith("好的") and len(other) == 3
    assert "居住证到期" in caller_question(call)


def test_search_call_ranks_by_caller(kb):
    # the operator talks about another article at length: the caller's question still decides
    call = ("您好，12345，请讲。\n我想问问我家养了条狗，要不要去办个证？\n"
            "好的，您说的是养犬登记。另外提醒您，小区垃圾分类投放时间是早上七点到九点，湿垃圾要破袋，"
            "干垃圾湿垃圾分开投放，垃圾箱房晚上也开放。")
    assert _ids(kb.search_call(call))[0] == "kb-0048"
    assert kb.search_call("您好，12345，请讲。") == []


def test_suggest_gates_non_consultations(kb):
    hits = kb.search_call("您好，12345。\n我要投诉，我们公司拖欠工资三个月了，老板一直不发，我能去哪里讨薪？")
    assert hits and hits[0].id == "kb-0038"
    assert _ids(kb.suggest(hits, consult=False, appeal_type="投诉"))[:1] == ["kb-0038"]   # a strong fit
    assert kb.suggest(hits, consult=False, appeal_type="表扬") == []
    weak = kb.search_call("您好，12345。\n我要投诉，楼下那家店门口天天堆杂物，走路都不方便。")
    assert kb.suggest(weak, consult=False, appeal_type="投诉") == []
    assert kb.suggest(weak, consult=True) == weak


def test_centre_kb_file(tmp_path, monkeypatch):
    """A centre's own kb.jsonl (any ids) from HOTLINE_KB; bad files give clear errors."""
    p = tmp_path / "kb.jsonl"
    rows = [{"id": "SZ-101", "title": "电动自行车上牌", "keywords": ["电瓶车", "上牌"], "questions": ["电瓶车怎么上牌？"],
             "answer": "携带购车发票到上牌点办理。"},
            {"id": "SZ-102", "title": "居住证办理", "keywords": ["居住证"], "questions": [], "answer": "…"},
            {"id": "SZ-103", "title": "停车收费标准", "keywords": ["停车费"], "questions": ["路边停车怎么收费？"], "answer": "…"}]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    monkeypatch.setenv("HOTLINE_KB", str(p))
    kb = KnowledgeBase.load()
    assert len(kb) == 3 and kb.path == p
    assert _ids(kb.search("我新买的电驴要去哪里挂牌照"))[:1] == ["SZ-101"]
    assert _ids(kb.search("路边停车要交多少钱"))[:1] == ["SZ-103"]
    assert kb.search("我想表扬一下你们的工作人员") == []
    p.write_text("{not json}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kb.jsonl:1"):
        KnowledgeBase.load(p)
    p.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate"):
        KnowledgeBase.load(p)
    assert KnowledgeBase([], options=KbOptions()).search("居住证") == []


@pytest.mark.parametrize("query", [
    "你好，我想问一下我妈今年七十多了，听说老人每个月有补贴的，要到哪里去申请？",
    "我爸八十岁了，那个高龄补贴这个季度怎么还没打到卡上？",
    "我想问问长寿金现在还有吗，我奶奶九十岁了。",
])
def test_everyday_words_for_the_old_age_allowance(kb, query):
    # 老年补贴 / 高龄补贴 / 长寿金: what callers call the 老年综合津贴 (kb_synonyms.json)
    assert "kb-0024" in [h.id for h in kb.search_call(query, k=3)]
