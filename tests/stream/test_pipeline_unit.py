"""Pure logic of the pipeline (no services): a post that breaks processing is isolated as a dead letter."""
import asyncio
import json

from prometheus_client import REGISTRY

from stream.pipeline import BatchResult, Incoming, Pipeline
from stream.settings import Settings


class _Breaks(Pipeline):
    """process() fails for any batch holding the post with id 'poison' (an unforeseen bug, not bad input)."""

    def __init__(self):
        self.s = Settings()

    async def process(self, batch):
        ids = [json.loads(m.value)["id"] for m in batch]
        if "poison" in ids:
            raise ZeroDivisionError("boom")
        return BatchResult([], [])


def test_poison_post_becomes_internal_error_dead_letter_and_others_pass():
    batch = [Incoming(b"a", json.dumps({"id": "a"}).encode(), None, "posts:0:1"),
             Incoming(b"p", json.dumps({"id": "poison"}).encode(), None, "posts:0:2"),
             Incoming(b"b", json.dumps({"id": "b"}).encode(), None, "posts:1:7")]
    before = REGISTRY.get_sample_value("emostream_posts_in_total") or 0
    res = asyncio.run(_Breaks().process_isolating(batch))
    assert REGISTRY.get_sample_value("emostream_posts_in_total") - before == 3  # the retry post by post counts nothing again
    assert len(res.dead) == 1
    d = res.dead[0]
    record = json.loads(d.value)
    assert d.reason == "internal_error" and d.ref == "posts:0:2" and d.key == b"p"
    assert record["stage"] == "process" and "ZeroDivisionError" in record["error"]
    assert json.loads(record["original"])["id"] == "poison"
