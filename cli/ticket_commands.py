"""`hotline tickets ...` (ticket lifecycle from the shell) and `hotline db ...` (schema, reference data)."""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any, Callable

LIST_COLUMNS = ("id", "state", "created_at", "appeal_type", "category", "district", "department", "resolve_by", "summary")


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: HOTLINE_DATABASE_URL or SQLite in HOTLINE_HOME)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--actor", default=None, help="who does this (event log); default: $USER")
    return parser


def _store(args: argparse.Namespace):  # noqa: ANN202
    from ticketing import TicketStore

    return TicketStore(args.db)


def _actor(args: argparse.Namespace) -> str:
    if args.actor:
        return args.actor
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "operator"


def _print(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(human(data))


def _short(value: Any, width: int = 28) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...] = LIST_COLUMNS) -> str:
    if not rows:
        return "(none)"
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(_short(row.get(c)) for c in columns))
    return "\n".join(lines)


def _ticket_text(t: dict[str, Any]) -> str:
    keys = ("id", "call_id", "state", "round", "warning", "supervised", "appeal_type", "category", "urgency", "district",
            "street", "address", "place_key", "department", "co_handler", "company", "caller_name", "phone", "summary",
            "created_at", "dispatched_at", "response_by", "resolve_by", "extended", "extension_reason", "resolved_at",
            "satisfaction", "merged_into", "allowed")
    return "\n".join(f"{k:>16}: {t.get(k)}" for k in keys if t.get(k) not in (None, False, []))


def _events_text(events: list[dict[str, Any]]) -> str:
    lines = []
    for e in events:
        changes = ", ".join(f"{k}: {old} → {new}" for k, (old, new) in (e.get("changes") or {}).items())
        lines.append(f"{e['at']}  {e['actor']:<10} {e['action']:<14} {changes}{'  # ' + e['note'] if e.get('note') else ''}")
    return "\n".join(lines) or "(no events)"


def _show(store, ticket_id: int, args: argparse.Namespace) -> int:  # noqa: ANN001
    ticket = store.get(ticket_id)
    ticket["events"] = store.events(ticket_id)
    _print(args, ticket, lambda t: _ticket_text(t) + "\n\nevents:\n" + _events_text(t["events"]))
    return 0


# -- tickets --------------------------------------------------------------------------------

def cmd_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        if args.overdue:
            rows = store.overdue(args.now)
            if args.state:
                rows = [r for r in rows if r["state"] == args.state]
        else:
            rows = store.search(state=args.state, phone=args.phone, category=args.category, district=args.district,
                                place=args.place, text=args.text, date_from=args.date_from, date_to=args.date_to,
                                limit=args.limit, offset=args.offset)
        _print(args, rows, lambda r: _table(r, LIST_COLUMNS + (("overdue",) if args.overdue else ())))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _store(args) as store:
        return _show(store, args.id, args)


def _then_show(action: Callable[[Any], Any]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with _store(args) as store:
            action(store, args)
            return _show(store, args.id, args)
    return run


cmd_submit = _then_show(lambda s, a: s.submit(a.id, _actor(a), a.note))
cmd_dispatch = _then_show(lambda s, a: s.dispatch(a.id, _actor(a), a.note, department=a.department,
                                                  co_handler=a.co_handler, now=a.now))
cmd_transition = _then_show(lambda s, a: s.transition(a.id, a.state, _actor(a), a.note, now=a.now))
cmd_visit = _then_show(lambda s, a: s.follow_up(a.id, a.satisfaction, _actor(a), a.note, close=not a.no_close, now=a.now))
cmd_extend = _then_show(lambda s, a: s.extend(a.id, a.reason, _actor(a), now=a.now))
cmd_merge = _then_show(lambda s, a: s.merge(a.id, a.into, _actor(a), a.note))
cmd_answer = _then_show(lambda s, a: s.direct_answer(a.id, _actor(a), a.note))


def cmd_edit(args: argparse.Namespace) -> int:
    fields = {}
    for item in args.fields:
        if "=" not in item:
            raise ValueError(f"expected FIELD=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        fields[key.strip()] = value.strip() or None
    with _store(args) as store:
        store.update(args.id, fields, actor=_actor(args), note=args.note)
        return _show(store, args.id, args)


def cmd_related(args: argparse.Namespace) -> int:
    with _store(args) as store:
        rows = store.related(args.id)
        _print(args, rows, lambda r: _table(r, ("id", "state", "created_at", "category", "place_key", "phone", "reasons")))
    return 0


def cmd_supervise(args: argparse.Namespace) -> int:
    with _store(args) as store:
        rows = store.supervise(args.now, actor=_actor(args))
        _print(args, rows, lambda r: f"flagged {len(r)} overdue ticket(s) 督办\n" + _table(r, ("id", "state", "category", "department", "overdue")))
    return 0


def cmd_places(args: argparse.Namespace) -> int:
    with _store(args) as store:
        rows = store.place_counts(category=args.category, since=args.since, min_count=args.min_count, limit=args.limit)
        _print(args, rows, lambda r: _table(r, ("count", "category", "place_key", "last")))
    return 0


# -- db -------------------------------------------------------------------------------------

def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from ticketing import db

    engine = db.make_engine(args.db)
    try:
        before = db.current_revision(engine)
        after = db.upgrade(engine, args.revision)
    finally:
        engine.dispose()
    _print(args, {"url": engine.url.render_as_string(hide_password=True), "from": before, "to": after},
           lambda d: f"{d['url']}: {d['from'] or '(empty)'} -> {d['to']}")
    return 0


def cmd_db_init(args: argparse.Namespace) -> int:
    with _store(args) as store:
        counts = store.init_reference_data(args.companies, args.kb)
    _print(args, counts, lambda c: ", ".join(f"{k}: {v}" for k, v in c.items()))
    return 0


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Expected failures (illegal move, unknown ticket, bad value) print one line and exit 1."""
    def run(args: argparse.Namespace) -> int:
        from ticketing import CalendarRangeError, TicketNotFound, TransitionError

        try:
            return func(args)
        except (TransitionError, TicketNotFound, CalendarRangeError, ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    tickets = subparsers.add_parser("tickets", help="ticket lifecycle: list, show, dispatch, visit, extend, merge ...")
    sub = tickets.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)

    def add(name: str, func: Callable, help_text: str, *, with_id: bool = True, timed: bool = False,
            noted: bool = False) -> argparse.ArgumentParser:
        p = _common(sub.add_parser(name, help=help_text))
        if with_id:
            p.add_argument("id", type=int, help="ticket id")
        if timed:
            p.add_argument("--now", default=None, help="ISO time to act at (default: now, Shanghai time)")
        if noted:
            p.add_argument("--note", default=None)
        p.set_defaults(func=_guard(func))
        return p

    p = add("list", cmd_list, "list tickets, newest first", with_id=False, timed=True)
    p.add_argument("--state")
    p.add_argument("--overdue", action="store_true", help="only tickets past a deadline (督办 candidates)")
    p.add_argument("--phone")
    p.add_argument("--category")
    p.add_argument("--district")
    p.add_argument("--place", help="place key, road or address fragment")
    p.add_argument("--text", help="text in summary, transcript, address or company")
    p.add_argument("--date-from", dest="date_from")
    p.add_argument("--date-to", dest="date_to")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    add("show", cmd_show, "one ticket with its event log")
    add("submit", cmd_submit, "operator confirms the draft", noted=True)
    p = add("dispatch", cmd_dispatch, "send to the department; the time limits start", timed=True, noted=True)
    p.add_argument("--department", help="override the routed department")
    p.add_argument("--co-handler", dest="co_handler")
    p = add("transition", cmd_transition, "move along the lifecycle (contacted, in_progress, resolved, returned, closed ...)",
            timed=True, noted=True)
    p.add_argument("state")
    add("answer", cmd_answer, "直接答复: close a submitted consultation without dispatch", noted=True)
    p = add("visit", cmd_visit, "回访 with satisfaction; 不满意 reopens as 预警工单", timed=True, noted=True)
    p.add_argument("--satisfaction", required=True, choices=["满意", "基本满意", "不满意"])
    p.add_argument("--no-close", action="store_true", help="stay visited instead of closing")
    p = add("extend", cmd_extend, "extend resolution once (15 working days) with a reason", timed=True)
    p.add_argument("--reason", required=True)
    p = add("merge", cmd_merge, "mark ID a duplicate of INTO", noted=True)
    p.add_argument("into", type=int, help="the ticket it duplicates")
    add("related", cmd_related, "same place + category (30 days) and same caller phone")
    p = add("edit", cmd_edit, "operator edits FIELD=VALUE (re-routes on category/district/street)", noted=True)
    p.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    add("supervise", cmd_supervise, "flag overdue tickets 督办 and log it", with_id=False, timed=True)
    p = add("places", cmd_places, "repeated complaints per place", with_id=False)
    p.add_argument("--category")
    p.add_argument("--since", help="date")
    p.add_argument("--min-count", dest="min_count", type=int, default=2)
    p.add_argument("--limit", type=int, default=50)

    dbp = subparsers.add_parser("db", help="database schema (Alembic) and reference data")
    dsub = dbp.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = _common(dsub.add_parser("upgrade", help="migrate the schema (default: to head)"))
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=_guard(cmd_db_upgrade))
    p = _common(dsub.add_parser("init", help="upgrade, then load companies.csv, kb.jsonl and departments"))
    p.add_argument("--companies", default=None)
    p.add_argument("--kb", default=None)
    p.set_defaults(func=_guard(cmd_db_init))
