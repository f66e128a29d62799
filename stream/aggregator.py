"""The aggregator: its own consumer group on the output and dead-letter topics, applying each record to the Redis
aggregates and committing only what Redis took. It runs inside every worker (a child service) or alone
(`emostream aggregator`); either way a slow, full or down Redis delays the dashboard, never the labels.

Delivery: at-least-once into Redis, and at most once per post id (and per dead-lettered input offset) within
EMOSTREAM_SEEN_TTL_S, so a redelivered record is not counted twice."""

from __future__ import annotations

import asyncio
import functools
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from mode import Service
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import metrics
from .aggregates import Aggregates, DeadLetterSeen, LabelledPost, RedisBusy
from .connections import aiokafka_config, redis_client
from .retry import Backoff, Stopped, Waiting, retry_transient
from .settings import Settings

__all__ = ["Aggregator", "main"]

log = logging.getLogger(__name__)
# Redis itself unreachable, slow, full or busy: the batch waits. A reply about one record (a script error, a value the
# client refuses) is that record's problem: skipped and counted, never retried.
REDIS_TRANSIENT = (RedisConnectionError, RedisTimeoutError, BusyLoadingError, RedisBusy, OSError)


class Aggregator(Service):
    """Consumes `post-emotions` and `posts-dlq` with group EMOSTREAM_AGGREGATOR_GROUP and updates Redis."""

    def __init__(self, s: Settings, max_records: int = 500, **kwargs):
        super().__init__(**kwargs)
        self.s, self.max_records = s, max_records
        self.redis = redis_client(s, socket_timeout=5, socket_connect_timeout=3)
        self.aggregates = Aggregates(s, self.redis)
        self.waiting = Waiting()
        self.stopping = asyncio.Event()
        self.applied = 0
        self.skipped, self.last_skip = 0, None
        self.consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            self.s.topic_output,
            self.s.topic_dlq,
            group_id=self.s.aggregator_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{self.s.app_id}-aggregator",
            **aiokafka_config(self.s),
        )
        await self.consumer.start()

    async def on_stop(self) -> None:
        self.stopping.set()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.redis.aclose()

    @Service.task
    async def _consume(self) -> None:
        backoff = Backoff(max_s=self.s.retry_max_backoff_s)
        while not self.should_stop:
            try:
                batch = await self.consumer.getmany(timeout_ms=500, max_records=self.max_records)
            except KafkaError as e:
                log.warning("aggregator: Kafka unavailable (%s)", e)
                await asyncio.sleep(1)
                continue
            if not batch:
                continue
            posts, dead, post_refs, dead_refs = [], [], [], []
            for tp, records in batch.items():
                for r in records:
                    ref = (tp.topic, f"{tp.topic}:{tp.partition}:{r.offset}")
                    try:
                        if tp.topic == self.s.topic_output:
                            posts.append(LabelledPost.from_record(r.value))
                            post_refs.append(ref)
                        else:
                            dead.append(DeadLetterSeen.from_record(r.value))
                            dead_refs.append(ref)
                    except (ValueError, TypeError) as e:  # pydantic's ValidationError is a ValueError
                        self._skip(*ref, "invalid_record", e)
            try:
                applied = await retry_transient(
                    "redis",
                    functools.partial(self.aggregates.apply, posts, dead),
                    transient=REDIS_TRANSIENT,
                    stopping=self.stopping,
                    backoff=backoff,
                    waiting=self.waiting,
                )
            except Stopped:
                return  # not committed: applied again (and skipped as seen) by the next owner
            for (topic, ref), outcome in zip(post_refs + dead_refs, applied, strict=True):
                if isinstance(outcome, Exception):
                    self._skip(topic, ref, "redis_rejected", outcome)
            metrics.AGG_APPLIED.labels(self.s.topic_output).inc(len(posts))
            metrics.AGG_APPLIED.labels(self.s.topic_dlq).inc(len(dead))
            metrics.AGG_DUPLICATES.inc(sum(1 for a in applied if a is False))
            self.applied += len(posts) + len(dead)
            try:
                await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
            except (
                CommitFailedError
            ) as e:  # the group rebalanced meanwhile: the next owner re-applies, seen keys skip them
                log.warning("aggregator: commit failed after a rebalance (%s)", e)

    def _skip(self, topic: str, ref: str, reason: str, error: BaseException) -> None:
        """A record that cannot be counted (not one of ours, or refused by Redis for itself): skipped, never retried."""
        self.skipped += 1
        self.last_skip = f"{ref}: {reason}: {type(error).__name__}: {str(error)[:200]}"
        metrics.AGG_SKIPPED.labels(topic, reason).inc()
        log.warning("aggregator: skipping %s", self.last_skip)

    def health(self) -> dict:
        return {
            "skipped": self.skipped,
            "last_skip": self.last_skip,
            "running": self.consumer is not None and not self.should_stop,
            "applied": self.applied,
            "waiting_on": self.waiting.dependency,
            "waiting_s": round(self.waiting.seconds(), 1),
            "error": self.waiting.error,
        }


def main(argv: list[str] | None = None) -> int:
    """`emostream aggregator`: the aggregator alone (run workers with EMOSTREAM_AGGREGATOR=false)."""
    import argparse

    from mode import Worker

    argparse.ArgumentParser(prog="emostream aggregator", description=main.__doc__).parse_args(argv)
    s = Settings()
    Worker(Aggregator(s), loglevel=s.log_level).execute_from_commandline()
    return 0
