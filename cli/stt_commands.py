"""`hotline transcribe | replay | process | eval`: the speech side of the pipeline from the shell."""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


# -- shared options ----------------------------------------------------------------------------
def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model-dir", help="CTranslate2 Whisper folder (default: bundled base; env HOTLINE_MODEL_DIR)")
    g.add_argument("--device", help="cpu or cuda (env HOTLINE_DEVICE, default cpu)")
    g.add_argument("--compute-type", help="int8, float16, float32, ... (env HOTLINE_COMPUTE_TYPE, default int8)")
    g.add_argument("--cpu-threads", type=int,
                   help="CTranslate2 threads per decoder worker (env HOTLINE_CPU_THREADS; 0 = auto: 1 on CPU)")
    g.add_argument("--decoder-workers", type=int,
                   help="model replicas decoding in parallel (env HOTLINE_DECODER_WORKERS; 0 = auto: one per core)")
    g.add_argument("--encoder", choices=("short", "full"), default="short",
                   help="encode only the utterance's frames (short, default) or a padded 30-s window (full)")
    g.add_argument("--beam-size", type=int, default=5)
    g.add_argument("--decoder", help="decoder pool: local (default, in this process) or a Ray Serve address "
                                     "ray://HOST:PORT[?replicas=N&cpus=C&gpus=G&batch=B] (env HOTLINE_DECODER; "
                                     "the `scale` extra)")


def _settings(args: argparse.Namespace):
    from config import Settings

    s = Settings()
    if args.model_dir:
        s.model_dir = args.model_dir
    if args.device:
        s.device = args.device
    if args.compute_type:
        s.compute_type = args.compute_type
    if args.cpu_threads is not None:
        s.cpu_threads = args.cpu_threads
    if args.decoder_workers is not None:
        s.decoder_workers = args.decoder_workers
    if getattr(args, "decoder", None):
        s.decoder = args.decoder
    return s


def _options(args: argparse.Namespace, **over: Any):
    from stt.transcribe import TranscriberOptions

    return TranscriberOptions(encoder=args.encoder, beam_size=args.beam_size, **over)


def _load_pipeline(args: argparse.Namespace, *, store: Any = None, nlp: bool = True, **over: Any):
    """The pipeline, or a clear error (model missing, bad --model-dir) instead of a traceback."""
    from models import ModelError
    from pipeline import Pipeline

    try:
        return Pipeline.load(_settings(args), store=store, nlp=nlp, options=_options(args, **over))
    except (ModelError, ValueError, RuntimeError) as exc:
        raise SystemExit(f"hotline: cannot load the model: {exc}")


def _progress(total: int, desc: str, unit: str = "file"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=None)  # None: off when stderr is not a terminal


def _named(base: Path, suffix: str) -> Path:
    """base + suffix; not with_suffix, which would turn dev-005.8k into dev-005.json."""
    return base.with_name(base.name + suffix)


def _stem_out(out: Path | None, path: Path) -> Path | None:
    if out is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    return out / path.stem


@dataclass
class _CallResult:
    path: Path
    duration: float = 0.0
    wall: float = 0.0
    draft: dict | None = None
    error: str | None = None


def _run_file(pipeline, path: Path, *, chunk_s: float = 1.0, call_id: str | None = None) -> _CallResult:
    """One file through the pipeline, fed as fast as possible (the same StreamingTranscriber)."""
    from stt.audio import AudioError, load_audio

    t0 = time.perf_counter()
    try:
        audio = load_audio(path)
    except AudioError as exc:
        return _CallResult(path, error=str(exc))
    session = pipeline.open_call(call_id=call_id or path.stem, channels=audio.channels,
                                 meta={"audio": str(path), "duration": audio.duration}, adapt_hotwords=False)
    step = int(chunk_s * audio.sample_rate)
    for i in range(0, audio.samples.shape[1], step):
        session.feed(audio.samples[:, i:i + step])
    draft = session.end()
    return _CallResult(path, audio.duration, time.perf_counter() - t0, draft)


def _run_many(pipeline, files: list[Path], workers: int, desc: str, on_done) -> list[_CallResult]:
    results: list[_CallResult] = []
    lock = threading.Lock()
    bar = _progress(len(files), desc)

    def one(path: Path) -> _CallResult:
        try:
            res = _run_file(pipeline, path)
        except Exception as exc:  # one broken call must not stop the batch
            res = _CallResult(path, error=f"{path}: {type(exc).__name__}: {exc}")
        with lock:
            results.append(res)
            on_done(res)
            bar.update(1)
            if res.error:
                bar.write(f"skipped: {res.error}", file=sys.stderr)
        return res

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, files))
    bar.close()
    return results


def _summary(results: list[_CallResult], wall: float, busy: float | None = None, workers: int = 1) -> str:
    ok = [r for r in results if not r.error]
    audio = sum(r.duration for r in ok)
    rtf = wall / audio if audio else 0.0
    text = (f"{len(ok)} of {len(results)} file(s) done, {len(results) - len(ok)} failed; "
            f"audio {audio / 3600:.3f} h ({audio:.1f} s) in {wall:.1f} s: real-time factor {rtf:.3f}")
    if busy is not None and audio:
        text += f" (decoder busy {busy / audio:.3f} s per audio second, over {workers} worker(s))"
    return text


# -- transcribe ----------------------------------------------------------------------------------
def cmd_transcribe(args: argparse.Namespace) -> int:
    from stt.audio import iter_audio_files

    if args.ray:
        return _transcribe_on_ray(args)
    files = iter_audio_files(args.paths)
    if not files:
        print("hotline transcribe: no audio files found", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else None
    pipeline = _load_pipeline(args, store="auto" if args.ticket else None, nlp=args.ticket, partials=False,
                              max_batch=args.batch)

    def done(res: _CallResult) -> None:
        if res.error:
            return
        segs = res.draft["segments"]
        text = res.draft["transcript"]
        base = _stem_out(out, res.path)
        if base is not None:
            _named(base, ".txt").write_text(text + "\n", encoding="utf-8")
            doc = {"file": str(res.path), "duration": round(res.duration, 3), "segments": segs}
            if args.ticket:
                doc["ticket"] = res.draft
            _named(base, ".json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        elif args.json:
            print(json.dumps({"file": str(res.path), "segments": segs}, ensure_ascii=False), flush=True)
        else:
            print(f"== {res.path}\n{text}", flush=True)

    t0 = time.perf_counter()
    results = _run_many(pipeline, files, args.workers or pipeline.decoder.workers, "transcribe", done)
    wall = time.perf_counter() - t0
    print(_summary(results, wall, pipeline.decoder.busy_seconds, pipeline.decoder.workers), file=sys.stderr)
    pipeline.close()
    return 1 if any(r.error for r in results) else 0


def _transcribe_on_ray(args: argparse.Namespace) -> int:
    """--ray ADDRESS: the files as a Ray Data dataset, decoded by the Ray Serve pool (cli/ray_batch.py)."""
    if not args.out:
        print("hotline transcribe --ray: --out DIR is needed (each finished file is marked there, "
              "so a run after a crash redoes only the rest)", file=sys.stderr)
        return 1
    try:
        from cli.ray_batch import run_batch
        import ray.data  # noqa: F401
    except ImportError as exc:
        print(f"hotline transcribe --ray needs Ray, the `scale` extra: pip install -e '.[scale]' ({exc})",
              file=sys.stderr)
        return 1
    settings = _settings(args)
    spec = settings.decoder if settings.decoder and settings.decoder.startswith("ray") else "ray"
    if "batch=" not in spec:
        spec += ("&" if "?" in spec else "?") + f"batch={args.batch}"
    address = None if args.ray == "local" else args.ray      # local: the cluster here, or a new one
    summary = run_batch(address, args.paths, Path(args.out), settings=settings,
                        options=_options(args, partials=False), decoder=spec, ticket=args.ticket,
                        workers=args.workers)
    print(summary.line(), file=sys.stderr)
    return 1 if summary.failed or summary.interrupted else 0


# -- process -------------------------------------------------------------------------------------
def cmd_process(args: argparse.Namespace) -> int:
    from stt.audio import iter_audio_files

    files = iter_audio_files(args.paths)
    if not files:
        print("hotline process: no audio files found", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else None
    pipeline = _load_pipeline(args, store=None if args.no_store else "auto", partials=False, max_batch=args.batch)

    def done(res: _CallResult) -> None:
        if res.error:
            return
        base = _stem_out(out, res.path)
        if base is not None:
            _named(base, ".json").write_text(json.dumps(res.draft, ensure_ascii=False, indent=1), encoding="utf-8")
        if args.json or base is None:
            print(json.dumps(res.draft, ensure_ascii=False, indent=None if args.json else 1), flush=True)

    t0 = time.perf_counter()
    results = _run_many(pipeline, files, args.workers or pipeline.decoder.workers, "process", done)
    print(_summary(results, time.perf_counter() - t0, pipeline.decoder.busy_seconds, pipeline.decoder.workers), file=sys.stderr)
    pipeline.close()
    return 1 if any(r.error for r in results) else 0


# -- replay --------------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    from stt.audio import AudioError, load_audio

    try:
        audio = load_audio(args.file)
    except AudioError as exc:
        print(f"hotline replay: {exc}", file=sys.stderr)
        return 1
    pipeline = _load_pipeline(args, store="auto" if args.store else None, partial_interval_s=args.partial_interval)
    frame = max(1, int(args.frame_ms / 1000 * audio.sample_rate))
    speed = float(args.speed)
    tty = sys.stdout.isatty() and not args.json
    fed_at: list[tuple[float, float]] = []      # (audio seconds fed, wall time)
    arrivals: dict[int, float] = {}
    partials = 0
    lock = threading.Lock()
    t_start = time.monotonic()

    def on_event(ev: dict) -> None:
        nonlocal partials
        now = time.monotonic()
        with lock:
            if ev["type"] == "partial":
                partials += 1
            if ev["type"] == "final":
                arrivals[ev["id"]] = now
            if ev["type"] == "draft":
                return  # printed once at the end
            if args.json:
                print(json.dumps({**ev, "t": round(now - t_start, 3)}, ensure_ascii=False), flush=True)
                return
            who = f"{ev['speaker']}: " if ev.get("speaker") else ""
            stamp = f"[{ev['start']:6.2f}-{ev['end']:6.2f}]"
            if ev["type"] == "partial":
                line = f"  … {stamp} {who}{ev['text']}"
                print(("\r\x1b[2K" + line) if tty else line, end="" if tty else "\n", flush=True)
            else:
                line = f"{stamp} {who}{ev['text']}"
                print(("\r\x1b[2K" + line) if tty else line, flush=True)

    session = pipeline.open_call(call_id=args.call_id or Path(args.file).stem, channels=audio.channels,
                                 on_event=on_event, meta={"audio": str(args.file)})
    n = audio.samples.shape[1]
    for i in range(0, n, frame):
        chunk = audio.samples[:, i:i + frame]
        if speed > 0:  # pace the stream like a live call
            due = t_start + (i + chunk.shape[1]) / audio.sample_rate / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        pcm = (np.clip(chunk, -1, 1) * 32767).astype("<i2").T.tobytes()
        session.feed_pcm16(pcm)
        fed_at.append(((i + chunk.shape[1]) / audio.sample_rate, time.monotonic()))
    hangup = time.monotonic()
    draft = session.end()
    st = session.transcriber
    fed_audio = np.array([a for a, _ in fed_at])
    fed_wall = np.array([w for _, w in fed_at])
    latencies = []
    for seg in st.segments:
        k = min(int(np.searchsorted(fed_audio, seg.end - 1e-6)), len(fed_wall) - 1)
        if seg.id in arrivals:
            latencies.append((seg.id, seg.end, arrivals[seg.id] - fed_wall[k]))
    last_final = max(arrivals.values()) if arrivals else None
    after = (last_final - hangup) if last_final is not None else None
    stats = {
        "audio_s": round(audio.duration, 3),
        "speed": speed,
        "frame_ms": args.frame_ms,
        "partials": partials,
        "finals": len(st.segments),
        "last_final_after_hangup_s": None if after is None else round(after, 3),
        "draft_ready_after_hangup_s": draft["timings"]["ready_after_hangup_s"],
        "final_latency_s": [{"id": i, "end": round(e, 2), "latency": round(lat, 3)} for i, e, lat in latencies],
        "decoder_busy_s": round(pipeline.decoder.busy_seconds, 3),
    }
    if args.json:
        print(json.dumps({"type": "stats", **stats}, ensure_ascii=False))
        print(json.dumps({"type": "draft", "final": True, "ticket": draft}, ensure_ascii=False))
    else:
        lats = [lat for _, _, lat in latencies]
        print(f"\naudio {audio.duration:.2f} s at speed {speed:g}; {partials} partial(s), {len(st.segments)} final(s)")
        if after is not None:
            print(f"last final {after:+.2f} s after the end of the audio (hang-up)"
                  + (" (already decoded before hang-up)" if after < 0 else ""))
        if lats:
            print("final latency per utterance (s after its audio was fed): "
                  + ", ".join(f"#{i}:{lat:.2f}" for i, _, lat in latencies)
                  + f"  (median {np.median(lats):.2f}, max {max(lats):.2f})")
        print(json.dumps(draft, ensure_ascii=False, indent=1))
    pipeline.close()
    return 0


# -- eval ----------------------------------------------------------------------------------------
def _field_scores(label: dict, draft: dict, evaluate) -> dict[str, bool | None]:
    try:
        return dict(evaluate.score_fields(label, draft))
    except Exception as exc:  # the scorer belongs to another module: report, don't abort the eval
        print(f"score_fields failed for {label.get('id')}: {exc}", file=sys.stderr)
        return {}


def _field_table(rows: list[dict[str, bool | None]], fields: list[str]) -> dict[str, float | None]:
    acc = {}
    for f in fields:
        vals = [r.get(f) for r in rows if r.get(f) is not None]
        acc[f] = (sum(bool(v) for v in vals) / len(vals)) if vals else None
    return acc


def cmd_eval(args: argparse.Namespace) -> int:
    from stt.metrics import cer

    root = Path(args.dir)
    label_file = root / "labels.jsonl"
    if not label_file.is_file():
        print(f"hotline eval: {label_file} not found", file=sys.stderr)
        return 1
    labels = [json.loads(line) for line in label_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        labels = labels[: args.limit]
    try:
        from nlp import evaluate  # type: ignore[attr-defined]
        from nlp.extract import extract_text
    except ImportError:
        evaluate = extract_text = None
    fields = list(getattr(evaluate, "FIELDS", [])) if evaluate else []

    rows: list[dict] = []
    text_scores: list[dict] = []
    audio_scores: dict[str, list[dict]] = {"16k": [], "8k": []}
    if evaluate and extract_text:
        for label in labels:
            draft = extract_text(label["transcript"])
            draft = draft.to_dict() if hasattr(draft, "to_dict") else draft
            text_scores.append(_field_scores(label, draft, evaluate))

    wall = audio_total = 0.0
    if not args.text_only:
        pipeline = _load_pipeline(args, store=None, nlp=True, partials=False)
        files = {(label["id"], kind): root / name for label in labels
                 for kind, name in (("16k", f"{label['id']}.wav"), ("8k", f"{label['id']}.8k.wav"))
                 if (root / name).is_file()}
        # As many calls at once as the decoder has workers: a call decodes its finals one by one.
        t0 = time.perf_counter()
        results = {r.path: r for r in _run_many(pipeline, list(files.values()), pipeline.decoder.workers,
                                                 "eval", lambda r: None)}
        wall = time.perf_counter() - t0
        for label in labels:
            row: dict[str, Any] = {"id": label["id"]}
            for kind in ("16k", "8k"):
                res = results.get(files.get((label["id"], kind)))
                if res is None:
                    continue
                if res.error:       # reported by _run_many
                    row[f"error_{kind}"] = res.error
                    continue
                c, edits, ref_len = cer(label["transcript"], res.draft["transcript"])
                row[f"cer_{kind}"], row[f"edits_{kind}"], row[f"chars_{kind}"] = c, edits, ref_len
                row[f"rtf_{kind}"] = res.wall / res.duration
                row[f"text_{kind}"] = res.draft["transcript"]
                audio_total += res.duration
                if evaluate:
                    audio_scores[kind].append(_field_scores(label, res.draft, evaluate))
            rows.append(row)
        pipeline.close()

    summary: dict[str, Any] = {"calls": len(labels)}
    if rows:
        # Per-call RTF: that call's wall time over its length, with decoder-workers calls running at once.
        print(f"{'call':<10} {'CER 16k':>8} {'CER 8k':>8} {'RTF 16k':>8} {'RTF 8k':>8}")
        for r in rows:
            cells = [f"{r[k]:8.3f}" if k in r else f"{'-':>8}" for k in ("cer_16k", "cer_8k", "rtf_16k", "rtf_8k")]
            print(f"{r['id']:<10} " + " ".join(cells))
        for kind in ("16k", "8k"):
            done = [r for r in rows if f"cer_{kind}" in r]
            if not done:
                continue
            mean = sum(r[f"cer_{kind}"] for r in done) / len(done)
            pooled = sum(r[f"edits_{kind}"] for r in done) / max(1, sum(r[f"chars_{kind}"] for r in done))
            worst = max(done, key=lambda r: r[f"cer_{kind}"])
            summary[kind] = {"files": len(done), "mean_cer": mean, "pooled_cer": pooled,
                             "max_cer": worst[f"cer_{kind}"], "max_cer_call": worst["id"],
                             "rtf": sum(r[f"rtf_{kind}"] for r in done) / len(done)}
            print(f"{kind}: {len(done)} files, mean CER {mean:.4f}, pooled CER {pooled:.4f}, "
                  f"max {worst[f'cer_{kind}']:.3f} ({worst['id']}), RTF {summary[kind]['rtf']:.3f}")
        if audio_total:
            summary["rtf"] = wall / audio_total
            print(f"overall: audio {audio_total:.1f} s in {wall:.1f} s, real-time factor {wall / audio_total:.3f}")
    if fields:
        table = {"text": _field_table(text_scores, fields)}
        for kind in ("16k", "8k"):
            if audio_scores[kind]:
                table[f"audio_{kind}"] = _field_table(audio_scores[kind], fields)
        cols = list(table)
        print(f"{'field':<14} " + " ".join(f"{c:>10}" for c in cols))
        for f in fields:
            print(f"{f:<14} " + " ".join(f"{table[c][f]:10.3f}" if table[c][f] is not None else f"{'-':>10}"
                                         for c in cols))
        summary["fields"] = table
    elif evaluate is None:
        print("(nlp.evaluate not available: no per-field accuracy)", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"summary": summary, "calls": rows}, ensure_ascii=False, indent=1),
                                  encoding="utf-8")
    return 0


# -- registration --------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser("transcribe", help="transcribe audio files or folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    p.add_argument("--json", action="store_true", help="print segments as JSON lines")
    p.add_argument("--out", help="write {stem}.txt and {stem}.json here")
    p.add_argument("--workers", type=int, default=0,
                   help="calls fed to the shared decoder at once (0: one per decoder worker; a call decodes "
                        "its utterances one after another, each with the text before it as context)")
    p.add_argument("--batch", type=int, default=4,
                   help="finals decoded together in one encode/generate call (4: ~25%% faster, same text)")
    p.add_argument("--ticket", action="store_true", help="also extract and store a draft ticket per file")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on the Ray cluster at ADDRESS (ray://HOST:PORT, HOST:PORT, or 'local') with Ray Data: PATHs may "
                        "be manifests (.txt a path per line, .csv with a path column); needs --out, resumes "
                        "after a crash without redoing finished files; decodes through the Ray Serve pool "
                        "(--decoder ray?replicas=N... sets it up)")
    _add_model_args(p)
    p.set_defaults(func=cmd_transcribe)

    p = subparsers.add_parser("replay", help="stream a file through the live pipeline (real time or faster)")
    p.add_argument("file")
    p.add_argument("--speed", type=float, default=1.0, help="1 real time, 2 twice as fast, 0 as fast as possible")
    p.add_argument("--frame-ms", type=int, default=40, help="frame size sent to the pipeline (20-100 ms)")
    p.add_argument("--partial-interval", type=float, default=1.0, help="seconds of audio between partials")
    p.add_argument("--json", action="store_true", help="events as JSON lines")
    p.add_argument("--store", action="store_true", help="store the draft in the ticket store")
    p.add_argument("--call-id")
    _add_model_args(p)
    p.set_defaults(func=cmd_replay)

    p = subparsers.add_parser("process", help="whole pipeline: one draft ticket per file")
    p.add_argument("paths", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON draft per line on stdout")
    p.add_argument("--out", help="write {stem}.json drafts here")
    p.add_argument("--workers", type=int, default=0, help="calls at once (0: one per decoder worker)")
    p.add_argument("--no-store", action="store_true", help="do not write drafts to the ticket store")
    p.add_argument("--batch", type=int, default=4, help="finals decoded together in one encode/generate call")
    _add_model_args(p)
    p.set_defaults(func=cmd_process)

    p = subparsers.add_parser("eval", help="CER and field accuracy on a labelled corpus folder")
    p.add_argument("dir", help="folder with labels.jsonl, {id}.wav and {id}.8k.wav")
    p.add_argument("--limit", type=int, help="first N calls only")
    p.add_argument("--text-only", action="store_true", help="field accuracy from the labelled text only (no audio)")
    p.add_argument("--out", help="write results JSON here")
    _add_model_args(p)
    p.set_defaults(func=cmd_eval)
