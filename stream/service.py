"""The classifier service: owns the Triton client, the image fetcher, the pipeline and the Kafka sink, processes
micro-batches, and reports what it is doing (or waiting on) to /health, /metrics and the dashboard."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass

from mode import Service

from core.bundle_info import BundleInfo
from core.images import ImageFetcher

from . import metrics
from .connections import triton_client
from .pipeline import Pipeline
from .records import Incoming
from .retry import Waiting
from .settings import Settings
from .sinks import KafkaSink
from .triton_client import TritonError

__all__ = ["Stats", "Classifier"]

log = logging.getLogger(__name__)


@dataclass
class Stats:
    posts_in: int = 0
    posts_out: int = 0
    dead: int = 0


class Classifier(Service):
    """One per worker process; every agent actor of the worker shares it. A `mode.Service` whose dependencies are its
    image fetcher and Triton client: started with it, stopped after it (its stop first sets `stopping`, so a batch
    waiting on a dependency gives up at once)."""

    def __init__(self, s: Settings, bundle: BundleInfo, producer, max_batch: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.s, self.bundle = s, bundle
        self.stopping = asyncio.Event()
        self.waiting = Waiting()  # Triton or Kafka while a batch waits on it
        self.client = triton_client(s, bundle)
        self.client.max_batch.update(max_batch or {})
        self.fetcher = ImageFetcher(s.fetch_limits(), bundle.image_size, metrics.STAGE_SECONDS.labels("decode").inc)
        self.add_dependency(self.client)
        self.add_dependency(self.fetcher)
        self.pipeline = Pipeline(s, bundle, self.client, self.fetcher, self.stopping, self.waiting)
        self.sink = KafkaSink(s, producer, self.stopping, self.waiting)
        self.stats = Stats()
        self.triton_ready, self.triton_error = True, None  # the worker checked the models before starting
        self._batches: dict[int, float] = {}  # id -> start (monotonic) of the batches in progress
        metrics.OLDEST_BATCH.set_function(self.oldest_batch_s)

    async def process(self, batch: list[Incoming]) -> None:
        """Label and publish one micro-batch; returns once Kafka acknowledged every output and dead letter.
        Raises retry.Stopped when the worker stops meanwhile (the caller then holds the batch's offsets back)."""
        token = id(batch)
        self._batches[token] = time.monotonic()
        try:
            result = await self.pipeline.process(batch)
            t0 = time.perf_counter()
            await self.sink.publish(result)
            metrics.STAGE_SECONDS.labels("publish").inc(time.perf_counter() - t0)
        finally:
            self._batches.pop(token, None)
        self.stats.posts_in += len(batch)
        self.stats.posts_out += len(result.outputs)
        self.stats.dead += len(result.dead)

    def oldest_batch_s(self) -> float:
        return time.monotonic() - min(self._batches.values()) if self._batches else 0.0

    async def check_models(self) -> None:
        """Is Triton still serving this worker's bundle? (the timer's question, for /health)"""
        try:
            await self.client.check(self.bundle)
            self.triton_ready, self.triton_error = True, None
        except TritonError as e:
            self.triton_ready, self.triton_error = False, str(e)[:500]

    def health(self) -> dict:
        """Problems that make /health answer 503, and what the classifier is doing."""
        problems = []
        if not self.triton_ready:
            problems.append(f"Triton: {self.triton_error}")
        age = self.oldest_batch_s()
        if age > self.s.stall_after_s:
            waiting = (
                f"waiting on {self.waiting.dependency} ({self.waiting.error})"
                if self.waiting.dependency
                else "no dependency retrying"
            )
            problems.append(f"no progress for {age:.0f}s: {waiting}")
        return {
            "problems": problems,
            "triton_ready": self.triton_ready,
            "triton_error": self.triton_error,
            "waiting_on": self.waiting.dependency,
            "waiting_s": round(self.waiting.seconds(), 1),
            "oldest_batch_s": round(age, 1),
            "stats": asdict(self.stats),
            "model_version": self.bundle.version,
        }

    async def on_stop(self) -> None:
        self.stopping.set()  # then mode stops the dependencies: the fetcher's session, the client's channel
