"""The Redis key layout of the dashboard aggregates (written by the aggregator, read by the dashboard and the demo).

Every key starts with the prefix (EMOSTREAM_REDIS_PREFIX). The aggregator's Lua scripts touch several keys at once;
for Redis Cluster give the prefix a hash tag (the default `{emo}:` is one) so they share a slot.

  seen:post:<post id>   marker with a TTL: the post was counted (at most once per post id within the TTL)
  seen:dlq:<t>:<p>:<o>  marker with a TTL: the dead letter of that input offset was counted (its own kind: no post
                        id can name it)
  totals                hash: posts, emotion:<e>, sentiment:<s>, head:<combo>, degraded:<modality>:<reason>,
                        dead:<reason>, late:in_bucket, late:expired, disagreements (posts whose modalities' own heads
                        named different emotions)
  bucket:<epoch s>      hash per time bucket: posts, <emotion>, <sentiment>, neutral (posts the neutral gate called
                        neutral: their emotion and sentiment), late, degraded, dead; TTL
  buckets               sorted set of bucket start times (score = time), trimmed by the same TTL
  top:<emotion>         sorted set tag -> posts with that tag and emotion (or neutral), capped (~1,000 members)
  recent                stream of the latest results without their `meta` (capped)
  keys                  sorted set drill-down key -> posts (`tag:<tag>`, `<meta field>:<value>` of the tracked meta
                        fields), trimmed to 10x EMOSTREAM_TRACKED_MAX members
  key:<key>:<epoch s>   hash per drill-down key and key bucket (EMOSTREAM_KEY_BUCKET_S wide): posts, <emotion>,
                        <sentiment>, neutral; written only for the EMOSTREAM_TRACKED_MAX keys with the most posts; TTL
  workers               sorted set worker name -> last heartbeat time (the dashboard's registry, no SCAN)
  worker:<name>         hash per worker: posts_in, posts_out, dead, updated; short TTL
  lag                   hash: total (messages of the posts topic not yet committed by the group), updated
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RedisKeys", "DEFAULT_PREFIX"]

DEFAULT_PREFIX = "{emo}:"


@dataclass(frozen=True)
class RedisKeys:
    """Key builders for one prefix."""

    prefix: str = DEFAULT_PREFIX

    def seen(self, post_id: str) -> str:
        return f"{self.prefix}seen:post:{post_id}"

    def seen_dead(self, ref: str) -> str:
        """ref = topic:partition:offset of the input message that was dead-lettered."""
        return f"{self.prefix}seen:dlq:{ref}"

    @property
    def totals(self) -> str:
        return f"{self.prefix}totals"

    def bucket(self, start_s: int) -> str:
        return f"{self.prefix}bucket:{start_s}"

    @property
    def buckets(self) -> str:
        return f"{self.prefix}buckets"

    def top(self, emotion: str) -> str:
        return f"{self.prefix}top:{emotion}"

    @property
    def recent(self) -> str:
        return f"{self.prefix}recent"

    @property
    def keys(self) -> str:
        return f"{self.prefix}keys"

    def key_bucket(self, key: str, start_s: int) -> str:
        return f"{self.prefix}key:{key}:{start_s}"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    def worker(self, name: str) -> str:
        return f"{self.prefix}worker:{name}"

    @property
    def lag(self) -> str:
        return f"{self.prefix}lag"

    # fields of the totals hash
    @staticmethod
    def total_field(kind: str, value: str) -> str:
        """'emotion', 'fear' -> 'emotion:fear' (kinds: emotion, sentiment, head, degraded, dead)."""
        return f"{kind}:{value}"
