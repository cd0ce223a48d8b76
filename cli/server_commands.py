"""`hotline serve` (the live server) and `hotline token ...` (API tokens for the server)."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the server: live calls, REST/Open311 API, operator console")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--db", metavar="URL", help="SQLAlchemy URL (default: HOTLINE_DATABASE_URL or SQLite in HOTLINE_HOME)")
    serve.add_argument("--model-dir", help="CTranslate2 Whisper folder (default: the bundled base model)")
    serve.add_argument("--grace", type=float, default=30.0,
                       help="seconds a call waits for its dropped client to reconnect before it is ended (default 30)")
    serve.add_argument("--audiosocket", type=int, metavar="PORT",
                       help="also listen for Asterisk AudioSocket() calls on this TCP port (no authentication: "
                            "bind it to the PBX's network; see docs/integration/asterisk.md)")
    serve.add_argument("--audiosocket-host", metavar="HOST",
                       help="interface for --audiosocket (default: the --host interface)")
    serve.add_argument("--no-preload", action="store_true", help="load the model on the first call, not at start-up")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    token = subparsers.add_parser("token", help="API tokens for the server (REST, websocket, console login)")
    sub = token.add_subparsers(dest="token_command", metavar="ACTION")
    create = sub.add_parser("create", help="create a token and print it (shown only once)")
    create.add_argument("--name", required=True, help="who uses it, e.g. an operator's name (unique)")
    create.add_argument("--role", default="operator", choices=["admin", "operator", "open311"])
    create.add_argument("--db", metavar="URL")
    create.set_defaults(func=cmd_token_create)
    listing = sub.add_parser("list", help="list tokens (names and roles; tokens themselves are not stored)")
    listing.add_argument("--db", metavar="URL")
    listing.set_defaults(func=cmd_token_list)
    revoke = sub.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.add_argument("--db", metavar="URL")
    revoke.set_defaults(func=cmd_token_revoke)
    token.set_defaults(func=lambda args: (token.print_help(), 2)[1])


def _settings(args: argparse.Namespace):  # noqa: ANN202
    from config import Settings

    settings = Settings()
    if getattr(args, "db", None):
        settings = replace(settings, database_url=args.db)
    if getattr(args, "model_dir", None):
        settings = replace(settings, model_dir=args.model_dir)
    return settings


def _tokens(settings):  # noqa: ANN001, ANN202
    from ticketing import TicketStore
    from web.auth import TokenStore

    store = TicketStore(settings.db_url())
    return store, TokenStore.for_store(store)


def cmd_token_create(args: argparse.Namespace) -> int:
    _, tokens = _tokens(_settings(args))
    try:
        token = tokens.create(args.name, args.role)
    except ValueError as exc:
        print(f"hotline token create: {exc}", file=sys.stderr)
        return 1
    print(token)
    print(f"({args.role} token for {args.name}; store it now, it cannot be shown again)", file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    _, tokens = _tokens(_settings(args))
    rows = tokens.list()
    if not rows:
        print("(no tokens: `hotline token create --name NAME --role admin`)")
    for t in rows:
        print(f"{t.id}\t{t.name}\t{t.role}\t{t.created_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    _, tokens = _tokens(_settings(args))
    if not tokens.revoke(args.name):
        print(f"hotline token revoke: no token named {args.name}", file=sys.stderr)
        return 1
    print(f"revoked {args.name}")
    return 0


def _first_admin_token(tokens) -> None:  # noqa: ANN001
    """First start on an empty database: an admin token, printed once, so the console can be
    opened at all. Several servers starting together on one database: one of them creates it
    (the name is unique in the store), the others say so and go on."""
    from sqlalchemy.exc import IntegrityError

    if tokens.count(role="admin"):
        return
    existing = tokens.list()
    if any(t.role == "admin" for t in existing):
        return      # another server made it between the count and the list
    name = "admin"
    suffix = 1
    while any(t.name == name for t in existing):   # a token of another role already named admin
        suffix += 1
        name = f"admin{suffix}"
    try:
        token = tokens.create(name, "admin")
    except (IntegrityError, ValueError):
        if not tokens.count(role="admin"):
            raise
        print("First start: another server created the admin token at the same time.", flush=True)
        return
    print(f"First start: created an admin token (name {name!r}). Keep it, it is not shown again:\n\n  {token}\n",
          flush=True)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server import ServerOptions, create_app
    from web.calls import CallOptions

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(args)
    store, tokens = _tokens(settings)
    _first_admin_token(tokens)
    options = ServerOptions(calls=CallOptions(grace_s=args.grace), preload=not args.no_preload)
    app = create_app(settings, options=options, store=store)
    if args.audiosocket is not None:
        from web.audiosocket import AudioSocketOptions, serve_alongside

        as_host = args.audiosocket_host or args.host
        serve_alongside(app, AudioSocketOptions(host=as_host, port=args.audiosocket))
        print(f"AudioSocket: {as_host}:{args.audiosocket} (Asterisk AudioSocket(); no authentication)", flush=True)
    host_for_url = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"Operator console: http://{host_for_url}:{args.port}/   (tickets: /tickets, API docs: /docs)", flush=True)
    print(f"Database: {settings.db_url() if not settings.db_url().startswith('postgres') else 'PostgreSQL'}", flush=True)
    # 1 MiB websocket messages: audio frames are far smaller; anything bigger is refused by uvicorn
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws_max_size=1 << 20,
                timeout_graceful_shutdown=30)
    return 0
