"""`hotline demo`: the main job on the embedded defaults, for a newcomer's first run.

Runs the demo calls through `hotline process` (bundled Whisper base, SQLite ticket store in
HOTLINE_HOME) and prints one line per draft ticket, then how to go on.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from config import PROJECT_ROOT, Settings

DEMO_CALLS = PROJECT_ROOT / "tests" / "data" / "calls"
COLUMNS = ("call_id", "appeal_type", "category", "district", "street", "address", "department", "caller_name", "phone")


def cmd_demo(args: argparse.Namespace) -> int:
    from cli import build_parser

    source = Path(args.dir) if args.dir else DEMO_CALLS
    if not source.exists():
        print(f"hotline demo: no demo calls at {source}; pass a folder of recordings", file=sys.stderr)
        return 1
    settings = Settings()
    out = Path(args.out) if args.out else settings.home / "demo"
    print(f"hotline demo: processing {source} -> drafts in {out}, tickets in {settings.db_url()}", file=sys.stderr)
    from ticketing import TicketStore

    loaded = TicketStore(settings.db_url()).init_reference_data()  # directory, KB, departments
    print(f"hotline demo: reference data {loaded}", file=sys.stderr)
    process_args = build_parser().parse_args(["process", str(source), "--out", str(out)])
    # process prints every draft in full when it has no --out; here we print the table below instead.
    code = process_args.func(process_args)
    drafts = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.json"))]
    print("\t".join(COLUMNS))
    for d in drafts:
        print("\t".join(str(d.get(c) or "-") for c in COLUMNS))
    print(f"\n{len(drafts)} draft ticket(s). Next: `hotline tickets list`, `hotline serve` (operator console), "
          f"`hotline replay {DEMO_CALLS / 'dev-008.wav'}` (live path).", file=sys.stderr)
    return code


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the demo calls through the whole pipeline into the ticket store")
    p.add_argument("dir", nargs="?", help=f"folder of recordings (default: {DEMO_CALLS})")
    p.add_argument("--out", help="where the draft JSON files go (default: HOTLINE_HOME/demo)")
    p.set_defaults(func=cmd_demo)
