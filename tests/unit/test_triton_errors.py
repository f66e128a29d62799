"""Triton's errors classified: a rejected request is BadRequest (never retried as is), one that took too long or was too
big is InferenceTimeout (split, never retried as is); the rest is transient."""

import pytest
from tritonclient.utils import InferenceServerException

from contracts.combos import Combo
from stream.triton_client import BadRequest, EmotionClient, InferenceTimeout, ModelUnavailable


@pytest.fixture
async def client():
    c = EmotionClient("127.0.0.1:1", prefix="p_")
    yield c
    await c.stop()


@pytest.mark.parametrize(
    "status,msg,kind",
    [
        ("StatusCode.INVALID_ARGUMENT", "inference request batch-size must be <= 256", BadRequest),
        ("StatusCode.INVALID_ARGUMENT", "unexpected shape for input 'text_ids'", BadRequest),
        (None, "unexpected datatype TYPE_FP32 for inference input", BadRequest),
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", ModelUnavailable),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", InferenceTimeout),
        ("StatusCode.NOT_FOUND", "Request for unknown model: 'p_emotion_text' is not found", ModelUnavailable),
        (
            "StatusCode.UNAVAILABLE",
            "Request for unknown model: 'p_emotion_text' version 1 is not ready",
            ModelUnavailable,
        ),
        ("StatusCode.INTERNAL", "onnxruntime failed", ModelUnavailable),
        (
            "StatusCode.INTERNAL",
            "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : indices element out of data bounds",
            BadRequest,
        ),
        ("StatusCode.RESOURCE_EXHAUSTED", "queue full", InferenceTimeout),
        ("StatusCode.SOMETHING_NEW", "never seen", ModelUnavailable),
    ],
)
async def test_classification(client, status, msg, kind):
    err = client._classify(Combo.parse("text"), InferenceServerException(msg, status=status))
    assert type(err) is kind and "p_emotion_text" in str(err)


async def test_wrong_inputs_are_refused_before_sending(client):
    import numpy as np

    with pytest.raises(BadRequest, match="takes exactly"):
        await client.infer(Combo.parse("text_tags"), {"text": np.zeros((1, 150), np.int64)})
    with pytest.raises(BadRequest, match="dtype"):
        await client.infer(Combo.parse("text"), {"text": np.zeros((1, 150), np.float32)})
