"""The exported model on the real Triton: parity with PyTorch for all seven heads (their neutral gates and the
modalities' opinions included), dynamic batching, typed errors, reload."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
import tritonclient.http as httpclient

from contracts import triton as tc
from contracts.combos import COMBO_NAMES, COMBOS, Combo
from core.bundle_info import BundleInfo
from model.bundle import load_bundle
from stream.pipeline import text_tensor
from stream.triton_client import BadRequest, EmotionClient, ModelMismatch, ModelUnavailable
from tests.helpers.bundles import perturbed_copy
from tests.helpers.services import serve_bundle, unserve, wait_for

pytestmark = pytest.mark.stack
TOL = 1e-5  # max abs difference of probabilities, ONNX (onnxruntime fp32) vs PyTorch fp32
TEXT_TAGS = Combo.parse("text_tags")


def _inputs(bundle, combo, n, seed):
    rng = np.random.default_rng(seed)
    s = bundle.image_size
    arrays = {
        "image": rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8),
        "text": rng.integers(0, len(bundle.tokenizer.words), (n, bundle.tokenizer.max_words), dtype=np.int64),
        "tags": rng.integers(0, len(bundle.tokenizer.tags), (n, bundle.tokenizer.max_tags), dtype=np.int64),
    }
    return {m: arrays[m] for m in Combo.parse(combo)}


@pytest.mark.parametrize("combo", COMBO_NAMES)
async def test_parity_with_pytorch(stack, served, combo):
    bundle = load_bundle(served.bundle_path)
    client = EmotionClient(stack.triton_grpc_url, prefix=served.prefix)
    try:
        inputs = _inputs(bundle, combo, 5, seed=len(combo))
        await client.check(bundle.info, [Combo.parse(combo)])  # reads which outputs the ensemble declares
        res = await client.infer(Combo.parse(combo), inputs)
        emo, sent, neutral = bundle.predict_arrays(combo, **inputs)
        assert res.emotion_probs.shape == (5, 8) and res.sentiment_probs.shape == (5, 2)
        np.testing.assert_allclose(res.emotion_probs, emo, atol=TOL, rtol=0)
        np.testing.assert_allclose(res.sentiment_probs, sent, atol=TOL, rtol=0)
        assert bundle.config.neutral_gate and res.neutral_probs.shape == (5,)  # the demo data has neutral posts
        np.testing.assert_allclose(res.neutral_probs, neutral, atol=TOL, rtol=0)
        # each modality's own head on the same post: the opinions of a head of 2-3 modalities
        assert sorted(res.opinions) == (sorted(Combo.parse(combo)) if len(Combo.parse(combo)) > 1 else [])
        for m, got in res.opinions.items():
            e, _, n = bundle.predict_arrays(m, **{m: inputs[m]})
            np.testing.assert_allclose(got, np.concatenate([e, n[:, None]], axis=1), atol=TOL, rtol=0)
        assert res.triton_version == str(served.version)
    finally:
        await client.stop()


async def test_the_first_request_of_a_combination_already_carries_the_opinions(stack, served):
    """A worker's client (given the bundle) reads an ensemble's outputs before its first request to it: the first
    batch of text+tags posts gets each modality's opinion too (it once came without them until a timer's check)."""
    bundle = load_bundle(served.bundle_path)
    client = EmotionClient(stack.triton_grpc_url, prefix=served.prefix, bundle=bundle.info)
    try:
        res = await client.infer(TEXT_TAGS, _inputs(bundle, "text_tags", 3, seed=11))
        assert sorted(res.opinions) == ["tags", "text"] and res.opinions["text"].shape == (3, 9)
    finally:
        await client.stop()


async def test_short_text_requests_score_as_texts_padded_to_max_words(stack, served):
    """The worker cuts a request's text tensor to what its longest text needs (tc.text_length), not max_words."""
    bundle, info = load_bundle(served.bundle_path), BundleInfo.load(served.bundle_path)
    rng = np.random.default_rng(7)
    full = np.zeros((6, info.max_words), np.int64)
    for i, n in enumerate((1, 4, 5, 11, 27, 40)):
        full[i, :n] = rng.integers(1, len(bundle.tokenizer.words), n)
    short = text_tensor(full.tolist(), info.max_words, info.text_window)
    assert short.shape == (6, 48)
    client = EmotionClient(stack.triton_grpc_url, prefix=served.prefix)
    try:
        text = Combo.parse("text")
        got, padded = await client.infer(text, {"text": short}), await client.infer(text, {"text": full})
        np.testing.assert_allclose(got.emotion_probs, padded.emotion_probs, atol=TOL, rtol=0)
        np.testing.assert_allclose(got.sentiment_probs, padded.sentiment_probs, atol=TOL, rtol=0)
        np.testing.assert_allclose(got.emotion_probs, bundle.predict_arrays("text", text=full)[0], atol=TOL, rtol=0)
    finally:
        await client.stop()


async def test_startup_check_accepts_the_bundle_and_rejects_another(stack, served):
    info = BundleInfo.load(served.bundle_path)
    client = EmotionClient(stack.triton_grpc_url, prefix=served.prefix)
    try:
        await client.wait_ready(COMBOS, timeout_s=30)
        await client.check(info)
        assert client.served_bundle_version == info.version
        assert client.max_batch == {c: (32 if c.has_image else 256) for c in COMBOS}  # ExportOptions' defaults
        other = BundleInfo(**{**info.__dict__, "version": "other-version", "emotions": tuple(reversed(info.emotions))})
        with pytest.raises(ModelMismatch, match="label order.*\n.*serves bundle"):
            await client.check(other, [Combo.parse("text")])
        smaller = BundleInfo(**{**info.__dict__, "max_tags": 5})
        with pytest.raises(ModelMismatch, match="inputs"):
            await client.check(smaller, [Combo.parse("tags")])
    finally:
        await client.stop()


async def test_dynamic_batching_merges_concurrent_requests(stack, served):
    bundle = load_bundle(served.bundle_path)
    client = EmotionClient(stack.triton_grpc_url, prefix=served.prefix)
    http = httpclient.InferenceServerClient(stack.triton_http_url)
    name = tc.encoder_name("text", served.prefix)
    before = http.get_inference_statistics(name)["model_stats"][0]
    try:
        await asyncio.gather(*(client.infer(TEXT_TAGS, _inputs(bundle, "text_tags", 1, seed=i)) for i in range(48)))
    finally:
        await client.stop()
    after = {}

    def counted() -> bool:  # Triton updates its statistics after answering: wait (bounded) until they settle
        after.update(http.get_inference_statistics(name)["model_stats"][0])
        return int(after["inference_count"]) - int(before["inference_count"]) >= 48

    wait_for(counted, 10, "Triton's statistics to count every request", every_s=0.05)
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    executions = int(after["execution_count"]) - int(before["execution_count"])
    assert inferences == 48
    assert executions < inferences, f"{executions} executions for {inferences} requests: no batch > 1"
    batch_sizes = {int(b["batch_size"]) for b in after["batch_stats"]}
    assert max(batch_sizes) > 1


async def test_bad_requests_are_typed_and_fast(stack, served):
    bundle = load_bundle(served.bundle_path)
    client = EmotionClient(stack.triton_grpc_url, prefix=served.prefix, timeout_s=5)
    good = _inputs(bundle, "text_tags", 2, seed=0)
    text = Combo.parse("text")
    try:
        with pytest.raises(BadRequest, match="text_ids|shape"):
            await client.infer(TEXT_TAGS, {"text": good["text"], "tags": good["tags"][:, :5]})
        with pytest.raises(BadRequest, match="dtype"):
            await client.infer(TEXT_TAGS, {"text": good["text"].astype(np.float32), "tags": good["tags"]})
        with pytest.raises(BadRequest, match="takes exactly"):
            await client.infer(TEXT_TAGS, {"text": good["text"]})
        too_many = _inputs(bundle, "text_tags", 257, seed=3)  # above the exported max_batch_size (256)
        with pytest.raises(BadRequest):
            await client.infer(TEXT_TAGS, too_many)
        absent = EmotionClient(stack.triton_grpc_url, prefix="nosuchprefix_", timeout_s=5)
        with pytest.raises(ModelUnavailable, match="nosuchprefix_emotion_text"):
            await asyncio.wait_for(absent.infer(text, {"text": good["text"]}), 10)
        await absent.stop()
    finally:
        await client.stop()
    down = EmotionClient("127.0.0.1:1", timeout_s=2)
    with pytest.raises(ModelUnavailable, match="127.0.0.1:1"):
        await asyncio.wait_for(down.infer(text, {"text": good["text"]}), 15)
    with pytest.raises(ModelUnavailable, match="not ready"):
        await down.wait_ready([text], timeout_s=1)
    await down.stop()


async def test_new_version_loads_without_restart(stack, demo_bundle, tmp_path):
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    first = load_bundle(demo_bundle.bundle_path)
    second_path = perturbed_copy(demo_bundle.bundle_path, tmp_path / "second")
    second = load_bundle(second_path)
    client = EmotionClient(stack.triton_grpc_url, prefix=prefix)
    try:
        v1 = serve_bundle(stack, demo_bundle.bundle_path, prefix)
        inputs = _inputs(first, "tags", 3, seed=1)
        tags = Combo.parse("tags")
        r1 = await client.infer(tags, inputs)
        v2 = serve_bundle(stack, second_path, prefix)  # export a new version, ask Triton to (re)load
        r2 = await client.infer(tags, inputs)
        assert (v1, v2) == (1, 2) and (r1.triton_version, r2.triton_version) == ("1", "2")
        np.testing.assert_allclose(r2.emotion_probs, second.predict_arrays("tags", **inputs)[0], atol=TOL, rtol=0)
        assert not np.allclose(r1.emotion_probs, r2.emotion_probs, atol=1e-3)
        await client.check(BundleInfo.load(second_path), [tags])
    finally:
        await client.stop()
        unserve(stack, prefix)
