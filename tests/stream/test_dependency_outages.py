"""A dependency goes down mid-stream. Triton (the model unloaded): the worker pauses on the batch it holds, retries,
and once the model is back every post is published. Kafka (killed for longer than the producer's request timeout,
while a batch waits to be published): the worker waits, says so, and publishes everything once Kafka is back.
Redis: labels keep flowing to the output topic, only the aggregator waits, and once Redis is back every post is
counted exactly once. Nothing dropped, nothing dead-lettered, nothing double-counted."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
import tritonclient.http as httpclient

from contracts import triton as tc
from contracts.combos import Combo
from stream.kafka_admin import ensure_topics
from tests.helpers.services import OwnKafka, OwnRedis, serve_bundle, unserve, wait_for
from tests.helpers.stream import WorkerEnv, worker_health, worker_metric

pytestmark = pytest.mark.stack
MAX_BATCH = 16
RETRIES = "emostream_dependency_retries_total"
OUTAGE_S = 40  # > PRODUCER_REQUEST_TIMEOUT_S (stream/app.py)


def test_redis_outage_delays_only_the_aggregates(stack, served, tmp_path):
    r = OwnRedis(tmp_path, append_only=True)  # a restart keeps what was counted
    r.start()
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    totals = f"{env.redis_prefix}totals"
    client = r.client()
    try:
        _, port = env.start_worker(
            tmp_path, EMOSTREAM_REDIS_URL=r.url, EMOSTREAM_MAX_BATCH=str(MAX_BATCH), EMOSTREAM_RETRY_MAX_BACKOFF_S="1"
        )
        before = [{"id": f"a{i}-{env.uid}", "text": f"calm quiet lake {i}", "tags": ["lake"]} for i in range(40)]
        env.produce(before)
        wait_for(lambda: int(client.hget(totals, "posts") or 0) == len(before), 90, "the first posts counted")

        r.stop()
        during = [{"id": f"b{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun"]} for i in range(200)]
        env.produce(during)
        ids = {p["id"] for p in during}
        out = env.collect("out", 10**6, timeout_s=90, ids=ids)
        assert ids <= {rec["id"] for rec in out}, "labels must keep flowing while Redis is down"
        wait_for(lambda: worker_metric(port, RETRIES, dependency="redis") >= 2, 60, "the aggregator retrying Redis")
        health = worker_health(port)
        assert health["ok"] is True and health["aggregator"]["waiting_on"] == "redis", health

        r.start()
        everything = {p["id"] for p in before + during}
        wait_for(lambda: int(client.hget(totals, "posts") or 0) >= len(everything), 60, "all posts counted")
        time.sleep(2)  # a double count would show up here
        assert int(client.hget(totals, "posts")) == len(everything)
        wait_for(lambda: worker_health(port)["aggregator"]["waiting_on"] is None, 30, "/health: aggregator caught up")
        assert not env.collect("dlq", 1, timeout_s=2), "a down dependency must not make dead letters"
    finally:
        env.stop()
        r.stop()


def test_triton_model_unloaded_pauses_and_loses_nothing(stack, demo_bundle, tmp_path):
    prefix = f"out{uuid.uuid4().hex[:6]}_"
    serve_bundle(stack, demo_bundle.bundle_path, prefix)
    env = WorkerEnv(stack, demo_bundle.bundle_path, prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    triton = httpclient.InferenceServerClient(stack.triton_http_url)
    ensemble = tc.ensemble_name(Combo.parse("text_tags"), prefix)
    try:
        _, port = env.start_worker(tmp_path, EMOSTREAM_RETRY_MAX_BACKOFF_S="1")
        before = [{"id": f"a{i}-{env.uid}", "text": f"calm quiet lake {i}", "tags": ["lake"]} for i in range(10)]
        env.produce(before)
        assert len(env.collect("out", len(before), timeout_s=60)) == len(before)

        triton.unload_model(ensemble)
        during = [{"id": f"b{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun"]} for i in range(50)]
        env.produce(during)
        wait_for(lambda: worker_metric(port, RETRIES, dependency="triton") >= 3, 60, "the worker retrying Triton")
        wait_for(lambda: worker_health(port).get("triton_ready") is False, 30, "/health to report Triton not ready")
        assert worker_health(port)["waiting_on"] == "triton"
        assert len(env.collect("out", 10**6, timeout_s=3)) == len(before), "nothing can be labelled without the model"

        triton.load_model(ensemble)
        ids = {p["id"] for p in during}
        out = [rec for rec in env.collect("out", 10**6, timeout_s=90, ids=ids) if rec["id"] in ids]
        assert {rec["id"] for rec in out} == ids, "posts lost across the Triton outage"
        assert {rec["head"] for rec in out} == {"text_tags"}
        assert not env.collect("dlq", 1, timeout_s=2), "a down dependency must not make dead letters"
        wait_for(lambda: worker_health(port).get("triton_ready") is True, 30, "/health to report Triton ready again")
    finally:
        env.stop()
        triton.close()
        unserve(stack, prefix)


def test_kafka_outage_longer_than_the_producer_timeout_loses_nothing(
    stack, served, image_server, demo_bundle, tmp_path
):
    kafka = OwnKafka(tmp_path / "kafka")
    kafka.start()
    own = dataclasses.replace(stack, kafka_bootstrap=kafka.bootstrap)
    env = WorkerEnv(own, served.bundle_path, served.prefix)
    ensure_topics(own.kafka_bootstrap, list(env.topics.values()), 2)
    image = sorted((demo_bundle.manifest.parent / "images").iterdir())[0].name
    try:
        proc, port = env.start_worker(
            tmp_path, EMOSTREAM_RETRY_MAX_BACKOFF_S="1", EMOSTREAM_STALL_AFTER_S="5", EMOSTREAM_IMAGE_TIMEOUT_S="8"
        )
        before = [{"id": f"a{i}-{env.uid}", "text": f"calm quiet lake {i}"} for i in range(20)]
        env.produce(before)
        assert len(env.collect("out", len(before), timeout_s=60)) == len(before)
        # posts whose images take 3 s: the worker holds them when Kafka dies, and must publish them after
        held = [
            {"id": f"b{i}-{env.uid}", "text": f"storm night {i}", "image_url": f"{image_server}/delay/3000/{image}"}
            for i in range(30)
        ]
        env.produce(held)
        wait_for(lambda: worker_health(port)["oldest_batch_s"] > 0, 30, "a batch of them in progress", every_s=0.1)
        kafka.kill()
        wait_for(lambda: "no progress" in " ".join(worker_health(port)["problems"]), 60, "/health: no progress")
        time.sleep(OUTAGE_S)  # longer than the producer's request timeout: its sends fail and are retried
        assert proc.poll() is None, "the worker must wait for Kafka, not exit"
        assert worker_metric(port, RETRIES, dependency="kafka_produce") >= 1, "the publish was not retried"
        kafka.start()
        ids = {p["id"] for p in before + held}
        out = env.collect("out", 10**6, timeout_s=120, ids=ids)
        assert ids <= {r["id"] for r in out}, f"lost across the outage: {sorted(ids - {r['id'] for r in out})[:5]}"
        assert not env.collect("dlq", 1, timeout_s=2), "a down dependency must not make dead letters"
        wait_for(lambda: worker_health(port)["ok"], 60, "/health ok again")
    finally:
        env.stop()
        kafka.kill()
