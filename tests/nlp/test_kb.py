"""KB ranking: the consultation's own words find the article."""
from __future__ import annotations

import json

import pytest

from nlp.kb import KnowledgeBase, tokenize


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.mark.parametrize("query, want", [
    ("房产证丢了要怎么补办啊？", "kb-0001"),
    ("我以前在安徽工作交了五年社保，现在到上海来上班了，老家的社保怎么转过来？", "kb-0008"),
    ("我想问问我妈妈能不能申请那个养老服务补贴，她今年八十二了", "kb-0022"),
])
def test_top1(kb, query, want):
    hits = kb.search(query, k=5)
    assert hits and hits[0].id == want
    assert hits[0].score > hits[1].score
    assert hits[0].answer and hits[0].title


def test_ranked_and_limited(kb):
    hits = kb.search("房产证 补办", k=3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_nothing_for_noise(kb):
    assert kb.search("") == []
    assert kb.search("嗯嗯，啊，好的，谢谢") == []


def test_tokenize_segments_chinese():
    toks = tokenize("房产证丢了怎么补办")
    assert "房产证" in toks and "补办" in toks
    assert "怎么" not in toks


def test_custom_file_and_errors(tmp_path):
    p = tmp_path / "kb.jsonl"
    rows = [{"id": "a", "title": "电动自行车上牌", "keywords": ["电瓶车", "上牌"], "questions": ["电瓶车怎么上牌？"], "answer": "…"},
            {"id": "b", "title": "居住证办理", "keywords": ["居住证"], "questions": [], "answer": "…"}]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    kb = KnowledgeBase.load(p)
    assert kb.search("我的电瓶车要去哪里上牌")[0].id == "a"
    p.write_text("{not json}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kb.jsonl:1"):
        KnowledgeBase.load(p)
