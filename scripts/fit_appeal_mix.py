"""Fit how the appeal type mixes the textcat with the cue rules, on the tuning set's real calls.

    python scripts/fit_appeal_mix.py ../shared/corpus/dev --asr dev.json     # dev.json: hotline eval --out
    python scripts/fit_appeal_mix.py ../shared/corpus/dev --asr dev.json --write

scripts/train_classifier.py fits the mixing weights (model weight, cue weight, length scaling,
temperature) on held-out *synthetic* calls. Those come from the same generator as the training
text, so they overrate the textcat: on real calls its confident mistakes (a 举报 call read as
投诉 at 0.96) outvote the cue groups of the centre's definitions. This script grid-searches the
appeal weights on the labelled tuning calls instead, from their text and, with ``--asr``, from the
ASR text of a saved ``hotline eval --out`` run (16 and 8 kHz): the most calls right, ties to the
lower log-loss, then the temperature for log-loss. ``--write`` stores the result in
nlp/training/appeal_mix.json (which scripts/train_classifier.py uses instead of its synthetic fit)
and in the shipped pipeline's meta. Only the tuning set is read: held-out and fresh-call sets
stay measures, never inputs.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.classify import DEFAULT_PATH, Classifier, CombineOptions  # noqa: E402
from scripts.train_classifier import APPEAL_MIX as MIX_FILE  # noqa: E402

GRID = {"model_weight": (0.3, 0.5, 0.7, 1.0), "cue_weight": (0.5, 1.0, 1.5, 2.0),
        "prior_weight": (0.25, 0.5), "length_unit": (0.0, 200.0)}
TEMPERATURES = (0.5, 0.7, 1.0, 1.3, 1.6, 2.0, 2.5)


def load_calls(corpus: Path, asr: Path | None) -> list[tuple[str, str, str]]:
    """(source, text, label) for every labelled call: its transcript, and its ASR texts."""
    labels = {}
    for line in (corpus / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            labels[d["id"]] = d
    out = [("text", d["transcript"], d["appeal_type"]) for d in labels.values() if d.get("appeal_type")]
    if asr is not None:
        for c in json.loads(asr.read_text(encoding="utf-8")).get("calls", []):
            lab = labels.get(c.get("id"), {}).get("appeal_type")
            for key in ("text_16k", "text_8k"):
                if lab and c.get(key):
                    out.append((key, c[key], lab))
    return out


def score(clf: Classifier, analyses: list, o: CombineOptions) -> tuple[int, float]:
    right, nll = 0, 0.0
    for a, gold in analyses:
        p = clf.distributions(a, appeal_options=o)[0]
        right += max(p, key=p.get) == gold
        nll -= math.log(max(p.get(gold, 0.0), 1e-9))
    return right, nll / max(1, len(analyses))


def analyse(clf: Classifier, calls: list[tuple[str, str, str]]) -> list[tuple]:
    """(analysis, label) per text: the model and cue outputs, computed once for every mix tried."""
    return [(a, gold) for _, text, gold in calls if (a := clf.analyse(text)) is not None]


def fit(clf: Classifier, calls: list[tuple[str, str, str]],
        analyses: list[tuple] | None = None) -> tuple[CombineOptions, int, float]:
    analyses = analyses if analyses is not None else analyse(clf, calls)
    best = None
    for values in itertools.product(*GRID.values()):
        o = CombineOptions(**dict(zip(GRID, values)), cue_cap=clf.appeal_options.cue_cap)
        right, nll = score(clf, analyses, o)
        if best is None or (right, -nll) > (best[1], -best[2]):
            best = (o, right, nll)
    o, right, _ = best
    t_best = min(TEMPERATURES, key=lambda t: score(clf, analyses, CombineOptions(**{**o.__dict__, "temperature": t}))[1])
    o = CombineOptions(**{**o.__dict__, "temperature": t_best})
    return o, right, score(clf, analyses, o)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="the tuning set: a folder with labels.jsonl")
    ap.add_argument("--asr", type=Path, default=None, help="a `hotline eval --out` JSON of the same calls")
    ap.add_argument("--classifier", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--write", action="store_true", help="store the fit (appeal_mix.json + the pipeline's meta)")
    a = ap.parse_args()
    if not (a.corpus / "labels.jsonl").is_file():
        sys.exit(f"{a.corpus}/labels.jsonl not found")
    clf = Classifier.load(a.classifier)
    calls = load_calls(a.corpus, a.asr)
    before = clf.appeal_options
    analyses = analyse(clf, calls)
    r0, n0 = score(clf, analyses, before)
    o, r1, n1 = fit(clf, calls, analyses)
    print(f"{len(calls)} texts ({', '.join(sorted({s for s, _, _ in calls}))})")
    print(f"current: {before}: {r0}/{len(analyses)} right, log-loss {n0:.3f}")
    print(f"fitted:  {o}: {r1}/{len(analyses)} right, log-loss {n1:.3f}")
    if not a.write:
        return
    mix = {"about": ("How the appeal type mixes the textcat with the cue rules (nlp/classify.py CombineOptions), "
                     "fitted on the tuning set's real calls by scripts/fit_appeal_mix.py "
                     f"({a.corpus.name}: {len(calls)} texts, transcript and ASR); "
                     "scripts/train_classifier.py uses it instead of its fit on synthetic calls."),
           "appeal": o.fitted()}
    MIX_FILE.write_text(json.dumps(mix, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    meta_path = a.classifier / "hotline_cues" / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("combine", {})["appeal"] = mix["appeal"]
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {MIX_FILE.relative_to(ROOT)} and {meta_path}")


if __name__ == "__main__":
    main()
