"""`emostream experiment a|b|c|baseline`: the experiments of paper section 4.2 on any manifest, N repeats, mean ± std,
each beside the TF-IDF + logistic-regression baseline measured on the same splits (model/baseline.py).

a: multitask vs single-task (Tables 1/2). The multitask model learns from every training example (each feeds the heads
   its modalities allow); each single-task model is one head trained on the examples having its modalities. With
   `--trimodal-only` every split is cut to its trimodal examples, as in the paper: both train on them and every head
   (and the baseline) is tested on the trimodal test posts.
b: late fusion of unimodal classifiers (averaged emotion and sentiment probabilities) vs multitask, on the trimodal
   test posts (Table 3).
c: trimodal accuracy vs the fraction p of multimodal training data, the rest split into image-only, text-only and
   tags-only thirds; multitask vs single-task trimodal on the fraction alone (Figure 5).
baseline: the baseline alone.

Every run writes <out>/<experiment>-<manifest>-<time>/tables.md and results.json (every repeat's numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from contracts.combos import COMBO_NAMES, MODALITIES, TRIMODAL, Combo

from .baseline import baseline_head
from .config import ModelConfig, TrainConfig
from .data import Encoded, head_examples
from .metrics import evaluate_heads, head_predictions, macro_f1
from .train import Prepared, build_model, calibrate_heads, fit, prepare, train_args, train_config

METRICS = {"emotion_acc": "emotion accuracy", "emotion_f1": "emotion macro-F1", "sentiment_acc": "sentiment accuracy"}
BASELINE = "TF-IDF+LR"
MIN_HEAD_EXAMPLES = 100  # a head with fewer training examples gets no single-task model (shown as —)
NAN = {k: float("nan") for k in METRICS}
FRACTIONS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)  # c: Figure 5's range, from the 1 % the paper discusses


def _train(prep: Prepared, train: Encoded, cfg: TrainConfig, heads=None, log=lambda *_: None):
    cfg = cfg.model_copy(update={"heads": tuple(heads) if heads else None})
    model = build_model(prep, cfg, None, log=log)
    val = prep.splits["val"] if heads is None else prep.splits["val"].keep({m for h in heads for m in Combo.parse(h)})
    fit(model, train, val, cfg, log=log, progress=False)
    calibrate_heads(model, train, val, cfg, log=log)
    return model


def _metrics(model, test: Encoded, combo: str) -> dict[str, float]:
    r = evaluate_heads(model, test, (combo,))[combo]
    return {"n": r["n"], **{k: r[k] for k in METRICS}}  # n: the test posts the head was scored on


def _trained_heads(train: Encoded) -> list[str]:
    return [c for c, n in head_examples(train).items() if n >= MIN_HEAD_EXAMPLES]


def trimodal_view(prep: Prepared) -> Prepared:
    """Every split cut to its trimodal examples (encodings and examples alike): the paper's setup of Tables 1/2, where
    each head trains and is tested on the trimodal posts (the baseline too)."""
    splits, examples = {}, {}
    for name, enc in prep.splits.items():
        idx = enc.mask.all(dim=1).nonzero(as_tuple=True)[0]
        splits[name] = enc.subset(idx)
        examples[name] = [prep.examples[name][i] for i in idx.tolist()]
    return replace(prep, splits=splits, examples=examples)


def experiment_a(prep: Prepared, cfg: TrainConfig, trimodal_only: bool, log) -> dict:
    if trimodal_only:
        prep = trimodal_view(prep)
    train, test = prep.splits["train"], prep.splits["test"]
    heads = _trained_heads(train)
    log(f"multitask model on {len(train)} examples; single-task heads: {', '.join(heads) or 'none'}")
    mt = _train(prep, train, cfg, log=log)
    rows = {}
    for c in COMBO_NAMES:
        if c not in heads:
            rows[c] = {"single-task": NAN, "multitask": NAN, BASELINE: NAN}
            continue
        log(f"single-task {c}")
        st = _train(
            prep, train.having(Combo.parse(c).modalities).keep(Combo.parse(c).modalities), cfg, heads=(c,), log=log
        )
        rows[c] = {
            "single-task": _metrics(st, test, c),
            "multitask": _metrics(mt, test, c),
            BASELINE: _baseline(prep, c, cfg),
        }
    return rows


def _baseline(prep: Prepared, combo: str, cfg: TrainConfig) -> dict[str, float]:
    r = baseline_head(Combo.parse(combo), prep.tokenizer, prep.examples, prep.splits, calibrate=cfg.calibrate)
    return {k: r[k] for k in METRICS}


def experiment_b(prep: Prepared, cfg: TrainConfig, log) -> dict:
    train, test = prep.splits["train"], prep.splits["test"].having(MODALITIES)
    mt = _train(prep, train, cfg, log=log)
    uni = {m: _train(prep, train.having([m]).keep([m]), cfg, heads=(m,), log=log) for m in MODALITIES}
    probs = {m: head_predictions(uni[m], test, m) for m in MODALITIES}  # (emotion, sentiment) per modality
    truth = {"emotion": test.emotion.numpy(), "sentiment": test.sentiment.numpy()}
    rows = {}
    for c in COMBO_NAMES:
        late = {}
        for t, task in enumerate(("emotion", "sentiment")):
            y = truth[task]
            keep = y >= 0
            # late fusion: the average of the unimodal classifiers' probabilities
            fused = np.mean([probs[m][t] for m in Combo.parse(c)], axis=0)
            pred = fused.argmax(1)[keep]
            late[f"{task}_acc"] = float(np.mean(pred == y[keep])) if keep.any() else float("nan")
            if task == "emotion":
                late["emotion_f1"] = macro_f1(y[keep], pred, 8) if keep.any() else float("nan")
        rows[c] = {"late fusion": late, "multitask": _metrics(mt, test, c)}
    return rows


def fraction_split(train: Encoded, p: float, seed: int) -> tuple[Encoded, Encoded]:
    """(the p fraction of trimodal examples, the rest as image-only / text-only / tags-only thirds), every part
    stratified by emotion (section 4.2: "all splits are stratified"): each class keeps round(p x its count) trimodal
    examples (at least one), and its rest is dealt in turn to the three unimodal thirds."""
    tri = train.having(MODALITIES)
    rng = random.Random(seed)
    keep, thirds = [], []
    for label in sorted(set(tri.emotion.tolist())):
        idx = [i for i, e in enumerate(tri.emotion.tolist()) if e == label]
        rng.shuffle(idx)
        k = max(1, round(p * len(idx)))
        keep += idx[:k]
        start = rng.randrange(3)  # which third gets a class's odd examples, so no third is always the larger
        thirds += [(i, MODALITIES[(start + j) % 3]) for j, i in enumerate(idx[k:])]
    mask = tri.mask.clone()
    for i, modality in thirds:
        mask[i] = torch.tensor([m == modality for m in MODALITIES])
    mixed = Encoded(tri.ids, mask, tri.text, tri.tags, tri.images, tri.emotion, tri.sentiment, tri.image_pooled)
    return tri.subset(keep), mixed


def experiment_c(prep: Prepared, cfg: TrainConfig, fractions, seed: int, log) -> dict:
    test = prep.splits["test"]
    rows = {}
    for p in fractions:
        multi, mixed = fraction_split(prep.splits["train"], p, seed)
        rows[f"{p:g}"] = {
            "multitask": _metrics(_train(prep, mixed, cfg, log=log), test, TRIMODAL.name),
            "single-task": _metrics(_train(prep, multi, cfg, heads=(TRIMODAL.name,), log=log), test, TRIMODAL.name),
        }
    return rows


def experiment_baseline(prep: Prepared, cfg: TrainConfig) -> dict:
    return {c: {BASELINE: _baseline(prep, c, cfg)} for c in COMBO_NAMES}


def _cell(values: list[float]) -> str:
    v = np.array([x for x in values if not math.isnan(x)]) * 100
    if len(v) < len(values) or not len(v):
        return "—"
    return f"{v.mean():.2f} ± {v.std():.2f}"


def tables(runs: list[dict], first_col: str) -> str:
    """One Markdown table per metric: rows (heads as the paper names them, or fractions p), columns, mean ± std in %
    over the repeats; — where the data has no such head or label."""
    rows, cols = list(runs[0]), list(runs[0][next(iter(runs[0]))])
    out = []
    for metric, title in METRICS.items():
        cells = {(r, c): _cell([run[r][c][metric] for run in runs]) for r in rows for c in cols}
        if all(v == "—" for v in cells.values()):
            continue
        lines = [
            f"**{title}** (%, mean ± std over {len(runs)} repeats)",
            "",
            f"| {first_col} | " + " | ".join(cols) + " |",
            "| --- | " + " | ".join("---:" for _ in cols) + " |",
        ]
        for r in rows:
            name = Combo.parse(r).paper if r in COMBO_NAMES else r
            lines.append(f"| {name} | " + " | ".join(cells[(r, c)] for c in cols) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def plot_c(runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps = list(runs[0])
    fig, ax = plt.subplots(figsize=(6, 4))
    for col in ("multitask", "single-task"):
        v = np.array([[r[p][col]["emotion_acc"] for p in ps] for r in runs]) * 100
        ax.errorbar([float(p) for p in ps], v.mean(0), yerr=v.std(0), marker="o", capsize=3, label=col)
    ax.set_xscale("log")
    ax.set_xlabel("fraction p of multimodal training data")
    ax.set_ylabel("trimodal emotion accuracy (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream experiment", description=__doc__.splitlines()[0])
    ap.add_argument("which", choices=["a", "b", "c", "baseline"])
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--max-words", type=int, default=150)
    ap.add_argument(
        "--trimodal-only",
        action="store_true",
        help="a: train, validate and test every head on the trimodal examples only (the paper's setup)",
    )
    ap.add_argument(
        "--fractions", type=float, nargs="*", default=list(FRACTIONS), help=f"c: fractions p (default {FRACTIONS})"
    )
    ap.add_argument("--cache", type=Path, default=Path("artifacts/cache"))
    ap.add_argument("--out", type=Path, default=Path("artifacts/experiments"))
    ap.add_argument("--quiet", action="store_true", help="no per-epoch log")
    train_args(ap)
    args = ap.parse_args(argv)
    run_dir = args.out / f"{args.which}-{args.manifest.parent.name}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    run_dir.mkdir(parents=True, exist_ok=True)
    log = (lambda *_: None) if args.quiet else print
    runs, seconds = [], []
    for r in range(args.repeats):
        cfg = train_config(args, seed=r)
        t0 = time.monotonic()
        prep = prepare(args.manifest, cfg, ModelConfig(image_size=args.image_size), log=print, max_words=args.max_words)
        build_model(prep, cfg, args.cache, log=print)  # fills the cached image features of every split
        if args.which == "a":
            runs.append(experiment_a(prep, cfg, args.trimodal_only, log))
        elif args.which == "b":
            runs.append(experiment_b(prep, cfg, log))
        elif args.which == "c":
            runs.append(experiment_c(prep, cfg, args.fractions, seed=r, log=log))
        else:
            runs.append(experiment_baseline(prep, cfg))
        seconds.append(time.monotonic() - t0)
        print(f"repeat {r + 1}/{args.repeats} done in {seconds[-1]:.0f}s", flush=True)
        if args.which == "baseline":
            break  # deterministic: one run is all repeats
    text = (
        f"Experiment {args.which} on the test split of {args.manifest} ({len(runs)} repeats, preset {cfg.preset}, "
        f"{'trimodal examples only' if args.trimodal_only else 'all training examples'})\n\n"
        + tables(runs, "p" if args.which == "c" else "head")
        + "\n"
    )
    (run_dir / "tables.md").write_text(text)
    (run_dir / "results.json").write_text(
        json.dumps(
            {
                "experiment": args.which,
                "manifest": str(args.manifest),
                "train_config": cfg.model_dump(mode="json"),
                "runs": runs,
                "seconds_per_repeat": seconds,
            },
            indent=1,
        )
    )
    print(text)
    if args.which == "c":
        plot_c(runs, run_dir / "figure5.png")
    print(f"results: {run_dir}")
    return 0
