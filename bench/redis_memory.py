"""Redis memory per labelled post: the aggregator's scripts applied to N distinct posts on a fresh redis-server,
bytes per post from INFO memory, and which keys hold them (the `seen` markers dominate; their TTL bounds them); and
the drill-down series (every tag is a key; the EMOSTREAM_TRACKED_MAX with the most posts get buckets): bytes per key
and per key bucket.

Each of --repeat rounds (3) on its own fresh server; median (min-max).

python -m bench.redis_memory [--posts 100000] [--repeat 3]      (results: artifacts/bench/redis_memory.json)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time

import redis
import redis.asyncio as aioredis

from contracts.labels import EMOTIONS
from devstack.proc import free_port
from stream.aggregates import Aggregates, LabelledPost
from stream.settings import Settings

from .common import add_repeat, repeated, stat, write_result


def _post(i: int, rng: random.Random) -> LabelledPost:
    rec = {
        "id": f"post-{i:09d}",
        "emotion": rng.choice(EMOTIONS),
        "sentiment": "positive",
        "sentiment_score": 0.9,
        "head": "text_tags",
        "tags": [f"tag{rng.randrange(5000)}" for _ in range(3)],
        "degraded": [],
        "emotion_scores": {e: 0.1 for e in EMOTIONS},
        "modalities": ["text", "tags"],
        "model_version": "v",
        "latency_ms": 12.0,
        "processed_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - rng.randrange(3600))),
    }
    return LabelledPost.from_record(json.dumps(rec).encode())


async def _fill(port: int, n: int, tracked_max: int) -> None:
    client = aioredis.Redis(port=port)
    agg = Aggregates(Settings(tracked_max=tracked_max), client)
    rng = random.Random(0)
    for start in range(0, n, 1000):
        await agg.apply([_post(i, rng) for i in range(start, min(n, start + 1000))], [])
    await client.aclose()


def measure(posts: int, tracked_max: int) -> dict:
    """On a fresh redis-server: `posts` distinct labelled posts applied by the aggregator's scripts, with the drill-down
    of `tracked_max` keys (0: none)."""
    port, d = free_port(), tempfile.mkdtemp()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d],
        stdout=subprocess.DEVNULL,
    )
    r = redis.Redis(port=port)
    try:
        for _ in range(50):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        before = r.info("memory")["used_memory"]
        t0 = time.perf_counter()
        asyncio.run(_fill(port, posts, tracked_max))
        seconds = time.perf_counter() - t0
        used = r.info("memory")["used_memory"] - before
        prefix = Settings().redis_prefix
        seen_bytes = sum(r.memory_usage(k) or 0 for k in r.scan_iter(match=f"{prefix}seen:*", count=1000))
        buckets = list(r.scan_iter(match=f"{prefix}key:*", count=1000))
        drill_bytes = sum(r.memory_usage(k) or 0 for k in buckets) + (r.memory_usage(f"{prefix}keys") or 0)
        series = {k.rsplit(b":", 1)[0] for k in buckets}
        out = {
            "bytes_per_post": used / posts,
            "seen_bytes_per_post": seen_bytes / posts,
            "keys": r.dbsize(),
            "posts_per_s": posts / seconds,
            # drill-down (every tag is a key): the keys that got a series, their buckets, bytes per key and per bucket
            "drill_down_keys": len(series),
            "drill_down_buckets": len(buckets),
            "drill_down_bytes": drill_bytes,
            "drill_down_bytes_per_key": drill_bytes / max(1, len(series)),
            "drill_down_bytes_per_bucket": drill_bytes / max(1, len(buckets)),
        }
        print(
            f"  round: {out['bytes_per_post']:.0f} bytes/post, applied at {out['posts_per_s']:.0f}/s; drill-down "
            f"{len(series)} keys, {len(buckets)} buckets, {drill_bytes / 2**20:.1f} MiB",
            flush=True,
        )
        return out
    finally:
        proc.terminate()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=100_000)
    add_repeat(ap)
    args = ap.parse_args(argv)
    default = Settings().tracked_max
    rounds = []
    for i in range(args.repeat):  # with and without the drill-down, side by side, the order alternating
        order = (0, default) if i % 2 == 0 else (default, 0)
        got = {n: measure(args.posts, n) for n in order}
        rounds.append(
            {
                **got[default],
                "without_drill_down": got[0],
                "drill_down_bytes_per_post": got[default]["bytes_per_post"] - got[0]["bytes_per_post"],
                "drill_down_speed_ratio": got[default]["posts_per_s"] / got[0]["posts_per_s"],
            }
        )
    r = repeated(rounds)
    ttl = Settings().seen_ttl_s
    print(
        f"{args.posts} posts, median (min-max) of {args.repeat}: {stat(r['bytes_per_post'], 0)} bytes/post in Redis "
        f"({stat(r['seen_bytes_per_post'], 0)} of them in seen markers, TTL {ttl} s), {r['keys']['median']:.0f} keys; "
        f"applied at {stat(r['posts_per_s'], 0)} posts/s"
    )
    print(
        f"drill-down (EMOSTREAM_TRACKED_MAX {Settings().tracked_max}): {stat(r['drill_down_keys'], 0)} keys with a "
        f"series, {stat(r['drill_down_buckets'], 0)} buckets, {stat(r['drill_down_bytes_per_key'], 0)} bytes per key, "
        f"{stat(r['drill_down_bytes_per_bucket'], 0)} bytes per key bucket; it adds "
        f"{stat(r['drill_down_bytes_per_post'], 0)} bytes per post and applies at "
        f"{stat(r['drill_down_speed_ratio'], 2)}x the speed without it "
        f"({stat(r['without_drill_down']['posts_per_s'], 0)} posts/s)"
    )
    write_result("redis_memory", {"posts": args.posts, "seen_ttl_s": ttl, "repeat": args.repeat, **r})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
