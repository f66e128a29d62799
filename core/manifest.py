"""The training manifest (docs/DATA.md): one JSON object per line, any modality may be absent, labels may be partial.
Torch-free: the data sources write it, the trainer reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from contracts.labels import EMOTIONS, SENTIMENTS, sentiment_of

Emotion = Literal[EMOTIONS]  # type: ignore[valid-type]
Sentiment = Literal[SENTIMENTS]  # type: ignore[valid-type]


class Example(BaseModel):
    """One manifest line. Any modality may be absent; labels may be partial."""

    model_config = ConfigDict(extra="ignore")
    id: str
    image: str | None = None  # path (relative to the manifest) or http(s) URL
    text: str | None = None
    tags: list[str] | None = None
    emotion: Emotion | None = None
    sentiment: Sentiment | None = None
    split: Literal["train", "val", "test"] | None = None
    # the source's own finer labels (GoEmotions' 27 categories + neutral): an auxiliary training target of the text
    # encoder (TrainConfig.aux_weight), never served
    categories: list[str] | None = None
    # "no emotion": True when the raters said the post expresses none (GoEmotions' neutral), False when it expresses
    # one, None when unknown. Absent from a line with an emotion or sentiment label: False. The neutral gate's target.
    neutral: bool | None = None

    @model_validator(mode="after")
    def _derive_labels(self):
        if self.sentiment is None and self.emotion is not None:
            self.sentiment = sentiment_of(self.emotion)
        if self.neutral and (self.emotion or self.sentiment):
            raise ValueError("a neutral example has no emotion or sentiment label")
        if "neutral" not in self.model_fields_set and (self.emotion or self.sentiment):
            self.neutral = False
        return self


def read_manifest(path: Path) -> list[Example]:
    """Parse a JSONL manifest; a bad line raises ValueError naming the line."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Example.model_validate_json(line))
        except ValidationError as e:
            raise ValueError(f"{path}:{n}: {e}") from e
    return out


def write_manifest(path: Path, rows: list[dict]) -> None:
    """Write rows as JSONL (UTF-8, one object a line)."""
    Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
