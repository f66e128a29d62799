"""Message contracts: the input post, the output record (docs/ARCHITECTURE.md, "Messages") and the typed error that
makes a post a dead letter."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.labels import EMOTIONS, SENTIMENTS

__all__ = [
    "InvalidPost",
    "Post",
    "Degraded",
    "Opinion",
    "EmotionRecord",
    "DeadLetterSource",
    "DeadLetterRecord",
    "SCHEMA_VERSION",
    "now_iso",
    "iso",
    "epoch",
]

# The major version of the published record contract (contracts/schemas/, docs/SUBSCRIBERS.md): bumped only by a
# change that removes or retypes a field of the published schemas, which tests/unit/test_contract.py refuses otherwise.
SCHEMA_VERSION = 1


class InvalidPost(ValueError):
    """A post that cannot be processed as it is (permanent for this post): `reason` and `stage` land in its
    dead-letter record. Reasons: docs/ARCHITECTURE.md, "Failure classes"."""

    def __init__(self, reason: str, detail: str, stage: str = "validate"):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.stage = reason, detail, stage


class Post(BaseModel):
    """An input post. Unknown fields are kept and passed through to the output as `meta`."""

    model_config = ConfigDict(extra="allow", strict=True)
    id: str = Field(description="the post's id, 1-EMOSTREAM_MAX_ID_CHARS characters, no control characters")
    text: str | None = Field(None, description="the post's text; #hashtags in it count as tags")
    tags: list[str] | None = Field(None, description="the post's tags, with or without '#'")
    image_url: str | None = Field(None, description="http(s) URL of the post's image, fetched by the worker")
    created_at: str | None = Field(
        None,
        description="when the post was written: ISO 8601 (2026-12-01T10:00:00Z; without a zone, UTC); default: the"
        " Kafka record's timestamp",
    )

    @field_validator("created_at")
    @classmethod
    def _iso_8601(cls, v):
        """ISO 8601 with a time zone (`2026-12-01T10:00:00Z`, `...+01:00`); without one it is read as UTC. Kept as
        the same instant in UTC, to the millisecond."""
        if v is None:
            return v
        try:
            at = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError("created_at must be an ISO 8601 date and time, e.g. 2026-12-01T10:00:00Z") from None
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if at < datetime(1970, 1, 1, tzinfo=UTC):
            raise ValueError("created_at before 1970")
        return iso(at.timestamp())

    @field_validator("image_url")
    @classmethod
    def _http_only(cls, v):
        if v is not None and not v.lower().startswith(("http://", "https://")):
            raise ValueError("image_url must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _one_modality(self):
        if not (self.text and self.text.strip()) and not self.tags and not self.image_url:
            raise ValueError("a post needs at least one of text, tags, image_url")
        return self

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Degraded(BaseModel):
    """A modality the post had but the classification could not use, and why."""

    modality: str
    reason: str


# Published label values (contracts/labels.py, plus "neutral": what a head with a neutral gate answers for a post
# that expresses no emotion, model/neutral.py).
_EMOTION_VALUES = [*EMOTIONS, "neutral"]
_SENTIMENT_VALUES = [*SENTIMENTS, "neutral"]


class Opinion(BaseModel):
    """What one modality's own head says of the post."""

    emotion: str = Field(description="its most likely emotion, or neutral", json_schema_extra={"enum": _EMOTION_VALUES})
    score: float = Field(description="its probability of that emotion (of neutral: its neutral gate's)")


class EmotionRecord(BaseModel):
    """One output record on `post-emotions` (key = post id)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    schema_version: int = Field(SCHEMA_VERSION, description="major version of this contract (docs/SUBSCRIBERS.md)")
    id: str = Field(description="the input post's id")
    emotion: str = Field(
        description='the most likely emotion, or "neutral" when the head\'s neutral gate says the post expresses none',
        json_schema_extra={"enum": _EMOTION_VALUES},
    )
    emotion_scores: dict[str, float] = Field(
        description="probability of each of the 8 emotions (they sum to 1), also when the post is neutral"
    )
    sentiment: str = Field(
        description='the most likely sentiment; "neutral" exactly when emotion is',
        json_schema_extra={"enum": _SENTIMENT_VALUES},
    )
    sentiment_score: float = Field(description="probability of that sentiment (of neutral: neutral_score)")
    neutral_score: float | None = Field(
        None,
        description="the neutral gate's probability that the post expresses no emotion; the post is neutral when it"
        " reaches the head's threshold (bundle.json neutral_threshold); null when the head has no gate",
    )
    opinions: dict[str, Opinion] = Field(
        {},
        description="modality (image, text, tags) -> what that modality's own head says, for each modality of the"
        " head that answered whose single-modality head was trained (empty when Triton serves an export without"
        " them: `emostream export --no-opinions`)",
    )
    disagreement: bool = Field(
        False, description="two of the opinions name different emotions (one may be neutral): irony, memes, news photos"
    )
    modalities: list[str] = Field(description="the post's usable modalities: image, text, tags")
    head: str = Field(description="the classifier head that answered (a combination of modalities, e.g. text_tags)")
    head_reason: str = Field("all usable modalities", description="why that head")
    degraded: list[Degraded] = Field(description="modalities the post had but that could not be used, and why")
    model_version: str = Field(description="the model bundle's version")
    processed_at: str = Field(description="when the worker labelled the post (ISO 8601, UTC)")
    created_at: str | None = Field(
        None,
        description="the event time, ISO 8601 UTC: the post's created_at, else the Kafka record's timestamp (null only"
        " in records written before it was kept)",
    )
    created_at_source: Literal["post", "kafka", "processing"] | None = Field(
        None, description="where created_at comes from"
    )
    language: str | None = Field(
        None,
        description="the text's language (ISO 639-1, fastText's lid.176 codes) when detected with a score of at least"
        " 0.5; null without text, without letters, or undetermined",
    )
    language_score: float | None = Field(None, description="the language detector's score")
    latency_ms: float = Field(description="from the Kafka record's timestamp to the label")
    tags: list[str] = Field([], description="the tags the model saw (hashtags of the text included)")
    text: str | None = Field(
        None,
        description="the post's text, cut to EMOSTREAM_RECORD_TEXT_CHARS characters (280; a cut text ends with …);"
        " null without text or when the deployment keeps texts out of its records (0)",
    )
    image_url: str | None = Field(None, description="the post's image URL as sent (null without one)")
    meta: dict[str, Any] = Field({}, description="the post's fields that are not part of the input contract")


class DeadLetterSource(BaseModel):
    """The input message a dead letter stands for."""

    topic: str
    partition: int
    offset: int


class DeadLetterRecord(BaseModel):
    """One record on `posts-dlq` (written by stream/records.py; read back by the aggregator). `original` (UTF-8) or
    `original_base64` holds the input message's bytes, cut at EMOSTREAM_DLQ_MAX_ORIGINAL_BYTES."""

    # every dead letter carries schema_version (the other defaults are left out when they do not apply)
    model_config = ConfigDict(extra="allow", json_schema_extra=lambda s: s["required"].insert(0, "schema_version"))
    schema_version: int = Field(SCHEMA_VERSION, description="major version of this contract (docs/SUBSCRIBERS.md)")
    reason: str
    stage: str
    error: str
    at: str
    source: DeadLetterSource
    original: str | None = None
    original_base64: str | None = None
    original_size: int | None = None
    original_sha256: str | None = None
    original_truncated: bool = False
    key: str | None = None
    key_base64: str | None = None
    key_truncated: bool = False


def iso(at: float) -> str:
    """Epoch seconds -> ISO 8601 in UTC, to the millisecond."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def now_iso() -> str:
    return iso(time.time())


def epoch(at: str) -> float:
    """ISO 8601 (as written by `iso`) -> epoch seconds; ValueError when it is not one."""
    t = datetime.fromisoformat(at)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
