"""What the worker consumes and produces, as bytes: the incoming message, an output ready to send, a dead letter.

Every produced record is settled here (serialised, sized) before any sink sees it, so a sink's retry loop can only
wait on Kafka, never on a post. Dead-letter records are bounded: the original bytes are cut at
EMOSTREAM_DLQ_MAX_ORIGINAL_BYTES with a marker (`original_truncated`, `original_size`, `original_sha256`)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from .schemas import SCHEMA_VERSION, DeadLetterRecord, DeadLetterSource, InvalidPost, now_iso

__all__ = ["Incoming", "Output", "DeadLetter", "dead_letter", "MAX_KEY_BYTES"]

MAX_KEY_BYTES = 1024  # a longer input key is replaced by its sha256 as the dead letter's Kafka key


@dataclass(frozen=True)
class Incoming:
    """One message of the posts topic."""

    key: bytes | None
    value: bytes | None
    timestamp_s: float | None = None  # the Kafka record's timestamp
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def ref(self) -> str:
        """topic:partition:offset — identifies the input message (dead letters are counted once per ref)."""
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Output:
    """A labelled post ready for `post-emotions`: key = post id, value = the record's JSON."""

    key: bytes
    value: bytes
    head: str
    latency_ms: float
    source: Incoming


@dataclass(frozen=True)
class DeadLetter:
    """A dead-letter record ready for `posts-dlq`."""

    key: bytes | None
    value: bytes
    reason: str
    stage: str
    source: Incoming


def _utf8(cut: bytes, whole: bytes) -> str | None:
    """The cut bytes as text when they are UTF-8; a cut may split a multi-byte character, so up to 3 trailing bytes
    of a cut value may be dropped."""
    for trim in range(4 if len(cut) < len(whole) else 1):
        try:
            return cut[: len(cut) - trim].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _text_or_base64(data: bytes, limit: int, field: str) -> dict:
    """{field: text} when the (cut) bytes are UTF-8, else {field_base64: ...}; plus the truncation marker."""
    cut = data[:limit]
    text = _utf8(cut, data)
    out: dict = {field: text} if text is not None else {f"{field}_base64": base64.b64encode(cut).decode("ascii")}
    if len(cut) < len(data):
        out[f"{field}_truncated"] = True
    return out


def dead_letter(msg: Incoming, err: InvalidPost, max_original_bytes: int) -> DeadLetter:
    """The bounded dead-letter record of one input message: original bytes and key, reason, stage, error, source."""
    raw = msg.value
    fields: dict = {}
    if raw is None:
        fields["original"] = None
    else:
        fields.update(_text_or_base64(raw, max_original_bytes, "original"))
        fields["original_size"] = len(raw)
        fields["original_sha256"] = hashlib.sha256(raw).hexdigest()
    if msg.key is not None:
        fields.update(_text_or_base64(msg.key, MAX_KEY_BYTES, "key"))
    record = DeadLetterRecord(
        schema_version=SCHEMA_VERSION,
        reason=err.reason,
        stage=err.stage,
        error=str(err)[:2000],
        at=now_iso(),
        source=DeadLetterSource(topic=msg.topic, partition=msg.partition, offset=msg.offset),
        **fields,
    )
    key = msg.key if msg.key is None or len(msg.key) <= MAX_KEY_BYTES else hashlib.sha256(msg.key).hexdigest().encode()
    # the fields that apply only (exclude_unset), ASCII-escaped as before: a dead letter's size never depends on how
    # its original's characters encode
    value = json.dumps(record.model_dump(mode="json", exclude_unset=True), ensure_ascii=True).encode("ascii")
    return DeadLetter(key, value, err.reason, err.stage, msg)
