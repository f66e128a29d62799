"""The offline trainer (paper section 3.2: Adam, batch 64, the multitask loss, early stopping), with the presets of
model/config.py: `paper` as written, `default` as measured best on real text."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from pydantic import ValidationError
from tqdm import tqdm

from contracts.combos import COMBO_NAMES, Combo
from contracts.labels import EMOTIONS
from core.language import training_languages
from core.manifest import Example, read_manifest
from core.tokenizer import Tokenizer

from .architecture import EmotionNet
from .calibration import calibrate
from .config import PRESETS, ModelConfig, TrainConfig
from .data import Encoded, encode, head_examples, manifest_hash, pooled_features, split_of
from .device import placement
from .loss import MISSING, aux_loss, multitask_loss
from .metrics import evaluate_heads, mean_loss
from .neutral import calibrate_gates
from .wordvectors import embedding_matrix, vocabulary_vectors


@dataclass
class Prepared:
    """Tokenizer, encoded splits and embedding init, shared by the trainer and the experiments."""

    tokenizer: Tokenizer
    splits: dict[str, Encoded]
    examples: dict[str, list[Example]]
    model_cfg: ModelConfig
    vectors: torch.Tensor | None
    coverage: float | None
    manifest_sha256: str
    failed_images: int
    manifest: Path | None = None

    @cached_property
    def languages(self) -> list[str]:
        """The training texts' languages (core/language.py), written into the bundle."""
        return training_languages(e.text for e in self.examples["train"])

    def trained_on(self) -> dict:
        """What the bundle was trained on, in words and numbers (bundle.json; the demo prints it): the manifest, the
        source its summary.json names, the examples per split and which modalities they have."""
        summary = self.manifest.parent / "summary.json" if self.manifest else None
        source = json.loads(summary.read_text()).get("source") if summary and summary.exists() else None
        return {
            "manifest": str(self.manifest) if self.manifest else None,
            "source": source,
            "examples": {name: len(rows) for name, rows in self.examples.items()},
            "with_modality": {
                m: sum(1 for ex in self.examples["train"] if getattr(ex, m)) for m in ("image", "text", "tags")
            },
        }


def prepare(
    manifest: Path,
    train_cfg: TrainConfig,
    model_cfg: ModelConfig | None = None,
    log=print,
    max_words: int = Tokenizer.max_words,
    max_tags: int = Tokenizer.max_tags,
) -> Prepared:
    """Read the manifest, fit the vocabularies on the training split, encode every split, load word vectors. The word
    and tag limits are the tokenizer's (stored once, in the bundle's tokenizer.json)."""
    shared = TrainConfig.model_fields.keys() & ModelConfig.model_fields.keys()  # set by the preset: dropouts, widths
    model_cfg = (model_cfg or ModelConfig()).model_copy(update={k: getattr(train_cfg, k) for k in shared})
    examples = read_manifest(manifest)
    parts = split_of(examples, seed=train_cfg.seed)
    posts = [(e.text, e.tags) for e in parts["train"]]
    sizes = {
        "min_count": train_cfg.min_count,
        "max_words": max_words,
        "max_tags": max_tags,
        "social": train_cfg.social_tokens,
    }
    tok = Tokenizer.fit(posts, **sizes)
    if train_cfg.word_vectors and train_cfg.rare_words_with_vectors:
        seen = Tokenizer.fit(posts, **{**sizes, "min_count": 1}).words.itos[2:]
        with_vectors = vocabulary_vectors(train_cfg.word_vectors, seen).key_to_index
        tok = Tokenizer.fit(posts, **sizes, keep_words=frozenset(with_vectors))
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
    # the neutral gate, when the training split has neutral examples to learn it from
    updates["neutral_gate"] = bool(train_cfg.neutral_weight) and any(e.neutral for e in parts["train"])
    if train_cfg.aux_weight:  # the source categories seen in training, if the manifest has any
        updates["aux_categories"] = tuple(sorted({c for e in parts["train"] for c in e.categories or ()}))
    model_cfg = model_cfg.model_copy(update=updates)
    base = Path(manifest).parent
    splits, failed = {}, 0
    for name, exs in parts.items():
        splits[name], f = encode(exs, tok, base, model_cfg.image_size, aux_categories=model_cfg.aux_categories)
        failed += f
    log(
        "data: "
        + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        + f"; vocab {len(tok.words)} words, {len(tok.tags)} tags"
        + (f"; auxiliary target: {len(model_cfg.aux_categories)} source categories" if model_cfg.aux_categories else "")
        + (
            f"; neutral gate: {int((splits['train'].neutral == 1).sum())} neutral training examples"
            if model_cfg.neutral_gate
            else f"; {unused} neutral training examples unused (no neutral gate: --neutral-weight 0)"
            if (unused := sum(1 for e in parts["train"] if e.neutral))
            else ""
        )
        + (f"; {failed} images failed to load" if failed else "")
    )
    return Prepared(tok, splits, parts, model_cfg, vectors, coverage, manifest_hash(manifest), failed, Path(manifest))


def build_model(prep: Prepared, train_cfg: TrainConfig, cache_dir: Path | None, log=print) -> EmotionNet:
    """A fresh EmotionNet; with a frozen backbone, every split gets its cached pooled image features."""
    torch.manual_seed(train_cfg.seed)
    model = EmotionNet(prep.model_cfg, train_cfg.image_weights, prep.vectors)
    if train_cfg.freeze_vectors and prep.vectors is not None:
        model.text.embed.weight.requires_grad_(False)
    if train_cfg.freeze_image:
        model.image.backbone.requires_grad_(False)
        model.image.to(placement(train_cfg.device).device)  # the features are computed where training runs
        for split in prep.splits.values():
            if split.image_pooled is None:
                split.image_pooled = pooled_features(model.image, split, cache_dir)
        model.image.to("cpu")
    return model


def score(metrics: dict[str, dict[str, float]]) -> float:
    """One validation number for early stopping: the mean of emotion macro-F1 and sentiment accuracy over the heads
    evaluated, each where the data has that label, weighted by the head's validation examples (a head that sees a
    handful of posts does not steer the stop)."""
    pairs = [
        (r[k], r["n"])
        for r in metrics.values()
        if r["n"]
        for k in ("emotion_f1", "sentiment_acc")
        if not math.isnan(r[k])
    ]
    weight = sum(n for _, n in pairs)
    return float(sum(v * n for v, n in pairs) / weight) if weight else 0.0


def describe(metrics: dict[str, dict[str, float]]) -> str:
    """'T emo F1 0.61 sent 0.84 | ...' for the heads evaluated, with the labels that exist."""
    parts = []
    for combo, r in metrics.items():
        if not r["n"]:
            continue
        cells = [f"emo F1 {r['emotion_f1']:.3f} acc {r['emotion_acc']:.3f}"] if not math.isnan(r["emotion_f1"]) else []
        cells += [f"sent {r['sentiment_acc']:.3f}"] if not math.isnan(r["sentiment_acc"]) else []
        parts.append(f"{Combo.parse(combo).paper} " + " ".join(cells))
    return " | ".join(parts)


def class_weights(train: Encoded, power: float) -> torch.Tensor:
    """(mean class count / class count) ** power per emotion (0 for a class absent from training)."""
    counts = torch.bincount(train.emotion[train.emotion != MISSING], minlength=len(EMOTIONS)).float()
    ratio = counts.sum() / (len(EMOTIONS) * counts.clamp(min=1))
    return torch.where(counts > 0, ratio**power, torch.zeros_like(counts))


def fit(
    model: EmotionNet, train: Encoded, val: Encoded, cfg: TrainConfig, log=print, progress: bool = True
) -> list[dict]:
    """Train with early stopping (on the validation loss or score, per cfg.early_stop); the model ends with its best
    weights. Returns the per-epoch history (losses, validation metrics, seconds, examples/s)."""
    where = placement(cfg.device)
    model.to(where.device)  # before the optimiser takes its parameters
    gen = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (
        torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.weight_decay
        else torch.optim.Adam(params, lr=cfg.lr)
    )
    by_loss = cfg.early_stop == "loss"
    sched = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min" if by_loss else "max", factor=0.5, patience=0)
        if cfg.lr_schedule == "plateau"
        else None
    )
    train, val = train.on(where.device), val.on(where.device)
    scaler = where.scaler()
    weights = class_weights(train, cfg.class_weight_power) if cfg.class_weight_power else None
    weights = weights.to(where.device) if weights is not None else None
    use_aux = bool(cfg.aux_weight) and model.aux is not None and train.aux is not None
    heads = tuple(cfg.heads) if cfg.heads else None
    shown = [c for c, n in head_examples(train, heads or COMBO_NAMES).items() if n]
    best, best_state, bad, history = -math.inf, None, 0, []
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        if cfg.freeze_image:
            model.image.backbone.eval()  # BatchNorm statistics stay those of the frozen weights
        t0, total, aux_total, n = time.monotonic(), 0.0, 0.0, 0
        bar = tqdm(
            train.index_batches(cfg.batch_size, shuffle=True, generator=gen),
            total=-(-len(train) // cfg.batch_size),
            desc=f"epoch {epoch}",
            disable=None if progress else True,
            leave=False,
        )
        for idx in bar:
            batch, emo, sent = train.labelled_batch(idx)
            with where.autocast():
                feats = model.encode(batch)
                outputs = model.classify(feats, batch["mask"], heads)
                loss, _ = multitask_loss(
                    outputs, emo, sent, len(emo), weights, train.rows("neutral", idx), cfg.neutral_weight
                )
                total += loss.item() * len(emo)  # the multitask loss alone: comparable with the validation loss
                if use_aux:
                    has_text = batch["mask"][:, 1]
                    extra = aux_loss(model.aux(feats["text"][has_text]), train.rows("aux", idx)[has_text], len(emo))
                    aux_total += extra.item() * len(emo)
                    loss = loss + cfg.aux_weight * extra
            opt.zero_grad()
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            n += len(emo)
        seconds = time.monotonic() - t0
        with where.autocast():
            val_loss = mean_loss(model, val, heads, cfg.neutral_weight)
            metrics = evaluate_heads(model, val, shown)
        val_score = score(metrics)
        history.append(
            {
                "epoch": epoch,
                "train_loss": total / max(n, 1),
                "train_aux_loss": aux_total / max(n, 1) if use_aux else None,
                "val_loss": val_loss,
                "val_score": val_score,
                "val": metrics,
                "lr": opt.param_groups[0]["lr"],
                "seconds": seconds,
                "examples_per_s": n / seconds,
            }
        )
        log(
            f"epoch {epoch:2d} {seconds:5.0f}s {n / seconds:6.0f} ex/s  train {total / max(n, 1):.3f} "
            + (f"(aux {aux_total / max(n, 1):.3f}) " if use_aux else "")
            + f"val {val_loss:.3f} score {val_score:.3f} | {describe(metrics)}"
        )
        current = -val_loss if by_loss else val_score
        improved = current > best + 1e-4
        if sched is not None:
            sched.step(val_loss if by_loss else val_score)
        if cfg.checkpoint_dir:
            _checkpoint(cfg.checkpoint_dir, model, opt, epoch, val_loss, improved)
        if improved:
            best, best_state, bad = current, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, 0
        else:
            bad += 1
            if bad >= cfg.patience:
                log(f"early stop: no better validation {cfg.early_stop} for {cfg.patience} epochs")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu")  # calibration, the bundle and the export work on the CPU, whatever trained it
    return history


def calibrate_heads(model: EmotionNet, train: Encoded, val: Encoded, cfg: TrainConfig, log=print) -> dict[str, float]:
    """After fit: each gated head's neutral threshold (model/neutral.py), then the logit adjustment of each head
    trained with emotion labels (cfg.calibrate; model/calibration.py). Returns {head: tau} (empty when cfg.calibrate
    is off)."""
    heads = [c for c, n in head_examples(train, cfg.heads or COMBO_NAMES).items() if n]
    if model.cfg.neutral_gate:
        gates = calibrate_gates(model, val, heads)
        log(
            "neutral gate, threshold per head (validation: as many called neutral as are): "
            + ", ".join(f"{Combo.parse(c).paper} {'none' if t is None else f'{t:.2f}'}" for c, t in gates.items())
        )
    if not cfg.calibrate:
        return {}
    taus = calibrate(model, train, val, heads)
    log(
        "logit adjustment, tau per head (validation macro-F1): "
        + ", ".join(f"{Combo.parse(c).paper} {t:+.1f}" for c, t in taus.items())
    )
    return taus


def _checkpoint(folder: Path, model, opt, epoch: int, val_loss: float, best: bool) -> None:
    """last.pt every epoch, best.pt when the validation criterion improved (resumable: weights, optimiser, epoch)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {"epoch": epoch, "val_loss": val_loss, "model": model.state_dict(), "optimizer": opt.state_dict()}
    torch.save(state, folder / "last.pt")
    if best:
        torch.save(state, folder / "best.pt")


def train_args(ap: argparse.ArgumentParser) -> None:
    """The TrainConfig options on a command line (shared by `train` and `experiment`): --preset, then any field."""
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default", help="paper = section 3.2 as written")
    for name, f in TrainConfig.model_fields.items():
        if name in ("preset", "heads", "checkpoint_dir", "freeze_image"):
            continue
        flag = f"--{name.replace('_', '-')}"
        if f.annotation is bool:
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=f.description)
        elif isinstance(f.default, tuple):
            ap.add_argument(flag, type=int, nargs="+", default=None, help=f"{f.description} (preset's by default)")
        else:
            kind = {int: int, float: float}.get(type(f.default), str)
            ap.add_argument(flag, type=kind, default=None, help=f"{f.description or ''} (preset's value by default)")


def train_config(args: argparse.Namespace, **fixed) -> TrainConfig:
    """TrainConfig from the parsed options: the preset, overridden by the options given."""
    given = {
        k: getattr(args, k) for k in TrainConfig.model_fields if getattr(args, k, None) is not None and k != "preset"
    }
    if given.get("grad_clip") == 0:
        given["grad_clip"] = None
    try:
        return TrainConfig.from_preset(args.preset, **{**given, **fixed})
    except ValidationError as e:  # an option out of range: say which, without a traceback
        errors = "; ".join(f"--{'.'.join(map(str, x['loc'])).replace('_', '-')}: {x['msg']}" for x in e.errors())
        raise SystemExit(f"invalid training options: {errors}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="emostream train", description="Train the multimodal multitask model and write a model bundle."
    )
    ap.add_argument("--manifest", type=Path, required=True, help="JSONL manifest (docs/DATA.md; `emostream data`)")
    ap.add_argument("--out", type=Path, default=Path("artifacts/bundles"), help="folder that receives the new bundle")
    ap.add_argument("--cache", type=Path, default=Path("artifacts/cache"), help="image feature cache")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument(
        "--max-words", type=int, default=150, help="words per text (the paper's 150; short texts need fewer)"
    )
    ap.add_argument("--no-freeze", action="store_true", help="fine-tune DenseNet too (slow on a CPU)")
    ap.add_argument("--heads", nargs="*", choices=COMBO_NAMES, help="train only these heads (default: all seven)")
    ap.add_argument(
        "--checkpoint-dir", type=Path, default=Path("artifacts/checkpoints"), help="last.pt / best.pt each epoch"
    )
    train_args(ap)
    args = ap.parse_args(argv)
    cfg = train_config(
        args,
        freeze_image=not args.no_freeze,
        heads=tuple(args.heads) if args.heads else None,
        checkpoint_dir=args.checkpoint_dir,
    )
    from .bundle import save_bundle
    from .evaluate import table

    print(f"preset {cfg.preset}: " + ", ".join(f"{k}={v}" for k, v in cfg.model_dump().items() if k != "preset"))
    prep = prepare(args.manifest, cfg, ModelConfig(image_size=args.image_size), max_words=args.max_words)
    model = build_model(prep, cfg, args.cache)
    history = fit(model, prep.splits["train"], prep.splits["val"], cfg)
    taus = calibrate_heads(model, prep.splits["train"], prep.splits["val"], cfg)
    trained = head_examples(prep.splits["train"], cfg.heads or COMBO_NAMES)
    test = evaluate_heads(model, prep.splits["test"], [c for c, n in trained.items() if n])
    path = save_bundle(args.out, model, prep, cfg, history, test, trained, taus)
    print(table(test, f"test split of {args.manifest}, bundle {path.name}"))
    print(f"bundle: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
