"""The worker's Faust app: the `classify` agent (posts -> labels and dead letters; a partition's offsets committed only
up to its first post that has not ended, stream/batches.py), the aggregator (labels -> Redis, its own consumer group), a
timer, /health and /metrics.

Delivery, failure by failure: docs/ARCHITECTURE.md."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

import faust
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.bundle_info import BundleInfo

from . import metrics
from .aggregates import Aggregates
from .aggregator import Aggregator
from .batches import BatchRunner
from .connections import faust_credentials, kafka_python_config, redis_client
from .kafka_admin import LagReader
from .records import Incoming
from .service import Classifier
from .settings import PRODUCER_MAX_REQUEST_BYTES, Settings

__all__ = ["WorkerApp"]

log = logging.getLogger("emostream.worker")
WORKER_NAME = f"{socket.gethostname()}-{os.getpid()}"
PRODUCER_REQUEST_TIMEOUT_S = 30.0
FATAL_STOP_DELAY_S = 1.0  # /health answers 503 this long before the stop begins


def _incoming(event) -> Incoming:
    m = event.message
    return Incoming(m.key, m.value, m.timestamp, m.topic, m.partition, m.offset)


class _Producer:
    """The Faust app's producer, resolved when first used (it exists once the app runs)."""

    def __init__(self, app: faust.App):
        self.app = app

    async def send(self, *args):
        return await self.app.producer.send(*args)


class WorkerApp:
    """One worker: the Faust app and the services it owns (classifier, aggregator, lag reader, heartbeat)."""

    def __init__(self, s: Settings, bundle: BundleInfo, max_batch: dict | None = None):
        self.s, self.bundle, self._max_batch = s, bundle, max_batch or {}
        self.app = faust.App(
            s.app_id,
            broker=f"kafka://{s.kafka_bootstrap}",
            broker_credentials=faust_credentials(s),
            value_serializer="raw",
            key_serializer="raw",
            web_host=s.web_host,
            web_port=s.web_port,
            datadir=str(s.datadir),
            topic_partitions=s.partitions,
            topic_allow_declare=False,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=1000,
            broker_commit_interval=1.0,
            producer_acks=-1,
            producer_max_request_size=PRODUCER_MAX_REQUEST_BYTES,
            # a send Kafka does not acknowledge in this time fails and is retried by the sink (/health shows it),
            # instead of hanging for Faust's default of 20 minutes
            producer_request_timeout=PRODUCER_REQUEST_TIMEOUT_S,
            stream_buffer_maxsize=max(4 * s.max_batch, 256),
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
            # A rebalance or a stop does not wait for a batch in progress: it may be waiting on a dependency that is
            # down. Its offsets are not committed (hold_back) and the next owner processes it again.
            stream_wait_empty=False,
        )
        self._classifier: Classifier | None = None
        self.runner: BatchRunner | None = None
        self.fatal: str | None = None  # set when the worker must end (non-zero) with un-acknowledged work
        self.aggregator = Aggregator(s) if s.aggregator else None
        self._lag: LagReader | None = None
        self._redis = None
        self._wire()

    @property
    def classifier(self) -> Classifier:
        """Created inside the running loop (its gRPC channel belongs to it)."""
        if self._classifier is None:
            self._classifier = Classifier(self.s, self.bundle, _Producer(self.app), self._max_batch)
        return self._classifier

    def _wire(self) -> None:
        app, s = self.app, self.s
        posts = app.topic(s.topic_posts, key_serializer="raw", value_serializer="raw")
        worker = self

        # One actor takes every batch in offset order; the runner processes EMOSTREAM_AGENT_CONCURRENCY at once and
        # acks (lets Faust commit) a partition's messages only once every earlier one has ended. Batches come from
        # `noack_take`: Faust's `take_events` would ack a batch when the stream stops, even while it is in progress.
        @app.agent(posts, name="classify", concurrency=1)
        async def classify(stream):
            await worker.classifier.maybe_start()
            worker.runner = BatchRunner(
                lambda events: worker.classifier.process([_incoming(e) for e in events]),
                stream.ack,
                worker.fail,
                concurrency=s.agent_concurrency,
                max_uncommitted=s.max_uncommitted,
            )
            await worker.runner.run(stream.noack_take(s.max_batch, within=s.max_wait_s))

        async def revoked(sender, revoked, **kwargs) -> None:
            if worker.runner is not None:
                worker.runner.revoke(revoked)

        app.on_partitions_revoked.connect(revoked)

        @app.service
        class Lifecycle(Service):
            """Starts the aggregator with the app; stops the classifier first, so no batch waits on a dependency."""

            async def on_start(self) -> None:
                if worker.aggregator is not None:
                    await self.add_runtime_dependency(worker.aggregator)

            async def on_stop(self) -> None:
                await worker.stop()

        async def before_shutdown(sender, **kwargs) -> None:
            if worker._classifier is not None:
                worker._classifier.stopping.set()

        app.on_before_shutdown.connect(before_shutdown)

        @app.timer(5.0)
        async def watch():
            await worker.classifier.check_models()
            lag = await worker._read_lag()
            await worker._heartbeat(lag)

        @app.page("/health")
        async def health(web, request):
            doc = worker.health()
            return web.json(doc, status=200 if doc["ok"] else 503)

        @app.page("/metrics")
        async def prom(web, request):
            return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    def fail(self, error: BaseException) -> None:
        """A batch failed in a way the worker cannot wait out: /health turns 503, then the worker stops (SIGTERM path,
        nothing of that batch or after it acknowledged) and exits non-zero, so its partitions go to a replacement."""
        if self.fatal is None:
            self.fatal = f"{type(error).__name__}: {error}"[:500]
            log.critical("a batch failed; the worker stops so that its posts are redelivered", exc_info=error)
            metrics.FATAL.inc()
            asyncio.get_running_loop().call_later(FATAL_STOP_DELAY_S, os.kill, os.getpid(), signal.SIGTERM)

    def health(self) -> dict:
        """ok: assigned partitions, Triton serving this bundle, no batch stalled, no batch failed. Redis only delays the
        dashboard: the aggregator's state is reported, not counted as a problem of the classifier."""
        c = self.classifier.health()
        assigned = bool(self.app.consumer.assignment()) if self.app.consumer else False
        problems = ([] if assigned else ["no partitions assigned"]) + c.pop("problems")
        if self.fatal:
            problems.insert(0, f"a batch failed, the worker is stopping: {self.fatal}")
        if self.runner is not None:
            c["uncommitted"] = self.runner.uncommitted
        agg = self.aggregator.health() if self.aggregator is not None else None
        return {"ok": not problems, "problems": problems, "kafka_assigned": assigned, **c, "aggregator": agg}

    async def _read_lag(self) -> int | None:
        try:
            if self._lag is None:
                self._lag = await asyncio.to_thread(
                    LagReader, kafka_python_config(self.s), self.s.app_id, self.s.topic_posts
                )
            lags = await asyncio.to_thread(self._lag.read)
        except Exception as e:  # noqa: BLE001 - lag is informative only; the next tick tries again
            log.debug("lag read failed: %s", e)
            return None
        for p, n in lags.items():
            metrics.CONSUMER_LAG.labels(str(p)).set(n)
        return sum(lags.values())

    async def _heartbeat(self, lag: int | None) -> None:
        """The worker's counters in Redis for the dashboard; best effort, bounded to 2 s (Redis may be down)."""
        if self._redis is None:
            self._redis = Aggregates(self.s, redis_client(self.s, socket_timeout=2, socket_connect_timeout=2))
        stats = {
            "posts_in": self.classifier.stats.posts_in,
            "posts_out": self.classifier.stats.posts_out,
            "dead": self.classifier.stats.dead,
        }
        try:
            await asyncio.wait_for(self._redis.heartbeat(WORKER_NAME, stats, lag), 2)
        except Exception as e:  # noqa: BLE001 - the dashboard then shows the worker as gone
            log.debug("heartbeat failed: %s", e)

    async def stop(self) -> None:
        if self._classifier is not None:
            await self._classifier.stop()
        if self._redis is not None:
            await self._redis.redis.aclose()
        if self._lag is not None:
            await asyncio.to_thread(self._lag.close)
