"""Message contracts: the input post, the output record (docs/ARCHITECTURE.md, "Messages") and the typed error that
makes a post a dead letter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = ["InvalidPost", "Post", "Degraded", "EmotionRecord", "DeadLetterSource", "DeadLetterRecord", "now_iso"]


class InvalidPost(ValueError):
    """A post that cannot be processed as it is (permanent for this post): `reason` and `stage` land in its
    dead-letter record. Reasons: docs/ARCHITECTURE.md, "Failure classes"."""

    def __init__(self, reason: str, detail: str, stage: str = "validate"):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.stage = reason, detail, stage


class Post(BaseModel):
    """An input post. Unknown fields are kept and passed through to the output as `meta`."""

    model_config = ConfigDict(extra="allow", strict=True)
    id: str
    text: str | None = None
    tags: list[str] | None = None
    image_url: str | None = None
    created_at: str | None = None

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


class EmotionRecord(BaseModel):
    """One output record on `post-emotions` (key = post id)."""

    id: str
    emotion: str
    emotion_scores: dict[str, float]
    sentiment: str
    sentiment_score: float
    modalities: list[str]
    head: str
    head_reason: str = "all usable modalities"
    degraded: list[Degraded]
    model_version: str
    processed_at: str
    latency_ms: float
    tags: list[str] = []
    meta: dict[str, Any] = {}


class DeadLetterSource(BaseModel):
    """The input message a dead letter stands for."""

    topic: str
    partition: int
    offset: int


class DeadLetterRecord(BaseModel):
    """One record on `posts-dlq` (written by stream/records.py; read back by the aggregator)."""

    model_config = ConfigDict(extra="allow")
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


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
