"""The `emostream` command: one entry point whose subcommands each live in their own module, in the room they belong
to (model/ for the trainer, stream/ for the worker, devstack/ for the local services, here for the demo)."""

from __future__ import annotations

import sys

from core.commands import Commands, dispatch
from stream.commands import COMMANDS as STREAM_COMMANDS

COMMANDS: Commands = {
    "demo": ("emostream.demo", "the whole pipeline on the local stack (the README's main command)"),
    "demo-data": ("model.demo_data", "generate the small synthetic demo dataset (seeded)"),
    "data": ("model.sources.cli", "real data -> training manifest: goemotions | table (CSV/TSV/JSONL) | image-list"),
    "train": ("model.train", "train the multimodal multitask model, write a model bundle"),
    "evaluate": ("model.evaluate", "per-head accuracy / macro-F1 (paper Table 1) and a confusion-matrix PNG"),
    "experiment": ("model.experiments", "paper section 4.2 experiments a | b | c on a manifest, N repeats"),
    "export": ("model.export", "model bundle -> ONNX + Triton configs (cpu and gpu targets), new version"),
    "imagenet-check": ("emostream.imagenet_check", "a bundle's image backbone + its ImageNet head on sample photos"),
    **STREAM_COMMANDS,
    "stack": ("devstack.manager", "local Kafka/Redis/Triton on 127.0.0.1: up | down | status | env"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch("emostream", "Streaming multimodal emotion analysis.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
