"""The pipeline's pure logic with a fake Triton client and image fetcher (no services): every input ends as exactly
one output or one dead letter; routing, chunking, rejection handling and what is retried."""

import asyncio
import json
from dataclasses import replace

import numpy as np
import pytest

from contracts.combos import COMBOS, Combo
from core.bundle_info import BundleInfo
from core.images import ImageFetchError
from core.tokenizer import Tokenizer, Vocab
from stream.pipeline import Pipeline, text_tensor
from stream.records import Incoming
from stream.retry import Stopped, Waiting
from stream.schemas import DeadLetterRecord, EmotionRecord
from stream.settings import Settings
from stream.tail import format_value
from stream.triton_client import BadRequest, InferenceTimeout, InferResult, ModelUnavailable

TOK = Tokenizer(Vocab(["<PAD>", "<UNK>", "happy", "party"]), Vocab(["<PAD>", "<UNK>", "fun"]), 150, 10)
BUNDLE = BundleInfo(
    path=None,
    version="v1",
    emotions=("a", "b"),
    sentiments=("neg", "pos"),
    combos=COMBOS,
    image_size=8,
    max_words=150,
    max_tags=10,
    tokenizer=TOK,
    meta={},
    head_examples={c: 10 for c in COMBOS},
)


class FakeClient:
    def __init__(self, max_batch=None, reject=lambda combo, arrays: False, down=0, slow=lambda combo, arrays: False):
        self.max_batch = max_batch or {}
        self.calls, self.checks, self.reject, self.down, self.slow = [], 0, reject, down, slow
        self.shapes, self.timeouts = [], []

    async def infer(self, combo, arrays):
        if self.down:
            self.down -= 1
            raise ModelUnavailable("down")
        n = len(next(iter(arrays.values())))
        if self.reject(combo, arrays):
            raise BadRequest("rejected")
        if self.slow(combo, arrays):
            self.timeouts.append(n)
            raise InferenceTimeout("Deadline Exceeded")
        self.calls.append((combo, n))
        self.shapes.append({m: a.shape for m, a in arrays.items()})
        return InferResult(
            np.tile([[0.9, 0.1]], (n, 1)).astype(np.float32),
            np.tile([[0.2, 0.8]], (n, 1)).astype(np.float32),
            np.zeros(n, np.float32),
            "1",
        )

    async def check(self, bundle, combos=None):
        self.checks += 1


class FakeFetcher:
    async def fetch(self, url):
        if "broken" in url:
            raise ImageFetchError("http_404")
        if "bug" in url:
            raise ZeroDivisionError("an unforeseen bug while preparing")
        return np.zeros((8, 8, 3), np.uint8)


def run(posts, client=None, bundle=BUNDLE, **settings):
    s = Settings(retry_max_backoff_s=0.01, **settings)
    pipe = Pipeline(s, bundle, client or FakeClient(), FakeFetcher(), asyncio.Event(), Waiting())
    msgs = [
        Incoming(b"k", p if isinstance(p, bytes) else json.dumps(p).encode(), 1.0, "posts", 0, i)
        for i, p in enumerate(posts)
    ]
    return asyncio.run(pipe.process(msgs))


def records(result):
    return [json.loads(o.value) for o in result.outputs], [json.loads(d.value) for d in result.dead]


def test_each_post_is_one_output_or_one_dead_letter():
    posts = [
        {"id": "a", "text": "happy party"},
        b"{bad",
        {"id": "b", "image_url": "http://x/broken.jpg"},
        {"id": "c", "image_url": "http://x/bug.jpg", "text": "happy"},
        {"id": "d", "tags": ["fun"], "image_url": "http://x/ok.jpg"},
    ]
    out, dead = records(run(posts))
    assert [o["id"] for o in out] == ["a", "d"] and out[1]["head"] == "image_tags"
    assert [(d["reason"], d["stage"]) for d in dead] == [
        ("bad_json", "parse"),
        ("no_usable_modality", "preprocess"),
        ("internal_error", "prepare"),
    ]
    assert [d["source"]["offset"] for d in dead] == [1, 2, 3]


def test_a_failed_image_degrades_to_the_other_modalities():
    out, _ = records(run([{"id": "a", "text": "happy", "tags": ["fun"], "image_url": "http://x/broken.jpg"}]))
    assert out[0]["head"] == "text_tags" and out[0]["degraded"] == [{"modality": "image", "reason": "http_404"}]


def test_requests_are_chunked_by_the_served_max_batch_size():
    client = FakeClient(max_batch={Combo.parse("text"): 4})
    res = run([{"id": str(i), "text": "happy"} for i in range(10)], client)
    assert [n for _, n in client.calls] == [4, 4, 2] and len(res.outputs) == 10


def test_text_requests_are_as_long_as_their_longest_text_needs():
    client = FakeClient(max_batch={Combo.parse("text"): 2})
    texts = ["happy " * 3, "party " * 20, "happy " * 200, "party"]  # 3, 20, 150 (cut), 1 words
    run([{"id": str(i), "text": t} for i, t in enumerate(texts)], client)
    assert [c["text"] for c in client.shapes] == [(2, 32), (2, 150)]


def test_text_tensor_cuts_only_padding():
    ids = [[2, 3, 2, 0, 0, 0] + [0] * 44, [3] * 13 + [0] * 37]
    t = text_tensor(ids, 50, 5)
    assert t.shape == (2, 32) and t.dtype == np.int64 and t[1, :13].tolist() == [3] * 13 and not t[:, 13:].any()
    assert text_tensor([[2] * 50], 50, 5).shape == (1, 50)


def test_a_rejected_post_is_isolated_after_the_models_are_checked():
    poison = lambda combo, arrays: "text" in arrays and (arrays["text"][:, 1] == 3).any()  # "party" as second word
    client = FakeClient(reject=poison)
    posts = [{"id": str(i), "text": "happy happy"} for i in range(7)] + [{"id": "p", "text": "happy party"}]
    out, dead = records(run(posts, client))
    assert sorted(o["id"] for o in out) == [str(i) for i in range(7)]
    assert [(d["reason"], d["stage"], json.loads(d["original"])["id"]) for d in dead] == [
        ("inference_rejected", "infer", "p")
    ]
    assert client.checks >= 1


def test_triton_down_is_retried_not_dead_lettered():
    client = FakeClient(down=3)
    out, dead = records(run([{"id": "a", "text": "happy"}], client))
    assert len(out) == 1 and not dead


def test_stop_while_waiting_on_triton_raises_stopped():
    s = Settings(retry_max_backoff_s=5)
    stopping = asyncio.Event()
    pipe = Pipeline(s, BUNDLE, FakeClient(down=10**9), FakeFetcher(), stopping, Waiting())

    async def go():
        asyncio.get_running_loop().call_later(0.1, stopping.set)
        await pipe.process([Incoming(b"k", b'{"id": "a", "text": "happy"}', None, "posts", 0, 0)])

    with pytest.raises(Stopped):
        asyncio.run(go())


def test_an_output_over_the_record_limit_is_a_dead_letter():
    out, dead = records(run([{"id": "a", "text": "happy", "pad": "x" * 5000}], max_record_bytes=2000))
    assert not out and dead[0]["reason"] == "too_large" and dead[0]["stage"] == "output"


def test_untrained_heads_route_to_the_largest_trained_one():
    text_only = replace(BUNDLE, head_examples={Combo.parse("text"): 100})
    out, dead = records(
        run(
            [
                {"id": "a", "text": "happy", "tags": ["fun"], "image_url": "http://x/ok.jpg"},
                {"id": "b", "tags": ["fun"]},
            ],
            bundle=text_only,
        )
    )
    assert out[0]["head"] == "text" and "text_tags head was not trained" in out[0]["head_reason"]
    assert out[0]["degraded"] == [{"modality": "image", "reason": "no_trained_head"}]  # not even fetched
    assert dead[0]["reason"] == "no_trained_head"


def test_hashtags_in_the_text_feed_the_tag_modality():
    out, _ = records(run([{"id": "a", "text": "happy day #fun"}]))
    assert out[0]["head"] == "text_tags" and out[0]["tags"] == ["fun"]


def test_hashtags_in_the_text_obey_the_tag_limits():
    text = "happy " + " ".join(f"#t{i}" for i in range(300)) + " #" + "x" * 150
    out, _ = records(run([{"id": "a", "text": text}], max_tags=50, max_tag_chars=100))
    assert out[0]["tags"] == [f"t{i}" for i in range(BUNDLE.max_tags)]
    out, _ = records(run([{"id": "b", "text": "happy #" + "y" * 150}], max_tag_chars=100))
    assert out[0]["tags"] == [] and out[0]["head"] == "text"


def test_a_request_that_times_out_is_split_until_it_passes():
    client = FakeClient(slow=lambda combo, arrays: len(next(iter(arrays.values()))) > 3)
    out, dead = records(run([{"id": str(i), "text": "happy"} for i in range(10)], client))
    assert len(out) == 10 and not dead
    assert client.timeouts[0] == 10 and all(n <= 3 for _, n in client.calls)


def test_a_timeout_sends_no_more_work_until_triton_answers_a_probe():
    # Triton busy for everyone: its queue holds more than a deadline of work (the split layout of the end-to-end
    # benchmark). Splitting at once would add requests to that queue; the worker waits on a one-post probe instead.
    log = []

    def slow(combo, arrays):
        n = len(next(iter(arrays.values())))
        log.append(n)
        return len(log) <= 4  # the 10-post request and the next three probes time out

    out, dead = records(run([{"id": str(i), "text": "happy"} for i in range(10)], FakeClient(slow=slow)))
    assert len(out) == 10 and not dead
    assert log[:5] == [10, 1, 1, 1, 1]  # only probes until one passed; no half of the request meanwhile
    assert log[5:] == [5, 5]  # then the halves (each post's turn again, no strike counted against it)


def test_image_requests_in_flight_are_capped_apart_from_the_others():
    active, peak = {"image": 0, "all": 0}, {"image": 0, "all": 0}

    class Tracking(FakeClient):
        async def infer(self, combo, arrays):
            kinds = ("image", "all") if "image" in arrays else ("all",)
            for k in kinds:
                active[k] += 1
                peak[k] = max(peak[k], active[k])
            await asyncio.sleep(0.01)
            for k in kinds:
                active[k] -= 1
            return await super().infer(combo, arrays)

    posts = [{"id": f"i{i}", "image_url": "http://x/a.jpg", "text": "happy"} for i in range(8)]
    posts += [{"id": f"t{i}", "text": "happy"} for i in range(8)]
    out, _ = records(run(posts, Tracking(max_batch={Combo.parse("image_text"): 1}), max_image_inflight=1))
    assert len(out) == 16 and peak == {"image": 1, "all": 2}


def test_a_post_that_times_out_alone_while_triton_answers_is_a_dead_letter():
    poison = lambda combo, arrays: "text" in arrays and (arrays["text"][:, 1] == 3).any()  # "party" as second word
    client = FakeClient(slow=poison)
    posts = [{"id": str(i), "text": "happy happy"} for i in range(5)] + [{"id": "p", "text": "happy party"}]
    out, dead = records(run(posts, client, triton_timeout_strikes=3))
    assert sorted(o["id"] for o in out) == [str(i) for i in range(5)]
    assert [(d["reason"], d["stage"], json.loads(d["original"])["id"]) for d in dead] == [
        ("inference_timeout", "infer", "p")
    ]
    assert client.timeouts.count(1) == 3  # three strikes alone, each after a probe that Triton answered
    assert sum(1 for _, n in client.calls if n == 1) >= 3


def test_triton_slow_for_everyone_is_waited_for_not_dead_lettered():
    calls = {"n": 0}

    def slow(combo, arrays):  # the first 8 requests time out, whatever they hold (the probe's included)
        calls["n"] += 1
        return calls["n"] <= 8

    client = FakeClient(slow=slow)
    out, dead = records(run([{"id": str(i), "text": "happy"} for i in range(4)], client, triton_timeout_strikes=2))
    assert len(out) == 4 and not dead


class OpinionClient(FakeClient):
    """Answers emotion 'a' from every head; the image's own head says 'b', the tags' head is neutral (p 0.9)."""

    async def infer(self, combo, arrays):
        res = await super().infer(combo, arrays)
        n = len(res.emotion_probs)
        said = {"image": [0.3, 0.7, 0.1], "text": [0.8, 0.2, 0.1], "tags": [0.6, 0.4, 0.9]}
        if len(combo) > 1:
            res.opinions = {m: np.tile([said[m]], (n, 1)).astype(np.float32) for m in combo}
        return res


def test_records_carry_each_modality_opinion_and_a_disagreement_flag():
    gated = replace(BUNDLE, neutral_threshold={Combo.parse("tags"): 0.5, Combo.parse("text"): 0.5})
    untrained_tags = replace(BUNDLE, head_examples={**BUNDLE.head_examples, Combo.parse("tags"): 0})
    posts = [
        {"id": "it", "text": "happy", "image_url": "http://x/ok.jpg"},
        {"id": "tt", "text": "happy", "tags": ["fun"]},
        {"id": "t", "text": "happy"},
    ]
    out, _ = records(run(posts, OpinionClient(), bundle=gated))
    got = {o["id"]: o for o in out}
    assert got["it"]["opinions"] == {"image": {"emotion": "b", "score": 0.7}, "text": {"emotion": "a", "score": 0.8}}
    assert got["it"]["disagreement"] is True and got["it"]["emotion"] == "a"
    assert got["tt"]["opinions"]["tags"] == {"emotion": "neutral", "score": 0.9} and got["tt"]["disagreement"] is True
    # a single-modality head's answer is its modality's opinion (the fake's neutral probability is 0)
    assert got["t"]["opinions"] == {"text": {"emotion": "a", "score": 0.9}} and got["t"]["disagreement"] is False
    out, _ = records(run(posts[1:2], OpinionClient(), bundle=untrained_tags))
    assert list(out[0]["opinions"]) == ["text"] and out[0]["disagreement"] is False  # an untrained head says nothing


def test_the_neutral_gate_answers_neutral_at_its_threshold():
    class Neutral(FakeClient):
        async def infer(self, combo, arrays):
            res = await super().infer(combo, arrays)
            res.neutral_probs = np.full(len(res.emotion_probs), 0.6, np.float32)
            return res

    out, _ = records(
        run(
            [{"id": "x", "text": "party"}],
            Neutral(),
            bundle=replace(BUNDLE, neutral_threshold={Combo.parse("text"): 0.6}),
        )
    )
    assert (out[0]["emotion"], out[0]["sentiment"], out[0]["sentiment_score"], out[0]["neutral_score"]) == (
        "neutral",
        "neutral",
        0.6,
        0.6,
    )
    assert out[0]["emotion_scores"] == {"a": 0.9, "b": 0.1}
    out, _ = records(
        run(
            [{"id": "x", "text": "party"}],
            Neutral(),
            bundle=replace(BUNDLE, neutral_threshold={Combo.parse("text"): 0.61}),
        )
    )
    assert out[0]["emotion"] == "a" and out[0]["neutral_score"] == 0.6
    out, _ = records(run([{"id": "x", "text": "party"}], Neutral()))
    assert out[0]["emotion"] == "a" and out[0]["neutral_score"] is None  # no gate: no score


def test_records_carry_the_post_behind_the_label_unless_told_not_to():
    long = "word " * 100
    posts = [
        {"id": "a", "text": "happy <b>party</b>", "image_url": "http://x/ok.jpg"},
        {"id": "b", "text": long},
        {"id": "c", "tags": ["fun"]},
    ]
    out, _ = records(run(posts))
    got = {o["id"]: o for o in out}
    assert got["a"]["text"] == "happy <b>party</b>" and got["a"]["image_url"] == "http://x/ok.jpg"
    assert len(got["b"]["text"]) == 280 and got["b"]["text"].endswith("…") and long.startswith(got["b"]["text"][:-1])
    assert got["c"]["text"] is None and got["c"]["image_url"] is None
    out, _ = records(run(posts, record_text_chars=0))  # privacy: no text in any record
    assert all(o["text"] is None for o in out) and {o["id"]: o for o in out}["a"]["image_url"] == "http://x/ok.jpg"


def test_records_read_back_with_their_models_and_tail_prints_each_kind():
    """Output records and dead letters are read back with the models that wrote them (the aggregator, tail and the
    demo do); `emostream tail` prints a line for each kind and says when a record is not one of ours."""
    result = run([{"id": "a", "text": "happy party", "tags": ["fun"]}, b"{bad"])
    (out,), (dead,) = result.outputs, result.dead
    rec, dl = EmotionRecord.model_validate_json(out.value), DeadLetterRecord.model_validate_json(dead.value)
    assert rec.id == "a" and rec.head == "text_tags" and dl.reason == "bad_json" and dl.original == "{bad"
    assert format_value(out.value).startswith("a ") and "head=text_tags" in format_value(out.value)
    assert "DEAD LETTER" in format_value(dead.value) and "bad_json" in format_value(dead.value)
    assert format_value(b'{"x": 1}').startswith("(not an emostream record")
