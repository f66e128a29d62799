"""Label order, the emotion -> sentiment map and the seven modality combinations (paper sections 3 and 3.2)."""
from __future__ import annotations

from itertools import combinations

EMOTIONS: tuple[str, ...] = ("amusement", "anger", "awe", "contentment", "excitement", "disgust", "fear", "sadness")
SENTIMENTS: tuple[str, ...] = ("negative", "positive")
POSITIVE_EMOTIONS = frozenset({"amusement", "awe", "contentment", "excitement"})
MODALITIES: tuple[str, ...] = ("image", "text", "tags")

# Every non-empty subset of the modalities, unimodal first, named by joining in MODALITIES order.
COMBOS: tuple[tuple[str, ...], ...] = tuple(c for k in (1, 2, 3) for c in combinations(MODALITIES, k))
COMBO_NAMES: tuple[str, ...] = tuple("_".join(c) for c in COMBOS)
# The paper's table row names (I, T, #, I+T, ...).
PAPER_NAMES = {"image": "I", "text": "T", "tags": "#"}


def sentiment_of(emotion: str) -> str:
    """Sentiment implied by an emotion label: amusement, awe, contentment, excitement are positive."""
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {EMOTIONS}")
    return "positive" if emotion in POSITIVE_EMOTIONS else "negative"


def combo_name(modalities) -> str:
    """Canonical name of a set of modalities ('image_text', ...); ValueError when empty or unknown."""
    present = [m for m in MODALITIES if m in set(modalities)]
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}")
    if not present:
        raise ValueError("a post needs at least one modality")
    return "_".join(present)


def paper_name(combo: str) -> str:
    """'image_text_tags' -> 'I+T+#'."""
    return "+".join(PAPER_NAMES[m] for m in combo.split("_"))
