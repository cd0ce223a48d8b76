"""CompanyDirectory: find the company a caller names — often a short form, often misheard.

The directory (nlp/data/companies.csv or HOTLINE_COMPANIES; columns credit_code, name, short_name,
district, address, industry) holds look-alikes on purpose: homophone trade names (飞跃/飞越/菲跃),
the same trade name in other lines of business, branches in other districts. So matching is two
steps:

1. mention: a stretch of the transcript whose (ASR-tolerant) pinyin equals a company's short
   name (飞跃体育 ← 非越体育), its name core (鼎盛装饰工程), or its trade name followed by 公司;
2. choice among every company that mention could be: exact characters, the words after the
   mention (体育发展有限公司), industry words in the call (健身房 → 体育), the district, and the
   company's road / house number said in the call (营口路588号).
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pypinyin import Style, pinyin

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_PATH = DATA / "companies.csv"
COLUMNS = ("credit_code", "name", "short_name", "district", "address", "industry")
_LEGAL_SUFFIX = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团|公司)(?:.{0,6}分公司)?$")
_ROAD = re.compile(r"(?:区|县)?([\u4e00-\u9fff]{1,8}?(?:公路|大道|路|街|弄))")
_NUM = re.compile(r"(\d+)号")
MIN_SCORE = 0.45


@dataclass(frozen=True)
class Company:
    credit_code: str
    name: str
    short_name: str
    district: str
    address: str
    industry: str

    @property
    def core(self) -> str:
        """Name without 上海 and the legal form: 上海飞跃体育发展有限公司 → 飞跃体育发展."""
        n = self.name[2:] if self.name.startswith("上海") else self.name
        return _LEGAL_SUFFIX.sub("", n)

    @property
    def is_branch(self) -> bool:
        return self.name.endswith("分公司")

    @property
    def road(self) -> str | None:
        rest = self.address[len(self.district):] if self.address.startswith(self.district) else self.address
        m = _ROAD.match(rest)
        return m.group(1) if m else None

    @property
    def number(self) -> str | None:
        m = _NUM.search(self.address)
        return m.group(1) if m else None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in COLUMNS}


@dataclass
class CompanyMatch:
    name: str                      # full legal name (the ticket's company field)
    company: Company
    confidence: float
    span: tuple[int, int] | None   # the mention in the text
    mention: str
    candidates: list[dict] = field(default_factory=list)   # [{value, confidence}] best first

    def to_dict(self) -> dict:
        return {"name": self.name, "confidence": round(self.confidence, 3), "span": list(self.span) if self.span else None,
                "mention": self.mention, "candidates": self.candidates, **self.company.to_dict()}


# ---- ASR-tolerant pinyin keys -----------------------------------------------------------------
_INITIAL_MERGE = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"))
_FINAL_MERGE = (("ing", "in"), ("eng", "en"), ("ang", "an"))


def _merge(syl: str) -> str:
    syl = syl.replace("ü", "v")
    for a, b in _INITIAL_MERGE:
        if syl.startswith(a):
            syl = b + syl[len(a):]
            break
    for a, b in _FINAL_MERGE:
        if syl.endswith(a):
            return syl[: -len(a)] + b
    return syl


@lru_cache(maxsize=50000)
def _keys(ch: str) -> frozenset[str]:
    """Merged toneless readings of one character (the character itself when not Chinese)."""
    if not ("\u4e00" <= ch <= "\u9fff"):
        return frozenset({ch.lower()})
    reads = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return frozenset(_merge(r) for r in (reads[0][:3] if reads and reads[0] else [ch]))


def _first_key(ch: str) -> str:
    ks = _keys(ch)
    reads = pinyin(ch, style=Style.NORMAL, errors="ignore") if "\u4e00" <= ch <= "\u9fff" else [[ch.lower()]]
    k = _merge(reads[0][0]) if reads and reads[0] else ch
    return k if k in ks else sorted(ks)[0]


def _sound_equal(a: str, b: str) -> bool:
    return len(a) == len(b) and all(_keys(x) & _keys(y) for x, y in zip(a, b))


def _sound_ratio(a: str, b: str) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    return sum(1 for x, y in zip(a, b) if _keys(x) & _keys(y)) / len(a)


def _char_ratio(a: str, b: str) -> float:
    if not a:
        return 0.0
    return sum(1 for x, y in zip(a, b) if x == y) / max(len(a), len(b))


@lru_cache(maxsize=1)
def _industry_words() -> dict[str, tuple[str, ...]]:
    p = DATA / "company_industries.json"
    try:
        d = json.loads(p.read_text(encoding="utf-8"))["industries"]
    except (OSError, ValueError, KeyError):
        return {}
    return {k: tuple(v) for k, v in d.items()}


class CompanyDirectory:
    """The company directory with a pinyin index over trade names."""

    def __init__(self, companies: list[Company], path: Path | None = None):
        self.companies = companies
        self.path = path
        self.by_name = {c.name: c for c in companies}
        # index: merged pinyin of the first two characters of every form -> companies
        self._index: dict[tuple[str, str], list[tuple[Company, str]]] = {}
        self._loose: dict[tuple[str, str], list[tuple[Company, str, int]]] = {}
        for c in companies:
            for form in dict.fromkeys([c.short_name, c.core]):
                if len(form) >= 2:
                    for k in self._pair_keys(form[0], form[1]):
                        self._index.setdefault(k, []).append((c, form))
                # loose index: any later pair of a long form, with its offset, so that a name
                # whose first character is misheard (铭生装饰 ← 鼎盛装饰) can still be found
                if len(form) >= 4:
                    for j in range(1, len(form) - 1):
                        for k in self._pair_keys(form[j], form[j + 1]):
                            self._loose.setdefault(k, []).append((c, form, j))

    @staticmethod
    def _pair_keys(a: str, b: str) -> list[tuple[str, str]]:
        return [(x, y) for x in _keys(a) for y in _keys(b)]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "CompanyDirectory":
        p = Path(path or os.environ.get("HOTLINE_COMPANIES") or DEFAULT_PATH)
        if not p.exists():
            raise FileNotFoundError(f"company directory not found: {p}")
        rows: list[Company] = []
        with p.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{p}: missing columns {missing} (need {', '.join(COLUMNS)})")
            for i, r in enumerate(reader, start=2):
                name = (r.get("name") or "").strip()
                if not name:
                    continue  # a blank line or a row without a name cannot be matched
                rows.append(Company(**{k: (r.get(k) or "").strip() for k in COLUMNS}))
        return cls(rows, p)

    def __len__(self) -> int:
        return len(self.companies)

    # ---- search (REST directory search) ----------------------------------------------------
    def search(self, q: str, k: int = 10, district: str | None = None) -> list[dict]:
        """Directory search by name / short name / credit code / address (exact or by sound)."""
        q = (q or "").strip()
        if not q:
            return []
        scored: list[tuple[float, Company]] = []
        for c in self.companies:
            if district and c.district != district:
                continue
            if q.upper() == c.credit_code:
                s = 3.0
            elif q in c.name or q in c.short_name:
                s = 2.0 + len(q) / max(len(c.name), 1)
            elif q in c.address:
                s = 1.0
            else:
                best = 0.0
                for form in (c.short_name, c.core):
                    for i in range(0, max(1, len(form) - len(q) + 1)):
                        best = max(best, _sound_ratio(q, form[i:i + len(q)]))
                s = best if best >= 0.75 else 0.0
            if s > 0:
                scored.append((s, c))
        scored.sort(key=lambda sc: (-sc[0], sc[1].is_branch, sc[1].name))
        return [c.to_dict() | {"score": round(s, 3)} for s, c in scored[:k]]

    # ---- match (the company a caller names) ------------------------------------------------
    @staticmethod
    def _cjk_prefix(text: str) -> list[int]:
        """Prefix counts of Chinese characters: a window is all Chinese when its count is its length."""
        acc, out = 0, [0]
        for ch in text:
            acc += "\u4e00" <= ch <= "\u9fff"
            out.append(acc)
        return out

    def _mentions(self, text: str) -> list[tuple[int, int, Company, str, float]]:
        """(start, end, company, form, name score) for every place the text sounds like a form."""
        out = []
        n = len(text)
        cjk = self._cjk_prefix(text)
        for i in range(n - 1):
            if cjk[i + 2] - cjk[i] < 2:
                continue
            a, b = text[i], text[i + 1]
            seen: set[tuple[str, str]] = set()
            for key in self._pair_keys(a, b):
                for c, form in self._index.get(key, ()):
                    if (c.name, form) in seen:
                        continue
                    seen.add((c.name, form))
                    window = text[i:i + len(form)]
                    if len(window) < len(form):
                        continue
                    trade = c.short_name[:-2] if len(c.short_name) >= 4 else c.short_name
                    ok_trade = _sound_equal(window[:len(trade)], trade) if form.startswith(trade) else _sound_equal(window[:2], form[:2])
                    if not ok_trade:
                        continue
                    sr = _sound_ratio(window, form)
                    if len(form) <= 3 and sr < 1.0:
                        continue
                    if sr < 0.75:
                        # trade name alone is a mention only when followed by 公司 (鼎盛公司)
                        after = text[i + len(trade):i + len(trade) + 3]
                        if not ("公司" in after and len(trade) >= 2):
                            continue
                        out.append((i, i + len(trade), c, trade, 0.6 * _char_ratio(window[:len(trade)], trade) + 0.3))
                        continue
                    if cjk[i + len(form)] - cjk[i] < len(form):
                        continue   # a comma inside: no name runs across punctuation (申请，也 ≠ 森青置业)
                    exact = _char_ratio(window, form)
                    out.append((i, i + len(form), c, form, 0.5 * sr + 0.5 * exact))
        out.extend(self._loose_mentions(text, {(m[0], m[2].name, m[3]) for m in out}, cjk))
        return out

    def _loose_mentions(self, text: str, have: set, cjk: list[int]) -> list[tuple[int, int, Company, str, float]]:
        """Long forms with exactly one character that does not sound right (飞践体育 ← 飞跃体育).

        Such a stretch alone is weak (any 4 syllables can be 3/4 alike), so it counts only with
        the company's own context: 公司 right after it, or the company's road said in the call."""
        out = []
        seen: set[tuple[int, str, str]] = set()
        road_said: dict[str, bool] = {}
        n = len(text)
        for p in range(n - 1):
            if cjk[p + 2] - cjk[p] < 2:
                continue
            for key in self._pair_keys(text[p], text[p + 1]):
                for c, form, j in self._loose.get(key, ()):
                    i = p - j
                    e = i + len(form)
                    if i < 0 or e > n or cjk[e] - cjk[i] < len(form):
                        continue
                    if (i, c.name, form) in seen or (i, c.name, form) in have:
                        continue
                    seen.add((i, c.name, form))
                    # the company's own context first (cheap): 公司 right after, or its road said
                    road = c.road
                    if road and road not in road_said:
                        road_said[road] = road in text
                    if not ("公司" in text[e:e + 8] or (road and road_said[road])):
                        continue
                    window = text[i:e]
                    miss = sum(1 for x, y in zip(window, form) if not (_keys(x) & _keys(y)))
                    if miss != 1:
                        continue
                    sr = _sound_ratio(window, form)
                    score = 0.5 * sr + 0.5 * _char_ratio(window, form) - 0.15
                    out.append((i, i + len(form), c, form, score))
        return out

    def has_mention(self, text: str) -> bool:
        """Cheap pre-check: does anything in ``text`` sound like a company's name?"""
        return bool(text) and bool(self._mentions(text))

    def match(self, text: str, district: str | None = None) -> CompanyMatch | None:
        """Best company for the call, or None when no mention is convincing."""
        if not text:
            return None
        ments = self._mentions(text)
        if not ments:
            return None
        words = _industry_words()
        scores: dict[str, tuple[float, tuple[int, int], str]] = {}
        for s, e, c, form, name_score in ments:
            score = 0.4 * name_score
            tail = text[e:e + 12]
            rest = c.core[len(form):] if c.core.startswith(form) else ""
            # the words after the mention: 鼎盛装饰 + 工程有限公司 / 飞跃体育 + 发展
            if rest and tail.startswith(rest):
                score += 0.25
            elif rest and rest[:2] and tail.startswith(rest[:2]):
                score += 0.12
            if c.name in text or c.name[2:] in text:
                score += 0.3
            if c.industry in words and any(w in text for w in words[c.industry]):
                score += 0.1
            if c.short_name[-2:] in text:
                score += 0.05
            # place context
            short_d = c.district[:-1] if len(c.district) > 2 else c.district
            if district:
                score += 0.15 if c.district == district else -0.1
            elif short_d and short_d in text:
                score += 0.1
            road = c.road
            if road and road in text:
                score += 0.15
                num = c.number
                if num and (num + "号") in text:
                    score += 0.1
            if c.is_branch and not (district == c.district or (short_d and short_d in text)):
                score -= 0.05
            if score > scores.get(c.name, (-1.0,))[0]:
                scores[c.name] = (score, (s, e), text[s:e])
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], self.by_name[kv[0]].is_branch, kv[0]))
        best_name, (best, span, mention) = ranked[0]
        if best < MIN_SCORE:
            return None
        second = ranked[1][1][0] if len(ranked) > 1 else 0.0
        conf = max(0.05, min(0.99, best * (0.5 + min(0.5, (best - second) * 2.5))))
        total = sum(max(v[0], 0.01) for _, v in ranked[:5])
        cands = [{"value": n, "confidence": round(max(v[0], 0.01) / total, 3)} for n, v in ranked[:5]]
        return CompanyMatch(best_name, self.by_name[best_name], round(conf, 3), span, mention, cands)
