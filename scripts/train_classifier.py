"""Rebuild the shipped classifier pipeline nlp/data/classifier/ (deterministic, fixed seed).

    source .venv/bin/activate
    python scripts/train_classifier.py                      # ~2-4 min on 2 cores
    python scripts/train_classifier.py --eval /work/shared/corpus/dev/labels.jsonl
    python scripts/train_classifier.py --category-from nlp/data/classifier   # appeal side only, ~40 s/seed

Trains on synthetic calls from nlp/training/ (vocab.json + appeal.json + generate.py +
handwritten.jsonl) only; the labelled dev corpora are never trained on, ``--eval`` just reports
accuracy on one. The appeal cue groups come from the taxonomy's ``appeal_definitions``, the other
cues from nlp/training/cues.json; both are copied into the pipeline. The appeal textcat learns
from the caller's sentences only (operator formulas blanked, as at prediction time).
The appeal textcat is an ensemble: one member per seed of nlp/training/ensemble.json
("appeal_seeds", or --appeal-seeds), each trained on calls generated with its own seed; the
classifier averages their probabilities (one textcat's accuracy swings with its seed).
Combination weights (model vs cue rules, temperature) are fitted on a held-out slice of the
synthetic data and stored in the pipeline's hotline_cues/meta.json; the appeal type's come from
nlp/training/appeal_mix.json when it exists (fitted on the tuning set's real calls, transcript and
ASR text, by scripts/fit_appeal_mix.py).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import spacy  # noqa: E402
from spacy.training import Example  # noqa: E402
from spacy.util import fix_random_seed, minibatch  # noqa: E402

from nlp.classify import (APPEAL_MEMBER, APPEAL_PIPE, CATEGORY_PIPE, CUES_PIPE,  # noqa: E402
                          Classifier, CombineOptions)
from nlp.cues import appeal_cues_from_taxonomy  # noqa: E402
from nlp.training.generate import VOCAB, GenOptions, generate  # noqa: E402

SEED = 20240601
ENSEMBLE = ROOT / "nlp" / "training" / "ensemble.json"
APPEAL_MIX = ROOT / "nlp" / "training" / "appeal_mix.json"   # scripts/fit_appeal_mix.py


def ensemble_seeds(path: Path = ENSEMBLE) -> list[int]:
    """Seeds of the appeal ensemble's members (the first is the pipeline's own seed)."""
    if not path.is_file():
        return [SEED]
    return [int(x) for x in json.loads(path.read_text(encoding="utf-8"))["appeal_seeds"]] or [SEED]


def caller_example(nlp: spacy.Language, mask, e: dict, labels: list[str]) -> Example | None:
    """The appeal textcat's example: the caller's sentences only, as Classifier.analyse gives
    them; an operator read-back alone teaches nothing about the caller's request."""
    if e.get("kind") == "readback":
        return None
    masked = mask.mask(e["text"])
    caller = mask.caller_text(e["text"], masked)
    if not any(ch.isalnum() for ch in caller):
        caller = masked
    return Example.from_dict(nlp.make_doc(caller), {"cats": {a_: float(a_ == e["appeal_type"]) for a_ in labels}})


def train_member(seed: int, taxonomy: dict, cues: dict, a) -> spacy.Language:
    """One more appeal textcat for the ensemble: its own generated calls (seed), its own
    initialisation and order; same architecture and epochs as the first."""
    fix_random_seed(seed)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    ta = nlp.add_pipe("textcat", name=APPEAL_PIPE, config=bow(3, 2 ** 15))
    mask = nlp.add_pipe(CUES_PIPE)
    mask.initialize(cues=cues, meta={})
    labels = taxonomy["appeal_types"]
    for lab in labels:
        ta.add_label(lab)
    examples = generate(GenOptions(per_category=a.per_category, seed=seed, free_appeal=a.free_appeal))
    train_ex = [x for x in (caller_example(nlp, mask, e, labels) for e in examples) if x]
    ta.initialize(lambda: train_ex[:500], nlp=nlp, labels=labels)
    optimizer = nlp.create_optimizer()
    rng = random.Random(seed)
    for epoch in range(a.appeal_epochs):
        rng.shuffle(train_ex)
        losses: dict = {}
        for batch in minibatch(train_ex, size=32):
            nlp.update(batch, sgd=optimizer, drop=0.2, losses=losses, exclude=[CUES_PIPE])
        print(f"  member seed {seed} epoch {epoch + 1}/{a.appeal_epochs} "
              + " ".join(f"{k}={v:.2f}" for k, v in losses.items()), flush=True)
    return nlp


def bow(ngram: int, length: int) -> dict:
    return {"model": {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
                      "ngram_size": ngram, "no_output_layer": False, "length": length}}


def build(taxonomy: dict, cues: dict, hash_bits: int = 15) -> spacy.Language:
    # hashed char 1-3-gram features; the table size is what makes up the folder's size
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    ta = nlp.add_pipe("textcat", name=APPEAL_PIPE, config=bow(3, 2 ** 15))
    tc = nlp.add_pipe("textcat", name=CATEGORY_PIPE, config=bow(3, 2 ** hash_bits))
    nlp.add_pipe(CUES_PIPE)
    for a in taxonomy["appeal_types"]:
        ta.add_label(a)
    for c in taxonomy["categories"]:
        tc.add_label(c["code"])
    return nlp


def fit_combine(clf: Classifier, held: list[dict], appeal_prior: float = 0.5,
                category: CombineOptions | None = None) -> dict[str, CombineOptions]:
    """Per field: grid-search the mixing weights for accuracy (ties: lower log-loss), then
    the temperature for log-loss. `held` uses phrasings kept out of training. The weight of
    the appeal type's category prior is set, not fitted: the generator frames most calls
    independently of their topic on purpose, so synthetic calls cannot measure it."""
    analyses = [clf.analyse(ex["text"]) for ex in held]
    pairs_ = [(a, ex) for a, ex in zip(analyses, held) if a is not None]
    fitted: dict[str, CombineOptions] = {} if category is None else {"category": category}

    def run(field: str, o: CombineOptions, bins: list | None = None) -> tuple[float, float]:
        acc, nll, n = 0, 0.0, 0
        for an, ex in pairs_:
            if field == "appeal" and ex.get("kind") == "readback":
                continue   # an operator line alone says nothing about the caller's request
            if field == "category":
                p = clf._combine(o, an.category_model, an.category_cues, clf.category_labels, an.n_chars)
            else:
                p = clf.distributions(an, appeal_options=o, category_options=fitted["category"])[0]
            gold = ex["appeal_type" if field == "appeal" else "category"]
            top = max(p, key=p.get)
            acc += top == gold
            n += 1
            if bins is not None:
                bins.append((p[top], top == gold))
            nll -= math.log(max(p.get(gold, 0.0), 1e-9))
        return acc / n, nll / n

    for field in ("category", "appeal"):
        if field in fitted:   # kept from an existing pipeline (--category-from)
            continue
        best = None
        for mw in (0.3, 0.6, 1.0):
            for cw in (0.0, 0.3, 0.6, 1.0, 1.5):
                for pw in ((appeal_prior,) if field == "appeal" else (0.0,)):
                    for lu in (0.0, 100.0, 200.0):
                        o = CombineOptions(model_weight=mw, cue_weight=cw, prior_weight=pw, length_unit=lu)
                        acc, nll = run(field, o)
                        if best is None or (acc, -nll) > (best[0], -best[1]):
                            best = (acc, nll, o)
        acc, nll, o = best
        best_t = (nll, 1.0)
        for t in (0.3, 0.4, 0.5, 0.7, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0):
            o_t = CombineOptions(**{**o.__dict__, "temperature": t})
            best_t = min(best_t, (run(field, o_t)[1], t))
        fitted[field] = CombineOptions(**{**o.__dict__, "temperature": best_t[1]})
        pairs: list = []
        run(field, fitted[field], pairs)
        print(f"combine {field}: {fitted[field]} held-out acc={acc:.3f} nll={best_t[0]:.3f} "
              f"ECE={ece(pairs):.3f}", flush=True)
    return fitted


def ece(pairs: list[tuple[float, bool]], n_bins: int = 10) -> float:
    """Expected calibration error: |confidence - accuracy| averaged over confidence bins."""
    total = 0.0
    for b in range(n_bins):
        inside = [(c, ok) for c, ok in pairs if b / n_bins < c <= (b + 1) / n_bins]
        if inside:
            conf = sum(c for c, _ in inside) / len(inside)
            acc = sum(ok for _, ok in inside) / len(inside)
            total += len(inside) / len(pairs) * abs(conf - acc)
    return total


def appeal_prior(vocab: dict) -> dict[str, dict[str, float]]:
    """P(appeal type | category) from the generator's framing weights, smoothed."""
    out = {}
    for code, cat in vocab["categories"].items():
        w = {a: cat["appeal"].get(a, 0) + 0.2 for a in vocab["appeal_frames"]}
        z = sum(w.values())
        out[code] = {a: round(v / z, 4) for a, v in w.items()}
    return out


def evaluate_labels(clf: Classifier, path: Path) -> dict:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    hits = {"appeal_type": 0, "category": 0, "urgency": 0, "category_l1": 0}
    misses = []
    for r in rows:
        c = clf.predict(r["transcript"])
        got = {"appeal_type": c.appeal_type, "category": c.category, "urgency": c.urgency,
               "category_l1": c.category_l1}
        for k in hits:
            if got[k] == r[k]:
                hits[k] += 1
            else:
                misses.append((r["id"], k, r[k], got[k]))
    n = len(rows)
    print(f"eval on {path} ({n} calls): " + ", ".join(f"{k} {v}/{n} = {v / n:.1%}" for k, v in hits.items()))
    for m in misses:
        print("  miss", *m)
    return {k: v / n for k, v in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "nlp" / "data" / "classifier")
    ap.add_argument("--taxonomy", type=Path, default=ROOT / "nlp" / "data" / "taxonomy.json")
    ap.add_argument("--cues", type=Path, default=ROOT / "nlp" / "training" / "cues.json")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--appeal-epochs", type=int, default=3,
                    help="the appeal textcat stops earlier: past this it memorises the templates")
    ap.add_argument("--appeal-prior", type=float, default=0.5,
                    help="weight of P(appeal type | category) (how each category is usually framed)")
    ap.add_argument("--free-appeal", type=float, default=GenOptions.free_appeal,
                    help="share of examples whose appeal type ignores the category's usual framing")
    ap.add_argument("--hash-bits", type=int, default=14, help="category feature table: 2**bits rows")
    ap.add_argument("--per-category", type=int, default=GenOptions.per_category)
    ap.add_argument("--seed", type=int, default=None,
                    help="one appeal textcat with this seed (default: the ensemble's seeds, the first "
                         "of which is the pipeline's own)")
    ap.add_argument("--appeal-seeds", type=str, default=None,
                    help=f"comma-separated seeds of the appeal ensemble (default {ENSEMBLE.relative_to(ROOT)})")
    ap.add_argument("--dump", type=Path, default=None, help="also write the generated examples here (jsonl)")
    ap.add_argument("--category-from", type=Path, default=None,
                    help="keep this pipeline's category textcat and its mixing weights (e.g. the shipped "
                         "nlp/data/classifier): retrain the appeal side only, the category does not churn")
    ap.add_argument("--eval", type=Path, default=None, help="labels.jsonl to report accuracy on (never trained on)")
    a = ap.parse_args()

    t0 = time.time()
    seeds = ([a.seed] if a.seed is not None else
             [int(x) for x in a.appeal_seeds.split(",")] if a.appeal_seeds else ensemble_seeds())
    seed = seeds[0]
    fix_random_seed(seed)
    taxonomy = json.loads(a.taxonomy.read_text(encoding="utf-8"))
    cues = json.loads(a.cues.read_text(encoding="utf-8"))
    own = appeal_cues_from_taxonomy(taxonomy)
    if own is None:
        sys.exit(f"{a.taxonomy} has no appeal_definitions: the appeal cue groups live there")
    cues.update(own)
    examples = generate(GenOptions(per_category=a.per_category, seed=seed, free_appeal=a.free_appeal))
    if a.dump:
        a.dump.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8")
    rng = random.Random(seed)
    train = examples
    # held-out calls keep the categories' usual framing half the time, as real calls do
    held = generate(GenOptions(per_category=30, seed=seed + 1, free_appeal=0.5), split="held")
    print(f"{len(train)} training / {len(held)} held-out examples")

    nlp = build(taxonomy, cues, a.hash_bits)
    mask = nlp.get_pipe(CUES_PIPE)
    mask.initialize(cues=cues, meta={})
    appeal_labels = taxonomy["appeal_types"]
    codes = [c["code"] for c in taxonomy["categories"]]

    # spaCy's exclusive textcat checks that each example has one positive label, so each
    # component gets its own copy of the examples, with only its own labels
    # the appeal textcat sees the caller's sentences only, as Classifier.analyse gives them;
    # an operator read-back alone teaches it nothing about the caller's request
    def to_examples(e: dict) -> tuple[Example | None, Example]:
        cc = {c: float(c == e["category"]) for c in codes}
        return (caller_example(nlp, mask, e, appeal_labels),
                Example.from_dict(nlp.make_doc(mask.mask(e["text"])), {"cats": cc}))

    train_ex = [to_examples(e) for e in train]
    meta = {"categories": {c["code"]: {"l1": c["l1"], "urgency": c["urgency"]} for c in taxonomy["categories"]},
            "appeal_prior": appeal_prior(json.loads(VOCAB.read_text(encoding="utf-8"))),
            "trained_on": f"{len(train)} synthetic examples, seed {seed}"}
    nlp.get_pipe(APPEAL_PIPE).initialize(lambda: [x[0] for x in train_ex[:500] if x[0]], nlp=nlp, labels=appeal_labels)
    nlp.get_pipe(CATEGORY_PIPE).initialize(lambda: [x[1] for x in train_ex[:500]], nlp=nlp, labels=codes)
    mask.initialize(cues=cues, meta=meta)
    optimizer = nlp.create_optimizer()
    kept = None
    if a.category_from:
        src = spacy.load(a.category_from)
        if list(src.get_pipe(CATEGORY_PIPE).labels) != codes:
            sys.exit(f"{a.category_from}: its category labels differ from {a.taxonomy}")
        nlp.remove_pipe(CATEGORY_PIPE)
        nlp.add_pipe(CATEGORY_PIPE, source=src, before=CUES_PIPE)
        old = src.get_pipe(CUES_PIPE).meta.get("combine", {}).get("category")
        kept = CombineOptions(**old) if old else None
        origin = src.get_pipe(CUES_PIPE).meta.get("trained_on", "?").split("category textcat kept: ")[-1]
        meta["trained_on"] += " (appeal); category textcat kept: " + origin.split("; appeal ensemble")[0]
    n_epochs = a.appeal_epochs if a.category_from else a.epochs
    for epoch in range(n_epochs):
        rng.shuffle(train_ex)
        losses: dict = {}
        for batch in minibatch(train_ex, size=32):
            if epoch < a.appeal_epochs:
                nlp.update([x[0] for x in batch if x[0]], sgd=optimizer, drop=0.2, losses=losses,
                           exclude=[CATEGORY_PIPE, CUES_PIPE])
            if not a.category_from:
                nlp.update([x[1] for x in batch], sgd=optimizer, drop=0.2, losses=losses,
                           exclude=[APPEAL_PIPE, CUES_PIPE])
        print(f"epoch {epoch + 1}/{n_epochs} losses " + " ".join(f"{k}={v:.2f}" for k, v in losses.items())
              + f" ({time.time() - t0:.0f}s)", flush=True)

    prev = APPEAL_PIPE
    for i, s_ in enumerate(seeds[1:], 1):   # the ensemble's other members
        member = train_member(s_, taxonomy, cues, a)
        name = f"{APPEAL_MEMBER}{i}"
        nlp.add_pipe(APPEAL_PIPE, name=name, source=member, after=prev)
        prev = name
        print(f"appeal member {name} (seed {s_}) ({time.time() - t0:.0f}s)", flush=True)
    if len(seeds) > 1:
        meta["trained_on"] += f"; appeal ensemble of {len(seeds)} textcats, seeds {seeds}"
    mask.initialize(cues=cues, meta=meta)
    clf = Classifier(nlp)
    combine = fit_combine(clf, held, a.appeal_prior, kept)
    if APPEAL_MIX.is_file():
        # the appeal mix fitted on the tuning set's real calls (scripts/fit_appeal_mix.py): the
        # synthetic held-out calls come from the training generator and overrate the textcat
        combine["appeal"] = CombineOptions(**json.loads(APPEAL_MIX.read_text(encoding="utf-8"))["appeal"])
        print(f"combine appeal: {combine['appeal']} from {APPEAL_MIX.relative_to(ROOT)}", flush=True)
    meta["combine"] = {k: o.fitted() for k, o in combine.items()}
    mask.initialize(cues=cues, meta=meta)
    if a.out.exists():
        shutil.rmtree(a.out)
    nlp.to_disk(a.out)
    size = sum(f.stat().st_size for f in a.out.rglob("*") if f.is_file())
    print(f"saved {a.out} ({size / 1e6:.1f} MB) in {time.time() - t0:.0f}s")
    if a.eval:
        evaluate_labels(Classifier.load(a.out), a.eval)


if __name__ == "__main__":
    main()
