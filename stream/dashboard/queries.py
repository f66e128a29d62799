"""Reads of the Redis aggregates (contracts/redis_keys.py) into plain JSON-able dicts: the dashboard's JSON API."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from contracts.labels import EMOTIONS, SENTIMENTS
from contracts.redis_keys import RedisKeys

from ..spikes import BASELINE_S, MIN_COUNT, RATIO, SCORE_OPEN, WINDOW_S, report, spikes

__all__ = ["Queries", "SPIKE_MINUTES"]

WORKER_FRESH_S = 30  # a worker whose heartbeat is older is not listed
# what a record can say: the 8 emotions and neutral (the neutral gate, model/neutral.py), counted apart
LABELS = (*EMOTIONS, "neutral")
SENTIMENT_LABELS = (*SENTIMENTS, "neutral")
SPIKE_MINUTES = (WINDOW_S + BASELINE_S) // 60 + 1  # the buckets the spike scores need (the page shows the last 60)


class Queries:
    def __init__(self, client: aioredis.Redis, prefix: str, bucket_s: int, key_bucket_s: int = 60):
        self.r, self.keys, self.bucket_s, self.key_bucket_s = client, RedisKeys(prefix), bucket_s, key_bucket_s

    async def summary(self, series: dict | None = None) -> dict:
        """Totals, rates now (last minute) vs the last hour, dead-letter and degraded rates, workers, lag. `series`:
        a timeseries already read that covers the last hour (the snapshot's), else it is read here."""
        totals = {k.decode(): int(v) for k, v in (await self.r.hgetall(self.keys.totals)).items()}
        now = time.time()
        series = series or await self.timeseries(minutes=60)
        hour = [b for b in series["buckets"] if b["t"] >= now - 3600]
        last_min = [b for b in hour if b["t"] >= now - 60]

        def share(buckets):  # of all posts: the 8 emotions and neutral add up to 1
            n = sum(b["posts"] for b in buckets)
            return {e: (sum(b["emotions"][e] for b in buckets) / n if n else 0.0) for e in LABELS}, n

        share_now, n_now = share(last_min)
        share_hour, n_hour = share(hour)
        names = [n.decode() for n in await self.r.zrangebyscore(self.keys.workers, now - WORKER_FRESH_S, "+inf")]
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.keys.worker(name))
        rows = await pipe.execute() if names else []
        workers = [
            {"name": name, **{k.decode(): float(v) for k, v in h.items()}}
            for name, h in zip(names, rows, strict=True)
            if h
        ]
        lag = {k.decode(): float(v) for k, v in (await self.r.hgetall(self.keys.lag)).items()}
        posts = totals.get("posts", 0)
        return {
            "at": now,
            "totals": {
                "posts": posts,
                "dead_letters": _sum(totals, "dead:"),
                "degraded": _sum(totals, "degraded:"),
                "disagreements": totals.get("disagreements", 0),
                "late": _fields(totals, "late:"),
                "emotions": {e: totals.get(RedisKeys.total_field("emotion", e), 0) for e in LABELS},
                "sentiments": {s: totals.get(RedisKeys.total_field("sentiment", s), 0) for s in SENTIMENT_LABELS},
                "heads": _fields(totals, "head:"),
                "dead_by_reason": _fields(totals, "dead:"),
                "degraded_by_reason": _fields(totals, "degraded:"),
            },
            "rates_per_s": {
                "posts_last_minute": n_now / 60,
                "posts_last_hour": n_hour / 3600,
                "dead_last_minute": sum(b["dead"] for b in last_min) / 60,
                "degraded_last_minute": sum(b["degraded"] for b in last_min) / 60,
                "disagreements_last_minute": sum(b["disagreements"] for b in last_min) / 60,
            },
            "emotion_share": {"last_minute": share_now, "last_hour": share_hour},
            "workers": sorted(workers, key=lambda w: w["name"]),
            "consumer_lag": lag.get("total"),
            "lag_updated": lag.get("updated"),
        }

    async def timeseries(self, minutes: int = 60, end: float | None = None) -> dict:
        """Per event-time bucket counts of emotions (and neutral), sentiments, late posts, disagreements, dead letters
        (processing time) and degraded posts over the `minutes` before `end` (epoch seconds; default now)."""
        end = time.time() if end is None else end
        starts = [int(float(t)) for t in await self.r.zrangebyscore(self.keys.buckets, end - minutes * 60, end)]
        pipe = self.r.pipeline(transaction=False)
        for t in starts:
            pipe.hgetall(self.keys.bucket(t))
        rows = await pipe.execute() if starts else []
        buckets = []
        for t, h in zip(starts, rows, strict=True):
            h = {k.decode(): int(v) for k, v in h.items()}
            buckets.append(
                {
                    "t": t,
                    "posts": h.get("posts", 0),
                    "dead": h.get("dead", 0),
                    "degraded": h.get("degraded", 0),
                    "late": h.get("late", 0),
                    "disagreements": h.get("disagreements", 0),
                    "emotions": {e: h.get(e, 0) for e in LABELS},
                    "sentiments": {s: h.get(s, 0) for s in SENTIMENT_LABELS},
                }
            )
        return {"bucket_s": self.bucket_s, "end": end, "time": "event", "buckets": buckets}

    @staticmethod
    def spikes(series: dict, now: float | None = None) -> dict:
        """stream/spikes.py over a timeseries covering the window and its baseline (SPIKE_MINUTES): per label, its
        window count, rates and spike score, and the open spikes, highest score first."""
        now = time.time() if now is None else now
        per = spikes(series["buckets"], LABELS, now, series["bucket_s"])
        return {
            "at": now,
            "method": {
                "window_s": WINDOW_S,
                "baseline_s": BASELINE_S,
                "min_count": MIN_COUNT,
                "score_open": SCORE_OPEN,
                "ratio": RATIO,
            },
            **report(per),
        }

    async def tracked(self, n: int = 20) -> list[dict]:
        """The drill-down keys with the most posts: [{key, posts}] (`tag:<tag>`, `<meta field>:<value>`)."""
        rows = await self.r.zrevrange(self.keys.keys, 0, n - 1, withscores=True)
        return [{"key": k.decode(), "posts": int(c)} for k, c in rows]

    async def drill_down(self, key: str, minutes: int = 60, end: float | None = None) -> dict:
        """One drill-down key: its buckets over the `minutes` before `end`, their totals, and its spikes (from the
        window and hour before `end`, whatever `minutes` shows). One HGETALL per key bucket of that span."""
        end = time.time() if end is None else end
        per = self.key_bucket_s
        span = max(minutes * 60, WINDOW_S + BASELINE_S)
        starts = list(range(int((end - span) // per * per), int(end) + 1, per))
        pipe = self.r.pipeline(transaction=False)
        for t in starts:
            pipe.hgetall(self.keys.key_bucket(key, t))
        buckets = []
        for t, h in zip(starts, await pipe.execute(), strict=True):
            if h:
                h = {k.decode(): int(v) for k, v in h.items()}
                buckets.append(
                    {
                        "t": t,
                        "posts": h.get("posts", 0),
                        "emotions": {e: h.get(e, 0) for e in LABELS},
                        "sentiments": {x: h.get(x, 0) for x in SENTIMENT_LABELS},
                    }
                )
        shown = [b for b in buckets if b["t"] + per > end - minutes * 60]
        found = spikes(buckets, LABELS, end, per)
        return {
            "key": key,
            "bucket_s": per,
            "end": end,
            "buckets": shown,
            "totals": {
                "posts": sum(b["posts"] for b in shown),
                "emotions": {e: sum(b["emotions"][e] for b in shown) for e in LABELS},
                "sentiments": {x: sum(b["sentiments"][x] for b in shown) for x in SENTIMENT_LABELS},
            },
            "spikes": report(found),
        }

    async def top_tags(self, n: int = 5) -> dict:
        pipe = self.r.pipeline(transaction=False)
        for e in LABELS:
            pipe.zrevrange(self.keys.top(e), 0, n - 1, withscores=True)
        rows = await pipe.execute()
        return {e: [{"tag": t.decode(), "count": int(c)} for t, c in row] for e, row in zip(LABELS, rows, strict=True)}

    async def recent(self, n: int = 30, after: str | None = None) -> list[dict]:
        """Latest results (records without `meta`), newest first; with `after` (a stream id) only the newer ones."""
        rows = await self.r.xrevrange(self.keys.recent, "+", f"({after}" if after else "-", count=n)
        return [{"stream_id": sid.decode(), **json.loads(fields[b"json"])} for sid, fields in rows]


def _fields(totals: dict[str, int], prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in totals.items() if k.startswith(prefix)}


def _sum(totals: dict[str, int], prefix: str) -> int:
    return sum(_fields(totals, prefix).values())
