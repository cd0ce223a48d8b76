"""Where the time goes: a per-stage profile of the batch path, and the encoder's cost per window.

    python bench/stages.py                    # first 8 dev calls, 16 kHz and 8 kHz
    python bench/stages.py --limit 36 --rates 16k

Runs the whole pipeline (VAD, Whisper, digit second pass, place correction, extraction) on
recordings fed as fast as possible with ONE single-threaded decoder worker, so every stage runs
one after another and the stage times add up to the wall time (VAD and extraction run beside the
decoder thread, so the sum can pass the wall time a little). Each stage's time is exclusive: a
stage inside another keeps its own time (a digit second pass's encode counts as "encoder").
Prints CPU seconds per audio second per stage and what that means for throughput with one
single-threaded worker per core; then the encoder's cost for the window sizes the decoder can
use (the main lever on this model). Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import emit, machine as host_machine  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
FALLBACK_CORPUS = ROOT / "tests" / "data" / "calls"


class StageTimer:
    """Exclusive wall time per named stage; stages may nest (the inner one's time is its own)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._local = threading.local()  # a stack per thread: [name, started, time in children]
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str):
        stack = self._local.__dict__.setdefault("stack", [])
        frame = [name, time.perf_counter(), 0.0]
        stack.append(frame)
        try:
            yield
        finally:
            stack.pop()
            total = time.perf_counter() - frame[1]
            with self._lock:
                self.seconds[name] += total - frame[2]
                self.calls[name] += 1
            if stack:
                stack[-1][2] += total

    def wrap(self, owner, attr: str, name: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            with self.stage(name):
                return original(*args, **kwargs)

        setattr(owner, attr, timed)


class _TimedModel:
    """Stands in front of the CTranslate2 Whisper object: encode and generate are timed."""

    def __init__(self, model, timer: StageTimer) -> None:
        self._model, self._timer = model, timer

    def encode(self, *args, **kwargs):
        with self._timer.stage("encoder"):
            return self._model.encode(*args, **kwargs)

    def generate(self, *args, **kwargs):
        with self._timer.stage("decoder (generate)"):
            return self._model.generate(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def pick_files(corpus: Path, rates: list[str], limit: int) -> list[Path]:
    ids = sorted({p.name.split(".")[0] for p in corpus.glob("*.wav")})[:limit]
    files = []
    for i in ids:
        if "16k" in rates and (corpus / f"{i}.wav").exists():
            files.append(corpus / f"{i}.wav")
        if "8k" in rates and (corpus / f"{i}.8k.wav").exists():
            files.append(corpus / f"{i}.8k.wav")
    return files


def profile_pipeline(files: list[Path]) -> dict:
    import stt.digits
    import stt.whisper
    import stt.vad
    from config import Settings
    from models import ModelOptions
    from pipeline import Pipeline
    from stt.audio import load_audio
    from stt.transcribe import SharedDecoder, TranscriberOptions

    timer = StageTimer()
    options = TranscriberOptions(partials=False)
    decoder = SharedDecoder.load(ModelOptions(cpu_threads=1, workers=1), options)
    pipe = Pipeline.load(Settings(), store=None, decoder=decoder, options=options)
    whisper = decoder.decoder
    whisper.model.model = _TimedModel(whisper.model.model, timer)
    timer.wrap(stt.vad.SileroStream, "__call__", "VAD (Silero)")
    timer.wrap(whisper, "features", "log-mel features")
    timer.wrap(stt.whisper, "second_pass", "digit second pass")
    timer.wrap(stt.whisper, "postprocess", "text post-processing")
    if whisper.places is not None:
        timer.wrap(whisper.places, "correct", "place-name correction")
    if pipe.extractor_cls is not None:
        timer.wrap(pipe.extractor_cls, "update", "extraction (per final)")
        timer.wrap(pipe.extractor_cls, "finalize", "extraction (hang-up)")

    audio_s = 0.0
    t0 = time.perf_counter()
    for path in files:
        with timer.stage("audio file decoding"):
            audio = load_audio(path)
        audio_s += audio.duration
        session = pipe.open_call(call_id=path.stem, channels=audio.channels, adapt_hotwords=False)
        step = audio.sample_rate
        for i in range(0, audio.samples.shape[1], step):
            session.feed(audio.samples[:, i:i + step])
        session.end()
        print(f"  {path.name}: {audio.duration:.1f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    pipe.close()
    stages = dict(sorted(timer.seconds.items(), key=lambda kv: -kv[1]))
    # The decoder thread runs the model while the feeding thread runs VAD and extraction, so
    # with one worker the stages overlap a little; "other" is what is left of the wall time.
    stages["other (Python, queues, threads)"] = max(0.0, wall - sum(stages.values()))
    return {"files": len(files), "audio_s": audio_s, "wall_s": wall, "utterances": timer.calls.get("encoder", 0),
            "stages_s": stages, "per_audio_s": {k: v / audio_s for k, v in stages.items()}}


def encoder_cost(windows_s: list[float], repeats: int = 5) -> dict[str, float]:
    """Seconds per encoder call on one thread for a window of that many seconds of audio."""
    import ctranslate2
    from faster_whisper import WhisperModel

    from models import resolve_model_dir

    model = WhisperModel(str(resolve_model_dir()), device="cpu", compute_type="int8", cpu_threads=1,
                         local_files_only=True)
    out = {}
    for w in windows_s:
        frames = int(w * 100)
        x = np.random.default_rng(0).standard_normal((1, 80, frames)).astype(np.float32) * 0.1
        model.model.encode(ctranslate2.StorageView.from_array(x))  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            model.model.encode(ctranslate2.StorageView.from_array(x))
        out[f"{w:g}s"] = (time.perf_counter() - t0) / repeats
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else FALLBACK_CORPUS)
    ap.add_argument("--rates", nargs="+", default=["16k", "8k"], choices=["16k", "8k"])
    ap.add_argument("--limit", type=int, default=8, help="first N calls")
    ap.add_argument("--out", type=Path, help="append the JSON line here too")
    args = ap.parse_args()

    files = pick_files(args.corpus, args.rates, args.limit)
    print(f"profiling {len(files)} file(s) with one single-threaded decoder worker ...", file=sys.stderr)
    prof = profile_pipeline(files)
    enc = encoder_cost([3, 5, 10, 15, 30])

    print(f"\nstage profile, {time.strftime('%Y-%m-%d %H:%M')} on {host_machine()}; {prof['files']} files, "
          f"{prof['audio_s']:.0f} s audio, {prof['utterances']} encoder calls, wall {prof['wall_s']:.1f} s")
    print("stage | seconds | s per audio s | share")
    total = sum(prof["stages_s"].values())
    for name, s in prof["stages_s"].items():
        print(f"{name} | {s:.1f} | {s / prof['audio_s']:.4f} | {100 * s / total:.1f} %")
    per_audio = total / prof["audio_s"]
    print(f"all | {total:.1f} | {per_audio:.4f} | 100 %  -> one worker {1 / per_audio:.1f}x real time; "
          f"one single-threaded worker per core on 2 cores at best {2 / per_audio:.1f}x")
    print("encoder window | s per call (1 thread)")
    for w, s in enc.items():
        print(f"{w} | {s:.3f}")
    emit("stages", {**prof, "encoder_s_per_call_1thread": enc, "x_realtime_one_worker": 1 / per_audio}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
