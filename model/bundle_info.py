"""What serving needs from a model bundle without torch: version, label order, preprocessing, tokenizer."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .tokenizer import Tokenizer


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    version: str
    emotions: tuple[str, ...]
    sentiments: tuple[str, ...]
    combos: tuple[str, ...]
    image_size: int
    max_words: int
    max_tags: int
    tokenizer: Tokenizer
    meta: dict

    @classmethod
    def load(cls, path: Path) -> "BundleInfo":
        """A bundle folder, or a root folder holding `latest`."""
        path = Path(path)
        if not (path / "bundle.json").exists() and (path / "latest" / "bundle.json").exists():
            path = path / "latest"
        if not (path / "bundle.json").exists():
            raise FileNotFoundError(f"no model bundle at {path} (train one with `emostream train`)")
        path = path.resolve()
        meta = json.loads((path / "bundle.json").read_text())
        pre = meta["preprocessing"]
        return cls(path, meta["version"], tuple(meta["labels"]["emotions"]), tuple(meta["labels"]["sentiments"]),
                   tuple(meta["combos"]), pre["image_size"], pre["max_words"], pre["max_tags"],
                   Tokenizer.load(path / "tokenizer.json"), meta)
