"""Per-field accuracy of draft tickets against labelled calls.

``score_fields(label, draft)`` gives True / False per field, or None where the label does not
apply (the field is left out of that field's accuracy):

* company, caller_name, phone: a null label (the caller names none) is None when the draft is
  also empty and False when the draft invents one — a false positive is an error, a correct
  silence is not counted as a success.
* caller_name: the name as the draft writes it; or, when the draft marks it unconfirmed
  (``caller_name_confirmed`` false: the surname was said, not spelled, and other common surnames
  sound the same -- 何/贺, 唐/汤), the label among ``caller_name_candidates``: the operator asks
  哪个字 and picks it. A confirmed (spelled) surname counts only with the right character.
* kb_id_top3: None unless the label has a kb_id; True when it is among the draft's first 3 kb_ids.
* address: both normalised (上海市 dropped, Chinese numerals → digits, punctuation out) and equal,
  or the same roads and house numbers: the label's first road (and crossing road) are in the
  draft, the label's numbers (号/弄/室/号楼/栋/幢) are all in the draft and the draft has no
  number the label lacks; an address without road or number (a compound, a building) must
  match closely (fuzzy ratio ≥ 85 after dropping district/street). A null label wants a null draft.
* every other field: equal (null == null is True).

``python -m nlp.evaluate DIR`` runs the extractor on DIR/labels.jsonl transcripts (text only) and
prints the table; ``--errors`` lists every wrong field; ``--transcripts asr.jsonl`` extracts from
other transcripts ({id, text} per line, e.g. saved ASR output) and scores them against the labels;
an ASR eval dump ({"calls": [{id, text_16k, text_8k}]}) is read too, ``--text-key text_8k`` picks the text.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from nlp.entities import cn_numbers_to_digits, cn_to_int  # noqa: F401  (cn_to_int re-exported)

FIELDS = ["district", "street", "road", "address", "appeal_type", "category", "category_l1", "urgency",
          "department", "co_handler", "company", "caller_name", "phone", "kb_id_top3"]
_OPTIONAL = ("company", "caller_name", "phone")

_PUNCT = re.compile(r"[\s，,。！!？?、；;：:“”\"'（）()·\-—]+")
_ROAD = re.compile(r"[\u4e00-\u9fff]{1,6}?(?:公路|大道|大街|路|街)(?!道)")
_NUM = re.compile(r"\d+(?:号楼|号(?!线)|弄|室|栋|幢)")
# words around a place that are not part of a road name (嘉宏小学附近路口 has no road 嘉宏小学附近路)
_NOT_ROAD = re.compile(r"附近|旁边|旁|对面|靠近|近|门口|出口|入口|以[东南西北]|往[东南西北]|的|和|与")
_PREFIX = re.compile(r"^(?:上海市|上海)?(?:[\u4e00-\u9fff]{1,3}(?:新区|区))?(?:[\u4e00-\u9fff]{1,6}?(?:街道|镇|乡))?")


def normalize_address(s: str | None) -> str | None:
    if s is None:
        return None
    s = _PUNCT.sub("", str(s))
    s = cn_numbers_to_digits(s)
    s = re.sub(r"^上海市?", "", s)
    return s or None


def _strip_prefix(s: str) -> str:
    return _PREFIX.sub("", s, count=1)


def address_equal(label: str | None, draft: str | None) -> bool:
    a, b = normalize_address(label), normalize_address(draft)
    if a is None or b is None:
        return a is None and b is None
    if a == b:
        return True
    la, lb = _strip_prefix(a), _strip_prefix(b)
    # a station named after a road (南京西路地铁站) is a landmark, not the address's road
    la, lb = (re.sub(r"[\u4e00-\u9fff]{1,6}?路(?:地铁)?站", "", x) for x in (la, lb))
    roads_a = [r for part in _NOT_ROAD.split(la) for r in _ROAD.findall(part)]
    roads_b = [r for part in _NOT_ROAD.split(lb) for r in _ROAD.findall(part)]
    nums_a, nums_b = set(_NUM.findall(la)), set(_NUM.findall(lb))
    if roads_a or nums_a:
        if roads_a and roads_a[0] not in roads_b:
            return False
        if len(roads_a) > 1 and roads_a[1] not in roads_b and (roads_a[1] + "口") in la:
            return False  # a crossing (X路Y路口) must name the same cross street
        return nums_a <= nums_b and nums_b <= nums_a
    from rapidfuzz import fuzz

    return fuzz.ratio(la, lb) >= 85 or (len(la) >= 4 and la in lb) or (len(lb) >= 4 and lb in la)


def _clean(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def score_fields(label: dict, draft: dict) -> dict[str, bool | None]:
    """True/False per field of FIELDS, None where the label does not apply (see module doc)."""
    if hasattr(draft, "to_dict"):
        draft = draft.to_dict()
    out: dict[str, bool | None] = {}
    for f in FIELDS:
        if f == "kb_id_top3":
            want = _clean(label.get("kb_id"))
            out[f] = None if want is None else want in list(draft.get("kb_ids") or [])[:3]
            continue
        want, got = _clean(label.get(f)), _clean(draft.get(f))
        if f == "address":
            out[f] = address_equal(want, got)
        elif f in _OPTIONAL and want is None:
            out[f] = None if got is None else False
        elif f == "caller_name" and draft.get("caller_name_confirmed") is False:
            out[f] = want == got or want in list(draft.get("caller_name_candidates") or [])
        else:
            out[f] = want == got
    return out


def summarize(rows: Iterable[dict[str, bool | None]]) -> dict[str, dict]:
    """{field: {"n": scored calls, "correct": k, "accuracy": k/n or None}} plus "_all" (micro)."""
    rows = list(rows)
    out: dict[str, dict] = {}
    tn = tk = 0
    for f in FIELDS:
        vals = [r.get(f) for r in rows if r.get(f) is not None]
        k = sum(1 for v in vals if v)
        out[f] = {"n": len(vals), "correct": k, "accuracy": (k / len(vals)) if vals else None}
        tn += len(vals)
        tk += k
    out["_all"] = {"n": tn, "correct": tk, "accuracy": (tk / tn) if tn else None}
    return out


def _read_transcripts(path: Path, key: str | None = None) -> dict[str, str]:
    """{id: text} from a JSONL of {"id", "text"|"transcript"} (e.g. saved ASR output), or from one
    JSON object {"calls": [{"id", <key>: text}, ...]} (an ASR eval dump: key e.g. text_8k)."""
    raw = Path(path).read_text(encoding="utf-8")
    try:
        whole = json.loads(raw)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("calls"), list):
        out = {}
        for c in whole["calls"]:
            text = c.get(key or "text")
            if text is None and key is None:
                text = c.get("transcript")
            if "id" not in c or text is None:
                raise ValueError(f"{path}: every call needs id and {key or 'text'}")
            out[c["id"]] = text
        return out
    out = {}
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            k = key or ("text" if d.get("text") is not None else "transcript")
            out[d["id"]] = d[k]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: need a JSON object with id and {key or 'text'} ({e})") from None
    return out


def evaluate_dir(root: Path, show_errors: bool = False, limit: int | None = None,
                 transcripts: Path | None = None, text_key: str | None = None) -> dict:
    from nlp.extract import extract_text, load_resources

    labels_file = Path(root) / "labels.jsonl"
    if not labels_file.is_file():
        raise FileNotFoundError(f"{labels_file} not found")
    labels = [json.loads(ln) for ln in labels_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
    labels = labels[:limit] if limit else labels
    if transcripts is not None:   # score other transcripts (ASR output) against the same labels
        texts = _read_transcripts(transcripts, text_key)
        labels = [dict(lab, transcript=texts[lab["id"]]) for lab in labels if lab.get("id") in texts]
    res = load_resources()
    if res.missing:
        print(f"note: nlp parts not loaded: {res.missing}", file=sys.stderr)
    rows, errors, times = [], [], []
    for lab in labels:
        t0 = time.perf_counter()
        draft = extract_text(lab["transcript"], call_id=lab.get("id"), resources=res).to_dict()
        times.append(time.perf_counter() - t0)
        sc = score_fields(lab, draft)
        rows.append(sc)
        for f, ok in sc.items():
            if ok is False:
                got = draft.get("kb_ids") if f == "kb_id_top3" else draft.get(f)
                want = lab.get("kb_id") if f == "kb_id_top3" else lab.get(f)
                if f == "caller_name" and draft.get("caller_name_confirmed") is False:
                    got = f"{got} (unconfirmed: {'/'.join(draft.get('caller_name_candidates') or [])})"
                errors.append({"id": lab.get("id"), "field": f, "label": want, "draft": got})
    summary = summarize(rows)
    return {"summary": summary, "errors": errors, "calls": len(labels),
            "extract_text_s_mean": sum(times) / max(len(times), 1)}


def print_table(summary: dict) -> None:
    print(f"{'field':<14} {'n':>4} {'correct':>8} {'accuracy':>9}")
    for f in FIELDS + ["_all"]:
        s = summary[f]
        acc = f"{s['accuracy']:.3f}" if s["accuracy"] is not None else "-"
        print(f"{f:<14} {s['n']:>4} {s['correct']:>8} {acc:>9}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.evaluate",
                                 description="Per-field accuracy of draft tickets from labelled transcripts (text only).")
    ap.add_argument("dir", help="folder with labels.jsonl (e.g. /work/shared/corpus/dev)")
    ap.add_argument("--errors", action="store_true", help="list every wrong field")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON line with the summary")
    ap.add_argument("--transcripts", type=Path, default=None,
                    help="JSONL of {id, text} to extract from instead of the label transcripts (e.g. ASR output), "
                         "or a JSON object {calls: [{id, text_16k, text_8k, ...}]} with --text-key")
    ap.add_argument("--text-key", default=None,
                    help="field holding the text in --transcripts (default text, else transcript; e.g. text_8k)")
    args = ap.parse_args(argv)
    try:
        out = evaluate_dir(Path(args.dir), limit=args.limit, transcripts=args.transcripts,
                           text_key=args.text_key)
    except (FileNotFoundError, ValueError) as e:
        print(f"nlp.evaluate: {e}", file=sys.stderr)
        return 1
    print_table(out["summary"])
    print(f"calls {out['calls']}, extract_text mean {out['extract_text_s_mean'] * 1000:.1f} ms")
    if args.errors:
        for e in out["errors"]:
            print(f"  {e['id']} {e['field']}: label={e['label']!r} draft={e['draft']!r}")
    if args.json:
        print(json.dumps({"calls": out["calls"], "fields": {f: v["accuracy"] for f, v in out["summary"].items()}},
                         ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
