"""`hotline demo-data`, `hotline report` and `hotline mining <analysis>` (JSON to stdout)."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from pathlib import Path

ANALYSES = ("summary", "counts", "departments", "hotspots", "risk-points", "trends", "warnings", "topics")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo-data", help="generate a realistic multi-year ticket history (mining demo)")
    p.add_argument("--years", type=float, default=2.0)
    p.add_argument("--per-day", type=int, default=300, help="ordinary-day tickets (default 300)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end", type=_date, default=None, help="last day of the history (default today)")
    p.add_argument("--db", default=None, help="database URL (default HOTLINE_DATABASE_URL or the SQLite in HOTLINE_HOME)")
    p.add_argument("--no-plant", action="store_true", help="rhythm and storms only: no hotspots, spikes, topics, trends")
    p.add_argument("--replace", action="store_true", help="delete earlier demo tickets (call_id demo-*) first")
    p.add_argument("--planted", default=None, help="where to write the planted-anomalies JSON")
    p.set_defaults(func=_demo_data)

    p = subparsers.add_parser("report", help="self-contained HTML mining report (charts inline)")
    p.add_argument("--from", dest="since", type=_date, default=None, help="first day (default: a year before --to)")
    p.add_argument("--to", dest="until", type=_date, default=None, help="last day (default: latest ticket)")
    p.add_argument("--out", default="report.html")
    p.add_argument("--db", default=None)
    p.add_argument("--charts-dir", default=None, help="also write each chart as an .svg file here")
    p.set_defaults(func=_report)

    p = subparsers.add_parser("mining", help="run one mining analysis and print JSON")
    p.add_argument("analysis", choices=ANALYSES)
    p.add_argument("--db", default=None)
    p.add_argument("--from", dest="since", type=_date, default=None)
    p.add_argument("--to", dest="until", type=_date, default=None)
    p.add_argument("--by", default="category", help="counts: comma list of dimensions")
    p.add_argument("--grain", default=None, choices=("day", "week", "month", "year"))
    p.add_argument("--mode", default="yoy", choices=("yoy", "pop"), help="trends: year-on-year or period-on-period")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(func=_mining)


def _demo_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ticketing.demo_data import DemoOptions, generate

    opts = DemoOptions(years=args.years, per_day=args.per_day, seed=args.seed, end=args.end, plant=not args.no_plant,
                       replace=args.replace, planted_path=args.planted)
    bar = tqdm(total=None, unit="day", desc="demo history", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        result = generate(args.db, opts, progress=progress)
    except (RuntimeError, ValueError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    bar.close()
    p = result.planted
    print(f"{result.rows} tickets {result.start}..{result.end} in {result.seconds:.1f} s "
          f"({result.rows / max(result.seconds, 1e-9):.0f}/s)")
    print(f"planted: {len(p['risk_points'])} risk points, {len(p['hotspots'])} hotspots, {len(p['spikes'])} spikes, "
          f"{len(p['emerging_topics'])} emerging topics, {len(p['storm_days'])} storm days -> {result.planted_path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from ticketing.mining.db import engine_for, ensure_indexes, latest_day
    from ticketing.mining.report import build_report

    engine = engine_for(args.db)
    ensure_indexes(engine)
    until = args.until or latest_day(engine)
    if until is None:
        print("error: no tickets in the database (try `hotline demo-data`)", file=sys.stderr)
        return 1
    since = args.since or until - timedelta(days=364)
    charts: dict[str, str] = {}
    try:
        html = build_report(engine, since=since, until=until, charts=charts,
                            progress=lambda s: print(f"report: {s}", file=sys.stderr))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    if args.charts_dir:
        d = Path(args.charts_dir)
        d.mkdir(parents=True, exist_ok=True)
        for name, svg in charts.items():
            (d / f"{name}.svg").write_text(svg, encoding="utf-8")
    print(f"wrote {out} ({len(html) // 1024} KB, {since}..{until})")
    return 0


def _mining(args: argparse.Namespace) -> int:
    from ticketing.mining import counts, early_warning, hotspots, topics, trends
    from ticketing.mining.db import engine_for, ensure_indexes, latest_day

    engine = engine_for(args.db)
    ensure_indexes(engine)
    until = args.until or latest_day(engine)
    if until is None:
        print("error: no tickets in the database", file=sys.stderr)
        return 1
    since = args.since or until - timedelta(days=364)
    a = args.analysis
    try:
        if a == "summary":
            out = {"latest_day": until.isoformat()}
        elif a == "counts":
            out = counts.counts(engine, since=since, until=until, by=[b for b in args.by.split(",") if b],
                                grain=args.grain, limit=args.limit)
        elif a == "departments":
            out = counts.department_rates(engine, since=since, until=until)[: args.limit]
        elif a == "hotspots":
            out = hotspots.hotspots(engine, since=since, until=until, limit=args.limit)
        elif a == "risk-points":
            out = hotspots.risk_points(engine, until=until, limit=args.limit)
        elif a == "trends":
            s = args.since or (until.replace(month=1, day=1) if args.mode == "yoy" else until - timedelta(days=27))
            out = trends.trends(engine, since=s, until=until, mode=args.mode)
        elif a == "warnings":
            out = early_warning.early_warnings(engine, since=args.since, until=until)
        else:
            out = topics.emerging_topics(engine, until=until, top=args.limit)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1, default=str)
    print()
    return 0
