"""One micro-batch from raw Kafka values to settled records: validate, fetch images, tokenize, route each post to a
head, group by head, one Triton request per (head, chunk), build and serialise the records.

Failure classes (docs/ARCHITECTURE.md): a problem of one post never raises — bad input, an output that cannot be
serialised or is too large, a request Triton rejects with the models verified, or anything unforeseen while
preparing a post becomes that post's dead letter; a failed image becomes a `degraded` entry. Only a dependency
(Triton) is retried, through the one retry policy, and nothing derived from a post sits in that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from contracts import triton as tc
from contracts.combos import Combo
from core.bundle_info import BundleInfo
from core.images import ImageFetcher, ImageFetchError
from core.language import detect, foreign
from core.tokenizer import PAD_ID, UNK_ID

from . import metrics
from .parsing import parse_post
from .records import DeadLetter, Incoming, Output, dead_letter
from .retry import Backoff, Waiting, retry_transient
from .schemas import Degraded, EmotionRecord, InvalidPost, Opinion, Post, iso
from .settings import Settings
from .triton_client import (
    BadRequest,
    EmotionClient,
    InferenceTimeout,
    InferResult,
    ModelMismatch,
    ModelUnavailable,
)

__all__ = ["BatchResult", "Pipeline", "text_tensor"]

log = logging.getLogger(__name__)
TRANSIENT = (ModelUnavailable, ModelMismatch)


def cut(text: str | None, chars: int) -> str | None:
    """The record's copy of a text: at most `chars` characters (a cut one ends with …); None for 0 or no text."""
    if not text or chars <= 0:
        return None
    return text if len(text) <= chars else text[: chars - 1] + "…"


@dataclass
class _Work:
    msg: Incoming
    post: Post
    image: np.ndarray | None = None
    text: list[int] | None = None
    tags: list[int] | None = None
    tag_names: list[str] = field(default_factory=list)
    degraded: list[Degraded] = field(default_factory=list)
    language: str | None = None
    language_score: float | None = None
    timeouts: int = 0  # requests of this post alone that timed out while Triton answered a probe
    head_reason: str = ""  # why the post went to its head (BundleInfo.route, once per post)

    @property
    def usable(self) -> Combo | None:
        have = [m for m, v in (("image", self.image), ("text", self.text), ("tags", self.tags)) if v is not None]
        return Combo.of(have) if have else None


def text_tensor(ids: list[list[int]], max_words: int, window: int) -> np.ndarray:
    """The text input of one request: each post's ids (padded to max_words by the tokenizer) cut to the request's
    length, `tc.text_length` of its longest text, so short posts do not pay for 150 positions."""
    # right-padded, and no word has PAD_ID: a text is padded iff it ends with PAD_ID, and its length is that index
    longest = max(t.index(PAD_ID) if t[-1] == PAD_ID else len(t) for t in ids)
    n = tc.text_length(longest, max_words, window)
    return np.array([t[:n] for t in ids], dtype=np.int64)


def request_arrays(
    head: Combo,
    bundle: BundleInfo,
    images: list[np.ndarray] | None = None,
    texts: list[list[int]] | None = None,
    tags: list[list[int]] | None = None,
) -> dict[str, np.ndarray]:
    """The input arrays of one Triton request for `head` (modality -> batch), from each post's decoded image and token
    ids: the one place a request is built (the pipeline, the benchmarks)."""
    arrays = {}
    if "image" in head:
        arrays["image"] = np.stack(images)
    if "text" in head:
        arrays["text"] = text_tensor(texts, bundle.max_words, bundle.text_window)
    if "tags" in head:
        arrays["tags"] = np.array(tags, dtype=np.int64)
    return arrays


@dataclass
class BatchResult:
    outputs: list[Output] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


class Pipeline:
    """Turns micro-batches into outputs and dead letters with the bundle's tokenizer, the image fetcher and Triton."""

    def __init__(
        self,
        s: Settings,
        bundle: BundleInfo,
        client: EmotionClient,
        fetcher: ImageFetcher,
        stopping: asyncio.Event,
        waiting: Waiting,
    ):
        self.s, self.bundle, self.client, self.fetcher = s, bundle, client, fetcher
        self.stopping, self.waiting = stopping, waiting
        self.backoff = Backoff(max_s=s.retry_max_backoff_s)
        self._inflight = asyncio.Semaphore(s.max_inflight)
        self._image_inflight = asyncio.Semaphore(s.max_image_inflight)
        self.image_used = any(c.has_image and bundle.trained(c) for c in bundle.combos)
        if s.detect_language:
            detect("load the language model now, not in the first batch")

    async def process(self, batch: list[Incoming]) -> BatchResult:
        """Every message of the batch ends as exactly one output or one dead letter. Raises only retry.Stopped."""
        metrics.POSTS_IN.inc(len(batch))
        result = BatchResult()
        works: list[_Work] = []
        t0 = time.perf_counter()
        for msg in batch:
            try:
                works.append(_Work(msg, parse_post(msg.value, self.s)))
            except InvalidPost as e:
                self._dead(result, msg, e)
        metrics.STAGE_SECONDS.labels("parse").inc(time.perf_counter() - t0)
        # Two waves: posts with no image to fetch go to Triton while the images of the others download and decode.
        waves: tuple[list[_Work], list[_Work]] = ([], [])
        for w in works:
            waves[bool(w.post.image_url and self.image_used)].append(w)
        await asyncio.gather(*(self._wave(wave, result) for wave in waves))
        return result

    async def _wave(self, works: list[_Work], result: BatchResult) -> None:
        """Prepare, route, infer and build the records of some posts of the batch."""
        if not works:
            return
        t0 = time.perf_counter()
        failed: list[BaseException | None] = [self._tokenize(w) for w in works]
        metrics.STAGE_SECONDS.labels("tokenize").inc(time.perf_counter() - t0)
        fetching = [i for i, w in enumerate(works) if failed[i] is None and w.post.image_url and self.image_used]
        fetched = await asyncio.gather(*(self._fetch(works[i]) for i in fetching), return_exceptions=True)
        for i, err in zip(fetching, fetched, strict=True):
            failed[i] = err
        groups: dict[Combo, list[_Work]] = {}
        for w, err in zip(works, failed, strict=True):
            if isinstance(err, BaseException):
                if isinstance(err, asyncio.CancelledError):
                    raise err
                log.error("preparing post at %s failed", w.msg.ref, exc_info=err)
                self._dead(result, w.msg, InvalidPost("internal_error", f"{type(err).__name__}: {err}", "prepare"))
                continue
            have = w.usable
            if have is None:
                why = "; ".join(f"{d.modality}: {d.reason}" for d in w.degraded) or "no usable modality"
                self._dead(result, w.msg, InvalidPost("no_usable_modality", why, "preprocess"))
                continue
            head, w.head_reason = self.bundle.route(have)
            if head is None:
                self._dead(
                    result,
                    w.msg,
                    InvalidPost("no_trained_head", f"the model has no trained head for {have.name}", "route"),
                )
                continue
            groups.setdefault(head, []).append(w)
        chunks = [
            (head, ws[i : i + self._chunk(head)])
            for head, ws in groups.items()
            for i in range(0, len(ws), self._chunk(head))
        ]
        answered = await asyncio.gather(*(self._infer(head, ws, result) for head, ws in chunks))
        now = time.time()
        for (head, ws), res in zip(chunks, answered, strict=True):
            for i, w in enumerate(ws):
                if res[i] is not None:
                    self._output(result, w, head, res[i], now)

    def _chunk(self, head: Combo) -> int:
        """Posts per request: the micro-batch, capped by the ensemble's max_batch_size as read from Triton."""
        return max(1, min(self.client.max_batch.get(head) or self.s.max_batch, self.s.max_batch))

    def _dead(self, result: BatchResult, msg: Incoming, err: InvalidPost) -> None:
        metrics.DEAD_LETTERS.labels(err.reason, err.stage).inc()
        log.info("dead letter at %s: %s (%s)", msg.ref, str(err)[:300], err.stage)
        result.dead.append(dead_letter(msg, err, self.s.dlq_max_original_bytes))

    def _tokenize(self, w: _Work) -> BaseException | None:
        """Tokens of one post (a failed image is noted later by `_fetch`); returns what went wrong, unforeseen."""
        try:
            words, tags = self.bundle.tokenizer.post_tokens(w.post.text, w.post.tags)
            # hashtags moved out of the text obey the tag limits too (a tag over the length limit is left out)
            tags = [t for t in tags if len(t) <= self.s.max_tag_chars][: self.s.max_tags]
            w.text, w.tags = self.bundle.tokenizer.encode_tokens(words, tags)
            w.tag_names = tags[: self.bundle.max_tags]
            if w.post.text and self.s.detect_language:
                found = detect(w.post.text)
                w.language, w.language_score = found.language, found.score if found.language else None
                b = self.bundle
                known = b.tokenizer.words.stoi
                if w.text is not None and b.languages is not None and foreign(found, w.post.text, known, b.languages):
                    w.text = None
                    w.degraded.append(Degraded(modality="text", reason="unsupported_language"))
            if w.post.text and w.text is None and not any(d.modality == "text" for d in w.degraded):
                w.degraded.append(Degraded(modality="text", reason="no_words"))
            if w.post.image_url and not self.image_used:
                w.degraded.append(Degraded(modality="image", reason="no_trained_head"))
        except Exception as e:  # noqa: BLE001 - one post's unforeseen problem is that post's dead letter
            return e
        for d in w.degraded:
            metrics.DEGRADED.labels(d.modality, d.reason).inc()
        return None

    async def _fetch(self, w: _Work) -> None:
        """The image of one post; a failed image is a `degraded` entry, anything else unforeseen raises."""
        t0 = time.perf_counter()
        try:
            w.image = await self.fetcher.fetch(w.post.image_url)
        except ImageFetchError as e:
            w.degraded.append(Degraded(modality="image", reason=e.reason))
            metrics.DEGRADED.labels("image", e.reason).inc()
        metrics.STAGE_SECONDS.labels("fetch").inc(time.perf_counter() - t0)

    async def _call(self, head: Combo, ws: list[_Work]) -> InferResult:
        arrays = request_arrays(head, self.bundle, [w.image for w in ws], [w.text for w in ws], [w.tags for w in ws])
        async with self._image_inflight if head.has_image else contextlib.nullcontext(), self._inflight:
            t0 = time.perf_counter()
            res = await self.client.infer(head, arrays)
        metrics.TRITON_LATENCY.labels(head.name).observe(time.perf_counter() - t0)
        metrics.STAGE_SECONDS.labels("infer").inc(time.perf_counter() - t0)
        metrics.BATCH_SIZE.observe(len(ws))
        return res

    async def _infer(self, head: Combo, ws: list[_Work], result: BatchResult) -> list[tuple | None]:
        """(emotion probs, sentiment probs, neutral prob, {modality: opinion}) per post, or None for a post
        dead-lettered here. Triton unavailable or serving another model: retried (the batch waits). Rejected: the
        models are checked again (waiting while they do not match), then the chunk is split until the rejected posts
        are alone; those are dead letters. Timed out: split until the posts are alone; a post alone that times out
        while Triton answers a probe request of the same head is tried again, and dead-lettered `inference_timeout`
        after EMOSTREAM_TRITON_TIMEOUT_STRIKES times. Every timeout first waits for a probe to pass, so that a busy
        Triton is not sent more work."""
        retry = dict(transient=TRANSIENT, stopping=self.stopping, backoff=self.backoff, waiting=self.waiting)
        try:
            res = await retry_transient("triton", lambda: self._call(head, ws), **retry)
            return [
                (
                    res.emotion_probs[i],
                    res.sentiment_probs[i],
                    res.neutral_probs[i],
                    {m: o[i] for m, o in res.opinions.items()},
                )
                for i in range(len(ws))
            ]
        except BadRequest as e:
            log.warning("Triton rejected %d posts for %s (%s); checking the models", len(ws), head.name, e)
            await retry_transient("triton", lambda: self.client.check(self.bundle), **retry)
            if len(ws) == 1:
                self._dead(result, ws[0].msg, InvalidPost("inference_rejected", str(e)[:1000], "infer"))
                return [None]
        except InferenceTimeout as e:
            metrics.TRITON_TIMEOUTS.labels(head.name).inc()
            log.warning("a request of %d posts for %s timed out (%s)", len(ws), head.name, e)
            # Triton slow for everyone (the probe times out too: its queue holds more than a deadline of work,
            # maybe requests that timed out and still run) is a dependency problem: wait until it answers a probe.
            # Resending or splitting at once would only add to that queue (bench/end_to_end.py, split layout).
            probe = dict(retry, transient=(*TRANSIENT, InferenceTimeout))
            await retry_transient("triton", lambda: self._call(head, [self._probe()]), **probe)
            if len(ws) == 1:
                ws[0].timeouts += 1
                if ws[0].timeouts >= self.s.triton_timeout_strikes:
                    why = f"timed out alone {ws[0].timeouts} times while Triton answered: {e}"
                    self._dead(result, ws[0].msg, InvalidPost("inference_timeout", why[:1000], "infer"))
                    return [None]
                return await self._infer(head, ws, result)
        half = len(ws) // 2
        return await self._infer(head, ws[:half], result) + await self._infer(head, ws[half:], result)

    def _probe(self) -> _Work:
        """A post of no one with every modality (a black image, one unknown word, one unknown tag): a request of it
        tells whether Triton answers at all."""
        b = self.bundle
        return _Work(
            msg=None,
            post=None,
            image=np.zeros((b.image_size, b.image_size, 3), np.uint8),
            text=[UNK_ID] + [PAD_ID] * (b.max_words - 1),
            tags=[UNK_ID] + [PAD_ID] * (b.max_tags - 1),
        )

    def _opinions(self, opinions: dict[str, np.ndarray]) -> dict:
        """The record's `opinions` (each trained single-modality head's emotion, or neutral when its gate fires, and
        score) and `disagreement` (two of them name different answers)."""
        out = {}
        for m, o in opinions.items():
            head = Combo.parse(m)
            if self.bundle.trained(head):
                emotion, score = self.bundle.answer(head, o[:-1], float(o[-1]))
                out[m] = Opinion(emotion=emotion, score=round(score, 6))
        return {"opinions": out, "disagreement": len({o.emotion for o in out.values()}) > 1}

    def _output(self, result: BatchResult, w: _Work, head: Combo, probs: tuple, now: float) -> None:
        """The record of one labelled post, serialised and sized here; too large or unserialisable: a dead letter."""
        e, s, p, opinions = probs
        emotions, sentiments = self.bundle.emotions, self.bundle.sentiments
        emotion, _ = self.bundle.answer(head, e, float(p))
        gated = emotion == "neutral"
        if len(head) == 1:  # a single-modality head's answer is that modality's opinion
            opinions = {head.name: np.append(e, p)}
        have = w.usable
        latency = round((now - w.msg.timestamp_s) * 1000, 1) if w.msg.timestamp_s else 0.0
        if w.post.created_at:
            created_at, source = w.post.created_at, "post"
        elif w.msg.timestamp_s:
            created_at, source = iso(w.msg.timestamp_s), "kafka"
        else:
            created_at, source = iso(now), "processing"
        try:
            record = EmotionRecord(
                id=w.post.id,
                emotion=emotion,
                emotion_scores={k: round(float(v), 6) for k, v in zip(emotions, e, strict=True)},
                sentiment="neutral" if gated else sentiments[int(s.argmax())],
                sentiment_score=round(float(p if gated else s.max()), 6),
                neutral_score=round(float(p), 6) if self.bundle.has_gate(head) else None,
                **self._opinions(opinions),
                modalities=list(have.modalities),
                head=head.name,
                head_reason=w.head_reason,
                degraded=w.degraded,
                model_version=self.bundle.version,
                processed_at=iso(now),
                created_at=created_at,
                created_at_source=source,
                language=w.language,
                language_score=w.language_score,
                latency_ms=latency,
                tags=w.tag_names,
                text=cut(w.post.text, self.s.record_text_chars),
                image_url=w.post.image_url,
                meta=w.post.meta,
            )
            key, value = w.post.id.encode("utf-8"), record.model_dump_json().encode("utf-8")
        except (ValueError, TypeError) as err:  # pydantic's serialisation errors are ValueErrors
            self._dead(result, w.msg, InvalidPost("unserializable", f"{type(err).__name__}: {err}", "output"))
            return
        if len(key) + len(value) > self.s.max_record_bytes:
            self._dead(
                result,
                w.msg,
                InvalidPost(
                    "too_large",
                    f"output record of {len(key) + len(value)} bytes (limit {self.s.max_record_bytes})",
                    "output",
                ),
            )
            return
        result.outputs.append(Output(key, value, head.name, latency, w.msg))
