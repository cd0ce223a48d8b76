"""Cue phrases for the classifier: the ``hotline_cues`` spaCy component and operator turns.

Data, not code: the cue tables come from ``nlp/training/cues.json`` (boilerplate, category,
urgency, operator formulas) and from the taxonomy's ``appeal_definitions`` (what makes a call a
咨询/投诉/举报/求助/建议/表扬, as cue groups); scripts/train_classifier.py copies both into the
pipeline folder (``hotline_cues/cues.json``). A centre's own taxonomy with its own
``appeal_definitions`` replaces the appeal cues at load time (:func:`appeal_cues_from_taxonomy`).

A cue group scores once per text however many of its patterns match (repeats add a little);
a plain-Chinese pattern also matches when misheard as a homophone (景盖 for 井盖), at
:data:`PINYIN_DISCOUNT` of its weight.

Operator turns: a mono recording has no speaker labels, so :meth:`CueMatcher.operator_spans`
finds what the operator says by its formulas (greeting, read-back, closing: "我跟您确认一下",
"我们会把您的投诉转给…", "您的建议我们记录了"). The appeal type is decided on the text with
those sentences blanked: the caller's request decides, not the operator's closing formula.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc

CUES_PIPE = "hotline_cues"
PINYIN_DISCOUNT = 0.8   # a cue heard as a homophone (景盖 for 井盖) counts a little less
_PLAIN_ALTERNATION = re.compile(r"^[\u4e00-\u9fff|]+$")
_FUZZY = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"))
_SENTENCE = re.compile(r"[^。？！?!\n]+[。？！?!]*")
_CLAUSE = re.compile(r"[^，,；;。？！?!\n ]+")
LONG_SENTENCE = 60      # a longer "sentence" is likely two turns run together (no punctuation)


# ---------------------------------------------------------------------------------------
# pinyin keys (homophone-tolerant matching)
# ---------------------------------------------------------------------------------------

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


# a cue word with one of these has no homophone form: 的士 would match every 的是 / 的时
_FUNCTION_CHARS = set("的了是在有和就都也还着过吗呢吧啊")


def _pinyin_words(pattern: str, keys: dict[str, str]) -> list[str]:
    if not keys or not _PLAIN_ALTERNATION.match(pattern):
        return []
    return [" " + " ".join(keys.get(c, "_") for c in w) + " " for w in pattern.split("|")
            if len(w) >= 2 and not _FUNCTION_CHARS & set(w)]


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


def blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the spans replaced by spaces (same length: offsets stay valid)."""
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


# ---------------------------------------------------------------------------------------
# appeal cues from the taxonomy
# ---------------------------------------------------------------------------------------

def appeal_cues_from_taxonomy(taxonomy: dict) -> dict | None:
    """The appeal part of the cue tables from a taxonomy's ``appeal_definitions``, or None
    when the taxonomy has none (the pipeline's own copy is used then).

    ``{"types": {"举报": {"definition": "...", "cue_groups": {"illegal_act": {"weight": 1.5,
    "patterns": [...]}}, "negations": [...], "when_urgent": 0}}}`` becomes
    ``{"appeal": {"举报": [["illegal_act", 1.5, [...]]]}, "appeal_negations": {"举报": [...]},
    "appeal_when_urgent": {}}``."""
    defs = (taxonomy or {}).get("appeal_definitions")
    if not isinstance(defs, dict) or not isinstance(defs.get("types"), dict):
        return None
    groups, negations, urgent = {}, {}, {}
    for label, d in defs["types"].items():
        groups[label] = [[name, float(g.get("weight", 1.0)), list(g.get("patterns", []))]
                         for name, g in d.get("cue_groups", {}).items()]
        if d.get("negations"):
            negations[label] = list(d["negations"])
        if d.get("when_urgent"):
            urgent[label] = float(d["when_urgent"])
    return {"appeal": groups, "appeal_negations": negations, "appeal_when_urgent": urgent}


# ---------------------------------------------------------------------------------------
# Rule component
# ---------------------------------------------------------------------------------------

class CueMatcher:
    """Cue groups per appeal type and per category, boilerplate, operator formulas, urgency."""

    def __init__(self, cues: dict | None = None, meta: dict | None = None):
        self.cues: dict = cues or {"boilerplate": [], "appeal": {}, "category": {}, "urgency": {}}
        self.meta: dict = meta or {}   # {"categories": {code: {"l1", "urgency"}}, "combine", ...}
        self.keys: dict[str, str] = {}  # char -> pinyin key; empty: no homophone matching
        self._build()

    def _groups(self, entries: list) -> list[tuple[str, float, list[tuple[re.Pattern, list[str]]]]]:
        """[name, weight, [patterns]] groups; a bare [pattern, weight] is its own group."""
        out = []
        for e in entries:
            if len(e) == 3:
                name, w, pats = e
            else:
                name, w, pats = e[0], e[1], [e[0]]
            out.append((name, float(w), [(re.compile(p), _pinyin_words(p, self.keys)) for p in pats]))
        return out

    def _build(self) -> None:
        c = self.cues
        self.boilerplate = [re.compile(p) for p in c.get("boilerplate", [])]
        self.appeal = {k: self._groups(v) for k, v in c.get("appeal", {}).items()}
        self.appeal_neg = {k: [re.compile(p) for p in v] for k, v in c.get("appeal_negations", {}).items()}
        self.appeal_when_urgent: dict[str, float] = dict(c.get("appeal_when_urgent", {}))
        self.category = {k: self._groups(v) for k, v in c.get("category", {}).items()}
        u = c.get("urgency", {})
        self.urgent_strong = [re.compile(p) for p in u.get("strong", [])]
        self.urgent_weak = [re.compile(p) for p in u.get("weak", [])]
        self.hypothetical = re.compile(u["hypothetical"]) if u.get("hypothetical") else None
        self.weak_needed = int(u.get("weak_needed", 4))
        self.operator = [re.compile(p) for p in c.get("operator_sentences", [])]

    def set_appeal(self, appeal: dict) -> None:
        """Replace the appeal cue tables (a centre's taxonomy defines its own):
        the output of :func:`appeal_cues_from_taxonomy`."""
        self.cues = {**self.cues, **appeal}
        self._build()

    # masking keeps offsets: the blanked text has the same length as the input
    def mask(self, text: str) -> str:
        return blank(text, [m.span() for rx in self.boilerplate for m in rx.finditer(text)])

    def operator_spans(self, text: str) -> list[tuple[int, int]]:
        """Sentences that sound like the operator (greeting, read-back, closing formula).
        A long unpunctuated run (two turns heard as one) loses only the matching clause."""
        spans = []
        for s in _SENTENCE.finditer(text):
            hits = [m for rx in self.operator for m in rx.finditer(s.group())]
            if not hits:
                continue
            if len(s.group().strip()) <= LONG_SENTENCE:
                spans.append(s.span())
                continue
            for cl in _CLAUSE.finditer(s.group()):
                inside = [m for m in hits if cl.start() <= m.start() < cl.end()]
                if inside and cl.end() - cl.start() <= LONG_SENTENCE:
                    spans.append((s.start() + cl.start(), s.start() + cl.end()))
                else:   # no punctuation at all: only the formula itself
                    spans += [(s.start() + m.start(), s.start() + m.end()) for m in inside]
        return spans

    def caller_text(self, text: str, masked: str | None = None) -> str:
        """``text`` (or its boilerplate-masked copy) with the operator's sentences blanked;
        same length. The formulas are looked for in the unmasked text."""
        return blank(self.mask(text) if masked is None else masked, self.operator_spans(text))

    def _score(self, text: str, table: dict, neg: dict | None = None, py=None):
        out: dict[str, tuple[float, tuple[int, int] | None]] = {}
        for label, groups in table.items():
            negated: list[tuple[int, int]] = []
            for rx in (neg or {}).get(label, []):
                negated += [m.span() for m in rx.finditer(text)]
            total, best, best_w = 0.0, None, -1.0
            for _name, w, pats in groups:
                hits = [m.span() for rx, _ in pats for m in rx.finditer(text)
                        if not any(a <= m.start() < b for a, b in negated)]
                if not hits and py is not None:
                    # the cue misheard as a homophone (景盖, 低宝): same pinyin, a bit less weight
                    hits = [h for _, words in pats if words for h in _pinyin_hits(py, words)
                            if not any(a <= h[0] < b for a, b in negated)]
                    w = w * PINYIN_DISCOUNT
                if not hits:
                    continue
                # repeated mentions count, with diminishing returns
                total += w * (1.0 + 0.3 * math.log(len(hits)))
                if w > best_w:
                    best, best_w = min(hits), w
            if total > 0:
                out[label] = (total, best)
        return out

    def appeal_scores(self, text: str) -> dict[str, tuple[float, tuple[int, int] | None]]:
        py = pinyin_key(text, self.keys) if self.keys else None
        return self._score(text, self.appeal, self.appeal_neg, py)

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
        doc._.hotline_cues = {
            "appeal": self._score(text, self.appeal, self.appeal_neg, py),
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
