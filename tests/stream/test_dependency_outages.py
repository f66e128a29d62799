"""A dependency goes down mid-stream (Redis stopped; the Triton model unloaded): the worker pauses on the batch it
holds, retries, and once the dependency is back every post is published (and counted exactly once in Redis):
nothing dropped, nothing dead-lettered, nothing double-counted."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
import redis

import tritonclient.http as httpclient

from stream.kafka_admin import ensure_topics
from tests.conftest import serve_bundle, unserve
from tests.stream.conftest import WorkerEnv, free_port

pytestmark = pytest.mark.stack
MAX_BATCH = 16


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        lines = [l for l in r.read().decode().splitlines() if l.startswith(name)]
    return sum(float(l.split()[-1]) for l in lines)


def _health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:  # 503 while a check fails
        return json.loads(e.read())


def _wait(pred, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class AppendOnlyRedis:
    """A Redis of this test's own with an fsync-always append-only file, so a restart keeps what was counted."""

    def __init__(self, d):
        self.port, self.dir, self.proc = free_port(), d, None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(self._pings, 10, "redis")

    def _pings(self) -> bool:
        try:
            return redis.Redis(port=self.port, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def test_redis_outage_pauses_and_loses_nothing(stack, served, tmp_path):
    r = AppendOnlyRedis(tmp_path)
    r.start()
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    totals = f"{env.redis_prefix}totals"
    client = redis.Redis(port=r.port, decode_responses=True)
    try:
        _, port = env.start_worker(tmp_path, EMOSTREAM_REDIS_URL=f"redis://127.0.0.1:{r.port}/0",
                                   EMOSTREAM_MAX_BATCH=str(MAX_BATCH), EMOSTREAM_RETRY_MAX_BACKOFF_S="1")
        before = [{"id": f"a{i}-{env.uid}", "text": f"calm quiet lake {i}", "tags": ["lake"]} for i in range(40)]
        env.produce(before)
        _wait(lambda: int(client.hget(totals, "posts") or 0) == len(before), 90, "the first posts counted")

        r.stop()
        during = [{"id": f"b{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun"]} for i in range(200)]
        env.produce(during)
        _wait(lambda: _metric(port, 'emostream_dependency_retries_total{dependency="redis"}') >= 3, 60,
              "the worker retrying Redis")
        # Paused: the batch it holds may be published (publish comes before the aggregates), nothing after it.
        published = {rec["id"] for rec in env.collect("out", 10**6, timeout_s=3)}
        assert len(published - {p["id"] for p in before}) <= MAX_BATCH, "consumption should pause while Redis is down"

        r.start()
        everything = {p["id"] for p in before + during}
        out = env.collect("out", 10**6, timeout_s=120, ids=everything)
        assert everything <= {rec["id"] for rec in out}, "posts lost across the Redis outage"
        _wait(lambda: int(client.hget(totals, "posts") or 0) >= len(everything), 60, "all posts counted")
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
        _wait(lambda: _metric(port, 'emostream_dependency_retries_total{dependency="triton"}') >= 3, 60,
              "the worker retrying Triton")
        _wait(lambda: _health(port).get("triton_ready") is False, 30, "/health to report Triton not ready")
        assert len(env.collect("out", 10**6, timeout_s=3)) == len(before), "nothing can be labelled without the model"

        triton.load_model(ensemble)
        ids = {p["id"] for p in during}
        out = [rec for rec in env.collect("out", 10**6, timeout_s=90, ids=ids) if rec["id"] in ids]
        assert {rec["id"] for rec in out} == ids, "posts lost across the Triton outage"
        assert {rec["head"] for rec in out} == {"text_tags"}
        assert not env.collect("dlq", 1, timeout_s=2), "a down dependency must not make dead letters"
        _wait(lambda: _health(port).get("triton_ready") is True, 30, "/health to report Triton ready again")
    finally:
        env.stop()
        triton.close()
        unserve(stack, prefix)
