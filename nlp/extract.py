"""Extractor: the draft ticket of one call, updated segment by segment, finalized at hang-up.

``update(segment)`` is cheap (regex parsers rerun on the transcript, location on the transcript so
far, the classifier only when enough new text arrived, the KB on the caller's lines: consultations
get every fitting article, other calls only strong fits);
``finalize()`` runs every part once over the whole transcript. ``extract_text`` feeds a whole
transcript (one turn per line) through the same object, so incremental == whole-text at finalize.
"""
from __future__ import annotations

import logging
import threading
import os
import time
from dataclasses import dataclass, field
from typing import Any

from nlp.draft import DraftTicket
from nlp.entities import extract_name, extract_phone
from nlp.summary import make_summary
from nlp.taxonomy import Taxonomy

log = logging.getLogger(__name__)

CLASSIFY_EVERY_CHARS = 80   # rerun the classifier during the call once this much new text arrived
CLASSIFY_SURE = 0.9         # ... or three times as much once the category is this sure
KB_TOP = 3
CONSULT_P = 0.3             # KB suggestions also when 咨询 is this probable but not the top appeal type


@dataclass
class NlpResources:
    """Everything the extractor needs, loaded once per process (see load_resources)."""
    taxonomy: Taxonomy
    locator: Any | None = None        # nlp.location.LocationExtractor
    gazetteer: Any | None = None      # nlp.gazetteer.Gazetteer
    classifier: Any | None = None     # nlp.classify.Classifier
    companies: Any | None = None      # nlp.companies.CompanyDirectory
    kb: Any | None = None             # nlp.kb.KnowledgeBase
    load_s: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)   # part -> why it is not loaded


_resources: NlpResources | None = None
_lock = threading.Lock()


def _timed(res: NlpResources, name: str, fn):
    t0 = time.perf_counter()
    try:
        return fn()
    except Exception as e:  # a missing optional part degrades the draft; it must not stop calls
        res.missing[name] = f"{type(e).__name__}: {e}"
        log.warning("nlp resource %s not loaded: %s", name, e)
        return None
    finally:
        res.load_s[name] = round(time.perf_counter() - t0, 3)


def _load_gazetteer():
    try:
        from nlp.gazetteer import Gazetteer  # type: ignore
    except ImportError:
        from nlp.location import Gazetteer  # type: ignore
    return Gazetteer.load()


def _load_locator(gaz):
    from nlp.location import LocationExtractor  # type: ignore

    try:
        return LocationExtractor(gaz) if gaz is not None else LocationExtractor()
    except TypeError:
        return LocationExtractor()


def _load_classifier(taxonomy_path=None):
    from nlp.classify import Classifier  # type: ignore

    # a centre's own taxonomy (HOTLINE_TAXONOMY) overrides the l1/urgency stored with the model
    # HOTLINE_CLASSIFIER: another trained pipeline folder (default nlp/data/classifier)
    return Classifier.load(os.environ.get("HOTLINE_CLASSIFIER") or None,
                           taxonomy_path=taxonomy_path or os.environ.get("HOTLINE_TAXONOMY") or None)


def _load_companies(settings):
    from nlp.companies import CompanyDirectory

    return CompanyDirectory.load(getattr(settings, "companies_path", None))


def _load_kb(settings):
    from nlp.kb import KnowledgeBase

    return KnowledgeBase.load(getattr(settings, "kb_path", None))


def load_resources(settings: Any = None, *, reload: bool = False) -> NlpResources:
    """Load taxonomy, gazetteer + LocationExtractor, classifier, companies, KB once per process.

    Parts that fail to load are recorded in ``.missing`` and their fields stay empty.
    """
    global _resources
    with _lock:
        if _resources is not None and not reload and settings is None:
            return _resources
        tax_path = getattr(settings, "taxonomy_path", None)
        res = NlpResources(taxonomy=None)  # type: ignore[arg-type]
        res.gazetteer = _timed(res, "gazetteer", _load_gazetteer)
        office = None
        if res.gazetteer is not None and hasattr(res.gazetteer, "office_name"):
            from nlp.taxonomy import street_office_name

            gaz = res.gazetteer

            def office(district, street):
                try:
                    return gaz.office_name(district, street) or street_office_name(district, street)
                except Exception:
                    return street_office_name(district, street)
        t0 = time.perf_counter()
        res.taxonomy = Taxonomy.load(tax_path, office_name=office)  # required: errors propagate
        res.load_s["taxonomy"] = round(time.perf_counter() - t0, 3)
        res.locator = _timed(res, "locator", lambda: _load_locator(res.gazetteer))
        res.classifier = _timed(res, "classifier", lambda: _load_classifier(tax_path))
        res.companies = _timed(res, "companies", lambda: _load_companies(settings))
        res.kb = _timed(res, "kb", lambda: _load_kb(settings))
        if settings is None:
            _resources = res
        return res


# ---- helpers over the other engineers' result objects (duck-typed) -----------------------------

def _val(x: Any) -> Any:
    return getattr(x, "value", x) if x is not None else None


def _conf(x: Any, default: float = 0.0) -> float:
    c = getattr(x, "confidence", None)
    return float(c) if c is not None else default


def _span(x: Any) -> tuple[int, int] | None:
    s = getattr(x, "span", None)
    if s is None and isinstance(x, dict):
        s = x.get("span")
    if s is None:
        return None
    try:
        a, b = int(s[0]), int(s[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (a, b) if 0 <= a < b else None


def _cands(x: Any) -> list[dict]:
    out = []
    for c in getattr(x, "candidates", None) or []:
        if isinstance(c, dict):
            v, q = c.get("value"), c.get("confidence", 0.0)
        elif isinstance(c, (tuple, list)) and len(c) >= 2:
            v, q = c[0], c[1]
        else:
            v, q = getattr(c, "value", c), getattr(c, "confidence", 0.0)
        if v is not None:
            out.append({"value": v, "confidence": round(float(q or 0.0), 3)})
    return out


def _segment_dict(seg: Any) -> dict:
    if isinstance(seg, dict):
        d = dict(seg)
    else:
        d = {k: getattr(seg, k, None) for k in ("id", "start", "end", "text", "speaker", "final", "channel")}
    if not isinstance(d.get("text"), str):
        raise ValueError(f"segment has no text: {seg!r}")
    d.setdefault("final", True)
    d.setdefault("speaker", None)
    return d


class Extractor:
    """Incremental draft ticket for one call."""

    def __init__(self, resources: NlpResources | None = None, call_id: str | None = None):
        self.res = resources or load_resources()
        self.call_id = call_id or ""
        self.segments: list[dict] = []
        self._by_id: dict[Any, int] = {}
        self._classified_len = -10**9
        self._cls: Any = None
        self._cls_text = ""
        self._draft = DraftTicket(call_id=self.call_id)
        self._hotwords: list[str] = []
        self._hot_key: tuple | None = None
        self._loc: Any = None
        self._company_seen = False
        self._kb_cache: tuple[str, list] | None = None

    # ---- public API ------------------------------------------------------------------------
    def update(self, segment: Any) -> DraftTicket:
        """Add one final segment (partials are ignored) and return the refreshed draft."""
        t0 = time.perf_counter()
        seg = _segment_dict(segment)
        if not seg.get("final", True):
            return self._draft
        sid = seg.get("id")
        text = seg["text"].strip()
        if sid is not None and sid in self._by_id:          # a re-decoded final replaces its text
            i = self._by_id[sid]
            if text:
                self.segments[i] = seg | {"text": text}
            else:
                self.segments.pop(i)
                self._by_id = {s.get("id"): k for k, s in enumerate(self.segments) if s.get("id") is not None}
        elif text:                                           # "" on a final retracts the partial
            self.segments.append(seg | {"text": text})
            if sid is not None:
                self._by_id[sid] = len(self.segments) - 1
        else:
            return self._draft
        self._draft = self._build(final=False)
        self._draft.timings["nlp_update_s"] = round(time.perf_counter() - t0, 4)
        return self._draft

    def finalize(self) -> DraftTicket:
        """Full pass over the whole transcript (classifier and KB included)."""
        t0 = time.perf_counter()
        self._draft = self._build(final=True)
        self._draft.timings["nlp_s"] = round(time.perf_counter() - t0, 4)
        return self._draft

    @property
    def draft(self) -> DraftTicket:
        return self._draft

    def hotwords(self) -> list[str]:
        """Place names seen so far (and their neighbours) to bias the transcriber's next decodes.

        Recomputed only when the places found so far change (it reruns the location pass)."""
        loc, locator = self._loc, self.res.locator
        if loc is None or locator is None or not hasattr(locator, "hotwords"):
            return list(self._hotwords)
        key = tuple(_val(getattr(loc, k, None)) for k in ("district", "street", "road")) + tuple(
            c.get("value") for c in (getattr(loc, "candidates", None) or {}).get("district", []) if isinstance(c, dict))
        if key != self._hot_key:
            try:
                self._hotwords = list(locator.hotwords(self._draft.transcript))
            except Exception as e:  # hotwords are a bias, never worth failing a call
                log.debug("hotwords failed: %s", e)
            self._hot_key = key
        return list(self._hotwords)

    # ---- the pass --------------------------------------------------------------------------
    def _raw_transcript(self) -> str:
        return "\n".join(s["text"] for s in self.segments)

    def _operator_spans(self, text: str) -> list[tuple[int, int]] | None:
        """Ranges of ``text`` said by the operator (stereo calls label speakers; mono: None)."""
        lines = text.split("\n")
        if len(lines) != len(self.segments) or not any(s.get("speaker") == "operator" for s in self.segments):
            return None
        spans, pos = [], 0
        for seg, line in zip(self.segments, lines):
            if seg.get("speaker") == "operator":
                spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        return spans

    def _classify(self, text: str, final: bool) -> Any:
        clf = self.res.classifier
        if clf is None:
            return None
        grown = len(text) - self._classified_len
        sure = self._cls is not None and (getattr(self._cls, "category_confidence", 0) or 0) >= CLASSIFY_SURE
        if final or self._cls is None or grown >= (CLASSIFY_EVERY_CHARS * 3 if sure else CLASSIFY_EVERY_CHARS):
            if text != self._cls_text:
                self._cls = clf.predict(text)
                self._cls_text = text
            self._classified_len = len(text)
        return self._cls

    def _build(self, final: bool) -> DraftTicket:
        res, tax = self.res, self.res.taxonomy
        raw = self._raw_transcript()
        d = DraftTicket(call_id=self.call_id, final=final)
        d.segments = [{k: s.get(k) for k in ("id", "start", "end", "text", "speaker")} for s in self.segments]

        # 1. places (also gives the corrected transcript every span below indexes)
        loc = None
        if res.locator is not None and raw:
            loc = res.locator.extract(raw)
        self._loc = loc
        text = getattr(loc, "corrected_text", None) or raw
        if len(text.split("\n")) != len(raw.split("\n")):
            text = raw  # a correction that merges/splits lines would break segment alignment
            if loc is not None and raw:
                pass
        d.transcript = text
        remap = _offset_map(raw, text) if text != raw and len(text) != len(raw) else None
        if loc is not None:
            for name in ("district", "street", "road", "address", "landmark"):
                pm = getattr(loc, name, None)
                v = _val(pm)
                if v:
                    setattr(d, name, v)
                    d.confidence[name] = round(_conf(pm, 0.8), 3)
                    sp = _span(pm)
                    if sp and remap is not None:  # location spans index the text it was given
                        sp = (remap(sp[0]), max(remap(sp[0]) + 1, remap(sp[1])))
                    if sp and sp[1] <= len(text):
                        d.evidence[name] = list(sp)
                    cs = _cands(pm)
                    if cs:
                        d.candidates[name] = cs
            # a field left undecided (a road through several districts) has only candidates
            for name, cs in (getattr(loc, "candidates", None) or {}).items():
                if name not in d.candidates and cs:
                    d.candidates[name] = [{"value": c["value"], "confidence": round(float(c.get("confidence", 0.0)), 3)}
                                          for c in cs if isinstance(c, dict) and "value" in c]
            lat_lon = getattr(loc, "location", None)
            if isinstance(lat_lon, dict) and "lat" in lat_lon and "lon" in lat_lon:
                d.location = {"lat": float(lat_lon["lat"]), "lon": float(lat_lon["lon"])}
            elif lat_lon is not None and hasattr(lat_lon, "lat"):
                d.location = {"lat": float(lat_lon.lat), "lon": float(lat_lon.lon)}

        # 2. who and how to call back
        name = extract_name(text, self._operator_spans(text))
        if name:
            d.caller_name = name.value
            d.confidence["caller_name"] = name.confidence
            d.evidence["caller_name"] = list(name.span)
            d.candidates["caller_name"] = name.candidates
            d.caller_name_confirmed = name.confirmed
            d.caller_name_candidates = list(name.homophones)
        phone = extract_phone(text)
        if phone:
            d.phone = phone.value
            d.confidence["phone"] = phone.confidence
            d.evidence["phone"] = list(phone.span)
            if phone.candidates:
                d.candidates["phone"] = phone.candidates

        # 3. what: appeal type, category, urgency
        cls = self._classify(text, final) if text else None
        if cls is not None:
            d.appeal_type = getattr(cls, "appeal_type", None)
            d.category = getattr(cls, "category", None)
            d.category_l1 = getattr(cls, "category_l1", None) or tax.l1(d.category)
            d.urgency = getattr(cls, "urgency", None) or tax.default_urgency(d.category)
            for f in ("appeal_type", "category", "urgency"):
                q = getattr(cls, f"{f}_confidence", None)
                if q is not None and getattr(d, f) is not None:
                    d.confidence[f] = round(float(q), 3)
                cs = getattr(cls, f"{f}_candidates", None)
                if cs:
                    d.candidates[f] = _cands(type("C", (), {"candidates": cs})())
            if d.category is not None and "category" in d.confidence:
                d.confidence["category_l1"] = d.confidence["category"]
            ev = getattr(cls, "evidence", None)
            if isinstance(ev, dict):
                for f, sp in ev.items():
                    sp2 = _span({"span": sp})
                    if sp2 and sp2[1] <= len(text) and f not in d.evidence:
                        d.evidence[f] = list(sp2)

        # 4. company named by the caller
        # during the call only once a segment sounds like a company (the full match rescans it all)
        new = self.segments[-1]["text"] if self.segments else ""
        if (res.companies is not None and text
                and (final or self._company_seen or res.companies.has_mention(new))):
            self._company_seen = True
            m = res.companies.match(text, district=d.district)
            if m is not None:
                d.company = m.name
                d.confidence["company"] = round(m.confidence, 3)
                if m.span:
                    d.evidence["company"] = list(m.span)
                if m.candidates:
                    d.candidates["company"] = m.candidates

        # 5. routing (deadlines are the ticket system's: the pipeline adds them)
        if d.category:
            d.department, d.co_handler = tax.route(d.category, d.district, d.street)
            base = min(d.confidence.get("category", 0.5), d.confidence.get("district", 0.5) if d.district else 1.0)
            if d.department:
                d.confidence["department"] = round(base, 3)
            if d.co_handler:
                d.confidence["co_handler"] = round(base * (d.confidence.get("street", 0.7) if d.street else 1.0), 3)

        # 6. knowledge base: what the caller asks; consultations get every fitting article, other calls strong ones
        consult = d.appeal_type == "咨询" or any(
            c["value"] == "咨询" and c["confidence"] >= CONSULT_P for c in d.candidates.get("appeal_type", []))
        if res.kb is not None and text:
            if self._kb_cache is None or self._kb_cache[0] != (text, final):   # by the caller's lines
                self._kb_cache = ((text, final), res.kb.search_call(text, k=KB_TOP, other=final))
            # a 求助/投诉 the KB answers gets its suggestion too, only when the article fits well
            hits = res.kb.suggest(self._kb_cache[1], consult, d.appeal_type)
            d.kb_ids = [h.id for h in hits]
            if hits:
                s1, s2 = hits[0].score, (hits[1].score if len(hits) > 1 else 0.0)
                d.confidence["kb_ids"] = round(min(0.99, 0.5 + (s1 - s2) / (2 * s1)) if s1 > 0 else 0.0, 3)
                d.candidates["kb_ids"] = [{"value": h.id, "confidence": round(h.score, 3)} for h in hits]

        # 7. one-line title
        kb_title = None
        if d.kb_ids and res.kb is not None and d.confidence.get("kb_ids", 0) >= 0.5:
            art = res.kb.by_id.get(d.kb_ids[0])
            kb_title = art.title if art else None
        key = d.evidence.get("category")
        d.summary = make_summary(d, text, kb_title=kb_title, key_span=tuple(key) if key else None)
        if d.summary:
            d.confidence["summary"] = round(min(d.confidence.get("category", 0.5), 0.9), 3)
        d.timings = dict(self._draft.timings)
        return d


def _offset_map(raw: str, text: str):
    """Map character offsets of ``raw`` onto ``text`` (a corrected copy whose lengths differ)."""
    import difflib

    ops = difflib.SequenceMatcher(None, raw, text, autojunk=False).get_opcodes()

    def f(i: int) -> int:
        for _tag, a0, a1, b0, b1 in ops:
            if a0 <= i < a1 or (i == a1 == len(raw)):
                return min(b1, b0 + (i - a0)) if _tag == "equal" else (b0 if i == a0 else b1)
        return len(text)

    return f


def extract_text(transcript: str, call_id: str | None = None, resources: NlpResources | None = None) -> DraftTicket:
    """Draft ticket from a whole transcript (turns separated by newlines)."""
    ex = Extractor(resources, call_id=call_id)
    t = 0.0
    for i, line in enumerate(ln for ln in transcript.split("\n") if ln.strip()):
        dur = max(1.0, len(line) / 4.5)  # ~4.5 chars/s of Mandarin speech; only for the segment list
        ex.update({"id": i, "start": round(t, 2), "end": round(t + dur, 2), "text": line,
                   "speaker": None, "final": True})
        t += dur + 0.5
    return ex.finalize()
