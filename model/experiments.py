"""`emostream experiment a|b|c`: the experiments of paper section 4.2 on a manifest, N repeats, mean +- std.

a: multitask vs single-task, trained on trimodal examples only (Tables 1/2).
b: late fusion of unimodal classifiers vs multitask, both with the extra unimodal/bimodal data (Table 3).
c: trimodal accuracy vs the fraction p of multimodal training data, the rest split into image-only,
   text-only and tags-only thirds; multitask vs single-task trimodal on the fraction alone (Figure 5).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np
import torch

from contracts.combos import COMBO_NAMES, MODALITIES, Combo

from .config import ModelConfig, TrainConfig
from .data import Encoded
from .metrics import evaluate_heads, head_predictions
from .train import Prepared, build_model, fit, prepare

TRI = "image_text_tags"


def _train(prep: Prepared, train: Encoded, cfg: TrainConfig, heads=None):
    cfg = cfg.model_copy(update={"heads": tuple(heads) if heads else None})
    model = build_model(prep, cfg, None, log=lambda *_: None)
    fit(
        model,
        train,
        prep.splits["val"] if heads is None else prep.splits["val"].keep(_mods(heads)),
        cfg,
        log=lambda *_: None,
        progress=False,
    )
    return model


def _mods(heads) -> set[str]:
    return {m for h in heads for m in Combo.parse(h)}


def _acc(model, test: Encoded, combo: str) -> float:
    return evaluate_heads(model, test, (combo,))[combo]["emotion_acc"]


def experiment_a(prep: Prepared, cfg: TrainConfig) -> dict[str, dict[str, float]]:
    train, test = prep.splits["train"].having(MODALITIES), prep.splits["test"]
    mt = _train(prep, train, cfg)
    rows = {c: {"multitask": _acc(mt, test, c)} for c in COMBO_NAMES}
    for c in COMBO_NAMES:
        st = _train(prep, train.keep(Combo.parse(c).modalities), cfg, heads=(c,))
        rows[c]["single-task"] = _acc(st, test, c)
    return rows


def experiment_b(prep: Prepared, cfg: TrainConfig) -> dict[str, dict[str, float]]:
    train, test = prep.splits["train"], prep.splits["test"].having(MODALITIES)
    mt = _train(prep, train, cfg)
    uni = {m: _train(prep, train.having([m]).keep([m]), cfg, heads=(m,)) for m in MODALITIES}
    probs = {m: head_predictions(uni[m], test, m)[0] for m in MODALITIES}
    y = test.emotion.numpy()
    rows = {}
    for c in COMBO_NAMES:
        fused = np.mean([probs[m] for m in Combo.parse(c)], axis=0)  # late fusion: average of unimodal scores
        keep = y >= 0
        rows[c] = {"late fusion": float(np.mean(fused.argmax(1)[keep] == y[keep])), "multitask": _acc(mt, test, c)}
    return rows


def fraction_split(train: Encoded, p: float, seed: int) -> tuple[Encoded, Encoded]:
    """(the p fraction of trimodal examples, the rest as image-only / text-only / tags-only thirds), stratified by
    emotion."""
    tri = train.having(MODALITIES)
    rng = random.Random(seed)
    keep, rest = [], []
    for label in sorted(set(tri.emotion.tolist())):
        idx = [i for i, e in enumerate(tri.emotion.tolist()) if e == label]
        rng.shuffle(idx)
        k = max(1, round(p * len(idx)))
        keep += idx[:k]
        rest += idx[k:]
    rng.shuffle(rest)
    mask = tri.mask.clone()
    for j, i in enumerate(rest):
        mask[i] = torch.tensor([m == MODALITIES[j % 3] for m in MODALITIES])
    mixed = Encoded(tri.ids, mask, tri.text, tri.tags, tri.images, tri.emotion, tri.sentiment, tri.image_pooled)
    return tri.subset(keep), mixed


def experiment_c(prep: Prepared, cfg: TrainConfig, fractions, seed: int) -> dict[str, dict[str, float]]:
    test = prep.splits["test"]
    rows = {}
    for p in fractions:
        multi, mixed = fraction_split(prep.splits["train"], p, seed)
        rows[f"{p:g}"] = {
            "multitask": _acc(_train(prep, mixed, cfg), test, TRI),
            "single-task": _acc(_train(prep, multi, cfg, heads=(TRI,)), test, TRI),
        }
    return rows


def summarize(runs: list[dict[str, dict[str, float]]], first_col: str) -> str:
    """Markdown table of mean +- std (in %) over repeats."""
    cols = list(runs[0][next(iter(runs[0]))])
    lines = [f"| {first_col} | " + " | ".join(cols) + " |", "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    for row in runs[0]:
        cells = []
        for c in cols:
            v = np.array([r[row][c] for r in runs]) * 100
            cells.append(f"{v.mean():.2f} ± {v.std():.2f}")
        name = Combo.parse(row).paper if row in COMBO_NAMES else row
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_c(runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = list(runs[0])
    fig, ax = plt.subplots(figsize=(6, 4))
    for col in ("multitask", "single-task"):
        v = np.array([[r[p][col] for p in ps] for r in runs]) * 100
        ax.errorbar([float(p) for p in ps], v.mean(0), yerr=v.std(0), marker="o", capsize=3, label=col)
    ax.set_xscale("log")
    ax.set_xlabel("fraction p of multimodal training data")
    ax.set_ylabel("trimodal emotion accuracy (%)")
    ax.set_title("Synthetic demo data (not the paper's)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream experiment", description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["a", "b", "c"])
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--max-epochs", type=int, default=20)
    ap.add_argument("--fractions", type=float, nargs="*", default=[0.05, 0.1, 0.25, 0.5, 1.0])
    ap.add_argument("--cache", type=Path, default=Path("artifacts/cache"))
    ap.add_argument("--out", type=Path, default=Path("artifacts/experiments"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for r in range(args.repeats):
        cfg = TrainConfig(lr=args.lr, max_epochs=args.max_epochs, seed=r)
        prep = prepare(args.manifest, cfg, ModelConfig(image_size=args.image_size), log=print)
        build_model(prep, cfg, args.cache, log=print)  # fills the cached image features of every split
        if args.which == "a":
            runs.append(experiment_a(prep, cfg))
        elif args.which == "b":
            runs.append(experiment_b(prep, cfg))
        else:
            runs.append(experiment_c(prep, cfg, args.fractions, seed=r))
        print(f"repeat {r + 1}/{args.repeats} done")
    table = summarize(runs, "p" if args.which == "c" else "head")
    title = f"Experiment {args.which}, {args.repeats} repeats, emotion accuracy (%), test split of {args.manifest}"
    text = f"{title}\n\n{table}\n"
    (args.out / f"experiment_{args.which}.md").write_text(text)
    print(text)
    if args.which == "c":
        plot_c(runs, args.out / "experiment_c.png")
        print(f"figure: {args.out / 'experiment_c.png'}")
    return 0
