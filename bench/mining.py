"""Time each mining analysis over a large SQLite ticket history (default one million tickets).

    python bench/mining.py [--rows 1000000] [--db bench/results/mining-1m.db] [--repeat 3] [--regenerate]

The history is generated once (ticketing.demo_data, two years) and reused. For each analysis it
prints the first (cold-ish) run, the median wall time of the repeats and the median CPU time of
this process (SQLite runs in-process, so CPU time is what an idle core would take), as a table
and one JSON line each.
The machine may be shared: numbers measured while other work runs are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIMIT_S = 2.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--years", type=float, default=2.0)
    ap.add_argument("--db", default=str(ROOT / "bench" / "results" / "mining-1m.db"))
    ap.add_argument("--end", default="2026-11-26", help="last day of the generated history")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--regenerate", action="store_true")
    args = ap.parse_args(argv)

    from ticketing.demo_data import DemoOptions, generate
    from ticketing.mining import counts, early_warning, hotspots, topics, trends
    from ticketing.mining.db import engine_for, ensure_indexes, latest_day, ticket_table
    import sqlalchemy as sa

    path = Path(args.db)
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    if args.regenerate and path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    engine = engine_for(url)
    have = 0
    if path.exists():
        with engine.connect() as conn:
            if sa.inspect(conn).has_table("ticket"):
                have = conn.execute(sa.select(sa.func.count()).select_from(ticket_table(engine))).scalar_one()
    if have < 0.9 * args.rows:
        per_day = max(1, round(args.rows / (args.years * 365) / 0.985))  # measured: rows = 0.985 x per_day x days
        print(f"generating ~{args.rows} tickets ({per_day}/day over {args.years} years) into {path} ...", flush=True)
        result = generate(url, DemoOptions(years=args.years, per_day=per_day, end=date.fromisoformat(args.end),
                                           replace=True),
                          progress=lambda d, n: print(f"  {d}/{n} days", flush=True) if d % 100 == 0 else None,
                          engine=engine)
        have = result.rows
        print(f"generated {result.rows} tickets in {result.seconds:.1f} s ({result.rows / result.seconds:.0f}/s)")
    ensure_indexes(engine)
    until = latest_day(engine)
    assert until is not None
    year = until - timedelta(days=364)
    cases = {
        "counts category x district x month (1 y)": lambda: counts.counts(engine, since=year, until=until,
                                                                           by=("category", "district"), grain="month"),
        "counts L1 x week (all)": lambda: counts.counts(engine, by=("category",), grain="week", level="l1"),
        "counts street x day (30 d)": lambda: counts.counts(engine, since=until - timedelta(days=29), until=until,
                                                             by=("category", "street"), grain="day"),
        "appeal-type mix (1 y)": lambda: counts.appeal_mix(engine, since=year, until=until),
        "department rates (1 y)": lambda: counts.department_rates(engine, since=year, until=until),
        "hotspots (1 y)": lambda: hotspots.hotspots(engine, since=year, until=until),
        "hotspots (all)": lambda: hotspots.hotspots(engine),
        "risk points (all seasons)": lambda: hotspots.risk_points(engine),
        "trends yoy (year to date)": lambda: trends.trends(engine, since=until.replace(month=1, day=1), until=until),
        "trends pop (28 d)": lambda: trends.trends(engine, since=until - timedelta(days=27), until=until, mode="pop"),
        "early warnings (1 day)": lambda: early_warning.early_warnings(engine, until=until),
        "early warnings (14 days)": lambda: early_warning.early_warnings(engine, since=until - timedelta(days=13),
                                                                         until=until),
        "emerging topics (7 d vs 56 d)": lambda: topics.emerging_topics(engine, until=until),
    }
    import jieba

    jieba.setLogLevel(60)
    t0 = time.perf_counter()
    jieba.initialize()
    jieba_init = time.perf_counter() - t0
    print(f"\n{have} tickets, latest day {until}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          f"(shared machine: noisy); jieba dictionary load {jieba_init:.2f} s (once per process, not counted)\n")
    # cpu = this process's CPU time (SQLite runs in-process): what the wall time would be on an idle core
    print(f"{'analysis':46} {'first s':>8} {'median s':>9} {'cpu s':>8}  ok(<{LIMIT_S:g}s wall)")
    results = []
    for name, fn in cases.items():
        times, cpu = [], []
        for _ in range(max(1, args.repeat)):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        med, med_cpu = statistics.median(times), statistics.median(cpu)
        ok = med < LIMIT_S
        print(f"{name:46} {times[0]:8.3f} {med:9.3f} {med_cpu:8.3f}  {'yes' if ok else 'NO'}", flush=True)
        results.append({"analysis": name, "first_s": round(times[0], 4), "median_s": round(med, 4),
                        "median_cpu_s": round(med_cpu, 4), "ok": ok})
    print()
    for r in results:
        print(json.dumps({"bench": "mining", "rows": have, "python": platform.python_version(), **r}, ensure_ascii=False))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
