"""Any CSV / TSV / JSONL of posts as manifest rows, with a column mapping: a real tweet set with hashtags, a sentiment
corpus, your own labelled posts. Hashtags inside the text need no column: the tokenizer splits them out as tags."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from contracts.labels import EMOTIONS, SENTIMENTS

__all__ = ["Columns", "Table", "parse_label_map"]


def parse_label_map(spec: str | None) -> dict[str, str]:
    """'0=negative,4=positive' or 'joy=amusement,angry=anger' -> {raw value: emotion or sentiment}."""
    out = {}
    for pair in filter(None, (spec or "").split(",")):
        raw, _, label = pair.partition("=")
        if label not in EMOTIONS and label not in SENTIMENTS:
            raise ValueError(f"label map: {label!r} is neither an emotion {EMOTIONS} nor a sentiment {SENTIMENTS}")
        out[raw.strip()] = label
    return out


@dataclass
class Columns:
    """Which column holds what; only `label` and one modality are required."""

    label: str
    text: str | None = None
    tags: str | None = None  # a JSON list, or words separated by spaces / commas
    image: str | None = None  # a path relative to the file, or an http(s) URL
    id: str | None = None
    split: str | None = None  # train / val / test (also dev, validation); absent: assigned at random when training
    label_map: dict[str, str] = field(default_factory=dict)  # raw label -> emotion or sentiment (identity by default)
    votes: str | None = None  # how many annotators chose the label (Flickr Emotion: 3-5 of 5); kept as `votes`


class Table:
    name = "table"

    def __init__(self, path: Path, columns: Columns, delimiter: str | None = None):
        self.path, self.columns = Path(path), columns
        self.delimiter = delimiter or ("\t" if self.path.suffix in (".tsv", ".tab") else ",")
        self.skipped = Counter()  # why -> rows

    def _records(self) -> Iterator[dict]:
        if self.path.suffix in (".jsonl", ".ndjson"):
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    yield json.loads(line)
        else:
            with self.path.open(encoding="utf-8", newline="") as f:
                yield from csv.DictReader(f, delimiter=self.delimiter)

    def rows(self) -> Iterator[dict]:
        c = self.columns
        for i, rec in enumerate(self._records()):
            raw = str(rec.get(c.label, "")).strip()
            label = c.label_map.get(raw, raw)
            if label not in EMOTIONS and label not in SENTIMENTS:
                self.skipped[f"label {raw!r}"] += 1
                continue
            row = {"id": str(rec[c.id]) if c.id else f"{self.path.stem}-{i}", "emotion": None, "sentiment": None}
            row["emotion" if label in EMOTIONS else "sentiment"] = label
            if c.text and rec.get(c.text):
                row["text"] = str(rec[c.text])
            if c.tags and rec.get(c.tags):
                value = rec[c.tags]
                row["tags"] = (
                    value
                    if isinstance(value, list)
                    else (json.loads(value) if str(value).startswith("[") else str(value).replace(",", " ").split())
                )
            if c.image and rec.get(c.image):
                row["image"] = str(rec[c.image])
            if c.votes and str(rec.get(c.votes, "")).strip():
                try:
                    row["votes"] = int(float(rec[c.votes]))
                except ValueError:
                    self.skipped[f"votes {rec[c.votes]!r}"] += 1
                    continue
            if c.split and rec.get(c.split):
                row["split"] = {"dev": "val", "validation": "val"}.get(rec[c.split], rec[c.split])
            if not any(row.get(m) for m in ("text", "tags", "image")):
                self.skipped["no modality"] += 1
                continue
            yield row
