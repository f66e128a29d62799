"""The Faust worker: consume `posts` in micro-batches, run the pipeline, publish results and dead letters,
update the Redis aggregates, then let the batch's offsets be committed (at-least-once; docs/ARCHITECTURE.md, "Delivery, failure by failure")."""
from __future__ import annotations

import asyncio
import logging
import os
import socket

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from model.bundle_info import BundleInfo

from . import metrics
from .aggregates import Aggregates
from .images import ImageFetcher
from .kafka_admin import LagReader
from .pipeline import BatchResult, Incoming, Pipeline
from .settings import Settings
from .triton_client import EmotionClient

log = logging.getLogger("emostream.worker")
WORKER_NAME = f"{socket.gethostname()}-{os.getpid()}"


async def retry_forever(what: str, fn, s: Settings, stopping=lambda: False):
    """Call fn() until it succeeds, backing off up to retry_max_backoff_s; a down dependency pauses the batch, never drops it."""
    backoff = 0.2
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the dependency is retried; the error is logged
            if stopping():
                raise
            metrics.RETRIES.labels(what).inc()
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(e).__name__, e, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, s.retry_max_backoff_s)


def create_app(s: Settings, bundle: BundleInfo, max_batch: dict[str, int] | None = None) -> faust.App:
    """The Faust app; `max_batch` = each combination's max batch size as the start-up check read it from Triton."""
    app = faust.App(
        s.app_id, broker=f"kafka://{s.kafka_bootstrap}", value_serializer="raw", key_serializer="raw",
        web_host=s.web_host, web_port=s.web_port, datadir=str(s.datadir), topic_partitions=s.partitions,
        topic_allow_declare=False, consumer_auto_offset_reset="earliest", broker_commit_every=1000,
        broker_commit_interval=1.0, producer_acks=-1, stream_buffer_maxsize=max(4 * s.max_batch, 256),
        broker_session_timeout=10.0, broker_heartbeat_interval=3.0,  # a dead worker's partitions move within ~10 s
    )
    posts = app.topic(s.topic_posts, key_serializer="raw", value_serializer="raw")
    # the worker checked the models before starting, hence triton_ready; stats feed the dashboard's worker list
    state: dict = {"triton_ready": True, "stats": {"posts_in": 0, "posts_out": 0, "dead": 0}}

    @app.agent(posts, name="classify", concurrency=s.agent_concurrency)
    async def classify(stream):
        client = EmotionClient(s.triton_grpc_url, s.triton_model_prefix, s.triton_timeout_s, s.triton_retries, bundle=bundle)
        client.max_batch.update(max_batch or {})
        fetcher = ImageFetcher(s, bundle.image_size)
        aggregates = Aggregates(s)
        pipeline = Pipeline(s, bundle, client, fetcher)
        state.update(client=client, aggregates=aggregates)
        try:
            async for events in stream.take_events(s.max_batch, within=s.max_wait_s):
                try:
                    batch = [Incoming(e.message.key, e.message.value, e.message.timestamp,
                                      f"{e.message.topic}:{e.message.partition}:{e.message.offset}") for e in events]
                    result = await pipeline.process_isolating(batch)
                    await retry_forever("kafka_produce", lambda: publish(app, s, result), s)
                    await retry_forever("redis", lambda: aggregate(aggregates, result), s)
                    stats = state["stats"]
                    stats["posts_in"] += len(batch)
                    stats["posts_out"] += len(result.records)
                    stats["dead"] += len(result.dead)
                except asyncio.CancelledError:
                    # Shutting down mid-batch: leave these offsets un-acked so they are redelivered, not committed.
                    for e in events:
                        e.message.acked = True
                    raise
        finally:
            pipeline.stopping = True
            await fetcher.close()
            await client.close()
            await aggregates.close()

    @app.timer(5.0)
    async def watch():
        client = state.get("client")
        if client is not None:
            try:
                await client.check(bundle)  # ready, and still serving this worker's bundle
                state["triton_ready"], state["triton_error"] = True, None
            except Exception as e:  # noqa: BLE001 - reported through /health
                state["triton_ready"], state["triton_error"] = False, str(e)[:500]
        total = None
        try:
            if "lag" not in state:
                state["lag"] = await asyncio.to_thread(LagReader, s.kafka_bootstrap, s.app_id, s.topic_posts)
            lags = await asyncio.to_thread(state["lag"].read)
            for p, lag in lags.items():
                metrics.CONSUMER_LAG.labels(str(p)).set(lag)
            total = sum(lags.values())
        except Exception as e:  # noqa: BLE001 - lag is best effort
            log.debug("lag read failed: %s", e)
        agg = state.get("aggregates")
        if agg is not None:
            try:
                await agg.heartbeat(WORKER_NAME, state["stats"], total)
            except Exception as e:  # noqa: BLE001 - the dashboard shows the worker as gone
                log.debug("heartbeat failed: %s", e)

    @app.page("/health")
    async def health(web, request):
        checks = {"kafka_assigned": bool(app.consumer.assignment()) if app.consumer else False,
                  "triton_ready": state["triton_ready"], "redis": False}
        agg = state.get("aggregates")
        if agg is not None:
            try:
                checks["redis"] = bool(await asyncio.wait_for(agg.redis.ping(), 2))
            except Exception:  # noqa: BLE001
                checks["redis"] = False
        ok = all(checks.values())
        return web.json({"ok": ok, **checks, "model_version": bundle.version, "triton_error": state.get("triton_error")},
                        status=200 if ok else 503)

    @app.page("/metrics")
    async def prom(web, request):
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


async def publish(app: faust.App, s: Settings, result: BatchResult) -> None:
    """Send every output and dead letter, then wait until Kafka acknowledged all of them."""
    futs = [await app.producer.send(s.topic_output, r.id.encode(), p.encode(), None, None, None)
            for r, p in zip(result.records, result.payloads)]
    futs += [await app.producer.send(s.topic_dlq, d.key, d.value, None, None, None) for d in result.dead]
    await asyncio.gather(*futs)
    for r in result.records:
        metrics.POSTS_OUT.labels(r.head).inc()
        if r.latency_ms:
            metrics.E2E_LATENCY.observe(r.latency_ms / 1000)


async def aggregate(aggregates: Aggregates, result: BatchResult) -> None:
    applied = await aggregates.apply_many(result.records, result.payloads)
    metrics.AGG_DUPLICATES.inc(sum(1 for a in applied if not a))
    await asyncio.gather(*(aggregates.apply_dead(d.ref, d.reason) for d in result.dead))
