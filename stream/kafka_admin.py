"""Topic creation and consumer-lag reading with kafka-python's admin client (worker, producer CLI, tests)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

__all__ = ["ensure_topics", "LagReader"]


def _config(bootstrap: str | dict[str, Any]) -> dict[str, Any]:
    """A bootstrap address, or a full kafka-python config (stream.connections.kafka_python_config)."""
    return {"bootstrap_servers": bootstrap} if isinstance(bootstrap, str) else dict(bootstrap)


def ensure_topics(bootstrap: str | dict[str, Any], topics: list[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet (replication 1 locally; compose's topic-init job does production)."""
    admin = KafkaAdminClient(client_id="emostream-admin", bootstrap_timeout_ms=10_000, **_config(bootstrap))
    try:
        existing = set(admin.list_topics())
        new = [t for t in topics if t not in existing]
        if new:
            try:
                admin.create_topics([NewTopic(t, partitions, 1) for t in new])
            except TopicAlreadyExistsError:
                pass
        return new
    finally:
        admin.close()


class LagReader:
    """Messages of a topic not yet committed by a consumer group, per partition."""

    def __init__(self, bootstrap: str | dict[str, Any], group: str, topic: str):
        self.group, self.topic = group, topic
        self.admin = KafkaAdminClient(client_id="emostream-lag", **_config(bootstrap))
        self.consumer = KafkaConsumer(client_id="emostream-lag", enable_auto_commit=False, **_config(bootstrap))

    def read(self) -> dict[int, int]:
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        ends = self.consumer.end_offsets(tps)
        committed = self.admin.list_group_offsets(self.group).get(self.group, {})
        return {
            tp.partition: ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
            for tp in tps
        }

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()
