"""Extraction speed over labelled transcripts: full pass per call (finalize) and per incremental update.

    python bench/extract.py [DIR]        # DIR with labels.jsonl; default /work/shared/corpus/dev,
                                         # else the shipped tests/data/calls
Prints a per-call table and one JSON line. Targets: finalize < 50 ms per call, update < 10 ms.
Numbers measured while other processes share the CPU are noisy.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.extract import Extractor, load_resources  # noqa: E402


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] if xs else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", nargs="?", default=None)
    ap.add_argument("--repeat", type=int, default=3, help="runs per call; the fastest is kept (less noise)")
    args = ap.parse_args(argv)
    root = Path(args.dir) if args.dir else next(
        (p for p in (Path("/work/shared/corpus/dev"), ROOT / "tests" / "data" / "calls") if (p / "labels.jsonl").is_file()), None)
    if root is None or not (root / "labels.jsonl").is_file():
        print("bench/extract.py: no labels.jsonl found", file=sys.stderr)
        return 1
    labels = [json.loads(x) for x in (root / "labels.jsonl").read_text("utf-8").splitlines() if x.strip()]
    t0 = time.perf_counter()
    res = load_resources()
    load_s = time.perf_counter() - t0
    if res.missing:
        print(f"note: parts not loaded: {res.missing}", file=sys.stderr)
    # warm-up: first calls pay for lazy caches (pinyin, jieba, spaCy)
    for lab in labels[:2]:
        ex = Extractor(res)
        for i, turn in enumerate(lab["turns"]):
            ex.update({"id": i, "start": turn["start"], "end": turn["end"], "text": turn["text"], "final": True})
        ex.finalize()

    rows, all_updates = [], []
    print(f"{'call':<10} {'chars':>6} {'segs':>5} {'final ms':>9} {'upd mean':>9} {'upd max':>8}")
    for lab in labels:
        best_final, best_upd = float("inf"), None
        for _ in range(max(1, args.repeat)):
            ex = Extractor(res, call_id=lab["id"])
            upd = []
            for i, turn in enumerate(lab["turns"]):
                t = time.perf_counter()
                ex.update({"id": i, "start": turn["start"], "end": turn["end"], "text": turn["text"],
                           "speaker": None, "final": True})
                upd.append(time.perf_counter() - t)
            t = time.perf_counter()
            ex.finalize()
            fin = time.perf_counter() - t
            if fin < best_final:
                best_final = fin
            if best_upd is None or statistics.mean(upd) < statistics.mean(best_upd):
                best_upd = upd
        all_updates += best_upd
        rows.append({"id": lab["id"], "chars": len(lab["transcript"]), "segments": len(best_upd),
                     "finalize_ms": best_final * 1000, "update_mean_ms": statistics.mean(best_upd) * 1000,
                     "update_max_ms": max(best_upd) * 1000})
        r = rows[-1]
        print(f"{r['id']:<10} {r['chars']:>6} {r['segments']:>5} {r['finalize_ms']:>9.1f} "
              f"{r['update_mean_ms']:>9.2f} {r['update_max_ms']:>8.2f}")
    fins = [r["finalize_ms"] for r in rows]
    upds = [u * 1000 for u in all_updates]
    out = {"bench": "extract", "calls": len(rows), "updates": len(upds), "load_s": round(load_s, 3),
           "finalize_ms_mean": round(statistics.mean(fins), 2), "finalize_ms_p95": round(_pct(fins, 0.95), 2),
           "finalize_ms_max": round(max(fins), 2), "update_ms_mean": round(statistics.mean(upds), 3),
           "update_ms_p95": round(_pct(upds, 0.95), 3), "update_ms_max": round(max(upds), 3),
           "targets": {"finalize_ms": 50, "update_ms": 10}, "missing": sorted(res.missing)}
    print(f"finalize: mean {out['finalize_ms_mean']} ms, p95 {out['finalize_ms_p95']}, max {out['finalize_ms_max']} | "
          f"update: mean {out['update_ms_mean']} ms, p95 {out['update_ms_p95']}, max {out['update_ms_max']}")
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
