"""Faults, load and bad input against a real `hotline serve` (issue 16): one JSON line per fault
and backend, then a summary line; exit code 0 only when every fault is survived.

    python bench/faults.py                      # all nine faults, SQLite and PostgreSQL
    python bench/faults.py --only 1,4,5,8,9     # the cheap ones (a few minutes)
    python bench/faults.py --sqlite-only --only 2

Faults: 1 client vanishes mid-call, 2 server SIGKILLed and restarted, 3 database gone for 10 s
(PostgreSQL: a TCP proxy in front of it is cut), 4 silence/music/noise/DTMF, 5 corrupt,
truncated and odd-rate files (`hotline transcribe` and the upload job), 6 a 1-hour call (fed
faster than real time: --long-speed), 7 4 real-time calls for 10 minutes, 8 fuzzed websocket
traffic and limits, 9 two operators on one ticket. Loopback only; PostgreSQL at
HOTLINE_FAULTS_PG (default postgresql+psycopg2://postgres@127.0.0.1:5432/test) gets a database
of its own, dropped at the end. Each backend runs one server (restarted by fault 2).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine  # noqa: E402
from bench.faultkit import Context, Result, run_fault  # noqa: E402
from bench.faultkit.calls import FAULTS as CALL_FAULTS  # noqa: E402
from bench.faultkit.client import WsCall  # noqa: E402
from bench.faultkit.harness import Backend, Server, call_pcm, make_tokens  # noqa: E402
from bench.faultkit.inputs import FAULTS as INPUT_FAULTS  # noqa: E402
from bench.faultkit.tickets import FAULTS as TICKET_FAULTS  # noqa: E402

FAULTS = {**CALL_FAULTS, **INPUT_FAULTS, **TICKET_FAULTS}
# small limits so that fault 8 reaches them quickly (the defaults are far higher)
SERVER_ENV = {"HOTLINE_WS_MAX_CONNECTIONS_PER_TOKEN": "20", "HOTLINE_WS_MAX_CALL_S": "7200",
              "HOTLINE_WS_HELLO_TIMEOUT_S": "10"}


async def warm_up(ctx: Context) -> None:
    call = WsCall(ctx.ws_url(), f"f-warmup-{time.time_ns()}")
    await call.open()
    await call.stream(call_pcm("dev-005.wav"), speed=0)
    await call.end()
    await call.close()


def fault_kwargs(n: int, args: argparse.Namespace) -> dict:
    if n == 4:
        return {"seconds": args.signal_s}
    if n == 6:
        return {"length_s": args.long_s, "speed": args.long_speed}
    if n == 7:
        return {"minutes": args.load_min, "lines": args.load_lines}
    return {}


async def run_backend(name: str, faults: list[int], args: argparse.Namespace, work: Path) -> list[Result]:
    home = work / name
    home.mkdir(parents=True, exist_ok=True)
    backend = Backend.sqlite(home) if name == "sqlite" else Backend.postgres(home)
    server = Server(backend, grace_s=args.grace, env=SERVER_ENV)
    results: list[Result] = []
    try:
        tokens = make_tokens(backend)
        await asyncio.to_thread(server.start)
        ctx = Context(backend, server, tokens, home, speed=args.speed)
        await warm_up(ctx)  # first-call loads are not counted as a fault's memory growth
        for n in faults:
            if not server.alive:
                await asyncio.to_thread(server.start)
            res = await run_fault(ctx, FAULTS[n], **fault_kwargs(n, args))
            res.fault = n
            print(json.dumps(res.to_dict(), ensure_ascii=False, default=str), flush=True)
            results.append(res)
        ctx.close()
    finally:
        await asyncio.to_thread(server.stop)
        backend.close()
    return results


def _in_parallel(backends: list[str], tmp: Path) -> list[Result]:
    """This script once per backend, at the same time; their JSON lines are echoed and collected."""
    import subprocess

    argv = [a for a in sys.argv[1:] if a not in ("--parallel", "--sqlite-only", "--postgres-only")]
    if "--out" in argv:
        i = argv.index("--out")
        del argv[i:i + 2]
    procs = {name: subprocess.Popen([sys.executable, __file__, *argv, f"--{name}-only", "--out", str(tmp / f"{name}.jsonl")],
                                    stdout=subprocess.PIPE, text=True) for name in backends}
    results = []
    for name, proc in procs.items():
        out, _ = proc.communicate()
        for line in out.splitlines():
            record = json.loads(line)
            if record.get("summary"):
                continue
            print(line, flush=True)
            known = {k: record.pop(k) for k in ("fault", "name", "backend", "survived", "lost_finals",
                                                 "duplicated_finals", "rss_growth_mib", "errors", "seconds")}
            skipped = record.pop("skipped", None)
            res = Result(known["fault"], known["name"], known["backend"], lost_finals=known["lost_finals"],
                         duplicated_finals=known["duplicated_finals"], rss_growth_mib=known["rss_growth_mib"],
                         errors=known["errors"], figures=record, seconds=known["seconds"], skipped=skipped)
            res.survived = known["survived"]
            results.append(res)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated fault numbers (default: all, 1-9)")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--postgres-only", action="store_true")
    ap.add_argument("--speed", type=float, default=4.0, help="feed speed where real time is not the point (faults 1, 2)")
    ap.add_argument("--grace", type=float, default=3.0, help="the server's --grace for vanished clients")
    ap.add_argument("--signal-s", type=float, default=120.0, help="fault 4: seconds of each signal")
    ap.add_argument("--long-s", type=float, default=3600.0, help="fault 6: call length")
    ap.add_argument("--long-speed", type=float, default=4.0,
                    help="fault 6: x real time (a call's finals decode one after another, each with the text "
                         "before it as context: on one core of this machine that is about 5x real time at most)")
    ap.add_argument("--load-min", type=float, default=10.0, help="fault 7: minutes")
    ap.add_argument("--load-lines", type=int, default=4, help="fault 7: calls at once")
    ap.add_argument("--parallel", action="store_true",
                    help="run the two backends at the same time (two servers; halves the wall time)")
    ap.add_argument("--out", type=Path, help="append the JSON lines here too")
    args = ap.parse_args()
    faults = sorted({int(x) for x in args.only.split(",")}) if args.only else sorted(FAULTS)
    unknown = [n for n in faults if n not in FAULTS]
    if unknown:
        ap.error(f"unknown fault(s) {unknown}; faults are {sorted(FAULTS)}")
    backends = ["sqlite"] * (not args.postgres_only) + ["postgres"] * (not args.sqlite_only)
    started = time.monotonic()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="hotline-faults-") as tmp:
        if args.parallel and len(backends) > 1:
            results = _in_parallel(backends, Path(tmp))
            backends = []
        for name in backends:
            try:
                results += asyncio.run(run_backend(name, faults, args, Path(tmp)))
            except Exception as exc:  # noqa: BLE001 - a backend that cannot start fails its faults
                for n in faults:
                    res = Result(n, "backend did not start", name, errors=[f"{type(exc).__name__}: {exc}"]).finish()
                    res.survived = False
                    results.append(res)
                    print(json.dumps(res.to_dict(), ensure_ascii=False), flush=True)
    summary = {
        "summary": True, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python", "bench/faults.py", *sys.argv[1:]]),
        "faults": len(results), "survived": sum(r.survived for r in results),
        "skipped": sum(r.skipped is not None for r in results),
        "lost_finals": sum(r.lost_finals for r in results),
        "duplicated_finals": sum(r.duplicated_finals for r in results),
        "rss_growth_mib": round(max((r.rss_growth_mib for r in results), default=0.0), 1),
        "errors": [f"{r.fault}/{r.backend}: {e}" for r in results for e in r.errors],
        "seconds": round(time.monotonic() - started),
    }
    line = json.dumps(summary, ensure_ascii=False)
    print(line, flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n")
            fh.write(line + "\n")
    return 0 if results and all(r.survived for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
