"""`hotline transcribe --ray ADDRESS PATH...`: an archive of recordings on Ray Data.

The recordings (folders, audio files, or manifests: a text file of paths, one a line, or a CSV
with a ``path`` column; relative paths are taken from the manifest's folder) become a Ray
dataset; `_FileWorker` actors run each file through the same pipeline as `hotline transcribe`
(VAD, the streaming transcriber, extraction with ``--ticket``) and decode through the Ray Serve
decoder pool (stt/ray_decoder.py). Each finished file leaves ``{stem}.txt``, ``{stem}.json``
and, last, ``{stem}.done`` (its source path) in ``--out``, each written to a temporary name and
renamed: a run after a crash skips every file whose marker names it and redoes only the rest.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from stt.audio import AUDIO_EXTENSIONS, iter_audio_files

MANIFEST_EXTENSIONS = (".txt", ".lst", ".csv", ".tsv")


# -- what to do -----------------------------------------------------------------------------------
def read_manifest(path: Path) -> list[Path]:
    """Paths listed in a text file (one a line, # comments) or a CSV/TSV (``path`` or ``file`` column,
    else the first); relative ones are taken from the manifest's folder."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".csv", ".tsv"):
        rows = list(csv.reader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
        if not rows:
            return []
        head = [c.strip().lower() for c in rows[0]]
        col = next((head.index(n) for n in ("path", "file", "audio") if n in head), None)
        body = rows[1:] if col is not None else rows
        names = [r[col or 0].strip() for r in body if r and len(r) > (col or 0)]
    else:
        names = [line.strip() for line in text.splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    return [p if p.is_absolute() else path.parent / p for p in map(Path, names)]


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """Folders (audio files found recursively), audio files and manifests, in the order given."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.suffix.lower() in MANIFEST_EXTENSIONS and p.suffix.lower() not in AUDIO_EXTENSIONS:
            files.extend(read_manifest(p))
        else:
            files.extend(iter_audio_files([p]))
    return list(dict.fromkeys(files))


# -- what is done --------------------------------------------------------------------------------------
def _named(base: Path, suffix: str) -> Path:
    return base.with_name(base.name + suffix)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def marker(out: Path, path: Path) -> Path:
    return _named(out / path.stem, ".done")


def finished(out: Path, path: Path) -> bool:
    """The file's outputs are complete: its marker exists and names this very file."""
    m = marker(out, path)
    try:
        return json.loads(m.read_text(encoding="utf-8")).get("file") == str(path)
    except (OSError, ValueError):
        return False


def write_outputs(out: Path, path: Path, duration: float, draft: dict, ticket: bool) -> None:
    """{stem}.txt and {stem}.json as `hotline transcribe --out` writes them, then the marker."""
    base = out / path.stem
    _write(_named(base, ".txt"), draft["transcript"] + "\n")
    doc = {"file": str(path), "duration": round(duration, 3), "segments": draft["segments"]}
    if ticket:
        doc["ticket"] = draft
    _write(_named(base, ".json"), json.dumps(doc, ensure_ascii=False, indent=1))
    _write(marker(out, path), json.dumps({"file": str(path), "duration": round(duration, 3),
                                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))


# -- the work (Ray Data actors) ----------------------------------------------------------------------------
class _FileWorker:
    """One pipeline per actor (VAD, extraction); the model lives in the decoder replicas."""

    def __init__(self, settings, options, decoder: str, out: str, ticket: bool) -> None:
        from pipeline import Pipeline

        self.pipeline = Pipeline.load(settings, store="auto" if ticket else None, nlp=ticket,
                                      decoder=decoder, options=options)
        self.out = Path(out)
        self.ticket = ticket

    def __call__(self, row: dict) -> dict:
        from cli.stt_commands import _run_file

        path = Path(row["path"])
        try:
            res = _run_file(self.pipeline, path)
            if not res.error:
                write_outputs(self.out, path, res.duration, res.draft, self.ticket)
        except Exception as exc:  # one broken call must not stop the batch
            return {"path": str(path), "duration": 0.0, "wall": 0.0, "error": f"{type(exc).__name__}: {exc}"}
        return {"path": str(path), "duration": float(res.duration), "wall": float(res.wall), "error": res.error or ""}


@dataclass
class BatchSummary:
    total: int
    skipped: int          # finished by an earlier run
    done: int
    failed: int
    audio_s: float
    wall_s: float
    interrupted: bool = False

    def line(self) -> str:
        rtf = self.wall_s / self.audio_s if self.audio_s else 0.0
        return (f"{self.done} file(s) done, {self.failed} failed, {self.skipped} already finished (of {self.total}); "
                f"audio {self.audio_s:.1f} s in {self.wall_s:.1f} s: real-time factor {rtf:.3f}"
                + (" — interrupted: run again to finish" if self.interrupted else ""))


def run_batch(address: str | None, paths: Iterable[str | Path], out: Path, *, settings, options,
              decoder: str | None = None, ticket: bool = False, workers: int = 0, worker_cpus: float = 0.25,
              stop_after: int | None = None, progress: bool = True) -> BatchSummary:
    """Decode ``paths`` on the Ray cluster at ``address`` into ``out``; finished files are skipped.

    decoder: the Ray Serve decoder spec (query options: replicas, cpus, gpus, batch ...; its
    address part is ignored, the pool is the one on this cluster). stop_after: stop after that
    many files (as a crash would).
    """
    import ray
    from ray.data import DataContext

    from models import ModelOptions
    from stt.ray_decoder import RayDecoderOptions, deploy, ensure_ray

    files = collect(paths)
    out.mkdir(parents=True, exist_ok=True)
    todo = [p for p in files if not finished(out, p)]
    skipped = len(files) - len(todo)
    print(f"{len(files)} file(s): {skipped} already finished in {out}, {len(todo)} to do", file=sys.stderr)
    t0 = time.perf_counter()
    summary = BatchSummary(len(files), skipped, 0, 0, 0.0, 0.0)
    if not todo:
        return summary
    ensure_ray(address)
    cfg = RayDecoderOptions.parse(decoder)
    deploy(cfg, ModelOptions.from_settings(settings))           # the pool, before the actors ask for it
    workers = max(1, min(workers or (2 * (cfg.max_replicas if cfg.autoscale else cfg.replicas)), len(todo)))
    free = ray.available_resources().get("CPU", 0.0)
    if worker_cpus * workers > free:     # the replicas hold the cluster's CPUs: the actors would wait forever
        print(f"{free:g} CPU free on the cluster (the decoder replicas hold the rest): the {workers} file "
              f"worker(s) run without a CPU reservation", file=sys.stderr)
        worker_cpus = 0.0
    in_cluster = f"ray?app={cfg.app}&lanes={max(2, cfg.lanes or 2)}&retry_s={cfg.retry_s}"
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ds = ray.data.from_items([{"path": str(p)} for p in todo], override_num_blocks=min(len(todo), 10_000))
    ds = ds.map(_FileWorker, fn_constructor_args=(settings, options, in_cluster, str(out), ticket),
                concurrency=workers, num_cpus=worker_cpus)
    from tqdm import tqdm

    bar = tqdm(total=len(files), initial=skipped, desc="transcribe (ray)", unit="file", file=sys.stderr,
               dynamic_ncols=True, disable=None if progress else True)
    try:
        for row in ds.iter_rows():
            if row["error"]:
                summary.failed += 1
                bar.write(f"skipped: {row['path']}: {row['error']}", file=sys.stderr)
            else:
                summary.done += 1
                summary.audio_s += row["duration"]
            bar.update(1)
            if stop_after is not None and summary.done + summary.failed >= stop_after:
                summary.interrupted = True
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
    summary.wall_s = time.perf_counter() - t0
    return summary
