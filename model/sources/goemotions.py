"""GoEmotions (58k Reddit comments, 27 categories + neutral, Apache-2.0; Demszky et al., ACL 2020) as manifest rows.

The mapping to the paper's 8 emotions keeps what the data says and no more (docs/DATA.md has the table and the counts):
categories that name one of the 8 (or a clear variant of it) give the emotion and its sentiment; categories that only
say positive or negative give the sentiment alone (a partial label); ambiguous ones (surprise, realization, confusion,
curiosity) give neither. A comment with several categories keeps the labels they agree on. `neutral` alone makes a
neutral example (the neutral gate's positive); a comment without it is not neutral (its negative), with it and another
category the raters disagree (unknown).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path

from contracts.labels import sentiment_of

__all__ = [
    "MAPPING",
    "map_categories",
    "neutral_of",
    "GoEmotions",
    "SPLITS",
    "OFFICIAL_URL",
    "SHA256",
    "DownloadError",
    "locate",
]

SPLITS = {"train": "train", "dev": "val", "test": "test"}  # file -> manifest split
OFFICIAL_URL = "https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data/"
URL_ENV = "EMOSTREAM_GOEMOTIONS_URL"  # another base URL serving the same files (a mirror; the tests' local server)
SHA256 = {  # the official files (the same as ../shared/data/goemotions/SHA256SUMS): every download is verified
    "train.tsv": "0b1e44a8b088cf0bf22fc52b347dffde01e2dd339bc50cfcc7143bf480647b41",
    "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
    "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
    "labels.txt": "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89",  # emotions.txt upstream
}
REMOTE_NAME = {"labels.txt": "emotions.txt"}
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "goemotions"  # ../shared beside the repository


class DownloadError(RuntimeError):
    """The official files could not be fetched, or what came is not them (one line, saying what to do)."""


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


def neutral_of(categories: list[str]) -> bool | None:
    """The neutral gate's target: True when the raters said only `neutral`, False when they named no `neutral` (some
    emotion, if not one of the 8), None when they disagree (neutral and an emotion)."""
    if "neutral" not in categories:
        return False
    return True if set(categories) == {"neutral"} else None


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
                neutral = neutral_of(cats)
                if emotion is None and sentiment is None and neutral is None:
                    self.skipped[split] += 1
                    continue
                self.counts[(split, "emotion", emotion)] += 1
                self.counts[(split, "sentiment", sentiment)] += 1
                self.counts[(split, "neutral", neutral)] += 1
                yield {
                    "id": f"goemotions-{cid}",
                    "text": text,
                    "emotion": emotion,
                    "sentiment": sentiment,
                    "neutral": neutral,  # the neutral gate's target
                    "split": split,
                    "categories": cats,  # the raters' own categories: the trainer's auxiliary target
                }

    @classmethod
    def download(cls, folder: Path, base_url: str | None = None, sha256: Mapping[str, str] = SHA256) -> GoEmotions:
        """Fetch the official files into `folder`, each verified against its pinned sha256 before it is written; a
        file already there with the right sha256 is kept (no second download). DownloadError otherwise."""
        base = base_url or os.environ.get(URL_ENV) or OFFICIAL_URL
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, want in sha256.items():
            path = folder / name
            if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == want:
                continue
            url = base.rstrip("/") + "/" + REMOTE_NAME.get(name, name)
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    data = r.read()
            except (urllib.error.URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(
                    f"could not download GoEmotions' {name} from {url} ({reason}): offline? "
                    "pass --dir FOLDER holding train.tsv, dev.tsv, test.tsv and labels.txt"
                ) from e
            got = hashlib.sha256(data).hexdigest()
            if got != want:
                raise DownloadError(
                    f"{url} is not the official {name} (sha256 {got[:16]}..., expected {want[:16]}...): nothing written"
                )
            tmp = path.with_suffix(".partial")
            tmp.write_bytes(data)
            tmp.replace(path)
        return cls(folder)


def locate(folder: Path | None, download_to: Path, download: bool = False) -> GoEmotions:
    """The GoEmotions files: `folder` when given; else ../shared/data/goemotions when it is there; else (or with
    `download`) the official files, downloaded once into `download_to` and verified."""
    if folder is not None and not download:
        return GoEmotions(folder)
    if SHARED.exists() and not download:
        return GoEmotions(SHARED)
    print(f"downloading the official GoEmotions splits into {download_to} (sha256-verified)", flush=True)
    return GoEmotions.download(download_to)
