"""Emerging topics: words and phrases whose share of recent tickets rose against a baseline window.

Texts are ticket summaries (else the start of the transcript) with the ticket's own place words
removed (a burst at one address is the early warning's business, not a topic). jieba cuts them;
phrases are runs of 1-4 adjacent tokens, so a name the dictionary lacks (共享|充电|宝) comes back
whole. Terms are scored by the log-odds ratio with an informative Dirichlet prior (Monroe,
Colaresi & Quinn 2008) on document frequencies; overlapping phrases are merged to the longest one
that keeps most of the count. Each window is sampled (every k-th id) to at most `max_docs` texts.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from ticketing.mining.db import day_after, day_start, latest_day, ticket_table

_KEEP = re.compile(r"^[\u4e00-\u9fffA-Za-z]+$")
# function words and hotline boilerplate that say nothing about a topic
STOPWORDS = frozenset("""反映 投诉 举报 咨询 求助 建议 表扬 市民 来电 热线 你好 您好 请问 一下 一个 这个 那个 这边 那边 我们 他们 你们
我 你 他 她 它 的 了 在 是 有 和 就 都 也 还 又 被 把 给 让 从 对 到 说 要 会 能 没 不 很 太 已经 一直 现在 问题 情况 处理 相关
希望 尽快 要求 表示 称 其 该 此 并 及 与 或 等 后 前 里 上 下 中 旁边 附近 门口 多 少 个 次 天 号 路口 路 弄""".split())


def _texts(conn: sa.Connection, t: sa.Table, since: date, until: date, max_docs: int) -> list[tuple[int, str]]:
    conds = [t.c.created_at >= day_start(since), t.c.created_at < day_after(until)]
    n = conn.execute(sa.select(sa.func.count()).where(*conds)).scalar_one()
    k = max(1, math.ceil(n / max_docs))
    if k > 1:
        conds.append(t.c.id % k == 0)
    text = sa.func.coalesce(t.c.summary, sa.func.substr(t.c.transcript, 1, 200))
    rows = conn.execute(sa.select(t.c.id, text.label("text"), t.c.district, t.c.street, t.c.road, t.c.address,
                                  t.c.landmark).where(*conds)).all()
    out = []
    for r in rows:
        s = r.text or ""
        for place in (r.address, r.landmark, r.district, r.street, r.road):
            if place:
                s = s.replace(place, " ")
        out.append((r.id, s))
    return out


def _terms(text: str, max_n: int) -> set[str]:
    import jieba

    tokens = [w for w in jieba.lcut(text, HMM=False)]
    terms: set[str] = set()
    run: list[str] = []
    for tok in tokens + [" "]:
        if _KEEP.match(tok) and tok not in STOPWORDS:
            run.append(tok)
            continue
        for i in range(len(run)):
            for j in range(i + 1, min(len(run), i + max_n) + 1):
                term = "".join(run[i:j])
                if len(term) >= 2:
                    terms.add(term)
        run = []
    return terms


def emerging_topics(engine: sa.Engine, *, until: date | None = None, recent_days: int = 7,
                    baseline_days: int = 56, max_docs: int = 5000, min_count: int = 5, min_ratio: float = 3.0,
                    prior: float = 500.0, top: int = 20, max_n: int = 4) -> dict[str, Any]:
    """Terms ranked by z of the log-odds (recent vs baseline), with shares and example tickets."""
    import jieba

    jieba.setLogLevel(60)
    until = until or latest_day(engine)
    if until is None:
        return {"topics": []}
    r0 = until - timedelta(days=recent_days - 1)
    b1 = r0 - timedelta(days=1)
    b0 = r0 - timedelta(days=baseline_days)
    t = ticket_table(engine)
    with engine.connect() as conn:
        recent = _texts(conn, t, r0, until, max_docs)
        base = _texts(conn, t, b0, b1, max_docs)
    y: Counter[str] = Counter()
    x: Counter[str] = Counter()
    docs: dict[str, set[int]] = {}
    for tid, text in recent:
        for term in _terms(text, max_n):
            y[term] += 1
            docs.setdefault(term, set()).add(tid)
    for _tid, text in base:
        x.update(_terms(text, max_n))
    ny, nx = sum(y.values()), sum(x.values())
    n_recent, n_base = max(len(recent), 1), max(len(base), 1)
    scored = []
    for term, yc in y.items():
        if yc < min_count:
            continue
        xc = x.get(term, 0)
        share_r, share_b = yc / n_recent, (xc + 0.5) / n_base
        if share_r / share_b < min_ratio:
            continue
        a = prior * (xc + yc) / (nx + ny)
        delta = math.log((yc + a) / (ny + prior - yc - a)) - math.log((xc + a) / (nx + prior - xc - a))
        z = delta / math.sqrt(1 / (yc + a) + 1 / (xc + a))
        scored.append({"term": term, "z": z, "recent": yc, "baseline": xc, "recent_share": yc / n_recent,
                       "baseline_share": xc / n_base, "ratio": share_r / share_b})
    scored.sort(key=lambda s: (-s["z"], -len(s["term"])))
    topics = _cluster(scored, docs, top)
    return {"recent": [r0.isoformat(), until.isoformat()], "baseline": [b0.isoformat(), b1.isoformat()],
            "recent_docs": len(recent), "baseline_docs": len(base), "sampled_every": None, "topics": topics}


def _cluster(scored: list[dict[str, Any]], docs: dict[str, set[int]], top: int,
             overlap: float = 0.6) -> list[dict[str, Any]]:
    """Greedy: the best term opens a topic; a later term whose documents lie mostly (>= overlap)
    inside a topic's documents joins it. The topic is then named by its longest member among those
    with at least 3/4 of the documents of its opener: 共享充电宝 rather than 充电 (which
    also means charging an e-bike) or a fragment of one caller's sentence."""
    groups: list[dict[str, Any]] = []
    for s in scored:
        d = docs[s["term"]]
        home = next((g for g in groups if len(d & g["docs"]) >= overlap * len(d)), None)
        if home is None:
            if len(groups) < top:
                groups.append({"members": [s], "docs": set(d)})
            continue
        home["members"].append(s)
        home["docs"] |= d
    topics = []
    for g in groups:
        members = g["members"]
        opener = members[0]["recent"]
        name = max((m for m in members if m["recent"] >= 0.75 * opener), key=lambda m: (len(m["term"]), m["z"]))
        related = [m["term"] for m in members if m is not name and m["term"] not in name["term"]]
        topics.append({**name, "z": max(m["z"] for m in members), "related": related[:8],
                       "examples": sorted(g["docs"])[:5], "documents": len(g["docs"])})
    topics.sort(key=lambda t: -t["z"])
    return topics
