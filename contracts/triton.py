"""The Triton contract (docs/TRITON.md): model names, tensor names, dtypes and shapes, config parameters.

The exporter writes models by it, the worker's client checks and calls them by it, the benchmarks replay it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .combos import COMBOS, MODALITIES, Combo
from .labels import EMOTIONS, SENTIMENTS

__all__ = [
    "Tensor",
    "INPUTS",
    "FEATURES",
    "EMOTION_PROBS",
    "SENTIMENT_PROBS",
    "NEUTRAL_PROB",
    "OPINIONS",
    "OPINION_SIZE",
    "outputs",
    "OUTPUTS",
    "PARAMS",
    "input_dims",
    "TEXT_LENGTH_STEP",
    "text_length",
    "ensemble_name",
    "encoder_name",
    "head_name",
    "model_names",
]


@dataclass(frozen=True)
class Tensor:
    """One tensor: its name, Triton's datatype on the wire ('UINT8') and in config.pbtxt ('TYPE_UINT8'), numpy's."""

    name: str
    datatype: str
    numpy: str

    @property
    def config_type(self) -> str:
        return f"TYPE_{self.datatype}"


# The input of each modality, the same name on the encoder and on every ensemble that takes it.
INPUTS: dict[str, Tensor] = {
    "image": Tensor("image", "UINT8", "uint8"),  # (S, S, 3) RGB, resized and centre-cropped; normalised inside
    "text": Tensor("text_ids", "INT64", "int64"),  # (L,) token ids of the bundle's tokenizer, L = text_length(...)
    "tags": Tensor("tag_ids", "INT64", "int64"),  # (max_tags,)
}
# Each encoder's output, the head's inputs.
FEATURES: dict[str, Tensor] = {m: Tensor(f"{m}_features", "FP32", "float32") for m in MODALITIES}
# Every head's (and ensemble's) outputs, with their sizes: probabilities in the bundle's label order.
EMOTION_PROBS = Tensor("emotion_probs", "FP32", "float32")
SENTIMENT_PROBS = Tensor("sentiment_probs", "FP32", "float32")
NEUTRAL_PROB = Tensor("neutral_prob", "FP32", "float32")  # the neutral gate's probability (0 for a head without one)
OUTPUTS: tuple[tuple[Tensor, int], ...] = (
    (EMOTION_PROBS, len(EMOTIONS)),
    (SENTIMENT_PROBS, len(SENTIMENTS)),
    (NEUTRAL_PROB, 1),
)
# A head of two or more modalities also gives each single-modality head's opinion of the same post (from the same
# features): that head's emotion probabilities, then its neutral-gate probability. Optional: an export without them
# (`emostream export --no-opinions`) serves OUTPUTS alone, and the client reads what the ensemble declares.
OPINIONS: dict[str, Tensor] = {m: Tensor(f"{m}_opinion", "FP32", "float32") for m in MODALITIES}
OPINION_SIZE = len(EMOTIONS) + 1


def outputs(combo: Combo, opinions: bool = True) -> list[tuple[Tensor, int]]:
    """The outputs of `combo`'s head and ensemble: OUTPUTS, then (with `opinions`, for two or more modalities) the
    opinion of each of its modalities' heads."""
    extra = [(OPINIONS[m], OPINION_SIZE) for m in combo] if opinions and len(combo) > 1 else []
    return [*OUTPUTS, *extra]


class PARAMS:
    """Keys of the string parameters every exported config carries (the worker checks them at start-up)."""

    BUNDLE_VERSION = "bundle_version"
    TRITON_VERSION = "triton_version"
    EMOTIONS = "emotions"
    SENTIMENTS = "sentiments"
    INTRA_OP_THREADS = "intra_op_threads"  # cpu target: onnxruntime threads per instance
    PROVIDERS = "execution_providers"  # cpu target: onnxruntime execution providers, comma separated


def input_dims(modality: str, image_size: int, max_words: int, max_tags: int) -> list[int]:
    """Per-example shape of a modality's input tensor (the batch dimension comes first on the wire). The text's
    length varies from request to request (-1): see `text_length`; it is never more than max_words."""
    return {"image": [image_size, image_size, 3], "text": [-1], "tags": [max_tags]}[modality]


TEXT_LENGTH_STEP = 16  # padded text lengths are multiples of this: few distinct shapes for the batcher and TensorRT


def text_length(longest: int, max_words: int, window: int) -> int:
    """Length of the text tensor of one request whose longest text has `longest` words: room for every window of
    the widest convolution (`window` words) that starts at a word, so the scores equal those of a text padded to
    max_words; rounded up to a multiple of TEXT_LENGTH_STEP and capped at max_words (the training length). A text
    encoder's cost grows with this length: 5-30 word posts padded to 48 instead of 150 cost half."""
    return min(max_words, -(-(max(longest, 1) + window - 1) // TEXT_LENGTH_STEP) * TEXT_LENGTH_STEP)


def ensemble_name(combo: Combo, prefix: str = "") -> str:
    """The model a client calls for posts having exactly `combo`'s modalities."""
    return f"{prefix}emotion_{combo.name}"


def encoder_name(modality: str, prefix: str = "") -> str:
    return f"{prefix}{modality}_encoder"


def head_name(combo: Combo, prefix: str = "") -> str:
    return f"{prefix}head_{combo.name}"


def model_names(prefix: str = "") -> list[str]:
    """Every model the exporter writes, in load order: encoders, heads, ensembles."""
    return (
        [encoder_name(m, prefix) for m in MODALITIES]
        + [head_name(c, prefix) for c in COMBOS]
        + [ensemble_name(c, prefix) for c in COMBOS]
    )
