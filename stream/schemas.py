"""Message contracts: the input post, the output record and the dead letter (docs/ARCHITECTURE.md)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .settings import Settings


class InvalidPost(ValueError):
    """A post that cannot be processed; `reason` and `stage` land in the dead-letter record."""

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


def parse_post(raw: bytes | None, s: Settings) -> Post:
    """Bytes -> Post, or InvalidPost with a reason: bad_json, not_an_object, invalid, too_large."""
    if raw is None:
        raise InvalidPost("bad_json", "empty message", "parse")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidPost("bad_json", str(e), "parse") from e
    if not isinstance(data, dict):
        raise InvalidPost("not_an_object", f"expected a JSON object, got {type(data).__name__}", "parse")
    try:
        post = Post.model_validate(data)
    except ValidationError as e:
        detail = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'post'}: {err['msg']}" for err in e.errors(include_url=False))
        raise InvalidPost("invalid", detail) from e
    if not 1 <= len(post.id) <= s.max_id_chars:
        raise InvalidPost("invalid", f"id length {len(post.id)} not in 1..{s.max_id_chars}")
    too_large = [
        (post.text is not None and len(post.text) > s.max_text_chars, f"text longer than {s.max_text_chars} characters"),
        (post.tags is not None and len(post.tags) > s.max_tags, f"more than {s.max_tags} tags"),
        (any(len(t) > s.max_tag_chars for t in post.tags or ()), f"a tag longer than {s.max_tag_chars} characters"),
        (post.image_url is not None and len(post.image_url) > s.max_url_chars, f"image_url longer than {s.max_url_chars}"),
    ]
    for failed, why in too_large:
        if failed:
            raise InvalidPost("too_large", why)
    return post


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Degraded(BaseModel):
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
    degraded: list[Degraded]
    model_version: str
    processed_at: str
    latency_ms: float
    tags: list[str] = []
    meta: dict[str, Any] = {}


def dead_letter(raw: bytes | None, err: InvalidPost) -> bytes:
    """The DLQ record: the original bytes (as text when UTF-8, else base64) plus error, reason, stage and time."""
    import base64

    try:
        original: dict[str, Any] = {"original": raw.decode("utf-8") if raw is not None else None}
    except UnicodeDecodeError:
        original = {"original_base64": base64.b64encode(raw).decode()}
    return json.dumps({**original, "error": str(err), "reason": err.reason, "stage": err.stage, "at": now_iso()}).encode()
