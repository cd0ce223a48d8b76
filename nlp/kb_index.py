"""Text analysis and the precomputed index behind :class:`nlp.kb.KnowledgeBase` ranking.

A text becomes typed terms, so that a question still meets its article after ASR:

* ``w:`` jieba words (search mode), stop words out — the exact vocabulary;
* ``c:`` character bigrams inside the runs between stop words — survive a dropped or swapped
  character and a different segmentation (养老服补贴 still shares 养老, 补贴 with 养老服务补贴);
* ``p:`` the same bigrams as merged pinyin keys (:mod:`nlp.pinyin`) — survive homophones
  (设保 for 社保, 公鸡金 for 公积金);
* ``s:`` synonym groups from ``data/kb_synonyms.json`` found by sound — 上户口 meets 落户.

:class:`KbIndex` scores BM25 per field (title, keywords, questions, answer) with field and term
type weights; idf is divided by the largest possible idf, so scores keep their scale whether a
centre's KB has 60 or 6,000 articles. Every term's per-article weight is computed once at load:
a query costs one analysis and a walk over its terms' postings.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import jieba

from nlp.pinyin import char_keys

jieba.setLogLevel(logging.WARNING)
SYNONYMS_PATH = Path(__file__).resolve().parent / "data" / "kb_synonyms.json"
STOP = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嗯 呃 哎 喂 我 你 您 他 她 它 我们 你们 他们 要 想 问 一下 问一下 问问 请问 怎么 怎么样 "
    "怎样 如何 什么 哪里 哪儿 哪个 可以 能 能不能 可不可以 是 有 在 和 就 都 也 还 这个 那个 这 那 个 去 到 给 让 把 被 "
    "对 好 好的 谢谢 你好 您好 咨询 事情 一个 没有 不 会 跟 说 讲 12345 热线 市民 服务热线 那么 这样 然后 就是 现在 "
    "已经 还是 或者 如果 的话 需要 要不要 知道 一直 这种 情况 请 下 吗？ 么 嘛 啦 呐 得 地 着 过 又 再 很 挺 太 投诉 举报 反映 建议 表扬 求助 帮忙 麻烦".split())
_PUNCT = re.compile(r"[\s，,。！!？?、；;：:“”\"'（）()…·\-—~～/]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _search_words(tok: str) -> list[str]:
    """The word and, as jieba's search mode does, its dictionary 2- and 3-grams (房产证 -> 房产)."""
    out = []
    if len(tok) > 2:
        freq = jieba.dt.FREQ
        for n in (2, 3) if len(tok) > 3 else (2,):
            out += [tok[i:i + n] for i in range(len(tok) - n + 1) if freq.get(tok[i:i + n])]
    out.append(tok)
    return out


def segment(text: str) -> tuple[list[str], list[str]]:
    """(search-mode words without stop words, Chinese runs between stop words and punctuation)
    from one jieba pass."""
    words, runs_, cur = [], [], []
    for tok in jieba.cut(_PUNCT.sub(" ", (text or "").lower())):
        tok = tok.strip()
        if tok and tok not in STOP:
            words += _search_words(tok)
            if all(_HAN.match(c) for c in tok):
                cur.append(tok)
                continue
        if cur:
            runs_.append("".join(cur))
            cur = []
    if cur:
        runs_.append("".join(cur))
    return words, runs_


def tokenize(text: str) -> list[str]:
    """jieba search-mode words without stop words and punctuation."""
    return segment(text)[0]


def runs(text: str) -> list[str]:
    """Chinese character runs between punctuation and stop words (jieba precise mode)."""
    return segment(text)[1]


def syllable(ch: str) -> str:
    """The first merged pinyin reading of one character ('' for non-Chinese)."""
    k = char_keys(ch)
    return k[0] if k else ""


def syllables(text: str) -> list[str]:
    return [syllable(c) for c in text]


class PhraseIndex:
    """Phrases found in a text by sound: their merged-pinyin syllables occur in a row."""

    def __init__(self) -> None:
        self._by_head: dict[tuple[str, str], list[tuple[tuple[str, ...], object]]] = defaultdict(list)

    def add(self, phrase: str, value: object) -> None:
        sy = tuple(syllables(phrase))
        if len(sy) >= 2 and all(sy):
            self._by_head[sy[:2]].append((sy, value))

    def find(self, sylls: list[str]) -> Counter:
        """{value: occurrences} over every phrase whose syllables occur in ``sylls``."""
        found: Counter = Counter()
        for i in range(len(sylls) - 1):
            cands = self._by_head.get((sylls[i], sylls[i + 1]))
            if not cands:
                continue
            for sy, value in cands:
                if tuple(sylls[i:i + len(sy)]) == sy:
                    found[value] += 1
        return found


@dataclass
class Synonyms:
    """Groups of equivalent phrases; a group found in a text adds the term ``s:<first phrase>``."""
    groups: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = PhraseIndex()
        for g in self.groups:
            for p in g:
                self._index.add(p, g[0])

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Synonyms":
        p = Path(path or SYNONYMS_PATH)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"{p}: cannot read synonym groups: {e}") from None
        groups = data.get("groups") if isinstance(data, dict) else None
        if not isinstance(groups, list) or not all(isinstance(g, list) and g and all(isinstance(s, str) for s in g)
                                                   for g in groups):
            raise ValueError(f"{p}: need {{\"groups\": [[phrase, ...], ...]}}")
        return cls(groups)

    def find(self, sylls: list[str]) -> Counter:
        return self._index.find(sylls)


@dataclass(frozen=True)
class RankWeights:
    """Weights of the ranking (data, so a centre can tune them without code)."""
    fields: tuple[tuple[str, float], ...] = (("title", 3.0), ("keywords", 3.0), ("questions", 1.5), ("answer", 0.5))
    types: tuple[tuple[str, float], ...] = (("w", 1.0), ("c", 0.6), ("p", 0.4), ("s", 1.2), ("u", 0.5))
    k1: float = 1.2
    b: float = 0.6
    phrase_bonus: float = 1.5      # per title/keyword said (by sound), times that phrase's idf


class Analyzer:
    """Typed terms of a text (see module doc)."""

    def __init__(self, synonyms: Synonyms | None = None):
        self.synonyms = synonyms

    def terms(self, text: str, doc: bool = False) -> tuple[Counter, list[str]]:
        """(term counts, syllables of the text) — syllables are reused for phrase matching.

        ``u:`` single characters (狗 in 养了条狗 meets 狗证; jieba's one-character words count
        only as these)."""
        text = (text or "").lower()
        words, runs_ = segment(text)
        out: Counter = Counter("w:" + t for t in words if len(t) > 1)   # one character: a u: term
        for run in runs_:
            out.update("u:" + c for c in run)
            sy = syllables(run)
            for i in range(len(run) - 1):
                out["c:" + run[i:i + 2]] += 1
                if sy[i] and sy[i + 1]:
                    out["p:" + sy[i] + " " + sy[i + 1]] += 1
        sylls = syllables(text)
        if self.synonyms is not None:
            for g, n in self.synonyms.find(sylls).items():
                out["s:" + g] += n
        return out, sylls


class KbIndex:
    """Postings {term: [(article, weight)]} and title/keyword phrases of a list of articles."""

    def __init__(self, docs: list[dict[str, str]], phrases: list[list[str]], analyzer: Analyzer,
                 weights: RankWeights | None = None):
        self.analyzer = analyzer
        self.weights = w = weights or RankWeights()
        fw, tw = dict(w.fields), dict(w.types)
        n = len(docs)
        tfs: list[dict[str, Counter]] = []
        lens: list[dict[str, int]] = []
        df: Counter = Counter()
        for d in docs:
            per = {f: analyzer.terms(d.get(f, ""), doc=True)[0] for f in fw}
            tfs.append(per)
            lens.append({f: len(d.get(f, "")) for f in fw})
            df.update({t for c in per.values() for t in c})
        avg = {f: (sum(ln[f] for ln in lens) / n if n else 0.0) or 1.0 for f in fw}
        self.idf_max = math.log(1 + (max(n, 1) - 0.5) / 1.5)
        post: dict[str, list[tuple[int, float]]] = defaultdict(list)
        idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) / self.idf_max for t, c in df.items()}
        for i, per in enumerate(tfs):
            acc: dict[str, float] = defaultdict(float)
            for f, counts in per.items():
                norm = w.k1 * (1 - w.b + w.b * lens[i][f] / avg[f])
                for t, tf in counts.items():
                    acc[t] += fw[f] * tf * (w.k1 + 1) / (tf + norm)
            for t, s in acc.items():
                post[t].append((i, tw.get(t.split(":", 1)[0], 1.0) * idf[t] * s))
        self.postings = dict(post)
        # titles and keywords said in the query (by sound): the caller named the article's topic
        self._phrases = PhraseIndex()
        pdf: Counter = Counter()
        for i, ps in enumerate(phrases):
            uniq = {p for p in ps if len(p) >= 2}
            for p in uniq:
                self._phrases.add(p, (i, p))
            pdf.update(uniq)
        self._phrase_idf = {p: math.log(1 + (n - c + 0.5) / (c + 0.5)) / self.idf_max for p, c in pdf.items()}

    def analyze(self, text: str) -> tuple[Counter, frozenset]:
        """(typed terms, {(article, title/keyword said)}) of a text: additive over its lines."""
        terms, sylls = self.analyzer.terms(text)
        return terms, frozenset(self._phrases.find(sylls))

    def score_terms(self, terms: Counter, said: frozenset | set) -> dict[int, float]:
        """{article: score} for analysed query terms (see :meth:`analyze`)."""
        scores: dict[int, float] = defaultdict(float)
        for t, qtf in terms.items():
            plist = self.postings.get(t)
            if plist:
                qw = 1 + math.log(qtf)
                for i, s in plist:
                    scores[i] += qw * s
        by_art: dict[int, list[str]] = defaultdict(list)
        for i, p in said:
            by_art[i].append(p)
        for i, ps in by_art.items():
            # a phrase inside a longer phrase said (补办 in 补办身份证) counts once, by the longer one
            keep = [p for p in ps if not any(p != q and p in q for q in ps)]
            scores[i] += self.weights.phrase_bonus * sum(self._phrase_idf[p] for p in keep)
        return dict(scores)

    def score(self, query: str) -> dict[int, float]:
        """{article: score} for ``query``."""
        return self.score_terms(*self.analyze(query))
