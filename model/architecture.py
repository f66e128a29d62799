"""The multimodal multitask network of paper section 3.1: three encoders and seven classifier heads.

Every encoder runs only on the rows that have its modality, so an absent modality gets no gradient
(section 3.2: its loss terms are zero).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contracts.combos import COMBO_NAMES, COMBOS, MODALITIES, Combo

from .backbones import BACKBONES, load_backbone
from .config import ModelConfig

__all__ = ["ImageEncoder", "TextEncoder", "TagEncoder", "Head", "EmotionNet"]


class ImageEncoder(nn.Module):
    """An ImageNet CNN (model/backbones.py; the paper's DenseNet-121 by default) whose classifier is replaced by
    Linear(its pooled width, 300). Takes uint8 (B, H, W, 3); normalises inside."""

    def __init__(
        self, feature_dim: int = 300, weights: str = "none", backbone: str = "densenet121", image_size: int = 224
    ):
        super().__init__()
        spec = BACKBONES[backbone]
        self.backbone_name, self.pooled_dim = backbone, spec.features
        self.backbone = load_backbone(backbone, weights, image_size)
        self.proj = nn.Linear(spec.features, feature_dim)
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> the backbone's pooled features (what its ImageNet classifier sees)."""
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        return F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pooled(images))


class TextEncoder(nn.Module):
    """Kim CNN: embedding, dropout, conv widths 3/4/5 (`text_widths`) x 100 filters + ReLU, max/avg/min pooling, Linear.

    The three poolings run over the positions where a window starts at a word, not over the padding: a 12-word comment
    padded to 150 would otherwise have its mean and min set by padding (equation (1) pools over the text)."""

    def __init__(self, cfg: ModelConfig, vectors: torch.Tensor | None = None):
        super().__init__()
        self.embed = nn.Embedding(cfg.n_words, cfg.word_dim, padding_idx=0)
        if vectors is not None:
            with torch.no_grad():
                self.embed.weight.copy_(vectors)
        self.dropout = nn.Dropout(cfg.text_dropout)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.word_dim, cfg.text_filters, w) for w in cfg.text_widths)
        self.fc = nn.Linear(3 * cfg.text_filters * len(cfg.text_widths), cfg.feature_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embed(ids)).transpose(1, 2)
        pools = []
        for conv in self.convs:
            c = F.relu(conv(x))
            valid = (ids[:, : c.shape[2]] != 0).unsqueeze(1)  # a window starting at a word (ids are padded right)
            count = valid.sum(dim=2).clamp(min=1)
            pools += [  # equation (1); ReLU outputs are >= 0, so 0 is neutral for the max
                torch.where(valid, c, 0.0).amax(dim=2),
                torch.where(valid, c, 0.0).sum(dim=2) / count,
                torch.where(valid, c, torch.finfo(c.dtype).max).amin(dim=2),
            ]
        return self.fc(torch.cat(pools, dim=1))


class TagEncoder(nn.Module):
    """Tags: embedding 250-d (random init), conv of 300 filters of width 1 + ReLU, global max pooling -> 300."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.n_tags, cfg.tag_dim, padding_idx=0)
        self.conv = nn.Conv1d(cfg.tag_dim, cfg.tag_filters, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.conv(self.embed(ids).transpose(1, 2)))
        return torch.where((ids != 0).unsqueeze(1), c, 0.0).amax(dim=2)  # over the tags, not the padding


class Head(nn.Module):
    """One classifier: concat of the present features -> 256 -> ReLU -> 128 -> ReLU -> emotion (8) and sentiment (2)
    logits, and with `cfg.neutral_gate` one "no emotion" logit (the neutral gate, model/neutral.py; else None). The
    emotion logits get `emotion_offset` added: zeros, or the logit adjustment chosen on the validation split after
    training (model/calibration.py)."""

    def __init__(self, in_dim: int, cfg: ModelConfig):
        super().__init__()
        layers, d = [], in_dim
        for h in cfg.head_hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        self.trunk = nn.Sequential(*layers)
        self.emotion = nn.Linear(d, cfg.n_emotions)
        self.sentiment = nn.Linear(d, cfg.n_sentiments)
        self.neutral = nn.Linear(d, 1) if cfg.neutral_gate else None
        self.neutral_threshold: float | None = None  # chosen on validation (model/neutral.py), written to bundle.json
        self.register_buffer("emotion_offset", torch.zeros(cfg.n_emotions))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        z = self.trunk(feats)
        neutral = self.neutral(z).squeeze(1) if self.neutral is not None else None
        return self.emotion(z) + self.emotion_offset, self.sentiment(z), neutral


class EmotionNet(nn.Module):
    """Encoders for image, text and tags and one head per non-empty modality subset (7). With `aux_categories`, also
    a linear output from the text features to the source's categories: a training-time auxiliary task that no served
    output uses (model/loss.py `aux_loss`)."""

    def __init__(self, cfg: ModelConfig, image_weights: str = "none", word_vectors: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.image = ImageEncoder(cfg.feature_dim, image_weights, cfg.image_backbone, cfg.image_size)
        self.text = TextEncoder(cfg, word_vectors)
        self.tags = TagEncoder(cfg)
        dims = {"image": cfg.feature_dim, "text": cfg.feature_dim, "tags": cfg.tag_filters}
        self.heads = nn.ModuleDict({c.name: Head(sum(dims[m] for m in c), cfg) for c in COMBOS})
        self.feature_dropout = nn.Dropout(cfg.feature_dropout)  # on r_i, r_t, r_# while training (0: the paper)
        self.aux = nn.Linear(cfg.feature_dim, len(cfg.aux_categories)) if cfg.aux_categories else None

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Features (B, d) per modality, zeros on rows without it; each encoder sees only the rows that have it.

        batch: `mask` bool (B, 3) in MODALITIES order; `text` (B, max_words) and `tags` (B, max_tags) int64;
        `image` uint8 (B, H, W, 3) or `image_pooled` (B, backbone width) precomputed by a frozen backbone.
        """
        mask = batch["mask"]
        feats = {}
        for j, m in enumerate(MODALITIES):
            rows = mask[:, j].nonzero(as_tuple=True)[0]
            dim = self.cfg.tag_filters if m == "tags" else self.cfg.feature_dim
            out = torch.zeros(mask.shape[0], dim, device=mask.device)
            if len(rows):
                if m == "image":
                    r = (
                        self.image.proj(batch["image_pooled"][rows])
                        if "image_pooled" in batch
                        else self.image(batch["image"][rows])
                    )
                else:
                    r = getattr(self, m)(batch[m][rows])
                out = out.index_copy(0, rows, r)
            feats[m] = self.feature_dropout(out)
        return feats

    def forward(self, batch: dict[str, torch.Tensor], heads: tuple[str, ...] | None = None) -> dict[str, tuple]:
        """For each head whose modalities some rows have: (row indices, emotion logits, sentiment logits, neutral logits
        or None)."""
        return self.classify(self.encode(batch), batch["mask"], heads)

    def classify(self, feats: dict[str, torch.Tensor], mask: torch.Tensor, heads: tuple[str, ...] | None = None):
        """forward's output from encode's features."""
        out = {}
        for name in heads or COMBO_NAMES:
            combo = Combo.parse(name)
            need = [MODALITIES.index(m) for m in combo]
            rows = mask[:, need].all(dim=1).nonzero(as_tuple=True)[0]
            if len(rows):
                x = torch.cat([feats[m][rows] for m in combo], dim=1)
                out[name] = (rows, *self.heads[name](x))
        return out
