"""Workers killed on a schedule while posts stream in (SIGTERM and SIGKILL alternating, a replacement started each
time, as Faust's own stress tests do): afterwards every post is on the output topic and counted once in Redis. One
post in five has an image that answers after 0.1-1.2 s, so batches finish out of order whenever a kill lands."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
import redis

from stream.kafka_admin import ensure_topics
from tests.helpers.services import wait_for
from tests.helpers.stream import WorkerEnv

pytestmark = pytest.mark.stack
POSTS = 1200
RATE = 25.0  # posts/s: the stream lasts ~48 s, across every kill


def test_workers_killed_on_a_schedule_lose_and_double_count_nothing(stack, served, image_server, demo_bundle, tmp_path):
    rng = random.Random(7)
    env = WorkerEnv(stack, served.bundle_path, served.prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 4)
    images = sorted(p.name for p in (demo_bundle.manifest.parent / "images").iterdir())
    posts = [
        {
            "id": f"c{i}-{env.uid}",
            "text": f"storm night number {i}" if i % 2 else f"sunny beach {i}",
            "tags": ["chaos", f"t{i % 5}"],
        }
        for i in range(POSTS)
    ]
    for post in posts[::5]:  # slow images: a batch holding one finishes after the batches behind it
        post["image_url"] = f"{image_server}/delay/{rng.randrange(100, 1200)}/{rng.choice(images)}"

    def produce():
        t0 = time.monotonic()
        for i in range(0, POSTS, 25):
            env.produce(posts[i : i + 25])
            time.sleep(max(0.0, t0 + (i + 25) / RATE - time.monotonic()))

    try:
        alive = [env.start_worker(tmp_path, EMOSTREAM_MAX_BATCH="16")[0] for _ in range(2)]
        producer = threading.Thread(target=produce)
        producer.start()
        kills = []
        for n in range(4):
            time.sleep(rng.uniform(3, 8))
            victim = alive.pop(rng.randrange(len(alive)))
            sig = signal.SIGTERM if n % 2 == 0 else signal.SIGKILL
            os.killpg(victim.pid, sig)
            kills.append(sig.name)
            alive.append(env.start_worker(tmp_path, EMOSTREAM_MAX_BATCH="16")[0])
        producer.join()
        assert kills == ["SIGTERM", "SIGKILL", "SIGTERM", "SIGKILL"]

        ids = {p["id"] for p in posts}
        out = env.collect("out", 10**6, timeout_s=240, ids=ids)
        missing = ids - {r["id"] for r in out}
        assert not missing, f"{len(missing)} posts lost, e.g. {sorted(missing)[:5]}"
        print(f"chaos: {len(out)} output records for {POSTS} posts ({len(out) - POSTS} re-deliveries), kills {kills}")
        totals = f"{env.redis_prefix}totals"
        r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        wait_for(lambda: int(r.hget(totals, "posts") or 0) >= POSTS, 60, "every post counted")
        time.sleep(2)  # a double count would show up here
        assert int(r.hget(totals, "posts") or 0) == POSTS, f"{len(out)} output records (re-deliveries included)"
        assert not env.collect("dlq", 1, timeout_s=2)
        assert all(p.poll() is None for p in alive), "the surviving workers should still run"
    finally:
        env.stop()
