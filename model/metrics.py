"""Per-head evaluation (paper Table 1): accuracy and macro-F1 of each head on the examples that have its modalities."""

from __future__ import annotations

import numpy as np
import torch

from contracts.combos import COMBO_NAMES, Combo

from .data import Encoded
from .loss import MISSING, multitask_loss


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of per-class F1 over the classes present in y_true or y_pred."""
    f1s = []
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else 0.0


@torch.no_grad()
def head_outputs(model, data: Encoded, combo: str, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Emotion (N, 8), sentiment (N, 2) and neutral-gate (N,; zeros without a gate) probabilities of one head on the
    examples having its modalities, others dropped."""
    model.eval()
    mods = Combo.parse(combo).modalities
    sub = data.having(mods).keep(mods)
    emo, sent, neutral = [], [], []
    for batch, _, _ in sub.batches(batch_size):
        rows, e, s, n = model(batch, heads=(combo,))[combo]
        emo.append(torch.softmax(e.float(), 1).cpu())
        sent.append(torch.softmax(s.float(), 1).cpu())
        neutral.append(torch.sigmoid(n.float()).cpu() if n is not None else torch.zeros(len(rows)))
    if not emo:
        return np.zeros((0, 8)), np.zeros((0, 2)), np.zeros(0)
    return torch.cat(emo).numpy(), torch.cat(sent).numpy(), torch.cat(neutral).numpy()


def head_predictions(model, data: Encoded, combo: str, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Emotion and sentiment probabilities of one head on the examples having its modalities, others dropped."""
    emo, sent, _ = head_outputs(model, data, combo, batch_size)
    return emo, sent


def evaluate_heads(model, data: Encoded, heads=COMBO_NAMES) -> dict[str, dict[str, float]]:
    """{head: {n, emotion_acc, emotion_f1, sentiment_acc, sentiment_f1}} on `data` (Table 1, one row per head)."""
    out = {}
    for combo in heads:
        sub = data.having(Combo.parse(combo).modalities)
        emo_p, sent_p = head_predictions(model, data, combo)
        row = {"n": len(sub)}
        for name, probs, y, k in (
            ("emotion", emo_p, sub.emotion.numpy(), 8),
            ("sentiment", sent_p, sub.sentiment.numpy(), 2),
        ):
            keep = y != MISSING
            pred = probs.argmax(1)[keep] if len(probs) else np.zeros(0, dtype=int)
            row[f"{name}_acc"] = float(np.mean(pred == y[keep])) if keep.any() else float("nan")
            row[f"{name}_f1"] = macro_f1(y[keep], pred, k) if keep.any() else float("nan")
        out[combo] = row
    return out


@torch.no_grad()
def mean_loss(model, data: Encoded, heads=None, neutral_weight: float = 1.0, batch_size: int = 256) -> float:
    """Multitask loss (section 3.2, with the neutral gate's term) averaged over the examples of `data`."""
    model.eval()
    total, n = 0.0, 0
    for idx in data.index_batches(batch_size):
        batch, emo, sent = data.labelled_batch(idx)
        neutral = data.rows("neutral", idx)
        loss, _ = multitask_loss(model(batch, heads=heads), emo, sent, len(emo), None, neutral, neutral_weight)
        total += float(loss) * len(emo)
        n += len(emo)
    return total / max(n, 1)
