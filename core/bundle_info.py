"""A model bundle's metadata without torch. `BundleMeta` is bundle.json as one typed model: the trainer writes it
(model/bundle.py) and everything else reads it, so a field is named once. `BundleInfo` is what serving needs from a
bundle: version, label order, preprocessing, tokenizer, and which heads were trained on data (the worker routes a post
to the largest trained head among its modalities). Heads are `Combo`s throughout; bundle.json spells them by name."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from contracts.combos import COMBOS, MODALITIES, Combo

from .tokenizer import Tokenizer

__all__ = ["BundleMeta", "Preprocessing", "Labels", "Head", "BundleInfo", "SERVING", "point_serving", "find_bundle"]

# a head in bundle.json: its combination's name ("image_text"), a Combo in Python
Head = Annotated[
    Combo,
    BeforeValidator(lambda v: v if isinstance(v, Combo) else Combo.parse(v)),
    PlainSerializer(lambda c: c.name, return_type=str),
]


class Labels(BaseModel):
    emotions: tuple[str, ...]
    sentiments: tuple[str, ...]


class Preprocessing(BaseModel):
    """How a post becomes the model's inputs. The word and tag limits are the tokenizer's (tokenizer.json), stored
    there only; bundles from before also wrote them here (ignored)."""

    model_config = ConfigDict(extra="ignore")

    image_size: int
    image_layout: str = "HWC uint8 RGB"
    image_resize: str = "shorter side to image_size, centre crop (core.imaging.to_square_uint8)"
    image_backbone: str = "densenet121"  # bundles from before the field used DenseNet
    # per channel on the 0-1 scale, applied inside the image encoder (model/backbones.py)
    image_mean: tuple[float, ...] | None = None
    image_std: tuple[float, ...] | None = None
    min_count: int | None = None
    lowercase: bool = True
    social_tokens: bool = False


class BundleMeta(BaseModel):
    """bundle.json. Unknown fields are ignored, so a newer trainer's bundle still loads; `architecture` is the
    model's configuration (model/config.py `ModelConfig`, the JSON key `model_config`)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, arbitrary_types_allowed=True)

    format: int
    version: str
    created_at: str | None = None
    labels: Labels
    modalities: tuple[str, ...] = MODALITIES
    combos: tuple[Head, ...] = COMBOS
    preprocessing: Preprocessing
    architecture: dict[str, Any] = Field(default_factory=dict, alias="model_config")
    train_config: dict[str, Any] = Field(default_factory=dict)
    manifest_sha256: str | None = None
    trained_on: dict[str, Any] | None = None
    word_vector_coverage: float | None = None
    # training examples each head saw; a bundle without the record counts every head as trained
    head_examples: dict[Head, int] = Field(default_factory=lambda: {c: 1 for c in COMBOS})
    emotion_tau: dict[Head, float] = Field(default_factory=dict)  # the logit adjustment of each head
    # the neutral gate's threshold per head; a head not listed, or None, has no gate
    neutral_threshold: dict[Head, float | None] = Field(default_factory=dict)
    # the training texts' languages; None for bundles from before: no text is foreign then
    languages: tuple[str, ...] | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    test_metrics: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> BundleMeta:
        return cls.model_validate_json((Path(folder) / "bundle.json").read_text())

    def write(self, folder: Path) -> None:
        (Path(folder) / "bundle.json").write_text(self.model_dump_json(indent=1, by_alias=True))


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
    meta: BundleMeta
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
        meta = BundleMeta.read(path)
        tokenizer = Tokenizer.load(path / "tokenizer.json")
        return cls(
            path,
            meta.version,
            meta.labels.emotions,
            meta.labels.sentiments,
            meta.combos,
            meta.preprocessing.image_size,
            tokenizer.max_words,
            tokenizer.max_tags,
            tokenizer,
            meta,
            meta.head_examples or {c: 1 for c in COMBOS},
            max(meta.architecture.get("text_widths", [5])),
            meta.languages,
            meta.neutral_threshold,
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
