"""Dashboard aggregates in Redis, applied at most once per post id by one atomic Lua script (docs/REDIS.md).

Keys (prefix P, default "emo:"):
  P seen:<id>            marker, TTL seen_ttl_s: the post was counted
  P totals               hash: posts, emotion:<e>, sentiment:<s>, head:<combo>, degraded:<modality>:<reason>
  P bucket:<epoch_s>     hash per time bucket: posts, <emotion>, <sentiment>, degraded; TTL bucket_ttl_s
  P buckets              sorted set of bucket start times (score = time), trimmed with the same TTL
  P tag:<tag>            hash emotion -> count; TTL bucket_ttl_s
  P top:<emotion>        sorted set tag -> count, capped at 1000 members
  P recent               stream of the latest results (capped, ~recent_max)
  P seen:dlq:<t>:<p>:<o> marker: the dead letter of that input offset was counted
  P totals dead:<reason> and P bucket:<t> dead: dead letters
  P worker:<name>        hash per worker (posts_in, posts_out, dead, updated), TTL 30 s: the dashboard's worker list
  P lag                  hash: total (messages of the posts topic not yet committed by the group), updated
"""
from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

from .schemas import EmotionRecord
from .settings import Settings

APPLY = """
local p = ARGV[1]
if not redis.call('SET', p .. 'seen:' .. ARGV[2], '1', 'NX', 'EX', tonumber(ARGV[3])) then return 0 end
local emotion, sentiment, head, bucket, bttl = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local degraded = cjson.decode(ARGV[9])
local tags = cjson.decode(ARGV[10])
local totals = p .. 'totals'
redis.call('HINCRBY', totals, 'posts', 1)
redis.call('HINCRBY', totals, 'emotion:' .. emotion, 1)
redis.call('HINCRBY', totals, 'sentiment:' .. sentiment, 1)
redis.call('HINCRBY', totals, 'head:' .. head, 1)
local b = p .. 'bucket:' .. bucket
redis.call('HINCRBY', b, 'posts', 1)
redis.call('HINCRBY', b, emotion, 1)
redis.call('HINCRBY', b, sentiment, 1)
for _, d in ipairs(degraded) do
  redis.call('HINCRBY', totals, 'degraded:' .. d, 1)
  redis.call('HINCRBY', b, 'degraded', 1)
end
redis.call('EXPIRE', b, bttl)
redis.call('ZADD', p .. 'buckets', tonumber(bucket), bucket)
redis.call('ZREMRANGEBYSCORE', p .. 'buckets', '-inf', tonumber(bucket) - bttl)
for _, t in ipairs(tags) do
  local tk = p .. 'tag:' .. t
  redis.call('HINCRBY', tk, emotion, 1)
  redis.call('EXPIRE', tk, bttl)
  local top = p .. 'top:' .. emotion
  redis.call('ZINCRBY', top, 1, t)
  if redis.call('ZCARD', top) > 1100 then redis.call('ZREMRANGEBYRANK', top, 0, -1001) end
end
redis.call('XADD', p .. 'recent', 'MAXLEN', '~', tonumber(ARGV[12]), '*', 'json', ARGV[11])
return 1
"""


DEAD = """
local p = ARGV[1]
if not redis.call('SET', p .. 'seen:dlq:' .. ARGV[2], '1', 'NX', 'EX', tonumber(ARGV[3])) then return 0 end
redis.call('HINCRBY', p .. 'totals', 'dead:' .. ARGV[4], 1)
local b = p .. 'bucket:' .. ARGV[5]
redis.call('HINCRBY', b, 'dead', 1)
redis.call('EXPIRE', b, tonumber(ARGV[6]))
redis.call('ZADD', p .. 'buckets', tonumber(ARGV[5]), ARGV[5])
return 1
"""


class Aggregates:
    """Applies output records to Redis; a post id already applied is skipped (returns False)."""

    def __init__(self, s: Settings, client: aioredis.Redis | None = None):
        self.s = s
        self.redis = client or aioredis.Redis.from_url(s.redis_url, socket_timeout=5, socket_connect_timeout=3)
        self._script = self.redis.register_script(APPLY)
        self._dead = self.redis.register_script(DEAD)

    async def close(self) -> None:
        await self.redis.aclose()

    def _bucket(self, now: float | None) -> int:
        return int((now or time.time()) // self.s.bucket_s * self.s.bucket_s)

    async def apply_dead(self, ref: str, reason: str, now: float | None = None) -> bool:
        """Count one dead letter once per input offset `ref` (topic:partition:offset)."""
        return bool(await self._dead(args=[self.s.redis_prefix, ref, self.s.seen_ttl_s, reason, self._bucket(now), self.s.bucket_ttl_s]))

    async def heartbeat(self, worker: str, stats: dict, lag: int | None) -> None:
        """The worker's counters for the dashboard (expire when the worker stops reporting)."""
        key = f"{self.s.redis_prefix}worker:{worker}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping={**stats, "updated": time.time()})
        pipe.expire(key, 30)
        if lag is not None:
            pipe.hset(f"{self.s.redis_prefix}lag", mapping={"total": lag, "updated": time.time()})
        await pipe.execute()

    def _args(self, rec: EmotionRecord, bucket: int, payload: str | None = None) -> list:
        degraded = [f"{d.modality}:{d.reason}" for d in rec.degraded]
        return [self.s.redis_prefix, rec.id, self.s.seen_ttl_s, rec.emotion, rec.sentiment, rec.head, bucket,
                self.s.bucket_ttl_s, json.dumps(degraded), json.dumps(sorted(set(rec.tags))),
                payload if payload is not None else rec.model_dump_json(), self.s.recent_max]

    async def apply(self, rec: EmotionRecord, now: float | None = None) -> bool:
        """Count one record once. Redis errors propagate (the worker retries with backoff)."""
        return bool(await self._script(args=self._args(rec, self._bucket(now))))

    async def apply_many(self, records: list[EmotionRecord], payloads: list[str] | None = None,
                         now: float | None = None) -> list[bool]:
        """apply() for a batch in one round trip (a pipeline of the same atomic script, one call per record);
        `payloads` are the records' JSON when the caller has it already."""
        if not records:
            return []
        bucket = self._bucket(now)
        pipe = self.redis.pipeline(transaction=False)
        for i, rec in enumerate(records):
            await self._script(args=self._args(rec, bucket, payloads[i] if payloads else None), client=pipe)
        return [bool(r) for r in await pipe.execute()]
