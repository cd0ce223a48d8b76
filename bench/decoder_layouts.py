"""How to spend the cores on the decoder: replicas x threads, prompt length and beam size.

    python bench/decoder_layouts.py              # the first 6 dev calls (16 kHz), VAD-cut utterances
    python bench/decoder_layouts.py --calls 2

Decodes the same utterances (cut by our streaming VAD) with the stt decoder, no digit pass, in
three layouts: one model with 2 threads, one with 1 thread, two single-threaded replicas decoding
in two threads (what `SharedDecoder` does by default on 2 cores); then, on one thread, the cost
per utterance of the 175-token domain prompt vs none, and of beam 5 / 3 / 1. Speed only: accuracy
comes from `hotline eval`. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import emit, machine as host_machine  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
FALLBACK_CORPUS = ROOT / "tests" / "data" / "calls"


def utterances(corpus: Path, calls: int) -> list:
    from stt.audio import load_audio
    from stt.vad import StreamingVad

    out = []
    for path in sorted(p for p in corpus.glob("*.wav") if ".8k" not in p.name)[:calls]:
        audio = load_audio(path).samples[0]
        vad = StreamingVad()
        out += [audio[e.start:e.end] for e in vad.feed(audio) + vad.flush() if e.kind == "end" and e.end]
    return out


def _model(threads: int, replicas: int):
    from models import ModelOptions, load_whisper

    return load_whisper(ModelOptions(cpu_threads=threads, workers=replicas))


def _decoder(model, **options):
    from stt.transcribe import TranscriberOptions, WhisperDecoder

    opts = TranscriberOptions(**options)
    opts.digits.enabled = False
    return WhisperDecoder(model, opts)


def layout(utts: list, threads: int, replicas: int) -> float:
    """Wall seconds to decode every utterance (beam 5) with `replicas` threads pulling in turn."""
    model = _model(threads, replicas)
    decoders = [_decoder(model) for _ in range(replicas)]
    decoders[0].decode([utts[0]])  # warm-up

    def run(k: int) -> None:
        for u in utts[k::replicas]:
            decoders[k].decode([u])

    t0 = time.perf_counter()
    workers = [threading.Thread(target=run, args=(k,)) for k in range(replicas)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0


def per_utterance(utts: list, **options) -> float:
    """Seconds per utterance on one thread (encoder + generate) with these decoder options."""
    beam = options.pop("beam_size", 5)
    decoder = _decoder(_model(1, 1), beam_size=beam, place_correction=False, **options)
    decoder.decode([utts[0]])
    t0 = time.perf_counter()
    for u in utts:
        decoder.decode([u], beam_size=beam)
    return (time.perf_counter() - t0) / len(utts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else FALLBACK_CORPUS)
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--out", type=Path, help="append the JSON line here too")
    args = ap.parse_args()

    utts = utterances(args.corpus, args.calls)
    audio_s = sum(len(u) for u in utts) / 16000
    print(f"{len(utts)} utterances, {audio_s:.0f} s of audio ...", file=sys.stderr, flush=True)
    layouts = {f"{r} replica(s) x {t} thread(s)": audio_s / layout(utts, t, r) for t, r in ((2, 1), (1, 1), (1, 2))}
    costs = {
        "beam 5, domain prompt": per_utterance(utts),
        "beam 5, no prompt": per_utterance(utts, initial_prompt=""),
        "beam 3, domain prompt": per_utterance(utts, beam_size=3),
        "beam 1, domain prompt": per_utterance(utts, beam_size=1),
    }
    print(f"\ndecoder layouts, {time.strftime('%Y-%m-%d %H:%M')} on {host_machine()}; "
          f"{len(utts)} utterances, {audio_s:.0f} s of audio")
    print("layout | x real time")
    for name, x in layouts.items():
        print(f"{name} | {x:.1f}")
    print("one thread | s per utterance")
    for name, s in costs.items():
        print(f"{name} | {s:.3f}")
    emit("decoder_layouts", {"utterances": len(utts), "audio_s": audio_s, "x_realtime": layouts,
                             "s_per_utterance_1thread": costs}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
