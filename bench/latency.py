"""Live-call latency and capacity: N simulated operators stream dev calls over the real websocket.

    python bench/latency.py                      # N = 1, 2, 4, 6 against a fresh `hotline serve`
    python bench/latency.py --calls 1 4 --corpus tests/data/calls
    ray start --head --num-cpus 2 && python bench/latency.py --calls 2 4 6 \
        --decoder 'ray://127.0.0.1:10001?replicas=2&cpus=1'   # the decoder pool on Ray Serve

Starts `hotline serve` on a free loopback port with a throw-away HOTLINE_HOME, creates a token,
then for each N streams N different calls at real-time speed (frames paced by the clock) and
measures, per call: first speech -> first partial, end of utterance -> its final, and hang-up ->
final draft ticket. Samples the server's CPU% and RSS (psutil) and the decode queue (/metrics).
Prints a table and one JSON line per N.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import emit, machine as host_machine  # noqa: E402
from stt.audio import load_audio  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
FALLBACK_CORPUS = ROOT / "tests" / "data" / "calls"


@dataclass
class CallTimings:
    call: str
    audio_s: float
    first_partial_s: float | None = None
    final_latencies: list[float] = field(default_factory=list)
    hangup_to_draft_s: float | None = None
    partials: int = 0
    finals: int = 0
    errors: list[str] = field(default_factory=list)
    draft: dict | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_calls(corpus: Path, n: int) -> list[tuple[Path, float | None]]:
    """The first n 16 kHz calls, each with its first speech time from labels.jsonl if present."""
    labels = {}
    if (corpus / "labels.jsonl").exists():
        for line in (corpus / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            labels[d["id"]] = d["turns"][0]["start"] if d.get("turns") else None
    files = sorted(p for p in corpus.glob("*.wav") if ".8k" not in p.name and "long" not in p.name)
    # Skip the very long calls so that every N finishes in about a minute.
    return [(p, labels.get(p.stem)) for p in files][:n]


async def stream_call(url: str, path: Path, first_speech: float | None, frame_ms: int, speed: float) -> CallTimings:
    audio = load_audio(path)
    mono = audio.samples.mean(axis=0) if audio.channels > 1 else audio.samples[0]
    pcm = (np.clip(mono, -1, 1) * 32767).astype("<i2").tobytes()
    frame = int(audio.sample_rate * frame_ms / 1000) * 2
    t = CallTimings(path.stem, audio.duration)
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "call_id": f"bench-{path.stem}-{os.getpid()}-{time.time_ns()}",
                                  "sample_rate": audio.sample_rate, "channels": 1}))
        t0 = None
        hangup = None
        done = asyncio.Event()

        async def receive() -> None:
            nonlocal hangup
            async for raw in ws:
                msg = json.loads(raw)
                now = time.perf_counter()
                kind = msg.get("type")
                audio_now = (now - t0) * speed if t0 else 0.0
                if kind == "partial":
                    t.partials += 1
                    if t.first_partial_s is None:
                        speech = first_speech if first_speech is not None else msg.get("start", 0.0)
                        t.first_partial_s = (audio_now - speech) / speed
                elif kind == "final":
                    t.finals += 1
                    # Audio reached the server at t0 + end/speed; the final arrived now.
                    t.final_latencies.append(now - (t0 + float(msg["end"]) / speed if hangup is None
                                                    else min(t0 + float(msg["end"]) / speed, hangup)))
                elif kind == "draft" and msg.get("final"):
                    t.hangup_to_draft_s = now - hangup if hangup else None
                    t.draft = msg.get("ticket")
                    done.set()
                    return
                elif kind == "error":
                    t.errors.append(msg.get("message", ""))

        receiver = asyncio.create_task(receive())
        t0 = time.perf_counter()
        for i, off in enumerate(range(0, len(pcm), frame)):
            await ws.send(pcm[off:off + frame])
            if speed > 0:
                target = t0 + (i + 1) * frame_ms / 1000 / speed
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
        hangup = time.perf_counter()
        await ws.send(json.dumps({"type": "end"}))
        try:
            await asyncio.wait_for(done.wait(), timeout=120)
        except asyncio.TimeoutError:
            t.errors.append("no final draft within 120 s of hang-up")
        receiver.cancel()
    return t


class ServerProbe:
    """Samples the server process tree's CPU% and RSS, and the decode queue from /metrics."""

    def __init__(self, pid: int, base: str) -> None:
        self.proc = psutil.Process(pid)
        self.base = base
        self.cpu: list[float] = []
        self.rss_peak = 0
        self.queue: list[float] = []
        self._stop = False

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.proc, *self.proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    async def run(self, interval: float = 0.5) -> None:
        for p in self._tree():
            p.cpu_percent(None)
        while not self._stop:
            await asyncio.sleep(interval)
            procs = self._tree()
            self.cpu.append(sum(p.cpu_percent(None) for p in procs))
            self.rss_peak = max(self.rss_peak, sum(p.memory_info().rss for p in procs))
            try:
                text = await asyncio.to_thread(lambda: urllib.request.urlopen(self.base + "/metrics", timeout=2).read().decode())
                m = re.search(r"^hotline_decode_queue_length\s+([0-9.eE+-]+)", text, re.M)
                if m:
                    self.queue.append(float(m.group(1)))
            except OSError:
                pass

    def stop(self) -> None:
        self._stop = True


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


async def run_round(base: str, token: str, calls: list[tuple[Path, float | None]], pid: int,
                    frame_ms: int, speed: float) -> dict:
    url = base.replace("http", "ws", 1) + f"/ws/call?token={token}"
    probe = ServerProbe(pid, base)
    probe_task = asyncio.create_task(probe.run())
    started = time.perf_counter()
    results = await asyncio.gather(*(stream_call(url, p, fs, frame_ms, speed) for p, fs in calls))
    probe.stop()
    await probe_task
    finals = [x for r in results for x in r.final_latencies]
    hangups = [r.hangup_to_draft_s for r in results if r.hangup_to_draft_s is not None]
    firsts = [r.first_partial_s for r in results if r.first_partial_s is not None]
    n = len(calls)
    queue_tail = probe.queue[-3:] if probe.queue else []
    return {
        "n_calls": n, "wall_s": round(time.perf_counter() - started, 2),
        "first_partial_p50": pct(firsts, 50), "first_partial_max": max(firsts) if firsts else None,
        "final_latency_p50": pct(finals, 50), "final_latency_p95": pct(finals, 95), "final_latency_max": max(finals) if finals else None,
        "hangup_to_draft_p50": pct(hangups, 50), "hangup_to_draft_p95": pct(hangups, 95), "hangup_to_draft_max": max(hangups) if hangups else None,
        "partials": sum(r.partials for r in results), "finals": sum(r.finals for r in results),
        "cpu_pct_mean": round(statistics.mean(probe.cpu), 1) if probe.cpu else None,
        "rss_peak_mib": round(probe.rss_peak / 2**20, 1),
        "decode_queue_max": max(probe.queue) if probe.queue else None,
        "decode_queue_end": queue_tail[-1] if queue_tail else None,
        "kept_up": bool(hangups) and len(hangups) == n and not any(r.errors for r in results),
        "errors": [e for r in results for e in r.errors],
        "calls": [{"call": r.call, "audio_s": round(r.audio_s, 2), "first_partial_s": r.first_partial_s,
                   "hangup_to_draft_s": r.hangup_to_draft_s, "finals": r.finals, "partials": r.partials,
                   "district": (r.draft or {}).get("district"), "category": (r.draft or {}).get("category")}
                  for r in results],
    }


def start_server(port: int, home: Path, decoder: str | None = None) -> tuple[subprocess.Popen, str, str]:
    env = {**os.environ, "HOTLINE_HOME": str(home)}
    if decoder:     # the server's decoder pool (HOTLINE_DECODER): e.g. Ray Serve replicas
        env["HOTLINE_DECODER"] = decoder
    hotline = [str(Path(sys.executable).parent / "hotline")]
    out = subprocess.run([*hotline, "token", "create", "--name", "bench", "--role", "admin"],
                         env=env, capture_output=True, text=True, check=True).stdout
    tokens = re.findall(r"[A-Za-z0-9_\-]{24,}", out)
    if not tokens:
        raise SystemExit(f"could not read a token from: {out!r}")
    log = open(home / "server.log", "w")
    server = subprocess.Popen([*hotline, "serve", "--port", str(port), "--log-level", "warning"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited; see {home / 'server.log'}")
        try:
            body = json.loads(urllib.request.urlopen(base + "/healthz", timeout=2).read())
            if body.get("model_loaded") or body.get("ready") or body.get("status") == "ok":
                break
        except OSError:
            pass
        time.sleep(0.5)
    return server, base, tokens[-1]


def fmt(v, unit: str = "") -> str:
    return "-" if v is None else (f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, nargs="+", default=[1, 2, 4, 6], help="concurrent calls per round")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else FALLBACK_CORPUS)
    ap.add_argument("--frame-ms", type=int, default=40, help="frame size, 20-100 ms")
    ap.add_argument("--speed", type=float, default=1.0, help="1 = real time")
    ap.add_argument("--out", type=Path, help="append JSON lines here too")
    ap.add_argument("--decoder", help="the server's decoder pool (HOTLINE_DECODER), e.g. ray://127.0.0.1:10001?replicas=2; "
                                      "CPU %% and RSS then cover the server only, not the Ray replicas")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    port = free_port()
    server, base, token = start_server(port, home, args.decoder)
    rows = []
    try:
        # One warm-up call so that first-call costs (lazy loads) are not counted.
        warm = pick_calls(args.corpus, 1)
        asyncio.run(run_round(base, token, warm, server.pid, args.frame_ms, 0))
        for n in args.calls:
            calls = pick_calls(args.corpus, n)
            if len(calls) < n:
                print(f"only {len(calls)} calls in {args.corpus}; round N={n} uses those", file=sys.stderr)
            row = asyncio.run(run_round(base, token, calls, server.pid, args.frame_ms, args.speed))
            row["decoder"] = args.decoder or "local"
            rows.append(row)
            print(f"N={n} done: hang-up->draft p95 {fmt(row['hangup_to_draft_p95'], ' s')}", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    machine = host_machine()
    print(f"\nlatency benchmark, {time.strftime('%Y-%m-%d %H:%M')} on {machine}, speed {args.speed}x, frames {args.frame_ms} ms, "
          f"decoder {args.decoder or 'local'}")
    head = ("N", "first partial p50", "final p50/p95/max", "hang-up->draft p50/p95/max", "CPU %", "RSS MiB", "queue max/end", "kept up")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([
            str(r["n_calls"]), fmt(r["first_partial_p50"], " s"),
            f"{fmt(r['final_latency_p50'])}/{fmt(r['final_latency_p95'])}/{fmt(r['final_latency_max'])} s",
            f"{fmt(r['hangup_to_draft_p50'])}/{fmt(r['hangup_to_draft_p95'])}/{fmt(r['hangup_to_draft_max'])} s",
            fmt(r["cpu_pct_mean"]), fmt(r["rss_peak_mib"]),
            f"{fmt(r['decode_queue_max'])}/{fmt(r['decode_queue_end'])}", "yes" if r["kept_up"] else "NO",
        ]))
    for r in rows:
        emit("latency", r, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
