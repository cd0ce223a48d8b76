"""KnowledgeBase: jieba-aware ranking of KB articles for consultations and the operator's search box.

BM25 over jieba-segmented fields (title, keywords, questions, answer) with per-field weights, plus
boosts when a keyword or the title occurs verbatim in the query. SQLite FTS5 is not used: its
tokenizers do not segment Chinese, and 64…a few thousand articles rank in well under a millisecond
in memory.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import jieba

jieba.setLogLevel(logging.WARNING)
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "kb.jsonl"
FIELD_WEIGHTS = {"title": 3.0, "keywords": 3.0, "questions": 1.5, "answer": 0.6}
K1, B = 1.2, 0.6
_STOP = set("的 了 吗 呢 吧 啊 呀 哦 嗯 呃 我 你 您 他 她 它 我们 你们 要 想 问 一下 问一下 请问 怎么 怎么样 如何 什么 "
            "哪里 可以 能 能不能 是 有 在 和 就 都 也 还 这个 那个 这 那 个 去 到 给 让 把 被 对 好 好的 谢谢 喂 你好 "
            "您好 咨询 事情 一个 没有 不 会 跟 说 讲 12345 热线 市民 服务".split())
_PUNCT = re.compile(r"[\s，,。！!？?、；;：:“”\"'（）()…·\-—]+")


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens without stop words and punctuation (short words kept once)."""
    out = []
    for tok in jieba.cut_for_search(_PUNCT.sub(" ", text or "")):
        tok = tok.strip().lower()
        if tok and tok not in _STOP:
            out.append(tok)
    return out


@dataclass
class KbArticle:
    id: str
    title: str
    keywords: list[str]
    questions: list[str]
    answer: str
    department: str | None = None
    updated: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class KbHit:
    id: str
    title: str
    score: float
    answer: str
    department: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "score": round(self.score, 3), "answer": self.answer,
                "department": self.department}


class KnowledgeBase:
    def __init__(self, articles: list[KbArticle], path: Path | None = None):
        self.articles = articles
        self.path = path
        self.by_id = {a.id: a for a in articles}
        self._tf: list[dict[str, Counter]] = []
        self._len: list[dict[str, int]] = []
        df: Counter = Counter()
        for a in articles:
            fields = {"title": tokenize(a.title), "keywords": tokenize(" ".join(a.keywords)),
                      "questions": tokenize(" ".join(a.questions)), "answer": tokenize(a.answer)}
            self._tf.append({f: Counter(toks) for f, toks in fields.items()})
            self._len.append({f: len(toks) for f, toks in fields.items()})
            df.update(set(t for toks in fields.values() for t in toks))
        n = max(len(articles), 1)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._avg = {f: (sum(l[f] for l in self._len) / n) or 1.0 for f in FIELD_WEIGHTS}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "KnowledgeBase":
        p = Path(path or os.environ.get("HOTLINE_KB") or DEFAULT_PATH)
        if not p.exists():
            raise FileNotFoundError(f"knowledge base not found: {p}")
        arts: list[KbArticle] = []
        for ln, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{ln}: not JSON: {e}") from None
            if "id" not in d or "title" not in d:
                raise ValueError(f"{p}:{ln}: an article needs id and title")
            known = {"id", "title", "keywords", "questions", "answer", "department", "updated"}
            arts.append(KbArticle(id=str(d["id"]), title=d["title"], keywords=list(d.get("keywords", [])),
                                  questions=list(d.get("questions", [])), answer=d.get("answer", ""),
                                  department=d.get("department"), updated=d.get("updated"),
                                  extra={k: v for k, v in d.items() if k not in known}))
        return cls(arts, p)

    def __len__(self) -> int:
        return len(self.articles)

    def search(self, query: str, k: int = 5, min_score: float = 0.0) -> list[KbHit]:
        """Articles best matching ``query`` (a question or a whole consultation), best first."""
        q = Counter(tokenize(query))
        if not q:
            return []
        scored: list[tuple[float, int]] = []
        for i, a in enumerate(self.articles):
            s = 0.0
            for t, qtf in q.items():
                idf = self._idf.get(t)
                if idf is None:
                    continue
                for f, w in FIELD_WEIGHTS.items():
                    tf = self._tf[i][f].get(t, 0)
                    if tf:
                        norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * self._len[i][f] / self._avg[f]))
                        s += w * idf * norm * (1 + math.log(qtf))
            # verbatim keyword / title in the query: the caller used the article's own words
            s += sum(2.0 for kw in a.keywords if len(kw) >= 2 and kw in query)
            if a.title and a.title in query:
                s += 5.0
            if s > min_score:
                scored.append((s, i))
        scored.sort(key=lambda si: (-si[0], si[1]))
        return [KbHit(self.articles[i].id, self.articles[i].title, s, self.articles[i].answer,
                      self.articles[i].department) for s, i in scored[:k]]
