"""The dashboard aggregates in Redis (key layout: contracts/redis_keys.py), each record applied at most once by one
atomic Lua script that declares every key it touches. The scripts carry the `#!lua` shebang (Redis >= 7), so Redis
refuses a script touching keys of two hash slots, as Redis Cluster would: with a {hash tag} prefix they share one.

Memory is bounded: `seen:` markers live EMOSTREAM_SEEN_TTL_S, buckets EMOSTREAM_BUCKET_TTL_S, the top-tag sets are
capped at EMOSTREAM_TOP_TAGS_MAX members, `recent` at EMOSTREAM_RECENT_MAX entries and stores records without
their `meta`. Measured bytes per post: README "Results"."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    DataError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TryAgainError,
)

from contracts.redis_keys import RedisKeys

from .schemas import DeadLetterRecord, EmotionRecord, epoch
from .settings import Settings

__all__ = ["LabelledPost", "DeadLetterSeen", "Aggregates", "RedisBusy"]

KEY_CHARS = 100  # a drill-down key's value is cut to this many characters

# Replies of a Redis that is full, loading, busy or failing over: the dependency's state, not the record's (transient)
_BUSY = (OutOfMemoryError, BusyLoadingError, ReadOnlyError, MasterDownError, TryAgainError, ClusterDownError)
_BUSY_PREFIXES = ("OOM", "LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS")


class RedisBusy(ResponseError):
    """Redis answered, but cannot take writes now (full, loading, busy, failing over): retried like a connection
    error."""


APPLY = """#!lua
-- KEYS: seen, totals, bucket, buckets, recent, top:<emotion>, keys, key:<key>:<start> per drill-down key
-- ARGV: seen_ttl, emotion, sentiment, head, bucket_start, bucket_ttl, degraded (JSON list), tags (JSON list),
--       recent entry (JSON), recent max, top max, now, bucket width, late after, disagreement (1 or 0),
--       key bucket start, key bucket expiry (epoch), tracked max, drill-down keys (JSON list)
-- The bucket is the post's event time's; it lives until bucket_start + width + bucket_ttl (whatever the order the
-- posts arrive in). A post arriving over `late after` seconds after its bucket ended is counted late in it; one
-- whose bucket is already gone is counted in the totals only (late:expired).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
local emotion, sentiment, head = ARGV[2], ARGV[3], ARGV[4]
local start, bttl, now, width = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[12]), tonumber(ARGV[13])
local degraded = cjson.decode(ARGV[7])
redis.call('HINCRBY', KEYS[2], 'posts', 1)
redis.call('HINCRBY', KEYS[2], 'emotion:' .. emotion, 1)
redis.call('HINCRBY', KEYS[2], 'sentiment:' .. sentiment, 1)
redis.call('HINCRBY', KEYS[2], 'head:' .. head, 1)
for _, d in ipairs(degraded) do redis.call('HINCRBY', KEYS[2], 'degraded:' .. d, 1) end
local disagree = ARGV[15] == '1'
if disagree then redis.call('HINCRBY', KEYS[2], 'disagreements', 1) end
if start + width + bttl <= now then
  redis.call('HINCRBY', KEYS[2], 'late:expired', 1)
else
  redis.call('HINCRBY', KEYS[3], 'posts', 1)
  redis.call('HINCRBY', KEYS[3], emotion, 1)
  -- a neutral post is neutral in both: one count in the bucket's `neutral`
  if sentiment ~= emotion then redis.call('HINCRBY', KEYS[3], sentiment, 1) end
  if #degraded > 0 then redis.call('HINCRBY', KEYS[3], 'degraded', #degraded) end
  if disagree then redis.call('HINCRBY', KEYS[3], 'disagreements', 1) end
  if now - start - width > tonumber(ARGV[14]) then
    redis.call('HINCRBY', KEYS[3], 'late', 1)
    redis.call('HINCRBY', KEYS[2], 'late:in_bucket', 1)
  end
  redis.call('EXPIREAT', KEYS[3], start + width + bttl)
  redis.call('ZADD', KEYS[4], start, ARGV[5])
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - width - bttl))
local topmax = tonumber(ARGV[11])
for _, t in ipairs(cjson.decode(ARGV[8])) do
  redis.call('ZINCRBY', KEYS[6], 1, t)
end
if redis.call('ZCARD', KEYS[6]) > topmax + topmax / 10 then redis.call('ZREMRANGEBYRANK', KEYS[6], 0, -topmax - 1) end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', tonumber(ARGV[10]), '*', 'json', ARGV[9])
-- drill-down (KEYS[7] the key volumes, KEYS[7 + i] the bucket of the i-th key of ARGV[19]): every key's posts are
-- counted; only the ARGV[18] keys with the most posts get their bucket, which lives until ARGV[17]
local names = cjson.decode(ARGV[19])
if #names > 0 then
  local tmax = tonumber(ARGV[18])
  for i, name in ipairs(names) do
    redis.call('ZINCRBY', KEYS[7], 1, name)
    if redis.call('ZREVRANK', KEYS[7], name) < tmax and tonumber(ARGV[17]) > now then
      local kb = KEYS[7 + i]
      redis.call('HINCRBY', kb, 'posts', 1)
      redis.call('HINCRBY', kb, emotion, 1)
      if sentiment ~= emotion then redis.call('HINCRBY', kb, sentiment, 1) end
      redis.call('EXPIREAT', kb, tonumber(ARGV[17]))
    end
  end
  if redis.call('ZCARD', KEYS[7]) > 11 * tmax then redis.call('ZREMRANGEBYRANK', KEYS[7], 0, -10 * tmax - 1) end
end
return 1
"""

DEAD = """#!lua
-- KEYS: seen:dlq:<ref>, totals, bucket, buckets      ARGV: seen_ttl, reason, bucket_start, bucket expiry (epoch)
-- Dead letters count at processing time (a dead post may have no valid created_at).
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
redis.call('HINCRBY', KEYS[2], 'dead:' .. ARGV[2], 1)
redis.call('HINCRBY', KEYS[3], 'dead', 1)
redis.call('EXPIREAT', KEYS[3], tonumber(ARGV[4]))
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]), ARGV[3])
return 1
"""


@dataclass(frozen=True)
class LabelledPost:
    """What the aggregates need of one output record (`recent` is the record without `meta`, as JSON)."""

    id: str
    emotion: str
    sentiment: str
    head: str
    degraded: tuple[str, ...]  # "<modality>:<reason>"
    tags: tuple[str, ...]
    at: float  # event time (created_at; processed_at for records written before it was kept), at most processed_at
    recent: str
    disagreement: bool = False  # the modalities' own heads named different emotions
    meta: tuple[tuple[str, str], ...] = ()  # the record's scalar meta fields (field, value cut to 100 characters)

    @classmethod
    def from_record(cls, value: bytes) -> LabelledPost:
        """Raises ValueError (pydantic's ValidationError) for anything that is not an output record."""
        rec = EmotionRecord.model_validate_json(value)
        processed = _epoch(rec.processed_at)
        return cls(
            rec.id,
            rec.emotion,
            rec.sentiment,
            rec.head,
            tuple(f"{d.modality}:{d.reason}" for d in rec.degraded),
            tuple(sorted(set(rec.tags))),
            min(_epoch(rec.created_at), processed) if rec.created_at else processed,
            rec.model_dump_json(exclude={"meta"}),
            rec.disagreement,
            tuple(
                (k, str(v)[:KEY_CHARS])
                for k, v in rec.meta.items()
                if isinstance(v, str | int | float | bool) and str(v).strip()
            ),
        )

    def keys(self, meta_fields: tuple[str, ...]) -> list[str]:
        """The drill-down keys of this post: `tag:<tag>` of each tag, `<field>:<value>` of each tracked meta field."""
        return [f"tag:{t[:KEY_CHARS]}" for t in self.tags] + [f"{k}:{v}" for k, v in self.meta if k in meta_fields]


@dataclass(frozen=True)
class DeadLetterSeen:
    """What the aggregates need of one dead-letter record: its reason, when, and the input offset it stands for."""

    ref: str
    reason: str
    at: float

    @classmethod
    def from_record(cls, value: bytes) -> DeadLetterSeen:
        """Raises ValueError (pydantic's ValidationError) for anything that is not a dead-letter record."""
        rec = DeadLetterRecord.model_validate_json(value)
        src = rec.source
        return cls(f"{src.topic}:{src.partition}:{src.offset}", rec.reason, _epoch(rec.at))


def _epoch(at: str | None) -> float:
    try:
        return epoch(at) if at else time.time()
    except ValueError:
        return time.time()


class Aggregates:
    """Applies labelled posts and dead letters to Redis; one seen before is skipped (returns False)."""

    def __init__(self, s: Settings, client: aioredis.Redis):
        self.s, self.redis, self.keys = s, client, RedisKeys(s.redis_prefix)
        self._apply = self.redis.register_script(APPLY)
        self._dead = self.redis.register_script(DEAD)

    def _bucket(self, at: float) -> int:
        return int(at // self.s.bucket_s * self.s.bucket_s)

    async def apply(self, posts: list[LabelledPost], dead: list[DeadLetterSeen]) -> list[bool | Exception]:
        """Apply a batch in one round trip (a pipeline of the atomic scripts, one call per record). Per record (posts,
        then dead letters): True (counted), False (seen before) or the error Redis or the client raised for that
        record alone (never retried: the caller skips it). Raises RedisBusy, or a connection error, when Redis itself
        cannot take the batch (transient: the caller retries the batch; records applied before are seen then)."""
        if not posts and not dead:
            return []
        pipe = self.redis.pipeline(transaction=False)
        calls = [functools.partial(self._post, p) for p in posts] + [
            functools.partial(self._dead_letter, d) for d in dead
        ]
        refused: dict[int, Exception] = {}  # position -> what the client refused before sending
        queued: list[int] = []
        for i, call in enumerate(calls):
            try:
                await call(pipe)
                queued.append(i)
            except DataError as e:
                refused[i] = e
        replies = await pipe.execute(raise_on_error=False) if queued else []
        for r in replies:
            if isinstance(r, _BUSY) or (isinstance(r, ResponseError) and str(r).startswith(_BUSY_PREFIXES)):
                raise RedisBusy(f"{type(r).__name__}: {r}")
        out: list[bool | Exception] = [refused.get(i, False) for i in range(len(calls))]
        for i, r in zip(queued, replies, strict=True):
            out[i] = r if isinstance(r, Exception) else bool(r)
        return out

    async def _post(self, p: LabelledPost, pipe) -> None:
        k, s, b = self.keys, self.s, self._bucket(p.at)
        names = list(dict.fromkeys(p.keys(s.tracked_meta_fields))) if s.tracked_max else []
        kb = int(p.at // s.key_bucket_s * s.key_bucket_s)
        await self._apply(
            keys=[
                k.seen(p.id),
                k.totals,
                k.bucket(b),
                k.buckets,
                k.recent,
                k.top(p.emotion),
                k.keys,
                *(k.key_bucket(n, kb) for n in names),
            ],
            args=[
                s.seen_ttl_s,
                p.emotion,
                p.sentiment,
                p.head,
                b,
                s.bucket_ttl_s,
                json.dumps(p.degraded),
                json.dumps(p.tags),
                p.recent,
                s.recent_max,
                s.top_tags_max,
                int(time.time()),
                s.bucket_s,
                s.late_after_s,
                int(p.disagreement),
                kb,
                kb + s.key_bucket_s + s.key_bucket_ttl_s,
                s.tracked_max,
                json.dumps(names),
            ],
            client=pipe,
        )

    async def _dead_letter(self, d: DeadLetterSeen, pipe) -> None:
        k, s, b = self.keys, self.s, self._bucket(d.at)
        await self._dead(
            keys=[k.seen_dead(d.ref), k.totals, k.bucket(b), k.buckets],
            args=[s.seen_ttl_s, d.reason, b, b + s.bucket_s + s.bucket_ttl_s],
            client=pipe,
        )

    async def heartbeat(self, worker: str, stats: dict, lag: int | None, ttl_s: int = 30) -> None:
        """A worker's counters for the dashboard: a hash with a TTL, and its name in the registry of workers."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.worker(worker), mapping={**stats, "updated": now})
        pipe.expire(self.keys.worker(worker), ttl_s)
        pipe.zadd(self.keys.workers, {worker: now})
        pipe.zremrangebyscore(self.keys.workers, "-inf", now - 10 * ttl_s)
        if lag is not None:
            pipe.hset(self.keys.lag, mapping={"total": lag, "updated": now})
        await pipe.execute()
