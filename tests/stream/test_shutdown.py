"""SIGTERM stops a worker within 15 s whatever it is doing, and nothing it held is lost: a replacement worker
labels every post (idle; busy with a backlog; waiting on Triton; waiting on slow image servers; aggregator waiting
on a Redis that is down)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
import tritonclient.http as httpclient

from contracts import triton as tc
from contracts.combos import Combo
from stream.kafka_admin import ensure_topics
from tests.helpers.services import OwnRedis, serve_bundle, unserve, wait_for
from tests.helpers.stream import WorkerEnv, worker_health, worker_metric

pytestmark = pytest.mark.stack
LIMIT_S = 15


def sigterm_seconds(proc: subprocess.Popen) -> float:
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(LIMIT_S + 10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    print(f"SIGTERM -> exit in {time.monotonic() - t0:.1f}s")
    return time.monotonic() - t0


def posts(env, tag, n, **fields):
    return [
        {"id": f"{tag}{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun"], **fields} for i in range(n)
    ]


@pytest.fixture
def own_models(stack, demo_bundle):
    prefix = f"sd{uuid.uuid4().hex[:6]}_"
    serve_bundle(stack, demo_bundle.bundle_path, prefix)
    yield prefix
    unserve(stack, prefix)


def test_sigterm_when_idle_and_when_busy(stack, served, tmp_path):
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        proc, _ = env.start_worker(tmp_path)
        assert sigterm_seconds(proc) < LIMIT_S
        backlog = posts(env, "busy", 1500)
        env.produce(backlog)
        proc, port = env.start_worker(tmp_path, EMOSTREAM_MAX_BATCH="64")
        wait_for(lambda: worker_metric(port, "emostream_posts_in_total") > 0, 60, "the worker busy")
        assert sigterm_seconds(proc) < LIMIT_S
        env.start_worker(tmp_path)
        ids = {p["id"] for p in backlog}
        assert ids <= {r["id"] for r in env.collect("out", 10**6, timeout_s=120, ids=ids)}
    finally:
        env.stop()


def test_sigterm_while_waiting_on_triton_loses_nothing(stack, demo_bundle, own_models, tmp_path):
    env = WorkerEnv(stack, demo_bundle.bundle_path, own_models)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    triton = httpclient.InferenceServerClient(stack.triton_http_url)
    ensemble = tc.ensemble_name(Combo.parse("text_tags"), own_models)
    try:
        proc, port = env.start_worker(tmp_path, EMOSTREAM_RETRY_MAX_BACKOFF_S="5", EMOSTREAM_STALL_AFTER_S="3")
        triton.unload_model(ensemble)
        held = posts(env, "held", 30)
        env.produce(held)
        wait_for(lambda: worker_health(port).get("waiting_on") == "triton", 60, "the worker waiting on Triton")
        wait_for(lambda: "no progress" in " ".join(worker_health(port)["problems"]), 30, "/health to report the stall")
        assert worker_metric(port, "emostream_oldest_batch_seconds") >= 3
        assert sigterm_seconds(proc) < LIMIT_S
        assert not env.collect("out", 1, timeout_s=2)
        triton.load_model(ensemble)
        env.start_worker(tmp_path)
        ids = {p["id"] for p in held}
        assert ids <= {r["id"] for r in env.collect("out", 10**6, timeout_s=90, ids=ids)}
        assert not env.collect("dlq", 1, timeout_s=2)
    finally:
        env.stop()
        triton.close()


def test_sigterm_while_fetching_from_slow_image_servers(stack, served, image_server, tmp_path):
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        proc, port = env.start_worker(tmp_path, EMOSTREAM_IMAGE_TIMEOUT_S="8")
        slow = posts(env, "slow", 20, image_url=f"{image_server}/slow.jpg")
        env.produce(slow)
        wait_for(lambda: worker_health(port)["oldest_batch_s"] > 0.5, 30, "a batch in progress")
        assert sigterm_seconds(proc) < LIMIT_S
        env.start_worker(tmp_path, EMOSTREAM_IMAGE_TIMEOUT_S="8")
        ids = {p["id"] for p in slow}
        assert ids <= {r["id"] for r in env.collect("out", 10**6, timeout_s=90, ids=ids)}
    finally:
        env.stop()


def test_sigterm_while_the_aggregator_waits_on_redis(stack, served, tmp_path):
    r = OwnRedis(tmp_path)
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        proc, port = env.start_worker(tmp_path, EMOSTREAM_REDIS_URL=r.url)  # never started: Redis is down
        env.produce(posts(env, "nr", 10))
        wait_for(lambda: worker_health(port)["aggregator"]["waiting_on"] == "redis", 60, "the aggregator waiting")
        assert sigterm_seconds(proc) < LIMIT_S
    finally:
        env.stop()
