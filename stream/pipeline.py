"""One micro-batch from raw Kafka values to output records: validate, fetch images, tokenize, group posts by
modality combination, one Triton request per (combination, chunk), build the records.

Per-post problems never raise: bad input becomes a dead letter, a failed image becomes a `degraded` entry.
A dependency that is down (Triton) is retried here with backoff until it answers: the batch waits, the
agent does not take more, and nothing is acknowledged meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from model.bundle_info import BundleInfo
from model.labels import MODALITIES, combo_name
from model.tokenizer import clean_tags

from . import metrics
from .images import ImageFetcher, ImageFetchError
from .schemas import Degraded, EmotionRecord, InvalidPost, Post, dead_letter, now_iso, parse_post
from .settings import Settings
from .triton_client import BadRequest, EmotionClient, TritonError

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    key: bytes | None
    value: bytes | None
    timestamp_s: float | None = None  # Kafka record timestamp
    ref: str = ""  # topic:partition:offset, identifies the input message


@dataclass
class DeadLetter:
    key: bytes | None
    value: bytes  # the dead-letter record
    reason: str
    ref: str


@dataclass
class _Work:
    post: Post
    ts: float | None
    ref: str = ""
    image: np.ndarray | None = None
    text: list[int] | None = None
    tags: list[int] | None = None
    degraded: list[Degraded] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        have = {"image": self.image is not None, "text": self.text is not None, "tags": self.tags is not None}
        return [m for m in MODALITIES if have[m]]


@dataclass
class BatchResult:
    records: list[EmotionRecord]
    dead: list[DeadLetter]

    @cached_property
    def payloads(self) -> list[str]:
        """Each record as JSON, serialised once for Kafka and Redis both."""
        return [r.model_dump_json() for r in self.records]


class Pipeline:
    def __init__(self, s: Settings, bundle: BundleInfo, client: EmotionClient, fetcher: ImageFetcher):
        self.s, self.bundle, self.client, self.fetcher = s, bundle, client, fetcher
        self._inflight = asyncio.Semaphore(s.max_inflight)
        self.stopping = False

    async def process_isolating(self, batch: list[Incoming]) -> BatchResult:
        """process(), and when it fails on something unforeseen (a bug, not a dependency), again post by post so
        that the one post that breaks it becomes a dead letter (`internal_error`) and the others go through."""
        metrics.POSTS_IN.inc(len(batch))  # here, not in process(): the post-by-post retry must not count twice
        try:
            return await self.process(batch)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - isolated below, logged with its traceback
            log.exception("batch of %d failed; retrying post by post", len(batch))
        records, dead = [], []
        for msg in batch:
            try:
                one = await self.process([msg])
                records += one.records
                dead += one.dead
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - this post is the poison pill
                log.exception("post at %s failed", msg.ref)
                self._dead(dead, msg.key, msg.value, InvalidPost("internal_error", f"{type(e).__name__}: {e}", "process"), msg.ref)
        return BatchResult(records, dead)

    async def process(self, batch: list[Incoming]) -> BatchResult:
        dead: list[DeadLetter] = []
        works: list[_Work] = []
        for msg in batch:
            try:
                works.append(_Work(parse_post(msg.value, self.s), msg.timestamp_s, msg.ref))
            except InvalidPost as e:
                self._dead(dead, msg.key, msg.value, e, msg.ref)
        await asyncio.gather(*(self._prepare(w) for w in works))
        ready = []
        for w in works:
            if w.modalities:
                ready.append(w)
            else:
                why = "; ".join(f"{d.modality}: {d.reason}" for d in w.degraded) or "no usable modality"
                self._dead(dead, w.post.id.encode(), w.post.model_dump_json().encode(),
                           InvalidPost("no_usable_modality", why, "preprocess"), w.ref)
        groups: dict[str, list[_Work]] = {}
        for w in ready:
            groups.setdefault(combo_name(w.modalities), []).append(w)
        # a request never exceeds the ensemble's max_batch_size (read from Triton by the client's check)
        size = {c: min(self.client.max_batch.get(c) or self.s.max_batch, self.s.max_batch) for c in groups}
        chunks = [(c, ws[i:i + size[c]]) for c, ws in groups.items() for i in range(0, len(ws), size[c])]
        results = await asyncio.gather(*(self._infer(c, ws, dead) for c, ws in chunks))
        return BatchResult([r for rs in results for r in rs], dead)

    def _dead(self, dead, key, value, err: InvalidPost, ref: str) -> None:
        metrics.DEAD_LETTERS.labels(err.reason, err.stage).inc()
        log.info("dead letter: %s (%s)", err, err.stage)
        dead.append(DeadLetter(key, dead_letter(value, err), err.reason, ref))

    async def _prepare(self, w: _Work) -> None:
        tok = self.bundle.tokenizer
        w.text = tok.encode_text(w.post.text)
        w.tags = tok.encode_tags(w.post.tags)
        if w.post.text and w.text is None:
            w.degraded.append(Degraded(modality="text", reason="no_words"))
        if w.post.image_url:
            try:
                w.image = await self.fetcher.fetch(w.post.image_url)
            except ImageFetchError as e:
                w.degraded.append(Degraded(modality="image", reason=e.reason))
        for d in w.degraded:
            metrics.DEGRADED.labels(d.modality, d.reason).inc()

    async def _infer(self, combo: str, ws: list[_Work], dead) -> list[EmotionRecord]:
        arrays = {}
        if "image" in combo:
            arrays["image"] = np.stack([w.image for w in ws])
        if "text" in combo:
            arrays["text"] = np.array([w.text for w in ws], dtype=np.int64)
        if "tags" in combo:
            arrays["tags"] = np.array([w.tags for w in ws], dtype=np.int64)
        backoff = 0.2
        while True:
            try:
                async with self._inflight:
                    t0 = time.perf_counter()
                    res = await self.client.infer(combo, **arrays)
                metrics.TRITON_LATENCY.labels(combo).observe(time.perf_counter() - t0)
                metrics.BATCH_SIZE.observe(len(ws))
                break
            except BadRequest as e:  # not transient: these posts cannot be served as they are
                for w in ws:
                    self._dead(dead, w.post.id.encode(), w.post.model_dump_json().encode(),
                               InvalidPost("inference_rejected", str(e), "infer"), w.ref)
                return []
            except TritonError as e:
                if self.stopping:
                    raise
                metrics.RETRIES.labels("triton").inc()
                log.warning("Triton unavailable (%s); retrying in %.1fs", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.s.retry_max_backoff_s)
        emotions, sentiments = self.bundle.emotions, self.bundle.sentiments
        out = []
        now = time.time()
        for i, w in enumerate(ws):
            e, s = res.emotion_probs[i], res.sentiment_probs[i]
            out.append(EmotionRecord(
                id=w.post.id, emotion=emotions[int(e.argmax())], emotion_scores={k: round(float(v), 6) for k, v in zip(emotions, e)},
                sentiment=sentiments[int(s.argmax())], sentiment_score=round(float(s.max()), 6), modalities=w.modalities,
                head=combo, degraded=w.degraded, model_version=self.bundle.version, processed_at=now_iso(),
                latency_ms=round((now - w.ts) * 1000, 1) if w.ts else 0.0,
                tags=clean_tags(w.post.tags)[:self.bundle.max_tags], meta=w.post.meta,
            ))
        return out
