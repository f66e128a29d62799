"""The aggregator's Lua scripts against a bare redis-server in cluster mode (one node holding every slot): a script
touching keys of two hash slots fails here as it would on Redis Cluster."""

import asyncio
import json
import subprocess
import time

import pytest
import redis
import redis.asyncio as aioredis

from contracts.redis_keys import RedisKeys
from devstack.proc import free_port
from stream.aggregates import Aggregates, DeadLetterSeen, LabelledPost
from stream.schemas import iso
from stream.settings import Settings
from tests.helpers.services import wait_for


@pytest.fixture(scope="module")
def cluster_node(tmp_path_factory):
    d, port = tmp_path_factory.mktemp("redis-cluster"), free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-port",  # default: port + 10000, past 65535 for many ephemeral ports
            str(free_port()),
            "--cluster-config-file",
            str(d / "nodes.conf"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(d),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    r = redis.Redis(port=port)
    wait_for(lambda: r.ping(), 10, "redis")
    r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    wait_for(lambda: b"cluster_state:ok" in r.execute_command("CLUSTER", "INFO"), 15, "cluster state ok")
    yield port
    proc.terminate()
    proc.wait(10)


def record(i, emotion="awe", tags=("a",), degraded=(), **fields) -> dict:
    """A complete output record, as a worker writes it."""
    return {
        "id": f"p{i}",
        "emotion": emotion,
        "emotion_scores": {emotion: 0.9},
        "sentiment": "positive",
        "sentiment_score": 0.8,
        "modalities": ["text"],
        "head": "text",
        "tags": list(tags),
        "meta": {"x": 1},
        "degraded": [{"modality": m, "reason": r} for m, r in degraded],
        "model_version": "v1",
        "processed_at": iso(time.time()),
        "latency_ms": 3.0,
        **fields,
    }


def post(i, emotion="awe", tags=("a",), degraded=(), **fields):
    return LabelledPost.from_record(json.dumps(record(i, emotion, tags, degraded, **fields)).encode())


def dead_letter(offset, reason="bad_json"):
    rec = {
        "reason": reason,
        "stage": "parse",
        "error": "x",
        "at": iso(time.time()),
        "source": {"topic": "posts", "partition": 1, "offset": offset},
    }
    return DeadLetterSeen.from_record(json.dumps(rec).encode())


def apply(port, prefix, posts, dead=(), **settings):
    async def go():
        client = aioredis.Redis(port=port)
        try:
            return await Aggregates(Settings(redis_prefix=prefix, **settings), client).apply(list(posts), list(dead))
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_counts_once_per_post_and_per_dead_offset(cluster_node):
    k, r = RedisKeys("{t1}:"), redis.Redis(port=cluster_node, decode_responses=True)
    dl = dead_letter(7)
    assert (
        apply(cluster_node, k.prefix, [post(1, degraded=[("image", "http_404")]), post(2, "fear", ("a", "b"))], [dl])
        == [True] * 3
    )
    assert apply(cluster_node, k.prefix, [post(1), post(2, "fear")], [dl]) == [False] * 3  # redelivered: skipped
    totals = r.hgetall(k.totals)
    assert totals == {
        "posts": "2",
        "emotion:awe": "1",
        "emotion:fear": "1",
        "sentiment:positive": "2",
        "head:text": "2",
        "degraded:image:http_404": "1",
        "dead:bad_json": "1",
    }
    assert r.zscore(k.top("fear"), "b") == 1 and r.zscore(k.top("awe"), "a") == 1
    assert "meta" not in json.loads(r.xrevrange(k.recent, count=1)[0][1]["json"])
    assert 0 < r.ttl(k.seen("p1")) <= Settings().seen_ttl_s and r.ttl(k.seen_dead("posts:1:7")) > 0


def test_a_prefix_without_hash_tag_is_refused_in_cluster_mode(cluster_node):
    (outcome,) = apply(cluster_node, "plain:", [post(1)])
    assert isinstance(outcome, redis.exceptions.ResponseError) and "same slot" in str(outcome)


def test_a_post_id_cannot_take_a_dead_letters_marker(cluster_node):
    """A post whose id spells a dead letter's reference counts apart from that dead letter (their own key kinds)."""
    k = RedisKeys("{t6}:")
    sneaky = post(0, id="dlq:posts:1:5")
    assert apply(cluster_node, k.prefix, [sneaky]) == [True]
    assert apply(cluster_node, k.prefix, [], [dead_letter(5)]) == [True]
    assert k.seen("dlq:posts:1:5") != k.seen_dead("posts:1:5")


def test_records_that_are_not_ours_are_refused_before_redis():
    for bad in (
        record(1, head=None),
        {**record(1), "emotion": ["x"]},
        {k: v for k, v in record(1).items() if k != "sentiment"},
        "not json",
        [1, 2],
    ):
        with pytest.raises(ValueError):
            LabelledPost.from_record((bad if isinstance(bad, str) else json.dumps(bad)).encode())
    with pytest.raises(ValueError):
        DeadLetterSeen.from_record(b'{"reason": "x", "at": "now"}')  # no source


def test_a_full_redis_is_waited_for_a_records_own_error_is_not(cluster_node):
    from stream.aggregates import RedisBusy

    k, r = RedisKeys("{t7}:"), redis.Redis(port=cluster_node)
    r.config_set("maxmemory", "1")
    try:
        with pytest.raises(RedisBusy, match="OutOfMemory"):
            apply(cluster_node, k.prefix, [post(1)])
    finally:
        r.config_set("maxmemory", "0")
    r.set(k.top("awe"), "a string, not a sorted set")  # a key of the wrong type: Redis refuses that record's script
    out = apply(cluster_node, k.prefix, [post(2), post(3, "fear")])
    assert isinstance(out[0], redis.exceptions.ResponseError) and "WRONGTYPE" in str(out[0]) and out[1] is True


def test_buckets_follow_the_records_time_and_expire(cluster_node):
    k, r = RedisKeys("{t2}:"), redis.Redis(port=cluster_node, decode_responses=True)
    apply(cluster_node, k.prefix, [post(1)], bucket_s=10, bucket_ttl_s=60)
    t = int(LabelledPost.from_record(json.dumps(record("x")).encode()).at) // 10 * 10
    assert r.hget(k.bucket(t), "posts") == "1" and 0 < r.ttl(k.bucket(t)) <= 70 and r.hget(k.bucket(t), "late") is None


def test_event_time_late_posts_and_expired_buckets(cluster_node):
    """Buckets are the posts' created_at: a day-old post lands a day back, counted late there, and its bucket lives
    as long as its time says; a post older than the buckets live counts in the totals only; the future is now."""
    k, r = RedisKeys("{t8}:"), redis.Redis(port=cluster_node, decode_responses=True)
    now = time.time()
    day_old, too_old = iso(now - 86400), iso(now - 3 * 86400)
    posts = [post(1, created_at=day_old), post(2, "fear", created_at=too_old), post(3, created_at=iso(now + 3600))]
    assert apply(cluster_node, k.prefix, posts, bucket_s=10, bucket_ttl_s=2 * 86400) == [True] * 3
    past = int(now - 86400) // 10 * 10
    assert r.hgetall(k.bucket(past)) == {"posts": "1", "awe": "1", "positive": "1", "late": "1"}
    assert 86400 - 30 < r.ttl(k.bucket(past)) <= 86400 + 10 and r.zscore(k.buckets, str(past)) == past
    assert not any(r.exists(k.bucket(int(now - 3 * 86400) // 10 * 10 + d)) for d in (-10, 0, 10))
    future_clamped = int(posts[2].at) // 10 * 10
    assert posts[2].at <= time.time() and r.hget(k.bucket(future_clamped), "posts") == "1"
    totals = r.hgetall(k.totals)
    assert totals["posts"] == "3" and totals["emotion:fear"] == "1"  # the too-old post is still counted in totals
    assert totals["late:in_bucket"] == "1" and totals["late:expired"] == "1"


def test_top_tags_and_recent_are_capped(cluster_node):
    k, r = RedisKeys("{t3}:"), redis.Redis(port=cluster_node, decode_responses=True)
    apply(cluster_node, k.prefix, [post(i, tags=[f"tag{i}"]) for i in range(300)], top_tags_max=50, recent_max=20)
    assert r.zcard(k.top("awe")) <= 55 and r.xlen(k.recent) <= 120  # XADD ~ trims by whole macro nodes (100)


def test_bytes_per_post_stay_bounded(cluster_node):
    """Memory of 5,000 distinct posts with 3 tags each from a small vocabulary: the seen markers dominate."""
    k, r = RedisKeys("{t4}:"), redis.Redis(port=cluster_node)
    before = r.info("memory")["used_memory"]
    for start in range(0, 5000, 500):
        apply(
            cluster_node, k.prefix, [post(i, tags=[f"t{i % 50}", f"u{i % 7}", "x"]) for i in range(start, start + 500)]
        )
    per_post = (r.info("memory")["used_memory"] - before) / 5000
    assert per_post < 200, f"{per_post:.0f} bytes per post"


def test_heartbeat_registry_without_scan(cluster_node):
    k, r = RedisKeys("{t5}:"), redis.Redis(port=cluster_node, decode_responses=True)

    async def go():
        client = aioredis.Redis(port=cluster_node)
        await Aggregates(Settings(redis_prefix=k.prefix), client).heartbeat("w1", {"posts_in": 3}, lag=5)
        await client.aclose()

    asyncio.run(go())
    assert r.zscore(k.workers, "w1") == pytest.approx(time.time(), abs=5) and r.hget(k.worker("w1"), "posts_in") == "3"
    assert 0 < r.ttl(k.worker("w1")) <= 30 and r.hget(k.lag, "total") == "5"


def test_neutral_counts_once_in_its_bucket_and_disagreements_are_counted(cluster_node):
    k, r = RedisKeys("{t9}:"), redis.Redis(port=cluster_node, decode_responses=True)
    opinions = {"image": {"emotion": "awe", "score": 0.7}, "text": {"emotion": "sadness", "score": 0.6}}
    neutral = post(1, "neutral", sentiment="neutral", sentiment_score=0.9, neutral_score=0.9)
    split = post(2, "awe", opinions=opinions, disagreement=True)
    assert apply(cluster_node, k.prefix, [neutral, split, post(3, "fear")]) == [True] * 3
    totals = r.hgetall(k.totals)
    assert totals["emotion:neutral"] == "1" and totals["sentiment:neutral"] == "1" and totals["disagreements"] == "1"
    (start,) = r.zrange(k.buckets, 0, -1)
    bucket = r.hgetall(k.bucket(int(start)))
    assert bucket["neutral"] == "1" and bucket["posts"] == "3" and bucket["disagreements"] == "1"


def test_drill_down_keys_get_series_up_to_the_cap(cluster_node):
    """Every tag and tracked meta value is counted in `keys`; only the EMOSTREAM_TRACKED_MAX keys with the most posts
    get their buckets (posts, emotion, sentiment; neutral once), which expire; untracked meta fields are not keys."""
    k, r = RedisKeys("{drill}:"), redis.Redis(port=cluster_node, decode_responses=True)
    opts = {"track_meta": "brand", "tracked_max": 2}
    brand = {"meta": {"brand": "Acme", "source": "web", "nested": {"x": 1}}}
    posts = [post(i, "anger", ("hot", "news"), **brand) for i in range(3)] + [post(9, "awe", ("rare",))]
    posts.append(post(10, "neutral", ("hot",), sentiment="neutral"))
    assert apply(cluster_node, k.prefix, posts, **opts) == [True] * 5
    volume = dict(r.zrevrange(k.keys, 0, -1, withscores=True))
    assert volume == {"tag:hot": 4, "tag:news": 3, "brand:Acme": 3, "tag:rare": 1}
    assert "source:web" not in volume and not any(x.startswith("nested") for x in volume)
    series = {key: {} for key in volume}
    for name in r.scan_iter(match=k.prefix + "key:*"):
        key = name[len(k.prefix) + 4 : name.rindex(":")]
        series[key] = r.hgetall(name)
        assert 0 < r.ttl(name) <= Settings().key_bucket_s + Settings().key_bucket_ttl_s
    # the cap: the two keys with the most posts at each write (a key entering the top later starts then)
    assert series["tag:hot"] == {"posts": "4", "anger": "3", "positive": "3", "neutral": "1"}  # sentiment as recorded
    assert series["tag:news"] == {"posts": "3", "anger": "3", "positive": "3"}
    assert series["brand:Acme"] == {} and series["tag:rare"] == {}  # third and fourth by posts: over the cap of 2
    apply(cluster_node, k.prefix, [post(20 + i, "fear", **brand) for i in range(3)], **opts)  # brand now leads
    buckets = [n for n in r.scan_iter(match=k.prefix + "key:brand:Acme:*")]
    assert len(buckets) == 1 and r.hgetall(buckets[0])["fear"] == "3"


def test_no_drill_down_when_tracked_max_is_zero(cluster_node):
    k, r = RedisKeys("{nodrill}:"), redis.Redis(port=cluster_node, decode_responses=True)
    assert apply(cluster_node, k.prefix, [post(1, tags=("hot",))], tracked_max=0) == [True]
    assert not r.exists(k.keys) and not list(r.scan_iter(match=k.prefix + "key:*"))
    assert r.hget(k.totals, "posts") == "1"
