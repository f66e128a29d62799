"""The stream's own commands, the `stream.*` rows of the `emostream` table (core/commands.py): what the worker image
runs (`python -m stream COMMAND`; the image's `emostream` is this, since the image has no trainer)."""

from __future__ import annotations

import sys

from core.commands import COMMANDS as ALL
from core.commands import Commands, dispatch

COMMANDS: Commands = {name: row for name, row in ALL.items() if row[0].startswith("stream.")}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch("emostream", "The stream worker's commands (the worker image has no trainer).", COMMANDS, argv)
