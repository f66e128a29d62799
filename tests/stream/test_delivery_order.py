"""Batches that finish out of order lose nothing: on one partition a post whose image is slow, then a fast text post
that is labelled first. With the worker's defaults (two micro-batches at once) the group's committed offset must stay
at the slow post while it downloads; the worker is SIGKILLed then, and a replacement labels both."""

from __future__ import annotations

import os
import signal
import time

import pytest
from kafka import KafkaAdminClient

from stream.kafka_admin import ensure_topics
from tests.helpers.stream import ImageHandler, WorkerEnv

pytestmark = pytest.mark.stack
# EMOSTREAM_TEST_REPEAT=20 runs it 20 times in a row (the bar)
COMMIT_WATCH_S = 2.5  # the worker commits every second: watch a couple of commits while the slow post is in progress


def committed(stack, group: str, topic: str) -> int | None:
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return next(
        (om.offset for tp, om in offsets.items() if tp.topic == topic and tp.partition == 0 and om.offset >= 0), None
    )


@pytest.mark.parametrize("run", range(int(os.environ.get("EMOSTREAM_TEST_REPEAT", "1"))))
def test_a_fast_post_does_not_commit_past_a_slow_one(stack, served, image_server, demo_bundle, tmp_path, run):
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 1)
    group = f"emostream-{env.uid}"
    image = sorted((demo_bundle.manifest.parent / "images").iterdir())[0].name
    # the worker's defaults but for the test harness's addresses and topics, and the image timeout put back to its
    # default (the harness shortens it)
    defaults = {"EMOSTREAM_PARTITIONS": "1", "EMOSTREAM_IMAGE_TIMEOUT_S": "8.0"}
    first = [{"id": f"n{i}-{env.uid}", "text": f"sunny beach day {i}", "tags": ["sun"]} for i in range(10)]
    slow = {"id": f"S-{env.uid}", "text": "a calm evening", "image_url": f"{image_server}/hold/{env.uid}/{image}"}
    fast = {"id": f"F-{env.uid}", "text": "storm night"}
    try:
        proc, _ = env.start_worker(tmp_path, **defaults)
        env.produce(first)
        assert len(env.collect("out", 10, ids={p["id"] for p in first})) >= 10
        env.produce([slow])
        time.sleep(0.5)  # the shape: F arrives while S's image is downloading
        env.produce([fast])
        out = env.collect("out", 10**6, timeout_s=30, ids={p["id"] for p in first} | {fast["id"]})
        assert fast["id"] in {r["id"] for r in out}, "the fast post was not labelled"
        seen = []
        deadline = time.monotonic() + COMMIT_WATCH_S
        while time.monotonic() < deadline:
            seen.append(committed(stack, group, env.topics["posts"]))
            time.sleep(0.25)
        assert slow["id"] not in {r["id"] for r in env.collect("out", 10**6, timeout_s=3)}, "S finished too early"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        print(f"committed offsets while S (offset 10) downloaded: {sorted(set(seen), key=str)}")
        assert all(c is None or c <= 10 for c in seen), f"committed past the slow post: {seen}"

        ImageHandler.release(env.uid)
        env.start_worker(tmp_path, **defaults)
        ids = {p["id"] for p in first} | {slow["id"], fast["id"]}
        out = env.collect("out", 10**6, timeout_s=60, ids=ids)
        by_id = {r["id"]: r for r in out}
        assert ids <= set(by_id), f"lost: {sorted(ids - set(by_id))}"
        assert "image" in by_id[slow["id"]]["modalities"], by_id[slow["id"]]["degraded"]
        assert not env.collect("dlq", 1, timeout_s=2)
    finally:
        ImageHandler.release(env.uid)
        env.stop()
