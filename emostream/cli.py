"""The `emostream` command: every subcommand of the table in core/commands.py, each living in its own module."""

from __future__ import annotations

import sys

from core.commands import COMMANDS, dispatch

__all__ = ["COMMANDS", "main"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch("emostream", "Streaming multimodal emotion analysis.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
