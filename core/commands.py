"""Run one subcommand from a table of them: the `emostream` command (emostream/cli.py) and the worker image's
stream-only one (stream/commands.py) both dispatch this way. Modules are imported only when used, so a command
never pays for (or needs) another's dependencies."""

from __future__ import annotations

import argparse
import importlib

__all__ = ["Commands", "dispatch"]

# subcommand -> (module with a `main(argv) -> int`, one-line help)
Commands = dict[str, tuple[str, str]]


def dispatch(prog: str, description: str, commands: Commands, argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=description)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in commands.items():
        sub.add_parser(name, help=help_, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        ap.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(commands[argv[0]][0])
    return int(module.main(argv[1:]) or 0)
