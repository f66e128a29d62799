"""The `emostream` command's one table of subcommands, and how one runs. Each subcommand is a module with a
`main(argv) -> int`, in the room it belongs to (model/ for the trainer, stream/ for the worker, devstack/ for the local
services, emostream/ for the demo). Modules are named, not imported: a command is imported only when run, so it never
pays for (or needs) another's dependencies; the worker image runs the `stream.*` rows alone (stream/commands.py)."""

from __future__ import annotations

import argparse
import importlib

__all__ = ["COMMANDS", "Commands", "dispatch"]

# subcommand -> (module with a `main(argv) -> int`, one-line help)
Commands = dict[str, tuple[str, str]]

COMMANDS: Commands = {
    "demo": ("emostream.demo", "the whole pipeline on the local stack (the README's main command)"),
    "demo-data": ("model.demo_data", "generate the small synthetic demo dataset (seeded)"),
    "data": ("model.sources.cli", "real data -> training manifest: goemotions | table (CSV/TSV/JSONL) | image-list"),
    "train": ("model.train", "train the multimodal multitask model, write a model bundle"),
    "evaluate": ("model.evaluate", "per-head accuracy / macro-F1 (paper Table 1) and a confusion-matrix PNG"),
    "experiment": ("model.experiments", "paper section 4.2 experiments a | b | c on a manifest, N repeats"),
    "export": ("model.export", "model bundle -> ONNX + Triton configs (cpu and gpu targets), new version"),
    "imagenet-check": ("emostream.imagenet_check", "a bundle's image backbone + its ImageNet head on sample photos"),
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
    "stack": ("devstack.manager", "local Kafka/Redis/Triton on 127.0.0.1: up | down | status | env"),
}


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
