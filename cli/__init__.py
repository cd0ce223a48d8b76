"""The `hotline` command. Each area registers its own sub-commands from a module of this package."""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules that each expose `register(subparsers)`; a missing one is skipped so areas can land independently.
COMMAND_MODULES = ["cli.stt_commands", "cli.ticket_commands", "cli.server_commands", "cli.mining_commands", "cli.demo_commands", "cli.map_commands"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="12345 hotline speech-to-ticket pipeline")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
