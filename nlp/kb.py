"""KnowledgeBase: ranking of KB articles for the caller's question and the operator's search box.

The KB is a centre's own ``kb.jsonl`` (``HOTLINE_KB``; the shipped demo file otherwise): one
article per line with id, title, keywords, questions, answer (department, updated optional).
Ranking (:mod:`nlp.kb_index`) is BM25 over those fields on jieba words, character bigrams,
merged-pinyin bigrams and synonym groups (``data/kb_synonyms.json``, or ``HOTLINE_KB_SYNONYMS``),
plus a bonus per title/keyword the query says (by sound), so a question still finds its article
when ASR swaps homophones or drops characters. SQLite FTS5 is not used: its tokenizers do not
segment Chinese, and a few thousand articles rank in about a millisecond from the precomputed
postings.

Scores are comparable across queries and KB sizes (idf is scaled to 0…1): ``min_score`` is "the
article fits at all" (the search box, consultations), ``strong_score`` "fits well enough to suggest
on any call" (a 求助 or 投诉 the KB answers). :func:`caller_question` (re-exported from
:mod:`nlp.kb_query`) picks the caller's lines of a transcript to search with.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nlp.kb_index import Analyzer, KbIndex, RankWeights, Synonyms, tokenize  # noqa: F401  (tokenize re-exported)
from nlp.kb_query import caller_question, split_call  # noqa: F401  (caller_question re-exported)

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "kb.jsonl"
_KNOWN = {"id", "title", "keywords", "questions", "answer", "department", "updated"}


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


@dataclass(frozen=True)
class KbOptions:
    min_score: float = 6.0       # below this an article does not fit the query at all
    strong_score: float = 50.0   # an article this good is suggested whatever the appeal type
    other_weight: float = 0.3    # search_call: weight of the lines that are not the caller asking
    strong_ratio: float = 0.6    # … and at least this share of the best article's score
    consult_ratio: float = 0.25  # a consultation's suggestions: at least this share of the best
    quiet_appeals: tuple[str, ...] = ("表扬",)   # appeal types that ask nothing: no suggestions
    weights: RankWeights = RankWeights()


class KnowledgeBase:
    def __init__(self, articles: list[KbArticle], path: Path | None = None, synonyms: Synonyms | None = None,
                 options: KbOptions | None = None):
        self.articles = articles
        self.path = path
        self.options = options or KbOptions()
        self.by_id = {a.id: a for a in articles}
        if len(self.by_id) != len(articles):
            dup = sorted(i for i, c in Counter(a.id for a in articles).items() if c > 1)
            raise ValueError(f"{path or 'knowledge base'}: duplicate article ids {dup[:5]}")
        self.synonyms = synonyms if synonyms is not None else Synonyms.load(os.environ.get("HOTLINE_KB_SYNONYMS"))
        docs = [{"title": a.title, "keywords": "\n".join(a.keywords), "questions": "\n".join(a.questions),
                 "answer": a.answer} for a in articles]
        self.index = KbIndex(docs, [[a.title, *a.keywords] for a in articles], Analyzer(self.synonyms),
                             self.options.weights)
        self._analyze = lru_cache(maxsize=4096)(self.index.analyze)   # per line of a call

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, synonyms: Synonyms | None = None,
             options: KbOptions | None = None) -> "KnowledgeBase":
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
            if not isinstance(d, dict) or "id" not in d or "title" not in d:
                raise ValueError(f"{p}:{ln}: an article needs id and title")
            kws, qs = d.get("keywords", []), d.get("questions", [])
            if not isinstance(kws, list) or not isinstance(qs, list):
                raise ValueError(f"{p}:{ln}: keywords and questions must be lists")
            arts.append(KbArticle(id=str(d["id"]), title=str(d["title"]), keywords=[str(k) for k in kws],
                                  questions=[str(q) for q in qs], answer=str(d.get("answer") or ""),
                                  department=d.get("department"), updated=d.get("updated"),
                                  extra={k: v for k, v in d.items() if k not in _KNOWN}))
        return cls(arts, p, synonyms=synonyms, options=options)

    def __len__(self) -> int:
        return len(self.articles)

    def search(self, query: str, k: int = 5, min_score: float | None = None) -> list[KbHit]:
        """Articles fitting ``query`` (a question, or the caller's lines of a call), best first.

        Only articles scoring above ``min_score`` (default ``options.min_score``) are returned."""
        if not query or not query.strip() or not self.articles:
            return []
        floor = self.options.min_score if min_score is None else min_score
        return self._hits(self.index.score(query), k, floor)

    def suggest(self, hits: list[KbHit], consult: bool, appeal_type: str | None = None) -> list[KbHit]:
        """The hits to put on a draft: every fitting one on a consultation; on other calls only
        strong fits close to the best (a 求助 or 投诉 the KB answers), none on a praise call."""
        if not hits or (not consult and appeal_type in self.options.quiet_appeals):
            return []
        o, top = self.options, hits[0].score
        if consult:
            return [h for h in hits if h.score >= o.consult_ratio * top]
        return [h for h in hits if h.score >= o.strong_score and h.score >= o.strong_ratio * top]

    def _hits(self, scores: dict[int, float], k: int, floor: float) -> list[KbHit]:
        ranked = sorted(((s, i) for i, s in scores.items() if s > floor), key=lambda si: (-si[0], si[1]))
        return [KbHit(self.articles[i].id, self.articles[i].title, s, self.articles[i].answer,
                      self.articles[i].department) for s, i in ranked[:k]]

    def search_call(self, text: str, k: int = 3, min_score: float | None = None,
                    other: bool = True) -> list[KbHit]:
        """Articles for a call transcript (one turn or segment a line): ranked by the caller's
        asking lines, the other lines together (the operator's answer) adding
        ``options.other_weight`` of their score, never more than the caller's best. Each line is
        analysed once (memoised), so a growing call costs only its new lines. ``other=False``
        (live updates) ranks by the caller's lines alone when there are any: cheaper, and the
        suggestion comes from what was asked, before the operator answers."""
        caller, others = split_call(text)
        if caller and not other:
            others = []
        if not (caller or others) or not self.articles:
            return []
        floor = self.options.min_score if min_score is None else min_score
        scores = self.index.score_terms(*self._lines(caller)) if caller else {}
        if others and self.options.other_weight:
            extra = self.index.score_terms(*self._lines(others))
            w = self.options.other_weight
            if scores and extra:   # the other lines can at most double the caller's best score
                w = min(w, max(scores.values()) / max(extra.values()))
            for i, s in extra.items():
                scores[i] = scores.get(i, 0.0) + w * s
        return self._hits(scores, k, floor)

    def _lines(self, lines: list[str]) -> tuple[Counter, set]:
        terms: Counter = Counter()
        said: set = set()
        for ln in lines:
            t, p = self._analyze(ln)
            terms.update(t)
            said |= p
        return terms, said
