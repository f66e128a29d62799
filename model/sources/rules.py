"""The paper's data rules (section 4.1), applied to image-list rows (Flickr Emotion, VSO) before they become a
manifest; each is a flag of `emostream data image-list`, all on by default (`--no-paper-rules` turns them off):

- **text language** (`--languages en`): a text confidently detected as another language (core/language.py) is
  dropped; the post keeps its image and tags. A text whose language is undetermined is kept.
- **text length** (`--text-words 5 150`): a text of fewer or more words (core/tokenizer.py `words`) is dropped, the
  post keeping its other modalities ("we only kept the English texts of length between 5 and 150 words").
- **agreement** (with `--votes-col`, the number of annotators who chose the row's label): rows with fewer than
  `--min-votes 3` are removed ("strictly less than three workers agreed"), and the validation and test posts are drawn
  only from rows with at least `--eval-votes 5` ("the subset of examples that received five votes"): 10 % and 10 % of
  all rows, seeded; a row the table put in val/test with fewer votes moves to train.

A post left with no modality is removed. Every rule counts what it did (`applied`, written to summary.json).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from core.language import detect
from core.tokenizer import words

__all__ = ["PaperRules"]


@dataclass
class PaperRules:
    languages: tuple[str, ...] | None = ("en",)
    text_words: tuple[int, int] | None = (5, 150)
    min_votes: int | None = 3
    eval_votes: int | None = 5
    val: float = 0.1
    test: float = 0.1
    seed: int = 0
    applied: Counter = field(default_factory=Counter)

    def apply(self, rows: list[dict]) -> list[dict]:
        kept = [r for r in (self._text(r) for r in rows if self._enough_votes(r)) if r is not None]
        if self.eval_votes is not None and any("votes" in r for r in kept):
            self._splits(kept)
        return kept

    def _enough_votes(self, row: dict) -> bool:
        if self.min_votes is None or row.get("votes") is None or row["votes"] >= self.min_votes:
            return True
        self.applied[f"removed: fewer than {self.min_votes} votes"] += 1
        return False

    def _text(self, row: dict) -> dict | None:
        text = row.get("text")
        if text:
            n = len(words(text))
            if self.text_words and not self.text_words[0] <= n <= self.text_words[1]:
                self.applied[f"text dropped: not {self.text_words[0]}-{self.text_words[1]} words"] += 1
                row.pop("text")
            elif self.languages and (lang := detect(text).language) is not None and lang not in self.languages:
                self.applied[f"text dropped: language not {'/'.join(self.languages)}"] += 1
                row.pop("text")
        if not any(row.get(m) for m in ("text", "tags", "image")):
            self.applied["removed: no modality left"] += 1
            return None
        return row

    def _splits(self, rows: list[dict]) -> None:
        """val/test only from rows with eval_votes or more; each val/test share of all rows where there are enough."""
        agreed = [r for r in rows if (r.get("votes") or 0) >= self.eval_votes]
        ok = {id(r) for r in agreed}
        for r in rows:
            if r.get("split") in ("val", "test") and id(r) not in ok:
                self.applied[f"moved to train: val/test row with fewer than {self.eval_votes} votes"] += 1
                r["split"] = "train"
        if any(r.get("split") for r in rows):
            for r in rows:
                r.setdefault("split", "train")
            return  # the table's own splits, filtered
        rng = random.Random(self.seed)
        rng.shuffle(agreed)
        n_val, n_test = round(self.val * len(rows)), round(self.test * len(rows))
        chosen = {id(r): "val" for r in agreed[:n_val]} | {id(r): "test" for r in agreed[n_val : n_val + n_test]}
        if len(agreed) < n_val + n_test:
            self.applied[f"val/test smaller than asked: only {len(agreed)} rows with {self.eval_votes} votes"] += 1
        for r in rows:
            r["split"] = chosen.get(id(r), "train")
