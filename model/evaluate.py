"""`emostream evaluate`: Table 1 of the paper for a bundle (per-head accuracy, macro-F1), a confusion matrix, and for a
bundle with a neutral gate its precision/recall with and without the gate (`--baseline`: beside TF-IDF + LR given the
same 9 classes, trained in the same run)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from contracts.combos import COMBO_NAMES, Combo
from contracts.labels import EMOTIONS
from core.bundle_info import SERVING
from core.manifest import read_manifest
from core.tokenizer import has_emoji

from .bundle import load_bundle
from .data import encode, split_of
from .device import placement
from .metrics import evaluate_heads, head_predictions
from .neutral import evaluate_gate


def _pct(v: float) -> str:
    return "—" if math.isnan(v) else f"{v:.2%}"


def table(metrics: dict[str, dict[str, float]], title: str = "") -> str:
    """The paper's Table 1 layout: one row per head (I, T, #, I+T, ...), — where the data has no such label."""
    lines = [
        f"{title}\n" if title else "",
        "| head | n | emotion accuracy | emotion macro-F1 | sentiment accuracy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for combo, r in metrics.items():
        lines.append(
            f"| {Combo.parse(combo).paper} | {r['n']} | {_pct(r['emotion_acc'])} | {_pct(r['emotion_f1'])} | "
            f"{_pct(r['sentiment_acc'])} |"
        )
    return "\n".join(lines)


def neutral_table(rows: dict[str, dict], title: str = "") -> str:
    """One line per (head, model): the neutral gate's precision/recall and the emotion scores of the posts that have
    one (a post called neutral is a miss)."""
    lines = [
        f"{title}\n" if title else "",
        "| head | model | neutral precision | neutral recall | neutral F1 | said neutral | emotion accuracy | "
        "emotion macro-F1 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows.items():
        combo, model = name.split(" ", 1)
        lines.append(
            f"| {Combo.parse(combo).paper} | {model} | {_pct(r['neutral_precision'])} | {_pct(r['neutral_recall'])} | "
            f"{_pct(r['neutral_f1'])} | {_pct(r['neutral_share_said'])} | {_pct(r['emotion_acc'])} | "
            f"{_pct(r['emotion_f1'])} |"
        )
    return "\n".join(lines)


def confusion_png(y_true: np.ndarray, y_pred: np.ndarray, path: Path, title: str) -> np.ndarray:
    """Row-normalised emotion confusion matrix as a PNG (paper Figure 4); returns the count matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(EMOTIONS)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t, p] += 1
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(k), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_title(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return cm


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emostream evaluate", description=__doc__)
    ap.add_argument("--bundle", type=Path, default=SERVING, help=f"default: the bundle in service ({SERVING})")
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument(
        "--subset",
        default="all",
        choices=["all", "emoji", "emoji-emoticons"],
        help="only the texts with an emoji (or an emoji or emoticon)",
    )
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="for a bundle with a neutral gate: TF-IDF + LR given the same 9 classes, trained on the manifest's train"
        " split in this run (heads without an image)",
    )
    ap.add_argument("--confusion", type=Path, default=Path("artifacts/confusion.png"))
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: cuda when present")
    args = ap.parse_args(argv)
    b = load_bundle(args.bundle)
    device = placement(args.device).device
    b.model.to(device)
    seed = b.meta.train_config["seed"]
    parts = split_of(read_manifest(args.manifest), seed=seed)
    examples = parts[args.split]
    if args.subset != "all":
        examples = [e for e in examples if has_emoji(e.text, emoticons=args.subset == "emoji-emoticons")]
    data, _ = encode(examples, b.tokenizer, args.manifest.parent, b.image_size)
    data = data.on(device)
    heads = [c for c in COMBO_NAMES if b.info.trained(Combo.parse(c))]
    metrics = evaluate_heads(b.model, data, heads)
    what = {"all": "", "emoji": "an emoji", "emoji-emoticons": "an emoji or emoticon"}[args.subset]
    subset = f" (the {len(examples)} with {what})" if what else ""
    print(table(metrics, f"bundle {b.version}, {args.split} split{subset} of {args.manifest}"))
    labelled = {c: int((data.having(Combo.parse(c).modalities).emotion >= 0).sum()) for c in heads}
    combo = max(labelled, key=lambda c: (labelled[c], len(Combo.parse(c))))  # the head with the most labelled posts
    emo, _ = head_predictions(b.model, data, combo)
    y = data.having(Combo.parse(combo).modalities).emotion.numpy()
    keep = y >= 0
    confusion_png(y[keep], emo.argmax(1)[keep], args.confusion, f"{Combo.parse(combo).paper} head, {args.split} split")
    print(f"confusion matrix: {args.confusion}")
    gated = {c: t for c, t in b.info.neutral_threshold.items() if c.name in heads and t is not None}
    neutral = {}
    for c, t in gated.items():
        for model, r in evaluate_gate(b.model, data, c.name, t).items():
            neutral[f"{c.name} {model}"] = r
    if gated and args.baseline:
        from .baseline import baseline_neutral

        if args.subset != "all":
            parts = {**parts, args.split: examples}
        enc = {n: encode(exs, b.tokenizer, args.manifest.parent, b.image_size)[0] for n, exs in parts.items()}
        for c in gated:
            if not c.has_image:
                neutral[f"{c.name} TF-IDF+LR, 9 classes"] = baseline_neutral(c, b.tokenizer, parts, enc)
    if neutral:
        print(
            neutral_table(neutral, f"neutral gate (thresholds {', '.join(f'{c.paper} {t}' for c, t in gated.items())})")
        )
    out = {**metrics, "neutral": neutral} if neutral else metrics
    (args.confusion.with_suffix(".json")).write_text(json.dumps(out, indent=1))
    return 0
