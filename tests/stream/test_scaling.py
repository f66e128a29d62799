"""Two workers in one consumer group over a 4-partition topic; SIGKILL one mid-stream: every post still comes out."""

from __future__ import annotations

import os
import signal
import time

import pytest

from stream.kafka_admin import ensure_topics
from tests.helpers.stream import WorkerEnv, worker_metric

pytestmark = pytest.mark.stack
POSTS_IN = "emostream_posts_in_total"


def test_two_workers_and_a_killed_one_lose_nothing(stack, served, tmp_path):
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    try:
        first, p1 = env.start_worker(tmp_path, EMOSTREAM_MAX_BATCH="16")
        second, p2 = env.start_worker(tmp_path, EMOSTREAM_MAX_BATCH="16")
        time.sleep(5)  # let the group settle with both members
        posts = [
            {"id": f"s{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun", f"t{i % 7}"]}
            for i in range(600)
        ]
        env.produce(posts[:300])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(env.collect("out", 10**6, timeout_s=1)) < 60:
            time.sleep(0.5)
        assert worker_metric(p1, POSTS_IN) > 0 and worker_metric(p2, POSTS_IN) > 0, "both workers should own partitions"
        os.killpg(first.pid, signal.SIGKILL)  # mid-stream, no shutdown
        env.produce(posts[300:])
        ids = {p["id"] for p in posts}
        out = env.collect("out", 10**6, timeout_s=180, ids=ids)
        missing = ids - {r["id"] for r in out}
        assert not missing, f"{len(missing)} posts lost, e.g. {sorted(missing)[:5]}"
        assert second.poll() is None
    finally:
        env.stop()
