"""What serving needs from a model bundle without torch: version, label order, preprocessing, tokenizer, and which
heads were trained on data (the worker routes a post to the largest trained head among its modalities)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from contracts.combos import COMBOS, Combo

from .tokenizer import Tokenizer

__all__ = ["BundleInfo", "SERVING", "point_serving", "find_bundle"]

# The bundle in service: the one `emostream export` last put in Triton's repository (a relative symlink). Workers and
# `evaluate` default to it, so whatever `make demo`, `make model` or `emostream
# export` served, a worker started with defaults afterwards uses the same bundle.
SERVING = Path("artifacts/bundles/serving")


def point_serving(bundle: Path, link: Path = SERVING) -> Path:
    """Make `link` name `bundle` (relative, so it resolves inside a container mounting the same folder), atomically."""
    link, target = Path(link), Path(bundle).resolve()
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(target, link.parent.resolve()))
    tmp.replace(link)
    return link


def find_bundle(version: str, root: Path = SERVING.parent) -> Path | None:
    """The folder of a bundle version under `root` (e.g. the one Triton serves), or None."""
    hits = sorted(Path(root).glob(f"**/{version}/bundle.json")) if Path(root).exists() else []
    return hits[0].parent.resolve() if hits else None


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    version: str
    emotions: tuple[str, ...]
    sentiments: tuple[str, ...]
    combos: tuple[Combo, ...]
    image_size: int
    max_words: int
    max_tags: int
    tokenizer: Tokenizer
    meta: dict
    # training examples each head saw (bundle.json `head_examples`); a bundle without the record counts every head
    head_examples: dict[Combo, int] = field(default_factory=dict)
    text_window: int = 5  # widest text convolution (words): the text tensor's padding must hold one such window
    # the training texts' languages (bundle.json `languages`); None for bundles from before: no text is foreign then
    languages: tuple[str, ...] | None = None
    # the neutral gate's threshold per head (bundle.json `neutral_threshold`); a head not listed, or None, has no gate
    neutral_threshold: dict[Combo, float | None] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> BundleInfo:
        """A bundle folder, or a root folder holding `latest`."""
        path = Path(path)
        if not (path / "bundle.json").exists() and (path / "latest" / "bundle.json").exists():
            path = path / "latest"
        if not (path / "bundle.json").exists():
            raise FileNotFoundError(f"no model bundle at {path} (train one with `emostream train`)")
        path = path.resolve()
        meta = json.loads((path / "bundle.json").read_text())
        pre = meta["preprocessing"]
        combos = tuple(Combo.parse(c) for c in meta["combos"])
        examples = {Combo.parse(c): int(n) for c, n in meta.get("head_examples", {}).items()}
        return cls(
            path,
            meta["version"],
            tuple(meta["labels"]["emotions"]),
            tuple(meta["labels"]["sentiments"]),
            combos,
            pre["image_size"],
            pre["max_words"],
            pre["max_tags"],
            Tokenizer.load(path / "tokenizer.json"),
            meta,
            examples or {c: 1 for c in COMBOS},
            max(meta.get("model_config", {}).get("text_widths", [5])),
            tuple(meta["languages"]) if meta.get("languages") is not None else None,
            {Combo.parse(c): t for c, t in meta.get("neutral_threshold", {}).items()},
        )

    def has_gate(self, head: Combo) -> bool:
        """Whether `head` has a neutral threshold (its records then carry `neutral_score`)."""
        return self.neutral_threshold.get(head) is not None

    def answer(self, head: Combo, emotion_probs, neutral_prob: float) -> tuple[str, float]:
        """What `head` says of a post: ("neutral", its gate's probability) when that reaches the head's threshold,
        else its most likely emotion and that emotion's probability. The worker, its opinions and Bundle.predict
        all decide here."""
        if self.has_gate(head) and neutral_prob >= self.neutral_threshold[head]:
            return "neutral", float(neutral_prob)
        i = int(emotion_probs.argmax())
        return self.emotions[i], float(emotion_probs[i])

    def trained(self, combo: Combo) -> bool:
        return self.head_examples.get(combo, 0) > 0

    def route(self, have: Combo) -> tuple[Combo | None, str]:
        """The head for a post with modalities `have`: `have`'s own head when it was trained, else the largest trained
        head among its sub-combinations (ties: the one trained on more examples). (None, why) when there is none."""
        if self.trained(have):
            return have, "all usable modalities"
        for size in range(len(have) - 1, 0, -1):
            options = [c for c in have.subsets() if len(c) == size and self.trained(c)]
            if options:
                best = max(options, key=lambda c: self.head_examples[c])
                return best, f"the {have.name} head was not trained; {best.name} is the largest trained head"
        return None, f"no trained head takes any of {have.name}"
