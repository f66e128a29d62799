"""Label order and the emotion -> sentiment map (paper sections 3 and 3.2)."""

from __future__ import annotations

__all__ = ["EMOTIONS", "SENTIMENTS", "POSITIVE_EMOTIONS", "sentiment_of"]

EMOTIONS: tuple[str, ...] = ("amusement", "anger", "awe", "contentment", "excitement", "disgust", "fear", "sadness")
SENTIMENTS: tuple[str, ...] = ("negative", "positive")
POSITIVE_EMOTIONS = frozenset({"amusement", "awe", "contentment", "excitement"})


def sentiment_of(emotion: str) -> str:
    """Sentiment implied by an emotion label: amusement, awe, contentment, excitement are positive."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    return "positive" if emotion in POSITIVE_EMOTIONS else "negative"
