"""Synthetic post text and tags: emotion keywords in filler words, emotion tags among generic ones. Shared by the demo
dataset (model/demo_data.py, which adds the images) and `emostream produce --rate` (posts generated live). Not real
data: every number measured on it says so."""

from __future__ import annotations

import random

from contracts.labels import EMOTIONS

__all__ = ["KEYWORDS", "FILLER", "EMOTION_TAGS", "GENERIC_TAGS", "make_text", "make_tags"]

KEYWORDS = {  # words in the bundled vectors where they exist (happy, angry, ...), invented ones otherwise
    "amusement": ["happy", "party", "music", "funny", "laugh", "joke"],
    "anger": ["angry", "attack", "protest", "fight", "violence", "rage"],
    "awe": ["mountain", "huge", "great", "storm", "stars", "majestic"],
    "contentment": ["peace", "calm", "home", "family", "good", "cozy"],
    "excitement": ["win", "victory", "match", "race", "record", "holiday"],
    "disgust": ["dirty", "rotten", "corruption", "waste", "gross", "filth"],
    "fear": ["fear", "danger", "threat", "terror", "warning", "fire"],
    "sadness": ["death", "died", "loss", "tragedy", "lost", "crisis"],
}
FILLER = (
    "the to of in and he is for on said that has says was have it be are with will at from by we been as an "
    "not his but they after were had there new this who people their government two up which year one about "
    "out if also more when its into would first last against three time day week man women city world police "
    "today old way just back over where some could before so them than other what like our all very"
).split()
EMOTION_TAGS = {e: [f"{e}", f"{e[:4]}y", f"{e}2026", f"feel{e}"] for e in EMOTIONS}
GENERIC_TAGS = (
    "photo nature city travel street summer winter friends nikon canon iphone portrait sunset bw "
    "film urban landscape art"
).split()


def make_text(rng: random.Random, emotion: str | None) -> str:
    """Filler words with 2-4 of the emotion's keywords (None, a neutral post: filler alone)."""
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 16))]
    for _ in range(rng.randint(2, 4) if emotion else 0):
        words.insert(rng.randrange(len(words) + 1), rng.choice(KEYWORDS[emotion][:4]))
    return " ".join(words).capitalize() + "."


def make_tags(rng: random.Random, emotion: str | None) -> list[str]:
    """Generic tags with 1-2 of the emotion's tags (None, a neutral post: generic alone)."""
    extra = rng.sample(EMOTION_TAGS[emotion], rng.randint(1, 2)) if emotion else []
    tags = rng.sample(GENERIC_TAGS, rng.randint(1, 5)) + extra
    rng.shuffle(tags)
    return ["#" + t if rng.random() < 0.3 else t for t in tags]
