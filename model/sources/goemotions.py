"""GoEmotions (58k Reddit comments, 27 categories + neutral, Apache-2.0; Demszky et al., ACL 2020) as manifest rows.

The mapping to the paper's 8 emotions keeps what the data says and no more (docs/DATA.md has the table and the counts):
categories that name one of the 8 (or a clear variant of it) give the emotion and its sentiment; categories that only
say positive or negative give the sentiment alone (a partial label); ambiguous ones (surprise, realization, confusion,
curiosity, neutral) give nothing. A comment with several categories keeps the labels they agree on.
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from contracts.labels import sentiment_of

__all__ = ["MAPPING", "map_categories", "GoEmotions", "SPLITS", "OFFICIAL_URL"]

SPLITS = {"train": "train", "dev": "val", "test": "test"}  # file -> manifest split
OFFICIAL_URL = "https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data/{name}"
SHA256 = {  # of the official splits (the same as ../shared/data/goemotions/SHA256SUMS): a download is verified
    "train.tsv": "0b1e44a8b088cf0bf22fc52b347dffde01e2dd339bc50cfcc7143bf480647b41",
    "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
    "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
}
# category -> (emotion or None, sentiment or None)
MAPPING: dict[str, tuple[str | None, str | None]] = {
    # the same emotion, or a milder / stronger form of it
    "amusement": ("amusement", None),
    "anger": ("anger", None),
    "annoyance": ("anger", None),
    "disgust": ("disgust", None),
    "excitement": ("excitement", None),
    "fear": ("fear", None),
    "nervousness": ("fear", None),
    "sadness": ("sadness", None),
    "grief": ("sadness", None),
    "admiration": ("awe", None),  # "finding something impressive or worthy of respect"
    "relief": ("contentment", None),  # "reassurance and relaxation following release from anxiety"
    # a sentiment, but no one of the 8 emotions
    "joy": (None, "positive"),
    "love": (None, "positive"),
    "optimism": (None, "positive"),
    "gratitude": (None, "positive"),
    "approval": (None, "positive"),
    "caring": (None, "positive"),
    "desire": (None, "positive"),
    "pride": (None, "positive"),
    "disappointment": (None, "negative"),
    "disapproval": (None, "negative"),
    "embarrassment": (None, "negative"),
    "remorse": (None, "negative"),
    # neither
    "surprise": (None, None),
    "realization": (None, None),
    "confusion": (None, None),
    "curiosity": (None, None),
    "neutral": (None, None),
}


def map_categories(categories: list[str]) -> tuple[str | None, str | None]:
    """(emotion, sentiment) for a comment's categories: an emotion only when they name one emotion and no opposite
    sentiment; a sentiment when they agree on it; (None, None) otherwise."""
    emotions = {MAPPING[c][0] for c in categories if MAPPING[c][0]}
    sentiments = {MAPPING[c][1] for c in categories if MAPPING[c][1]} | {sentiment_of(e) for e in emotions}
    if len(sentiments) != 1:
        return None, None
    sentiment = next(iter(sentiments))
    return (next(iter(emotions)) if len(emotions) == 1 else None), sentiment


class GoEmotions:
    """Reads train/dev/test.tsv (text, comma-separated category ids, comment id) and labels.txt from `folder`."""

    name = "goemotions"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.categories = (self.folder / "labels.txt").read_text().split()
        self.skipped = Counter()  # split -> comments without any label after the mapping
        self.counts = Counter()  # (split, category) -> comments, (split, "emotion", e), (split, "sentiment", s)

    def rows(self) -> Iterator[dict]:
        for file, split in SPLITS.items():
            for line in (self.folder / f"{file}.tsv").read_text(encoding="utf-8").splitlines():
                text, ids, cid = line.split("\t")
                cats = [self.categories[int(i)] for i in ids.split(",")]
                for c in cats:
                    self.counts[(split, c)] += 1
                emotion, sentiment = map_categories(cats)
                if emotion is None and sentiment is None:
                    self.skipped[split] += 1
                    continue
                self.counts[(split, "emotion", emotion)] += 1
                self.counts[(split, "sentiment", sentiment)] += 1
                yield {
                    "id": f"goemotions-{cid}",
                    "text": text,
                    "emotion": emotion,
                    "sentiment": sentiment,
                    "split": split,
                    "categories": cats,  # the raters' own categories: the trainer's auxiliary target
                }

    @classmethod
    def download(cls, folder: Path) -> GoEmotions:
        """Fetch the official files (when online) into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("train.tsv", "dev.tsv", "test.tsv", "emotions.txt"):
            with urllib.request.urlopen(OFFICIAL_URL.format(name=name), timeout=60) as r:
                data = r.read()
            if name in SHA256 and hashlib.sha256(data).hexdigest() != SHA256[name]:
                raise ValueError(
                    f"{name} from {OFFICIAL_URL.format(name=name)} is not the official file (sha256 differs)"
                )
            (folder / ("labels.txt" if name == "emotions.txt" else name)).write_bytes(data)
        return cls(folder)
