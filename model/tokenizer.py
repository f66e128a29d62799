"""Text and tag tokenization with vocabularies: one implementation for the trainer and the stream workers (no torch).

Rules (paper section 4.1): lower-case; at most `max_words` words and `max_tags` tags, truncated or padded;
words and tags seen fewer than `min_count` times in training become <UNK>.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PAD, UNK = "<PAD>", "<UNK>"
PAD_ID, UNK_ID = 0, 1
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def words(text: str | None) -> list[str]:
    """Lower-cased words of a text (letters and digits of any script; apostrophes kept inside words)."""
    if not text:
        return []
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def clean_tags(tags: Iterable[str] | None) -> list[str]:
    """Tags lower-cased, stripped of '#' and blanks, empty ones and repeats dropped, order kept."""
    out: list[str] = []
    for tag in tags or ():
        t = unicodedata.normalize("NFKC", str(tag)).strip().lstrip("#").strip().lower()
        if t and t not in out:
            out.append(t)
    return out


@dataclass
class Vocab:
    """Token <-> id; id 0 is padding, id 1 is <UNK>."""

    itos: list[str] = field(default_factory=lambda: [PAD, UNK])

    def __post_init__(self):
        if self.itos[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <PAD>, <UNK>")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_count: int = 5) -> "Vocab":
        """Tokens seen at least min_count times, most frequent first (ties alphabetical, so builds are reproducible)."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *kept])

    def ids(self, tokens: list[str], length: int) -> list[int]:
        """Ids of the first `length` tokens, unknown -> UNK_ID, right-padded with PAD_ID."""
        out = [self.stoi.get(t, UNK_ID) for t in tokens[:length]]
        return out + [PAD_ID] * (length - len(out))


@dataclass
class Tokenizer:
    """Encodes a post's text and tags into fixed-length id lists."""

    words: Vocab
    tags: Vocab
    max_words: int = 150
    max_tags: int = 10

    def encode_text(self, text: str | None) -> list[int] | None:
        """max_words ids, or None when the text has no word (the text modality is then absent)."""
        toks = words(text)
        return self.words.ids(toks, self.max_words) if toks else None

    def encode_tags(self, tags: Iterable[str] | None) -> list[int] | None:
        """max_tags ids, or None when there is no tag (the tags modality is then absent)."""
        toks = clean_tags(tags)
        return self.tags.ids(toks, self.max_tags) if toks else None

    @classmethod
    def fit(cls, texts: Iterable[str | None], tag_lists: Iterable[Iterable[str] | None], *,
            min_count: int = 5, max_words: int = 150, max_tags: int = 10) -> "Tokenizer":
        """Build both vocabularies from training data (only the first max_words/max_tags tokens count)."""
        return cls(
            Vocab.build((words(t)[:max_words] for t in texts), min_count),
            Vocab.build((clean_tags(t)[:max_tags] for t in tag_lists), min_count),
            max_words, max_tags,
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"max_words": self.max_words, "max_tags": self.max_tags,
                                    "words": self.words.itos, "tags": self.tags.itos}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> "Tokenizer":
        d = json.loads(Path(path).read_text())
        return cls(Vocab(d["words"]), Vocab(d["tags"]), d["max_words"], d["max_tags"])
