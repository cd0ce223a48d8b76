"""Appeal type, category and urgency of a 12345 call transcript.

A spaCy pipeline (``spacy.blank("zh")``, character segmenter, so homophone errors cost one
character n-gram rather than a whole jieba word) with two exclusive ``textcat`` components —
``textcat_appeal`` (咨询/投诉/举报/求助/建议/表扬) and ``textcat_category`` (taxonomy codes) —
and a rule component ``hotline_cues`` that finds cue phrases (data: ``cues.json`` inside the
pipeline folder, source in ``nlp/training/cues.json``). :class:`Classifier` blanks operator
boilerplate (same length, so character offsets stay valid), runs the pipeline and combines
the textcat probabilities with the cue scores in log space into one distribution per field.
Urgency is the category's taxonomy default, raised by acute-danger cues.

    clf = Classifier.load()            # default: nlp/data/classifier
    c = clf.predict(transcript)        # Classification(appeal_type="求助", category="manhole", ...)
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc

_CONTENT = re.compile(r"[^\W_]")
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "classifier"
APPEAL_PIPE = "textcat_appeal"
CATEGORY_PIPE = "textcat_category"
CUES_PIPE = "hotline_cues"


@dataclass
class Classification:
    appeal_type: str | None
    appeal_type_confidence: float
    category: str | None
    category_confidence: float
    category_l1: str | None
    urgency: str | None
    urgency_confidence: float
    appeal_type_candidates: list[tuple[str, float]] = field(default_factory=list)
    category_candidates: list[tuple[str, float]] = field(default_factory=list)
    evidence: dict[str, tuple[int, int]] = field(default_factory=dict)  # char span per field

    def to_dict(self) -> dict[str, Any]:
        return {
            "appeal_type": self.appeal_type, "appeal_type_confidence": self.appeal_type_confidence,
            "category": self.category, "category_confidence": self.category_confidence,
            "category_l1": self.category_l1, "urgency": self.urgency,
            "urgency_confidence": self.urgency_confidence,
            "appeal_type_candidates": [list(x) for x in self.appeal_type_candidates],
            "category_candidates": [list(x) for x in self.category_candidates],
            "evidence": {k: list(v) for k, v in self.evidence.items()},
        }


@dataclass
class CombineOptions:
    """How model and rules are mixed for one field (fitted on held-out synthetic calls,
    whose phrasings the model never saw, by scripts/train_classifier.py)."""
    model_weight: float = 1.0       # exponent on textcat probabilities
    cue_weight: float = 1.0         # multiplier on summed cue weights (log space)
    prior_weight: float = 0.0       # appeal type only: weight of P(appeal | category) prior
    length_unit: float = 0.0        # >0: divide model log-probs by max(1, chars/length_unit);
                                    # a bag-of-ngrams model grows overconfident on long calls
    cue_cap: float = 4.0            # one label's cue score never exceeds this
    temperature: float = 1.0        # >1 flattens the final distribution
    top_k: int = 3


# ---------------------------------------------------------------------------------------
# Rule component
# ---------------------------------------------------------------------------------------

def _compile(pairs: list) -> list[tuple[re.Pattern, float]]:
    return [(re.compile(p), float(w)) for p, w in pairs]


_PLAIN_ALTERNATION = re.compile(r"^[\u4e00-\u9fff|]+$")
_FUZZY = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"))
PINYIN_DISCOUNT = 0.8   # a cue heard as a homophone (景盖 for 井盖) counts a little less


@lru_cache(maxsize=1)
def build_char_keys() -> dict[str, str]:
    """Character -> toneless, fuzzy pinyin key (first reading), for homophone-tolerant cues.
    A plain table lookup: pypinyin's phrase segmentation is too slow for every segment.
    Building it takes ~1 s, so the trainer stores it in the pipeline (pinyin.json)."""
    from pypinyin.pinyin_dict import pinyin_dict

    out = {}
    for cp, readings in pinyin_dict.items():
        first = readings.split(",")[0]
        key = "".join(ch for ch in unicodedata.normalize("NFD", first) if not unicodedata.combining(ch))
        for a, b in _FUZZY:
            key = key.replace(a, b)
        out[chr(cp)] = key.replace("ü", "v")
    return out


def pinyin_key(text: str, keys: dict[str, str]) -> tuple[str, list[int]]:
    """' key key key ' for the text's CJK characters and the char offset of each key."""
    parts, offsets = [], []
    for i, ch in enumerate(text):
        k = keys.get(ch)
        if k:
            parts.append(k)
            offsets.append(i)
        elif not ch.isspace():
            parts.append("_")   # a break: punctuation or Latin never joins two syllables
            offsets.append(i)
    return " " + " ".join(parts) + " ", offsets


def _pinyin_words(pattern: str, keys: dict[str, str]) -> list[str]:
    if not keys or not _PLAIN_ALTERNATION.match(pattern):
        return []
    return [" " + " ".join(keys.get(c, "_") for c in w) + " " for w in pattern.split("|") if len(w) >= 2]


class CueMatcher:
    """Cue phrases per appeal type and per category, boilerplate patterns, urgency cues."""

    def __init__(self, cues: dict | None = None, meta: dict | None = None):
        self.cues: dict = cues or {"boilerplate": [], "appeal": {}, "category": {}, "urgency": {}}
        self.meta: dict = meta or {}   # {"categories": {code: {"l1", "urgency"}}, "combine", ...}
        self.keys: dict[str, str] = {}  # char -> pinyin key; empty: no homophone matching
        self._build()

    def _build(self) -> None:
        c = self.cues
        self.boilerplate = [re.compile(p) for p in c.get("boilerplate", [])]
        self.appeal = {k: self._with_pinyin(v) for k, v in c.get("appeal", {}).items()}
        self.appeal_neg = {k: [re.compile(p) for p in v] for k, v in c.get("appeal_negations", {}).items()}
        self.category = {k: self._with_pinyin(v) for k, v in c.get("category", {}).items()}
        u = c.get("urgency", {})
        self.urgent_strong = [re.compile(p) for p in u.get("strong", [])]
        self.urgent_weak = [re.compile(p) for p in u.get("weak", [])]
        self.hypothetical = re.compile(u["hypothetical"]) if u.get("hypothetical") else None
        self.weak_needed = int(u.get("weak_needed", 4))
        op = c.get("operator_lines")
        self.operator_lines = re.compile(op) if op else None
        self.operator_weight = float(c.get("operator_weight", 1.0))

    def _with_pinyin(self, pairs: list) -> list[tuple[re.Pattern, float, list[str]]]:
        return [(rx, w, _pinyin_words(rx.pattern, self.keys)) for rx, w in _compile(pairs)]

    # masking keeps offsets: the blanked text has the same length as the input
    def mask(self, text: str) -> str:
        chars = list(text)
        for rx in self.boilerplate:
            for m in rx.finditer(text):
                for i in range(m.start(), m.end()):
                    chars[i] = " "
        return "".join(chars)

    @staticmethod
    def _pinyin_hits(py: tuple[str, list[int]], words: list[str]) -> list[tuple[int, int]]:
        keyed, offsets = py
        spans = []
        for w in words:
            start = keyed.find(w)
            while start >= 0:
                first = keyed.count(" ", 0, start)          # index of the first syllable
                n = w.count(" ") - 1
                spans.append((offsets[first], offsets[first + n - 1] + 1))
                start = keyed.find(w, start + 1)
        return spans

    def _score(self, text: str, table: dict, neg: dict | None = None, py=None,
               discounted: list[tuple[int, int]] = ()):
        out: dict[str, tuple[float, tuple[int, int]]] = {}
        for label, pats in table.items():
            negated: list[tuple[int, int]] = []
            for rx in (neg or {}).get(label, []):
                negated += [m.span() for m in rx.finditer(text)]
            total, best, best_w = 0.0, None, -1.0
            for rx, w, words in pats:
                hits = [m.span() for m in rx.finditer(text)
                        if not any(a <= m.start() < b for a, b in negated)]
                if not hits and words and py is not None:
                    # the cue misheard as a homophone (景盖, 低宝): same pinyin, a bit less weight
                    hits = [h for h in self._pinyin_hits(py, words)
                            if not any(a <= h[0] < b for a, b in negated)]
                    w = w * PINYIN_DISCOUNT
                if not hits:
                    continue
                if discounted and all(any(a <= h[0] < b for a, b in discounted) for h in hits):
                    w = w * self.operator_weight   # only the operator said it
                # repeated mentions count, with diminishing returns
                total += w * (1.0 + 0.3 * math.log(len(hits)))
                if w > best_w:
                    best, best_w = hits[0], w
            if total > 0:
                out[label] = (total, best)
        return out

    def urgency_cues(self, text: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        strong: list[tuple[int, int]] = []
        for rx in self.urgent_strong:
            for m in rx.finditer(text):
                before = text[max(0, m.start() - 10):m.start()]
                # "怕漏电", "万一着火" and past events ("上个月着火") do not make it urgent now
                line_start = before.rfind("\n") + 1
                if self.hypothetical and self.hypothetical.search(before[line_start:]):
                    continue
                strong.append(m.span())
        weak = []
        for rx in self.urgent_weak:
            m = rx.search(text)
            if m:
                weak.append(m.span())
        return strong, weak

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        py = pinyin_key(text, self.keys) if self.keys else None
        operator = [m.span() for m in self.operator_lines.finditer(text)] if self.operator_lines else []
        doc._.hotline_cues = {
            "appeal": self._score(text, self.appeal, self.appeal_neg, py, operator),
            "category": self._score(text, self.category, py=py),
            "urgency": self.urgency_cues(text),
        }
        return doc

    # spaCy serialization: the cue data lives in the pipeline folder
    def to_disk(self, path, exclude=()) -> None:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        (p / "cues.json").write_text(json.dumps(self.cues, ensure_ascii=False, indent=1), encoding="utf-8")
        (p / "meta.json").write_text(json.dumps(self.meta, ensure_ascii=False, indent=1), encoding="utf-8")
        by_key: dict[str, str] = {}
        for ch, k in self.keys.items():
            by_key[k] = by_key.get(k, "") + ch
        (p / "pinyin.json").write_text(json.dumps(by_key, ensure_ascii=False, sort_keys=True), encoding="utf-8")

    def from_disk(self, path, exclude=()) -> "CueMatcher":
        p = Path(path)
        self.cues = json.loads((p / "cues.json").read_text(encoding="utf-8"))
        meta = p / "meta.json"
        self.meta = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
        py = p / "pinyin.json"
        self.keys = {}
        if py.exists():
            for k, chars in json.loads(py.read_text(encoding="utf-8")).items():
                self.keys.update(dict.fromkeys(chars, k))
        self._build()
        return self

    def initialize(self, get_examples=None, *, nlp=None, cues: dict | None = None, meta: dict | None = None) -> None:
        if cues is not None:
            self.cues = cues
        if meta is not None:
            self.meta = meta
        self.keys = build_char_keys()
        self._build()


if not Doc.has_extension("hotline_cues"):
    Doc.set_extension("hotline_cues", default=None)


@Language.factory(CUES_PIPE)
def make_hotline_cues(nlp: Language, name: str) -> CueMatcher:
    return CueMatcher()


# ---------------------------------------------------------------------------------------
# Classifier
# ---------------------------------------------------------------------------------------

def _softmax(scores: dict[str, float], temperature: float) -> dict[str, float]:
    if not scores:
        return {}
    m = max(scores.values())
    ex = {k: math.exp((v - m) / temperature) for k, v in scores.items()}
    z = sum(ex.values())
    return {k: v / z for k, v in ex.items()}


class Classifier:
    """Loaded once per process; :meth:`predict` is cheap (a few ms for a whole call)."""

    def __init__(self, nlp: Language, options: CombineOptions | None = None, taxonomy: dict | None = None):
        self.nlp = nlp
        self.cues: CueMatcher = nlp.get_pipe(CUES_PIPE)
        self.appeal_labels = list(nlp.get_pipe(APPEAL_PIPE).labels)
        self.category_labels = list(nlp.get_pipe(CATEGORY_PIPE).labels)
        comb = self.cues.meta.get("combine", {})
        self.appeal_options = options or CombineOptions(**comb.get("appeal", {}))
        self.category_options = options or CombineOptions(**comb.get("category", {}))
        # P(appeal type | category): how calls of each category are usually framed
        self.appeal_prior: dict[str, dict[str, float]] = self.cues.meta.get("appeal_prior", {})
        cats = (taxonomy or {}).get("categories") or [
            {"code": k, **v} for k, v in self.cues.meta.get("categories", {}).items()]
        self.l1 = {c["code"]: c.get("l1") for c in cats}
        self.default_urgency = {c["code"]: c.get("urgency", "normal") for c in cats}

    @classmethod
    def load(cls, path: str | Path | None = None, *, taxonomy_path: str | Path | None = None,
             options: CombineOptions | None = None) -> "Classifier":
        """Load the shipped pipeline (default ``nlp/data/classifier``); a taxonomy file, if
        given, overrides the l1 / default urgency stored with the model."""
        p = Path(path) if path else DEFAULT_PATH
        if not (p / "config.cfg").exists():
            raise FileNotFoundError(f"no trained classifier at {p}: run scripts/train_classifier.py")
        nlp = spacy.load(p)
        tax = json.loads(Path(taxonomy_path).read_text(encoding="utf-8")) if taxonomy_path else None
        return cls(nlp, options, tax)

    def _combine(self, o: CombineOptions, model: dict[str, float], cues: dict, labels: list[str],
                 n_chars: int, prior: dict[str, float] | None = None) -> dict[str, float]:
        scale = max(1.0, n_chars / o.length_unit) if o.length_unit > 0 else 1.0
        scores = {}
        for lab in labels:
            p = max(model.get(lab, 0.0), 1e-30)
            cue = min(cues.get(lab, (0.0, None))[0], o.cue_cap)
            scores[lab] = o.model_weight * math.log(p) / scale + o.cue_weight * cue
            if prior is not None and o.prior_weight:
                scores[lab] += o.prior_weight * math.log(max(prior.get(lab, 0.0), 1e-3))
        return _softmax(scores, o.temperature)

    def _prior(self, category: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for c, pc in category.items():
            for a, pa in self.appeal_prior.get(c, {}).items():
                out[a] = out.get(a, 0.0) + pc * pa
        return out

    def scores(self, doc: Doc) -> tuple[dict[str, float], dict[str, float]]:
        """Combined appeal-type and category distributions for a processed (masked) doc."""
        found = doc._.hotline_cues
        n = len(doc.text.replace(" ", ""))
        category = self._combine(self.category_options, doc.cats, found["category"], self.category_labels, n)
        appeal = self._combine(self.appeal_options, doc.cats, found["appeal"], self.appeal_labels, n,
                               self._prior(category))
        return appeal, category

    def predict(self, text: str) -> Classification:
        if not isinstance(text, str):
            raise TypeError(f"predict() takes a str, got {type(text).__name__}")
        masked = self.cues.mask(text)
        if not _CONTENT.search(masked):  # nothing but boilerplate and punctuation
            return Classification(None, 0.0, None, 0.0, None, None, 0.0)
        doc = self.nlp(masked)
        found = doc._.hotline_cues
        appeal, category = self.scores(doc)
        k = self.appeal_options.top_k
        a_c = sorted(appeal.items(), key=lambda x: -x[1])[:k]
        c_c = sorted(category.items(), key=lambda x: -x[1])[:k]
        a_best, a_conf = a_c[0]
        c_best, c_conf = c_c[0]
        evidence: dict[str, tuple[int, int]] = {}
        if a_best in found["appeal"] and found["appeal"][a_best][1]:
            evidence["appeal_type"] = found["appeal"][a_best][1]
        if c_best in found["category"] and found["category"][c_best][1]:
            evidence["category"] = found["category"][c_best][1]
        urgency, u_conf, u_span = self._urgency(c_best, category, *found["urgency"])
        if u_span:
            evidence["urgency"] = u_span
        return Classification(
            appeal_type=a_best, appeal_type_confidence=round(a_conf, 4),
            category=c_best, category_confidence=round(c_conf, 4),
            category_l1=self.l1.get(c_best), urgency=urgency, urgency_confidence=round(u_conf, 4),
            appeal_type_candidates=[(lab, round(p, 4)) for lab, p in a_c],
            category_candidates=[(lab, round(p, 4)) for lab, p in c_c],
            evidence=evidence,
        )

    def _urgency(self, best: str, category: dict[str, float], strong: list, weak: list):
        """Default urgency of the chosen category; acute-danger cues raise it."""
        p_urgent = sum(p for c, p in category.items() if self.default_urgency.get(c) == "urgent")
        default = self.default_urgency.get(best, "normal")
        if default == "urgent":
            return "urgent", max(p_urgent, category[best]), None
        if strong:
            return "urgent", min(0.99, max(0.85, p_urgent) + 0.03 * (len(strong) - 1)), strong[0]
        if len(weak) >= self.cues.weak_needed:
            return "urgent", 0.6 + 0.05 * (len(weak) - self.cues.weak_needed), weak[0]
        # normal: the share of probability on normal categories, lowered a little by weak cues
        p_normal = max(1.0 - p_urgent, category[best]) - 0.05 * len(weak)
        return "normal", max(0.5, min(1.0, p_normal)), None
