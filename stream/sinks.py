"""Where settled records go: the output and dead-letter topics (through the Faust app's producer).

`publish` returns once Kafka acknowledged every record of the batch. Any other Kafka error (unavailable, a timeout, a
missing topic, no authorisation) is a dependency failure: retried (transient), the batch waits, /health says so. A
record Kafka refuses for its size (the broker's or topic's limit below EMOSTREAM_MAX_RECORD_BYTES) is permanent for
that post: it is replaced by its dead letter instead of being retried. Faust's producer wraps the client's errors in
`ProducerSendError`; they are unwrapped here. Anything that is not a Kafka error propagates (the worker then ends)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from faust.exceptions import ProducerSendError

from . import metrics
from .pipeline import BatchResult
from .records import Incoming, dead_letter
from .retry import Backoff, Waiting, retry_transient
from .schemas import InvalidPost
from .settings import Settings

__all__ = ["KafkaUnavailable", "KafkaSink", "kafka_cause"]

log = logging.getLogger(__name__)
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


class KafkaUnavailable(Exception):
    """Some records of the batch were not acknowledged by Kafka (transient: sent again)."""


def kafka_cause(e: BaseException) -> BaseException:
    """The client's own error behind Faust's `ProducerSendError` wrapping (the error itself when not wrapped)."""
    while isinstance(e, ProducerSendError) and e.__cause__ is not None:
        e = e.__cause__
    return e


@dataclass
class _Pending:
    topic: str
    key: bytes | None
    value: bytes
    fallback: (
        Callable[[BaseException], _Pending] | None
    )  # the smaller record replacing this one when Kafka refuses its size
    head: str | None = None  # outputs only: for the metrics
    latency_ms: float = 0.0


class KafkaSink:
    def __init__(self, s: Settings, producer, stopping: asyncio.Event, waiting: Waiting):
        self.s, self.producer, self.stopping, self.waiting = s, producer, stopping, waiting
        self.backoff = Backoff(max_s=s.retry_max_backoff_s)

    def _dead(self, msg: Incoming, err: InvalidPost, keep_bytes: int) -> _Pending:
        """A dead letter keeping `keep_bytes` of the original; if Kafka refuses even that, one keeping none."""
        d = dead_letter(msg, err, keep_bytes)
        return _Pending(self.s.topic_dlq, d.key, d.value, (lambda _e: self._dead(msg, err, 0)) if keep_bytes else None)

    def _refused(self, msg: Incoming, e: BaseException) -> _Pending:
        metrics.DEAD_LETTERS.labels("too_large", "publish").inc()
        return self._dead(
            msg,
            InvalidPost("too_large", f"Kafka refused the output record: {e}", "publish"),
            self.s.dlq_max_original_bytes,
        )

    async def publish(self, result: BatchResult) -> None:
        """Send every output and dead letter of the batch and wait for Kafka's acknowledgements."""
        pending = [
            _Pending(
                self.s.topic_output, o.key, o.value, lambda e, o=o: self._refused(o.source, e), o.head, o.latency_ms
            )
            for o in result.outputs
        ]
        pending += [
            _Pending(
                self.s.topic_dlq,
                d.key,
                d.value,
                lambda _e, d=d: self._dead(d.source, InvalidPost(d.reason, "cut to fit Kafka", d.stage), 0),
            )
            for d in result.dead
        ]

        async def attempt() -> None:
            while pending:  # replacements of refused records are sent at once; only Kafka trouble is retried
                futures = []
                for p in pending:
                    try:
                        futures.append(await self.producer.send(p.topic, p.key, p.value, None, None, None))
                    except (ProducerSendError, KafkaError) as e:
                        futures.append(_failed(kafka_cause(e)))
                outcomes = [kafka_cause(o) for o in await asyncio.gather(*futures, return_exceptions=True)]
                for o in outcomes:
                    if isinstance(o, BaseException) and not isinstance(o, KafkaError):
                        raise o  # not Kafka's answer: a bug, not a dependency to wait for
                unsent, replaced = [], []
                for p, outcome in zip(pending, outcomes, strict=True):
                    if not isinstance(outcome, BaseException):
                        if p.head is not None:
                            metrics.POSTS_OUT.labels(p.head).inc()
                            if p.latency_ms:
                                metrics.E2E_LATENCY.observe(p.latency_ms / 1000)
                    elif isinstance(outcome, _TOO_LARGE) and p.fallback is not None:
                        log.warning(
                            "Kafka refused a %d-byte record on %s: sending a smaller one", len(p.value), p.topic
                        )
                        replaced.append(p.fallback(outcome))
                    else:
                        unsent.append(p)
                pending[:] = unsent + replaced
                if unsent:
                    first = next(o for o in outcomes if isinstance(o, BaseException))
                    raise KafkaUnavailable(f"{len(unsent)} records not acknowledged: {type(first).__name__}: {first}")

        await retry_transient(
            "kafka_produce",
            attempt,
            transient=(KafkaUnavailable,),
            stopping=self.stopping,
            backoff=self.backoff,
            waiting=self.waiting,
        )


def _failed(e: BaseException) -> asyncio.Future:
    fut = asyncio.get_running_loop().create_future()
    fut.set_exception(e)
    return fut
