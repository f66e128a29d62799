"""Hyperparameters of the model and the trainer, defaulting to the paper's values (sections 3.1 and 3.2)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class ModelConfig(BaseModel):
    """Architecture of section 3.1; vocabulary sizes and word_dim are filled from the data and word vectors."""

    feature_dim: int = Field(300, description="size of r_i and r_t")
    n_words: int = Field(2, description="text vocabulary size, <PAD> and <UNK> included")
    word_dim: int = Field(300, description="word embedding size (the word-vector file's dimension when one is given)")
    text_filters: int = 100
    text_widths: tuple[int, ...] = (3, 4, 5)
    text_dropout: float = 0.25
    n_tags: int = Field(2, description="tag vocabulary size, <PAD> and <UNK> included")
    tag_dim: int = 250
    tag_filters: int = Field(300, description="tag conv filters = size of r_#")
    head_hidden: tuple[int, ...] = (256, 128)
    n_emotions: int = 8
    n_sentiments: int = 2
    max_words: int = 150
    max_tags: int = 10
    image_size: int = Field(224, description="side of the square uint8 RGB image the encoder takes")


class TrainConfig(BaseModel):
    """Optimisation of section 3.2 plus the CPU-friendly options (frozen backbone, feature cache)."""

    lr: float = 0.01
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = Field(4, description="epochs without a better validation loss before stopping")
    seed: int = 0
    min_count: int = Field(5, description="words/tags seen fewer times in training become <UNK>")
    freeze_image: bool = Field(True, description="freeze DenseNet and cache its pooled features (CPU training)")
    image_weights: str = Field(
        "none", description="'none', 'imagenet' (torchvision download) or a path to a state_dict"
    )
    word_vectors: Path | None = Field(None, description="word2vec (.bin/.txt) or GloVe (.txt, no header) file")
    heads: tuple[str, ...] | None = Field(
        None, description="train only these heads (single-task baselines); None = all seven"
    )
    checkpoint_dir: Path | None = Field(
        None, description="write last.pt and best.pt (weights, optimiser, epoch) here each epoch"
    )
