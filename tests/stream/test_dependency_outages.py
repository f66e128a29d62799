"""A dependency goes down mid-stream (Redis stopped; the Triton model unloaded): the worker pauses on the batch it
holds, retries, and once the dependency is back every post is published (and counted exactly once in Redis):
nothing dropped, nothing dead-lettered, nothing double-counted."""
from __future__ import annotations

import time
import uuid

import pytest
import tritonclient.http as httpclient

from stream.kafka_admin import ensure_topics
from tests.conftest import serve_bundle, unserve
from tests.stream.conftest import OwnRedis, WorkerEnv, wait_for, worker_health, worker_metric

pytestmark = pytest.mark.stack
MAX_BATCH = 16
RETRIES = "emostream_dependency_retries_total"


def test_redis_outage_pauses_and_loses_nothing(stack, served, tmp_path):
    r = OwnRedis(tmp_path, append_only=True)  # a restart keeps what was counted
    r.start()
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    totals = f"{env.redis_prefix}totals"
    client = r.client()
    try:
        _, port = env.start_worker(tmp_path, EMOSTREAM_REDIS_URL=r.url,
                                   EMOSTREAM_MAX_BATCH=str(MAX_BATCH), EMOSTREAM_RETRY_MAX_BACKOFF_S="1")
        before = [{"id": f"a{i}-{env.uid}", "text": f"calm quiet lake {i}", "tags": ["lake"]} for i in range(40)]
        env.produce(before)
        wait_for(lambda: int(client.hget(totals, "posts") or 0) == len(before), 90, "the first posts counted")

        r.stop()
        during = [{"id": f"b{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun"]} for i in range(200)]
        env.produce(during)
        wait_for(lambda: worker_metric(port, RETRIES, dependency="redis") >= 3, 60, "the worker retrying Redis")
        # Paused: the batch it holds may be published (publish comes before the aggregates), nothing after it.
        published = {rec["id"] for rec in env.collect("out", 10**6, timeout_s=3)}
        assert len(published - {p["id"] for p in before}) <= MAX_BATCH, "consumption should pause while Redis is down"

        r.start()
        everything = {p["id"] for p in before + during}
        out = env.collect("out", 10**6, timeout_s=120, ids=everything)
        assert everything <= {rec["id"] for rec in out}, "posts lost across the Redis outage"
        wait_for(lambda: int(client.hget(totals, "posts") or 0) >= len(everything), 60, "all posts counted")
        time.sleep(2)  # a double count would show up here
        assert int(client.hget(totals, "posts")) == len(everything)
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
    ensemble = f"{prefix}emotion_text_tags"
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
