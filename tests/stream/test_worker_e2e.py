"""Posts through the real worker, Kafka, Triton and Redis: heads, parity, degraded images, dead letters, aggregates."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections import Counter

import pytest
import redis

from contracts.combos import COMBO_NAMES
from contracts.redis_keys import RedisKeys
from core.imaging import decode_image
from model.bundle import load_bundle
from stream.kafka_admin import ensure_topics
from tests.helpers.services import serve_bundle, unserve, wait_for
from tests.helpers.stream import WorkerEnv, worker_health, worker_metric

pytestmark = pytest.mark.stack


def _posts_all_combos(env, image_server, images):
    posts = []
    for i, combo in enumerate(COMBO_NAMES * 2):
        post = {"id": f"c{i}-{env.uid}", "source": "test"}
        if "image" in combo:
            post["image_url"] = f"{image_server}/img/{images[i % len(images)].name}"
        if "text" in combo:
            post["text"] = ["A happy party with music", "Fear and danger, a warning of fire"][i % 2]
        if "tags" in combo:
            post["tags"] = [["#funny", "amusement", "photo"], ["fear", "bw"]][i % 2]
        posts.append((combo, post))
    return posts


def test_all_combinations_right_head_and_parity(pipeline_env, image_server, demo_bundle):
    env = pipeline_env
    images = sorted((demo_bundle.manifest.parent / "images").glob("*.jpg"))[:5]
    posts = _posts_all_combos(env, image_server, images)
    env.produce([p for _, p in posts])
    out = {r["id"]: r for r in env.collect("out", len(posts)) if r["id"].endswith(env.uid)}
    assert len(out) == len(posts)
    bundle = load_bundle(demo_bundle.bundle_path)
    for combo, post in posts:
        r = out[post["id"]]
        assert r["head"] == combo and r["modalities"] == combo.split("_") and r["degraded"] == []
        assert abs(sum(r["emotion_scores"].values()) - 1) < 1e-4 and r["model_version"] == bundle.version
        assert r["meta"] == {"source": "test"} and r["latency_ms"] > 0
        image = None
        if "image_url" in post:
            image = decode_image(
                (demo_bundle.manifest.parent / "images" / post["image_url"].rsplit("/", 1)[1]).read_bytes(),
                bundle.image_size,
            )
        want = bundle.predict({"text": post.get("text"), "tags": post.get("tags"), "image": image})
        assert r["emotion"] == want["emotion"] and r["sentiment"] == want["sentiment"]
        assert (r["neutral_score"] is None) == (want["neutral_score"] is None)
        assert r["neutral_score"] is None or abs(r["neutral_score"] - want["neutral_score"]) < 1e-4
        for k, v in want["emotion_scores"].items():
            assert abs(r["emotion_scores"][k] - v) < 1e-4


@pytest.mark.parametrize(
    "path,reason",
    [
        ("/missing.jpg", "http_404"),
        ("/slow.jpg", "timeout"),
        ("/big.jpg", "too_large"),
        ("/text.jpg", "not_an_image"),
        ("/to-private.jpg", "blocked_address"),
    ],
)
def test_image_failures_degrade_to_the_other_modalities(pipeline_env, image_server, path, reason):
    env = pipeline_env
    pid = f"deg-{reason}-{env.uid}"
    env.produce([{"id": pid, "image_url": image_server + path, "text": "calm home", "tags": ["peace"]}])
    rec = next(r for r in env.collect("out", 10**6, timeout_s=30, ids=[pid]) if r["id"] == pid)
    assert rec["head"] == "text_tags" and rec["modalities"] == ["text", "tags"]
    assert rec["degraded"] == [{"modality": "image", "reason": reason}]


def test_private_address_refused_without_connecting(pipeline_env):
    env = pipeline_env
    pid = f"private-{env.uid}"
    env.produce([{"id": pid, "image_url": "http://10.255.255.1/cat.jpg", "tags": ["cat"]}])
    rec = next(r for r in env.collect("out", 10**6, timeout_s=30, ids=[pid]) if r["id"] == pid)
    assert rec["head"] == "tags" and rec["degraded"] == [{"modality": "image", "reason": "blocked_address"}]


def test_malformed_posts_go_to_the_dlq_and_the_worker_keeps_going(pipeline_env):
    env = pipeline_env
    bad = [
        b"{not json",
        json.dumps({"id": "nomod-" + env.uid}).encode(),
        json.dumps([1, 2]).encode(),
        json.dumps({"id": "types-" + env.uid, "text": 42, "tags": "notalist"}).encode(),
        json.dumps({"id": "big-" + env.uid, "text": "x" * 20000}).encode(),
        json.dumps({"id": "url-" + env.uid, "image_url": "file:///etc/passwd"}).encode(),
        b"\xff\xfe",
    ]
    env.produce(bad + [{"id": "after-" + env.uid, "text": "still alive"}])
    dead = env.collect("dlq", len(bad), timeout_s=30)
    reasons = {(d.get("original") or d.get("original_base64"))[:20]: d["reason"] for d in dead}
    assert len(dead) == len(bad)
    assert reasons["{not json"] == "bad_json"
    assert reasons[json.dumps({"id": "nomod-" + env.uid})[:20]] == "invalid"
    assert reasons["[1, 2]"] == "not_an_object"
    assert reasons[json.dumps({"id": "types-" + env.uid, "text": 42})[:20]] == "invalid"
    assert reasons[json.dumps({"id": "big-" + env.uid})[:20]] == "too_large"
    assert all(d["stage"] in ("parse", "validate") and d["error"] and d["at"] for d in dead)
    assert any(r["id"] == "after-" + env.uid for r in env.collect("out", 10**6, timeout_s=30, ids=["after-" + env.uid]))
    for proc in env.procs:
        assert proc.poll() is None


def test_redis_aggregates_match_outputs_and_replay_is_idempotent(pipeline_env, stack):
    env = pipeline_env
    posts = [
        {"id": f"agg{i}-{env.uid}", "text": t, "tags": tags}
        for i, (t, tags) in enumerate(
            [("happy party", ["fun", "party"]), ("angry protest", ["news"]), ("calm home family #home", None)] * 10
        )
    ]
    env.produce(posts)
    ids = {p["id"] for p in posts}
    got = [r for r in env.collect("out", 10**6, timeout_s=30, ids=ids) if r["id"] in ids]
    assert {r["id"] for r in got} == ids
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    keys = RedisKeys(env.redis_prefix)

    def truth() -> Counter:
        """What Redis must hold: every distinct post id this worker output and every dead letter, by kind."""
        t = Counter()
        for rec in {x["id"]: x for x in env.collect("out", 10**6, timeout_s=2)}.values():
            t.update(["posts", f"emotion:{rec['emotion']}", f"sentiment:{rec['sentiment']}", f"head:{rec['head']}"])
            t.update(f"degraded:{d['modality']}:{d['reason']}" for d in rec["degraded"])
            t.update(["disagreements"] if rec["disagreement"] else [])
        t.update(f"dead:{d['reason']}" for d in env.collect("dlq", 10**6, timeout_s=2))
        return t

    want = truth()
    wait_for(
        lambda: {k: int(v) for k, v in r.hgetall(keys.totals).items()} == dict(want), 30, "Redis totals == outputs"
    )
    tag_counts = Counter()
    for rec in {x["id"]: x for x in env.collect("out", 10**6, timeout_s=2)}.values():
        tag_counts.update((t, rec["emotion"]) for t in set(rec["tags"]))
    assert (
        "home",
        next(x["emotion"] for x in got if x["id"] == f"agg2-{env.uid}"),
    ) in tag_counts  # a hashtag in the text
    for (tag, emotion), n in tag_counts.items():
        assert r.zscore(keys.top(emotion), tag) == n
    env.produce(posts)  # replay: at-least-once delivery may do this after a crash
    deadline, again = time.monotonic() + 45, []
    while time.monotonic() < deadline and len(again) < 2 * len(ids):
        again = [x for x in env.collect("out", 10**6, timeout_s=2) if x["id"] in ids]
    assert len(again) == 2 * len(ids)  # processed and published again...
    time.sleep(3)  # ...and applied by the aggregator, which must skip them
    assert {k: int(v) for k, v in r.hgetall(keys.totals).items()} == dict(want)
    recent = r.xrevrange(keys.recent, count=1)
    assert recent and "meta" not in json.loads(recent[0][1]["json"])


def test_health_and_metrics(pipeline_env):
    port = pipeline_env.ports[0]
    health = worker_health(port)
    assert health == {
        **health,
        "ok": True,
        "problems": [],
        "kafka_assigned": True,
        "triton_ready": True,
        "waiting_on": None,
    }
    assert (
        health["aggregator"]["running"]
        and health["aggregator"]["waiting_on"] is None
        and health["aggregator"]["applied"] > 0
    )
    assert health["stats"]["posts_in"] > 0 and health["oldest_batch_s"] < 5
    assert worker_metric(port, "emostream_posts_in_total") > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert "emostream_triton_seconds_bucket" in text and "emostream_dead_letters_total{" in text
    assert "emostream_oldest_batch_seconds" in text and worker_metric(port, "emostream_aggregated_total") > 0


def test_structured_logs(pipeline_env):
    lines = [ln for f in pipeline_env.log_dir.glob("worker-*.log") for ln in f.read_text().splitlines() if ln.strip()]
    assert lines
    records = [json.loads(ln) for ln in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "stream.pipeline" and "dead letter" in r["message"] for r in records)


def test_requests_respect_the_served_max_batch_size(stack, demo_bundle, tmp_path):
    """Exported with small batch limits, served to a worker taking 256 posts at a time: every post is labelled
    (a request above Triton's max_batch_size would be rejected and dead-lettered)."""
    prefix = f"mb{uuid.uuid4().hex[:6]}_"
    serve_bundle(stack, demo_bundle.bundle_path, prefix, batch=8, image_batch=4)
    env = WorkerEnv(stack, demo_bundle.bundle_path, prefix)
    ensure_topics(stack.kafka_bootstrap, list(env.topics.values()), 1)
    try:
        posts = [{"id": f"m{i}-{env.uid}", "text": f"happy party number {i}", "tags": ["fun"]} for i in range(60)]
        env.produce(posts)  # queued before the worker starts, so its first micro-batches are large
        env.start_worker(tmp_path, EMOSTREAM_MAX_BATCH="256", EMOSTREAM_MAX_WAIT_S="2")
        ids = {p["id"] for p in posts}
        out = env.collect("out", 10**6, timeout_s=90, ids=ids)
        assert ids <= {r["id"] for r in out}
        assert not env.collect("dlq", 1, timeout_s=2)
    finally:
        env.stop()
        unserve(stack, prefix)
