"""Appeal type, category and urgency of a 12345 call transcript.

A spaCy pipeline (``spacy.blank("zh")``, character segmenter, so homophone errors cost one
character n-gram rather than a whole jieba word) with two exclusive ``textcat`` components —
``textcat_appeal`` (咨询/投诉/举报/求助/建议/表扬) and ``textcat_category`` (taxonomy codes) —
and the rule component ``hotline_cues`` (:mod:`nlp.cues`). :class:`Classifier` blanks operator
boilerplate (same length, so character offsets stay valid), runs the pipeline and combines
the textcat probabilities with the cue scores in log space into one distribution per field.

The appeal textcat may be an ensemble: extra members ``textcat_appeal_1``, ``textcat_appeal_2``…
(same labels, trained on data generated with other seeds) sit beside ``textcat_appeal``; their
probabilities are averaged (one textcat alone swings a few points with the training seed).

The appeal type is decided on the caller's words only: the sentences that sound like the
operator (greeting, read-back, "我们会把您的投诉转给…") are blanked before the appeal textcat
and the appeal cues see the text (:meth:`nlp.cues.CueMatcher.caller_text`); the category
still reads the whole call (a read-back names the matter well). Appeal cues follow the
taxonomy's ``appeal_definitions`` (a centre's own taxonomy may bring its own).
Urgency is the category's taxonomy default, raised by acute-danger cues.

    clf = Classifier.load()            # default: nlp/data/classifier
    c = clf.predict(transcript)        # Classification(appeal_type="求助", category="manhole", ...)
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language

from nlp.cues import (CUES_PIPE, CueMatcher, appeal_cues_from_taxonomy,  # noqa: F401  (re-exported)
                      build_char_keys, pinyin_key)

_CONTENT = re.compile(r"[^\W_]")
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "classifier"
APPEAL_PIPE = "textcat_appeal"
APPEAL_MEMBER = APPEAL_PIPE + "_"    # textcat_appeal_1, textcat_appeal_2, …: ensemble members
CATEGORY_PIPE = "textcat_category"


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

    #: the fields a fit stores (the pipeline's meta "combine", nlp/training/appeal_mix.json)
    FITTED = ("model_weight", "cue_weight", "prior_weight", "length_unit", "temperature")

    def fitted(self) -> dict[str, float]:
        return {f: getattr(self, f) for f in self.FITTED}


@dataclass
class Analysis:
    """What the pipeline saw in one text, before the mixing weights are applied."""
    appeal_model: dict[str, float]       # textcat_appeal on the caller's sentences
    appeal_cues: dict                    # label -> (score, span) on the caller's sentences
    category_model: dict[str, float]     # textcat_category on the whole call
    category_cues: dict
    urgency: tuple[list, list]           # strong, weak danger cue spans
    n_chars: int
    n_caller: int


# ---------------------------------------------------------------------------------------
# Classifier
# ---------------------------------------------------------------------------------------

def appeal_pipes(nlp: Language) -> list[str]:
    """The appeal textcat and its ensemble members, in pipeline order."""
    return [n for n in nlp.pipe_names if n == APPEAL_PIPE or
            (n.startswith(APPEAL_MEMBER) and n[len(APPEAL_MEMBER):].isdigit())]


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
        self.appeal_pipes = appeal_pipes(nlp)
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
        own = appeal_cues_from_taxonomy(taxonomy) if taxonomy else None
        if own is not None and own["appeal"] != self.cues.cues.get("appeal"):
            self.cues.set_appeal(own)   # the centre's own definitions of its appeal types

    @classmethod
    def load(cls, path: str | Path | None = None, *, taxonomy_path: str | Path | None = None,
             options: CombineOptions | None = None) -> "Classifier":
        """Load the shipped pipeline (default ``nlp/data/classifier``); a taxonomy file, if
        given, overrides the l1 / default urgency stored with the model and, when it has
        ``appeal_definitions``, the appeal cue groups."""
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

    def analyse(self, text: str) -> "Analysis | None":
        """Model outputs and cue hits for one text (None: nothing but boilerplate)."""
        masked = self.cues.mask(text)
        if not _CONTENT.search(masked):
            return None
        doc = self.nlp(masked, disable=self.appeal_pipes)
        caller = self.cues.caller_text(text, masked)
        if not _CONTENT.search(caller):   # only operator formulas: better than nothing
            caller = masked
        found = doc._.hotline_cues
        return Analysis(
            appeal_model=self.appeal_model(caller), appeal_cues=self.cues.appeal_scores(caller),
            category_model=dict(doc.cats), category_cues=found["category"], urgency=found["urgency"],
            n_chars=len(masked.replace(" ", "")), n_caller=len(caller.replace(" ", "")))

    def appeal_model(self, caller: str) -> dict[str, float]:
        """The appeal textcat's probabilities on the caller's text, averaged over the
        ensemble's members (one member: its own output)."""
        adoc = self.nlp.make_doc(caller)
        total = [0.0] * len(self.appeal_labels)
        for name in self.appeal_pipes:
            pipe = self.nlp.get_pipe(name)
            row = pipe.model.ops.to_numpy(pipe.predict([adoc]))[0]
            for i, lab in enumerate(pipe.labels):
                total[self.appeal_labels.index(lab)] += float(row[i])
        n = len(self.appeal_pipes)
        return {lab: v / n for lab, v in zip(self.appeal_labels, total)}

    def distributions(self, a: "Analysis", appeal_options: CombineOptions | None = None,
                      category_options: CombineOptions | None = None) -> tuple[dict[str, float], dict[str, float]]:
        """Combined appeal-type and category distributions of one analysis."""
        co = category_options or self.category_options
        ao = appeal_options or self.appeal_options
        category = self._combine(co, a.category_model, a.category_cues, self.category_labels, a.n_chars)
        cues = a.appeal_cues
        if self.cues.appeal_when_urgent:
            best = max(category, key=category.get)
            if self._urgency(best, category, *a.urgency)[0] == "urgent":   # a hazard now
                cues = dict(cues)
                for lab, w in self.cues.appeal_when_urgent.items():
                    score, span = cues.get(lab, (0.0, None))
                    cues[lab] = (score + w, span)
        appeal = self._combine(ao, a.appeal_model, cues, self.appeal_labels, a.n_caller, self._prior(category))
        return appeal, category

    def predict(self, text: str) -> Classification:
        if not isinstance(text, str):
            raise TypeError(f"predict() takes a str, got {type(text).__name__}")
        a = self.analyse(text)
        if a is None:  # nothing but boilerplate and punctuation
            return Classification(None, 0.0, None, 0.0, None, None, 0.0)
        appeal, category = self.distributions(a)
        k = self.appeal_options.top_k
        a_c = sorted(appeal.items(), key=lambda x: -x[1])[:k]
        c_c = sorted(category.items(), key=lambda x: -x[1])[:k]
        a_best, a_conf = a_c[0]
        c_best, c_conf = c_c[0]
        evidence: dict[str, tuple[int, int]] = {}
        if a_best in a.appeal_cues and a.appeal_cues[a_best][1]:
            evidence["appeal_type"] = a.appeal_cues[a_best][1]
        if c_best in a.category_cues and a.category_cues[c_best][1]:
            evidence["category"] = a.category_cues[c_best][1]
        urgency, u_conf, u_span = self._urgency(c_best, category, *a.urgency)
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
