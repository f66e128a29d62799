"""Publishing a batch with Faust's producer errors as they really arrive (wrapped in ProducerSendError): Kafka's own
trouble is retried, a record too large for Kafka becomes its dead letter, anything else is not Kafka's answer and
propagates (the worker then ends); and a record limit above what the producer sends is refused at start."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, UnknownTopicOrPartitionError
from faust.exceptions import ProducerSendError
from pydantic import ValidationError

from stream.pipeline import BatchResult
from stream.records import Incoming, Output
from stream.retry import Waiting
from stream.settings import PRODUCER_MAX_REQUEST_BYTES, Settings
from stream.sinks import KafkaSink


def wrapped(cause: BaseException) -> ProducerSendError:
    try:
        raise ProducerSendError(f"Error while sending: {cause!r}") from cause
    except ProducerSendError as e:
        return e


class FakeProducer:
    """Raises the queued errors from send() (as Faust does), then accepts."""

    def __init__(self, *errors):
        self.errors, self.sent = list(errors), []

    async def send(self, topic, key, value, partition, timestamp, headers):
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((topic, json.loads(value)))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def publish(producer) -> list:
    s = Settings(retry_max_backoff_s=0.01)
    msg = Incoming(b"k", b'{"id": "a", "text": "hi"}', None, "posts", 0, 7)
    result = BatchResult(outputs=[Output(b"a", b'{"id": "a"}', "text", 1.0, msg)])
    asyncio.run(KafkaSink(s, producer, asyncio.Event(), Waiting()).publish(result))
    return producer.sent


def test_kafka_trouble_wrapped_by_faust_is_retried():
    sent = publish(FakeProducer(wrapped(KafkaTimeoutError()), wrapped(UnknownTopicOrPartitionError())))
    assert sent == [("post-emotions", {"id": "a"})]


def test_a_record_too_large_for_the_producer_becomes_its_dead_letter():
    sent = publish(FakeProducer(wrapped(MessageSizeTooLargeError())))
    assert [(t, r["reason"], r["stage"], r["source"]["offset"]) for t, r in sent] == [
        ("posts-dlq", "too_large", "publish", 7)
    ]


def test_an_error_that_is_not_kafkas_propagates():
    with pytest.raises(RuntimeError, match="not Kafka"):
        publish(FakeProducer(RuntimeError("not Kafka")))


def test_a_record_limit_above_the_producers_is_refused_at_start(monkeypatch, capsys):
    with pytest.raises(ValidationError, match="above what the producer sends"):
        Settings(max_record_bytes=PRODUCER_MAX_REQUEST_BYTES)
    from stream.worker import main

    monkeypatch.setenv("EMOSTREAM_MAX_RECORD_BYTES", "2000000")
    assert main([]) == 2
    assert "EMOSTREAM_MAX_RECORD_BYTES=2000000 is above" in capsys.readouterr().err
