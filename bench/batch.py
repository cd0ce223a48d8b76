"""Batch throughput and accuracy: `hotline transcribe` vs plain faster-whisper, side by side.

    python bench/batch.py                       # the dev corpus (16 kHz files), workers 2 and 4
    python bench/batch.py --rates 16k 8k --limit 10 --workers 2

For each worker count, runs `hotline transcribe CORPUS --out DIR --workers N` in a subprocess and
measures wall time, audio seconds per wall second (x real time), peak RSS of the process and the
mean CER against labels.jsonl. The baseline runs the same files through plain faster-whisper
`WhisperModel.transcribe(path, language="zh", vad_filter=True, beam_size=5)` on the same model
(what a user would get without this project) in its own subprocess. CER for both is computed
after the same normalisation (Traditional -> Simplified, no punctuation, numerals as digits), so
the baseline is not penalised for writing Traditional characters.
Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import emit, machine as host_machine  # noqa: E402
from stt.metrics import cer  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
FALLBACK_CORPUS = ROOT / "tests" / "data" / "calls"


def pick_files(corpus: Path, rates: list[str], limit: int | None) -> list[Path]:
    files = []
    for p in sorted(corpus.glob("*.wav")):
        rate = "8k" if p.name.endswith(".8k.wav") else "16k"
        if rate in rates:
            files.append(p)
    return files[:limit] if limit else files


def labels(corpus: Path) -> dict[str, str]:
    out = {}
    for line in (corpus / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out[d["id"]] = d["transcript"]
    return out


def call_id(path: Path) -> str:
    return path.name.removesuffix(".wav").removesuffix(".8k")


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB of the process tree, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                rss = sum(q.memory_info().rss for q in [p, *p.children(recursive=True)])
                peak = max(peak, rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{err[-2000:]}")
    sys.stderr.write(err.strip().splitlines()[-1] + "\n" if err.strip() else "")
    return wall, peak / 2**20, out


def ours(files: list[Path], workers: int, tmp: Path, env: dict, batch: int | None = None) -> dict:
    src = tmp / "in"
    out = tmp / f"ours-w{workers}"
    hotline = str(Path(sys.executable).parent / "hotline")
    extra = ["--batch", str(batch)] if batch else []
    wall, rss, _ = run_measured([hotline, "transcribe", *map(str, files), "--out", str(out), "--workers", str(workers),
                                 *extra], env)
    texts, audio = {}, 0.0
    for p in files:
        doc = json.loads((out / (p.name.removesuffix(".wav") + ".json")).read_text(encoding="utf-8"))
        texts[p.name] = "".join(s["text"] for s in doc["segments"])
        audio += doc["duration"]
    del src
    return {"wall_s": wall, "rss_mib": rss, "texts": texts, "audio_s": audio}


BASELINE = r"""
import json, sys, time
from faster_whisper import WhisperModel
from models import resolve_model_dir
model = WhisperModel(str(resolve_model_dir()), device="cpu", compute_type="int8")
for path in sys.argv[1:]:
    t0 = time.perf_counter()
    segments, info = model.transcribe(path, language="zh", vad_filter=True, beam_size=5)
    text = "".join(s.text for s in segments)
    print(json.dumps({"file": path, "text": text, "audio_s": info.duration, "s": time.perf_counter() - t0}, ensure_ascii=False), flush=True)
"""


def baseline(files: list[Path], env: dict) -> dict:
    wall, rss, out = run_measured([sys.executable, "-c", BASELINE, *map(str, files)], {**env, "PYTHONPATH": str(ROOT)})
    texts, audio = {}, 0.0
    for line in out.splitlines():
        d = json.loads(line)
        texts[Path(d["file"]).name] = d["text"]
        audio += d["audio_s"]
    return {"wall_s": wall, "rss_mib": rss, "texts": texts, "audio_s": audio}


def score(run: dict, refs: dict[str, str]) -> dict:
    per = {name: cer(refs[call_id(Path(name))], text)[0] for name, text in run["texts"].items()}
    out = {k: v for k, v in run.items() if k != "texts"}
    out["x_realtime"] = run["audio_s"] / run["wall_s"] if run["wall_s"] else None
    out["cer_mean"] = sum(per.values()) / len(per) if per else None
    out["cer_max"] = max(per.values()) if per else None
    out["per_file_cer"] = {k: round(v, 4) for k, v in per.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else FALLBACK_CORPUS)
    ap.add_argument("--rates", nargs="+", default=["16k"], choices=["16k", "8k"])
    ap.add_argument("--limit", type=int, help="first N files only")
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--batch", type=int, help="hotline transcribe --batch (default: its own)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--out", type=Path, help="append the JSON line here too")
    args = ap.parse_args()

    files = pick_files(args.corpus, args.rates, args.limit)
    refs = labels(args.corpus)
    tmp = Path(tempfile.mkdtemp(prefix="hotline-batch-"))
    env = {**os.environ, "HOTLINE_HOME": str(tmp / "home")}
    runs = {}
    try:
        for w in args.workers:
            print(f"hotline transcribe, {len(files)} files, {w} worker(s) ...", file=sys.stderr, flush=True)
            runs[f"hotline_w{w}"] = score(ours(files, w, tmp, env, args.batch), refs)
        if not args.no_baseline:
            print(f"plain faster-whisper transcribe(vad_filter=True, beam 5), {len(files)} files ...", file=sys.stderr, flush=True)
            runs["faster_whisper_vad"] = score(baseline(files, env), refs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    machine = host_machine()
    print(f"\nbatch benchmark, {time.strftime('%Y-%m-%d %H:%M')} on {machine}; {len(files)} files ({', '.join(args.rates)}) from {args.corpus}")
    print("run | audio s | wall s | x real time | CER mean | CER max | peak RSS MiB")
    for name, r in runs.items():
        print(f"{name} | {r['audio_s']:.1f} | {r['wall_s']:.1f} | {r['x_realtime']:.1f} | {r['cer_mean']:.3f} | {r['cer_max']:.3f} | {r['rss_mib']:.0f}")
    base = runs.get("faster_whisper_vad")
    ratios = {}
    if base:
        for name, r in runs.items():
            if name != "faster_whisper_vad":
                ratios[name] = {"speedup_vs_baseline": round(base["wall_s"] / r["wall_s"], 2),
                                "cer_vs_baseline": round(r["cer_mean"] / base["cer_mean"], 3) if base["cer_mean"] else None}
                print(f"{name} vs baseline: {ratios[name]['speedup_vs_baseline']}x faster, CER ratio {ratios[name]['cer_vs_baseline']}")
    emit("batch", {"files": len(files), "rates": args.rates, "runs": runs, "ratios": ratios}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
