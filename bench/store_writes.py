"""Database writes per call: what one live call costs the shared store (docs/scale.md).

    python bench/store_writes.py                                   # SQLite in a temporary folder
    python bench/store_writes.py --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/test

Runs the demo calls (tests/data/calls, 16 kHz) through the pipeline with the ticket store on, fed as
fast as possible (the writes do not depend on the pace: one set per final, one at hang-up), and
counts the SQL statements that change data (INSERT/UPDATE/DELETE) and the transactions (COMMIT)
the store sends, per call and per minute of call audio. Each call is also leased and released as
`hotline serve` does (ticketing/leases.py: the call row at the start, released at the end); the
heartbeat is one UPDATE per server every HOTLINE_LEASE_S / 3 seconds whatever its number of
calls, printed apart. Prints a table and one JSON line.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import emit  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "tests" / "data" / "calls")
    ap.add_argument("--database-url", help="default: SQLite in a temporary folder")
    ap.add_argument("--out", type=Path, help="append the JSON line here too")
    args = ap.parse_args()

    from sqlalchemy import event

    from cli.stt_commands import _run_file
    from config import Settings
    from models import ModelOptions
    from pipeline import Pipeline
    from stt.transcribe import SharedDecoder, TranscriberOptions
    from ticketing.leases import CallLeases
    from ticketing.store import TicketStore
    from web.calls import CallOptions

    home = Path(tempfile.mkdtemp(prefix="hotline-writes-"))
    url = args.database_url or f"sqlite:///{home / 'hotline.db'}"
    store = TicketStore(url)
    counts = {"writes": 0, "commits": 0}

    @event.listens_for(store.engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            counts["writes"] += 1

    @event.listens_for(store.engine, "commit")
    def _commit(conn):  # noqa: ANN001
        counts["commits"] += 1

    options = TranscriberOptions(partials=False)
    decoder = SharedDecoder.load(ModelOptions(cpu_threads=1), options)
    pipe = Pipeline.load(Settings(home=home), store=store, decoder=decoder, options=options)
    files = sorted(p for p in args.corpus.glob("*.wav") if ".8k" not in p.name)
    rows = []
    lease_s = CallOptions().lease_s
    leases = CallLeases(store.engine, "bench", lease_s)
    for path in files:
        before = dict(counts)
        call_id = f"writes-{path.stem}-{time.time_ns()}"
        leases.start(call_id, operator="bench", sample_rate=16000, channels=1)
        res = _run_file(pipe, path, call_id=call_id)
        leases.release(call_id)
        if res.error:
            print(f"skipped {path}: {res.error}", file=sys.stderr)
            continue
        writer = getattr(pipe, "_writer", None)
        if writer is not None and hasattr(writer, "flush"):
            writer.flush(timeout=30)
        finals = len(res.draft["segments"])
        rows.append({"call": path.stem, "audio_s": round(res.duration, 1), "finals": finals,
                     "writes": counts["writes"] - before["writes"], "commits": counts["commits"] - before["commits"]})
    pipe.close()
    audio = sum(r["audio_s"] for r in rows)
    total = {k: sum(r[k] for r in rows) for k in ("finals", "writes", "commits")}
    print(f"{'call':<10} {'audio s':>8} {'finals':>7} {'writes':>7} {'commits':>8}")
    for r in rows:
        print(f"{r['call']:<10} {r['audio_s']:8.1f} {r['finals']:7d} {r['writes']:7d} {r['commits']:8d}")
    per_min = {k: round(v / (audio / 60), 2) for k, v in total.items()} if audio else {}
    print(f"per call: {total['writes'] / len(rows):.1f} writes in {total['commits'] / len(rows):.1f} transactions "
          f"({total['finals'] / len(rows):.1f} finals); per minute of audio: {per_min}")
    heartbeats = 60 / (lease_s / 3)
    print(f"heartbeat: {heartbeats:.0f} UPDATEs a minute per server with live calls (HOTLINE_LEASE_S={lease_s:g}), "
          f"shared by all its calls")
    emit("store_writes", {"database": url.split(":", 1)[0], "calls": rows, "audio_s": audio, "total": total,
                          "per_audio_minute": per_min, "heartbeats_per_server_minute": heartbeats}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
