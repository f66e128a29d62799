"""The stream's own commands: what the worker image runs (`python -m stream COMMAND`; the image's `emostream` is this
table, since the image has no trainer). The full `emostream` command (emostream/cli.py) includes them."""

from __future__ import annotations

import sys

from core.commands import Commands, dispatch

COMMANDS: Commands = {
    "worker": ("stream.worker", "run a Faust stream worker (posts -> Triton -> post-emotions; aggregator -> Redis)"),
    "aggregator": (
        "stream.aggregator",
        "the Redis aggregator alone (workers run it unless EMOSTREAM_AGGREGATOR=false)",
    ),
    "produce": ("stream.produce", "send posts to Kafka: replay a JSONL file or generate them at a rate"),
    "tail": ("stream.tail", "print results from the output topic as they arrive"),
    "dashboard": ("stream.dashboard.server", "the live dashboard web page and its JSON API (reads Redis)"),
    "contract": ("stream.contract", "the published JSON Schemas of the topics' records: check | write | publish"),
    "settings": ("stream.settings", "print the worker's configuration table (env variables, defaults)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch("emostream", "The stream worker's commands (the worker image has no trainer).", COMMANDS, argv)
