"""Training data: the manifest's examples encoded into tensors, and the frozen-backbone feature cache."""

from __future__ import annotations

import hashlib
import random
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from contracts.combos import COMBO_NAMES, MODALITIES, Combo
from contracts.labels import EMOTIONS, SENTIMENTS
from core.imaging import ImageDecodeError, decode_image
from core.manifest import Example
from core.tokenizer import PAD_ID, Tokenizer

from .loss import MISSING


def manifest_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split_of(examples: list[Example], seed: int = 0, val: float = 0.1, test: float = 0.1) -> dict[str, list[Example]]:
    """Examples by split; those without one are assigned randomly (seeded) in val/test/train proportions."""
    rng = random.Random(seed)
    out: dict[str, list[Example]] = {"train": [], "val": [], "test": []}
    for ex in examples:
        s = ex.split
        if s is None:
            r = rng.random()
            s = "val" if r < val else "test" if r < val + test else "train"
        out[s].append(ex)
    return out


def load_image(ref: str, base: Path, size: int) -> np.ndarray:
    """Read a manifest image (path relative to the manifest, or URL) into uint8 (size, size, 3)."""
    if ref.startswith(("http://", "https://")):
        with urllib.request.urlopen(ref, timeout=20) as r:
            data = r.read()
    else:
        data = (base / ref).read_bytes()
    return decode_image(data, size)


@dataclass
class Encoded:
    """A dataset as tensors. mask[:, j] says whether modality MODALITIES[j] is present."""

    ids: list[str]
    mask: torch.Tensor
    text: torch.Tensor
    tags: torch.Tensor
    images: torch.Tensor  # uint8 (N, S, S, 3), zeros where absent
    emotion: torch.Tensor
    sentiment: torch.Tensor
    image_pooled: torch.Tensor | None = None
    aux: torch.Tensor | None = None  # float (N, len(aux_categories)): each row's source categories, summing to 1 or 0
    neutral: torch.Tensor | None = None  # long (N,): 1 neutral, 0 not, MISSING unknown (the neutral gate's target)
    device: torch.device | None = None  # where batch(), labelled_batch() and rows() put their tensors (None: here)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx) -> Encoded:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return Encoded(
            [self.ids[i] for i in idx.tolist()],
            self.mask[idx],
            self.text[idx],
            self.tags[idx],
            self.images[idx],
            self.emotion[idx],
            self.sentiment[idx],
            None if self.image_pooled is None else self.image_pooled[idx],
            None if self.aux is None else self.aux[idx],
            None if self.neutral is None else self.neutral[idx],
            self.device,
        )

    def keep(self, modalities) -> Encoded:
        """The same examples with every other modality dropped (rows left with none are removed)."""
        keep = torch.tensor([m in modalities for m in MODALITIES])
        enc = replace(self, mask=self.mask & keep)
        return enc.subset(enc.mask.any(dim=1).nonzero(as_tuple=True)[0])

    def having(self, modalities) -> Encoded:
        """Only the examples that have all of `modalities`."""
        need = [MODALITIES.index(m) for m in modalities]
        return self.subset(self.mask[:, need].all(dim=1).nonzero(as_tuple=True)[0])

    def on(self, device: torch.device | str | None) -> Encoded:
        """The same data, its batches delivered on `device` (the tensors stay in host memory, pinned for a GPU, so
        each batch is one asynchronous copy)."""
        device = torch.device(device) if device is not None else None
        if device is not None and device.type == "cuda":
            for f in ("mask", "text", "tags", "images", "emotion", "sentiment", "image_pooled", "aux", "neutral"):
                t = getattr(self, f)
                if t is not None and not t.is_pinned():
                    setattr(self, f, t.pin_memory())
        return replace(self, device=device)

    def _to(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.device is None else t.to(self.device, non_blocking=True)

    def rows(self, field: str, idx: torch.Tensor) -> torch.Tensor | None:
        """One field (`neutral`, `aux`, ...) of rows `idx`, on the data's device; None when the data has none."""
        t = getattr(self, field)
        return None if t is None else self._to(t[idx])

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        b = {"mask": self.mask[idx], "text": self.text[idx], "tags": self.tags[idx]}
        if self.image_pooled is not None:
            b["image_pooled"] = self.image_pooled[idx]
        else:
            b["image"] = self.images[idx]
        return {k: self._to(v) for k, v in b.items()}

    def index_batches(self, size: int, shuffle: bool = False, generator: torch.Generator | None = None):
        """Row indices, `size` at a time (shuffled with `generator` when asked)."""
        order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        for i in range(0, len(self), size):
            yield order[i : i + size]

    def labelled_batch(self, idx: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The model inputs of rows `idx` with their emotion and sentiment labels."""
        return self.batch(idx), self._to(self.emotion[idx]), self._to(self.sentiment[idx])

    def batches(self, size: int, shuffle: bool = False, generator: torch.Generator | None = None):
        for idx in self.index_batches(size, shuffle, generator):
            yield self.labelled_batch(idx)


def encode(
    examples: list[Example],
    tok: Tokenizer,
    base: Path,
    image_size: int,
    progress: bool = True,
    aux_categories: tuple[str, ...] = (),
) -> tuple[Encoded, int]:
    """Tokenize and load images; an image that fails to load becomes an absent modality. With `aux_categories`, each
    example's source categories become a distribution over them (`Encoded.aux`; others ignored).
    Returns (data, failed images)."""
    n = len(examples)
    mask = torch.zeros(n, 3, dtype=torch.bool)
    text = torch.full((n, tok.max_words), PAD_ID, dtype=torch.long)
    tags = torch.full((n, tok.max_tags), PAD_ID, dtype=torch.long)
    side = image_size if any(ex.image for ex in examples) else 0  # text-only data: no 150 KB of zeros per example
    images = torch.zeros(n, side, side, 3, dtype=torch.uint8)
    failed = 0
    for i, ex in enumerate(tqdm(examples, desc="encode", disable=None if progress else True, leave=False)):
        t, g = tok.encode_post(ex.text, ex.tags)
        if t is not None:
            text[i], mask[i, 1] = torch.tensor(t), True
        if g is not None:
            tags[i], mask[i, 2] = torch.tensor(g), True
        if ex.image:
            try:
                images[i] = torch.from_numpy(load_image(ex.image, base, image_size))
                mask[i, 0] = True
            except (OSError, ImageDecodeError):
                failed += 1
    emotion = torch.tensor([EMOTIONS.index(e.emotion) if e.emotion else MISSING for e in examples], dtype=torch.long)
    sentiment = torch.tensor(
        [SENTIMENTS.index(e.sentiment) if e.sentiment else MISSING for e in examples], dtype=torch.long
    )
    neutral = torch.tensor([MISSING if e.neutral is None else int(e.neutral) for e in examples], dtype=torch.long)
    aux = aux_targets(examples, aux_categories) if aux_categories else None
    return Encoded(
        [e.id for e in examples], mask, text, tags, images, emotion, sentiment, aux=aux, neutral=neutral
    ), failed


def aux_targets(examples: list[Example], categories: tuple[str, ...]) -> torch.Tensor:
    """(N, len(categories)) float: an example's categories among `categories`, each 1/their count (a comment two
    raters' categories split evenly); a row of zeros when it has none of them."""
    index = {c: j for j, c in enumerate(categories)}
    out = torch.zeros(len(examples), len(categories))
    for i, ex in enumerate(examples):
        js = sorted({index[c] for c in ex.categories or () if c in index})
        if js:
            out[i, js] = 1.0 / len(js)
    return out


def head_examples(data: Encoded, heads=COMBO_NAMES) -> dict[str, int]:
    """Labelled examples each head can learn from: those having all of its modalities and an emotion, sentiment or
    neutral label (the bundle records it so that the worker routes posts away from heads that never saw data)."""
    labelled = (data.emotion != MISSING) | (data.sentiment != MISSING)
    if data.neutral is not None:
        labelled |= data.neutral == 1
    out = {}
    for name in heads:
        need = [MODALITIES.index(m) for m in Combo.parse(name)]
        out[name] = int((data.mask[:, need].all(dim=1) & labelled).sum())
    return out


def backbone_fingerprint(image_encoder) -> str:
    """sha256 of the backbone's weights and of the torch/torchvision versions: the features' true identity (a weights
    *name* is not: two random inits, or a torch upgrade, give other features for the same name)."""
    import torchvision

    h = hashlib.sha256(f"torch {torch.__version__} torchvision {torchvision.__version__}".encode())
    for name, tensor in sorted(image_encoder.backbone.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def feature_cache_key(fingerprint: str, data: Encoded) -> str:
    """What a cached feature tensor depends on: the backbone, the number of rows, which rows have an image, the
    preprocessing size and those images' bytes. (Keyed by the image bytes alone, every data set without images
    shared one tensor, and a re-ordered set got its features on the wrong rows.)"""
    rows = data.mask[:, 0].nonzero(as_tuple=True)[0]
    h = hashlib.sha256(fingerprint.encode())
    h.update(f"rows={len(data)} images={tuple(data.images.shape[1:])}".encode())
    h.update(rows.numpy().astype(np.int64).tobytes())
    h.update(data.images[rows].numpy().tobytes())
    return h.hexdigest()[:32]


@torch.no_grad()
def pooled_features(
    image_encoder, data: Encoded, cache_dir: Path | None, batch_size: int = 32, progress: bool = True
) -> torch.Tensor:
    """The backbone's pooled features of every present image (zeros elsewhere), cached on disk by `feature_cache_key`. A
    cached tensor of another shape is never used: it is computed again."""
    rows = data.mask[:, 0].nonzero(as_tuple=True)[0]
    shape = (len(data), image_encoder.pooled_dim)
    key = feature_cache_key(backbone_fingerprint(image_encoder), data)
    path = Path(cache_dir) / f"pooled-{key}.pt" if cache_dir else None
    if path is not None and path.exists():
        cached = torch.load(path, weights_only=True)
        if tuple(cached.shape) == shape:
            return cached
    was_training = image_encoder.training
    image_encoder.eval()
    out = torch.zeros(shape)
    device = image_encoder.proj.weight.device  # computed where the encoder is (a GPU when training on one)
    for i in tqdm(
        range(0, len(rows), batch_size), desc="image features", disable=None if progress else True, leave=False
    ):
        r = rows[i : i + batch_size]
        out[r] = image_encoder.pooled(data.images[r].to(device)).float().cpu()
    image_encoder.train(was_training)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out, path)
    return out
