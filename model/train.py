"""The offline trainer: Adam, batch 64, early stopping on the validation multitask loss (paper section 3.2)."""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from contracts.combos import COMBO_NAMES, Combo

from .architecture import EmotionNet
from .config import ModelConfig, TrainConfig
from .data import Encoded, encode, head_examples, manifest_hash, pooled_features, split_of
from .embeddings import embedding_matrix
from .loss import multitask_loss
from .manifest import read_manifest
from .metrics import evaluate_heads, mean_loss
from .tokenizer import Tokenizer


@dataclass
class Prepared:
    """Tokenizer, encoded splits and embedding init, shared by the trainer and the experiments."""

    tokenizer: Tokenizer
    splits: dict[str, Encoded]
    model_cfg: ModelConfig
    vectors: torch.Tensor | None
    coverage: float | None
    manifest_sha256: str
    failed_images: int


def prepare(manifest: Path, train_cfg: TrainConfig, model_cfg: ModelConfig | None = None, log=print) -> Prepared:
    """Read the manifest, fit the vocabularies on the training split, encode every split, load word vectors."""
    model_cfg = model_cfg or ModelConfig()
    examples = read_manifest(manifest)
    parts = split_of(examples, seed=train_cfg.seed)
    tok = Tokenizer.fit(
        [(e.text, e.tags) for e in parts["train"]],
        min_count=train_cfg.min_count,
        max_words=model_cfg.max_words,
        max_tags=model_cfg.max_tags,
    )
    vectors, coverage = None, None
    updates = {"n_words": len(tok.words), "n_tags": len(tok.tags)}
    if train_cfg.word_vectors:
        mat, coverage = embedding_matrix(tok.words, train_cfg.word_vectors, seed=train_cfg.seed)
        vectors = torch.from_numpy(mat)
        updates["word_dim"] = mat.shape[1]
        log(
            f"word vectors: {train_cfg.word_vectors} ({mat.shape[1]}-d), "
            f"coverage {coverage:.1%} of {len(tok.words) - 2} vocabulary words"
        )
    model_cfg = model_cfg.model_copy(update=updates)
    base = Path(manifest).parent
    splits, failed = {}, 0
    for name, exs in parts.items():
        splits[name], f = encode(exs, tok, base, model_cfg.image_size)
        failed += f
    log(
        "data: "
        + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        + f"; vocab {len(tok.words)} words, {len(tok.tags)} tags"
        + (f"; {failed} images failed to load" if failed else "")
    )
    return Prepared(tok, splits, model_cfg, vectors, coverage, manifest_hash(manifest), failed)


def build_model(prep: Prepared, train_cfg: TrainConfig, cache_dir: Path | None, log=print) -> EmotionNet:
    """A fresh EmotionNet; with a frozen backbone, every split gets its cached pooled image features."""
    torch.manual_seed(train_cfg.seed)
    model = EmotionNet(prep.model_cfg, train_cfg.image_weights, prep.vectors)
    if train_cfg.freeze_image:
        model.image.backbone.requires_grad_(False)
        for split in prep.splits.values():
            if split.image_pooled is None:
                split.image_pooled = pooled_features(
                    model.image, split, cache_dir, f"{train_cfg.image_weights}:{prep.model_cfg.image_size}"
                )
    return model


def fit(
    model: EmotionNet, train: Encoded, val: Encoded, cfg: TrainConfig, log=print, progress: bool = True
) -> list[dict]:
    """Train with early stopping; the model ends with its best-validation weights. Returns the per-epoch history."""
    gen = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    best, best_state, bad, history = float("inf"), None, 0, []
    heads = tuple(cfg.heads) if cfg.heads else None
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        if cfg.freeze_image:
            model.image.backbone.eval()  # BatchNorm statistics stay those of the frozen weights
        t0, total, n = time.monotonic(), 0.0, 0
        bar = tqdm(
            train.batches(cfg.batch_size, shuffle=True, generator=gen),
            total=-(-len(train) // cfg.batch_size),
            desc=f"epoch {epoch}",
            disable=not progress,
            leave=False,
        )
        for batch, emo, sent in bar:
            loss, _ = multitask_loss(model(batch, heads=heads), emo, sent, len(emo))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(emo)
            n += len(emo)
        val_loss = mean_loss(model, val, heads)
        acc = {c: r["emotion_acc"] for c, r in evaluate_heads(model, val, heads or COMBO_NAMES).items()}
        history.append(
            {
                "epoch": epoch,
                "train_loss": total / max(n, 1),
                "val_loss": val_loss,
                "val_emotion_acc": acc,
                "seconds": time.monotonic() - t0,
                "examples_per_s": n / (time.monotonic() - t0),
            }
        )
        log(
            f"epoch {epoch:2d} train {total / max(n, 1):.3f} val {val_loss:.3f} | "
            + " ".join(f"{Combo.parse(c).paper} {a:.2f}" for c, a in acc.items())
        )
        improved = val_loss < best - 1e-4
        if cfg.checkpoint_dir:
            _checkpoint(cfg.checkpoint_dir, model, opt, epoch, val_loss, improved)
        if improved:
            best, best_state, bad = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
            if bad >= cfg.patience:
                log(f"early stop: no better validation loss for {cfg.patience} epochs (best {best:.3f})")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _checkpoint(folder: Path, model, opt, epoch: int, val_loss: float, best: bool) -> None:
    """last.pt every epoch, best.pt when the validation loss improved (resumable: weights, optimiser, epoch)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {"epoch": epoch, "val_loss": val_loss, "model": model.state_dict(), "optimizer": opt.state_dict()}
    torch.save(state, folder / "last.pt")
    if best:
        torch.save(state, folder / "best.pt")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="emostream train", description="Train the multimodal multitask model and write a model bundle."
    )
    ap.add_argument("--manifest", type=Path, required=True, help="JSONL manifest (docs/DATA.md)")
    ap.add_argument("--out", type=Path, default=Path("artifacts/bundles"), help="folder that receives the new bundle")
    ap.add_argument("--cache", type=Path, default=Path("artifacts/cache"), help="image feature cache")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--no-freeze", action="store_true", help="fine-tune DenseNet too (slow on a CPU)")
    for name, field in TrainConfig.model_fields.items():
        if name in ("freeze_image", "heads", "checkpoint_dir"):
            continue
        ap.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(field.default) if field.default is not None else Path,
            default=field.default,
            help=field.description,
        )
    ap.add_argument("--heads", nargs="*", choices=COMBO_NAMES, help="train only these heads (default: all seven)")
    ap.add_argument(
        "--checkpoint-dir", type=Path, default=Path("artifacts/checkpoints"), help="last.pt / best.pt each epoch"
    )
    args = ap.parse_args(argv)
    skip = ("freeze_image", "heads", "checkpoint_dir")
    cfg = TrainConfig(
        **{k: getattr(args, k) for k in TrainConfig.model_fields if k not in skip},
        freeze_image=not args.no_freeze,
        heads=tuple(args.heads) if args.heads else None,
        checkpoint_dir=args.checkpoint_dir,
    )
    from .bundle import save_bundle

    prep = prepare(args.manifest, cfg, ModelConfig(image_size=args.image_size))
    model = build_model(prep, cfg, args.cache)
    history = fit(model, prep.splits["train"], prep.splits["val"], cfg)
    test = evaluate_heads(model, prep.splits["test"])
    path = save_bundle(
        args.out, model, prep, cfg, history, test, head_examples(prep.splits["train"], cfg.heads or COMBO_NAMES)
    )
    print(json.dumps({c: {k: round(v, 4) for k, v in r.items()} for c, r in test.items()}, indent=1))
    print(f"bundle: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
