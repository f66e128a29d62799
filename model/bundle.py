"""The model bundle: a versioned folder with weights, configuration, vocabularies, label order, preprocessing,
metrics and the training manifest's hash. The trainer writes it; the exporter and the stream read it."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import numpy as np
import torch

from contracts.combos import COMBOS, MODALITIES, Combo
from contracts.labels import EMOTIONS, SENTIMENTS
from core.bundle_info import BundleInfo, BundleMeta, Labels, Preprocessing

from .architecture import EmotionNet
from .backbones import BACKBONES
from .config import ModelConfig, TrainConfig

FORMAT = 2  # 2: text and tag pooling over the words / tags only (1 pooled over the padding too)


def save_bundle(
    root: Path,
    model: EmotionNet,
    prep,
    train_cfg: TrainConfig,
    history: list[dict],
    test_metrics: dict,
    head_examples: dict[str, int] | None = None,
    emotion_tau: dict[str, float] | None = None,
) -> Path:
    """Write root/<version>/ and point root/latest at it. Version = UTC time + first 8 hex of the weights' sha256.
    `head_examples`: training examples per head (None: every head counts as trained); `emotion_tau`: the logit
    adjustment of each head (model/calibration.py; the offsets themselves are in the weights)."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    weights = buf.getvalue()
    version = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + hashlib.sha256(weights).hexdigest()[:8]
    out = Path(root) / version
    out.mkdir(parents=True, exist_ok=False)
    (out / "weights.pt").write_bytes(weights)
    prep.tokenizer.save(out / "tokenizer.json")
    backbone = BACKBONES[prep.model_cfg.image_backbone]
    BundleMeta(
        format=FORMAT,
        version=version,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        labels=Labels(emotions=EMOTIONS, sentiments=SENTIMENTS),
        modalities=MODALITIES,
        combos=COMBOS,
        preprocessing=Preprocessing(
            image_size=prep.model_cfg.image_size,
            image_backbone=prep.model_cfg.image_backbone,
            image_mean=[round(v / 255, 6) for v in backbone.mean],
            image_std=[round(v / 255, 6) for v in backbone.std],
            min_count=train_cfg.min_count,
            social_tokens=prep.tokenizer.social,
        ),
        architecture=prep.model_cfg.model_dump(mode="json"),
        train_config=train_cfg.model_dump(mode="json"),
        manifest_sha256=prep.manifest_sha256,
        trained_on=prep.trained_on(),
        word_vector_coverage=prep.coverage,
        head_examples=head_examples if head_examples is not None else {c: 1 for c in COMBOS},
        emotion_tau=emotion_tau or {},
        neutral_threshold={c: h.neutral_threshold for c, h in model.heads.items() if h.neutral is not None},
        # the languages of the training texts (core/language.py): a worker degrades text in any other language
        languages=prep.languages,
        history=history,
        test_metrics=test_metrics,
    ).write(out)
    latest = Path(root) / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(version)
    return out


class Bundle:
    """A loaded bundle: the model (eval mode, CPU), the tokenizer and the metadata."""

    def __init__(self, path: Path):
        self.info = BundleInfo.load(path)
        self.path, self.meta, self.version, self.tokenizer = (
            self.info.path,
            self.info.meta,
            self.info.version,
            self.info.tokenizer,
        )
        if self.meta.format != FORMAT:
            raise ValueError(f"{self.path}: bundle format {self.meta.format} is not {FORMAT}")
        self.config = ModelConfig(**self.meta.architecture)
        self.model = EmotionNet(self.config, image_weights="none")
        state = torch.load(self.path / "weights.pt", map_location="cpu", weights_only=True)
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith(".emotion_offset")]  # bundles from before the calibration
        if missing or unexpected:
            raise ValueError(f"{self.path}: weights do not fit the model (missing {missing}, unexpected {unexpected})")
        self.model.eval()

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @torch.no_grad()
    def predict_arrays(
        self,
        combo: str,
        image: np.ndarray | None = None,
        text: np.ndarray | None = None,
        tags: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Emotion (B, 8), sentiment (B, 2) and neutral-gate (B,; zeros without a gate) probabilities from one head,
        given exactly its inputs
        (uint8 (B, S, S, 3) image, int64 (B, max_words) text ids, int64 (B, max_tags) tag ids)."""
        mods = Combo.parse(combo).modalities
        given = {"image": image, "text": text, "tags": tags}
        if {m for m, v in given.items() if v is not None} != set(mods):
            raise ValueError(f"head {combo} needs exactly {mods}")
        n = len(next(v for v in given.values() if v is not None))
        batch = {"mask": torch.tensor([[m in mods for m in MODALITIES]] * n)}
        for m in mods:
            batch[m] = torch.as_tensor(given[m])
        batch.setdefault("text", torch.zeros(n, self.tokenizer.max_words, dtype=torch.long))
        batch.setdefault("tags", torch.zeros(n, self.tokenizer.max_tags, dtype=torch.long))
        _, e, s, n = self.model(batch, heads=(combo,))[combo]
        neutral = torch.sigmoid(n) if n is not None else torch.zeros(len(e))
        return torch.softmax(e, 1).numpy(), torch.softmax(s, 1).numpy(), neutral.numpy()

    def predict(self, post: dict) -> dict:
        """Label one post {'text', 'tags', 'image' (uint8 HxWx3 already resized)} as the worker would: the head of the
        modalities it has, or the largest trained one among them (BundleInfo.route); neutral when its gate fires."""
        text, tags = self.tokenizer.encode_post(post.get("text"), post.get("tags"))
        image = post.get("image")
        present = {"image": image is not None, "text": text is not None, "tags": tags is not None}
        head, reason = self.info.route(Combo.of(m for m, ok in present.items() if ok))
        if head is None:
            raise ValueError(reason)
        emo, sent, neutral = self.predict_arrays(
            head.name,
            image=None if "image" not in head else np.asarray(image, dtype=np.uint8)[None],
            text=None if "text" not in head else np.array([text], dtype=np.int64),
            tags=None if "tags" not in head else np.array([tags], dtype=np.int64),
        )
        emotion, _ = self.info.answer(head, emo[0], float(neutral[0]))
        gated = emotion == "neutral"
        return {
            "head": head.name,
            "head_reason": reason,
            "emotion": emotion,
            "emotion_scores": dict(zip(EMOTIONS, map(float, emo[0]), strict=True)),
            "sentiment": "neutral" if gated else SENTIMENTS[int(sent[0].argmax())],
            "sentiment_score": float(neutral[0]) if gated else float(sent[0].max()),
            "neutral_score": float(neutral[0]) if self.info.has_gate(head) else None,
            "model_version": self.version,
        }


def load_bundle(path: Path) -> Bundle:
    """Load a bundle folder (or a root folder holding `latest`)."""
    return Bundle(path)
