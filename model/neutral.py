"""The neutral gate: "no emotion" is an answer.

Every head of a bundle trained on neutral examples (GoEmotions' `neutral`, manifest field `neutral`) has one more
output, the probability that the post expresses no emotion (model/architecture.py `Head.neutral`, trained with binary
cross-entropy beside the multitask loss, TrainConfig.neutral_weight). After training, each head's threshold is the one
of THRESHOLDS at which it calls as many validation posts neutral as are (`best_threshold`; the test split is never
looked at); a head with too few neutral or non-neutral validation examples gets none, and its gate never fires. The
worker says `emotion: "neutral"`, `sentiment: "neutral"` when the head's probability reaches its threshold
(core.bundle_info `BundleInfo.answer`).

Measured here (`emostream evaluate`, `--baseline`): precision and recall of neutral, and the 8-emotion macro-F1 of the
posts that have an emotion with and without the gate (a post the gate calls neutral is a miss of its emotion), beside
TF-IDF + logistic regression given the same 9 classes (8 emotions + neutral).
"""

from __future__ import annotations

import numpy as np
import torch

from contracts.combos import Combo
from contracts.labels import EMOTIONS

from .data import Encoded
from .loss import MISSING
from .metrics import head_outputs, macro_f1

__all__ = ["THRESHOLDS", "MIN_EACH", "best_threshold", "calibrate_gates", "gate_metrics", "evaluate_gate"]

THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)
MIN_EACH = 10  # a head with fewer neutral (or non-neutral) validation examples gets no threshold
NEUTRAL = len(EMOTIONS)  # the 9th class: what a gated post is predicted as


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp, fp, fn = np.sum(pred & y), np.sum(pred & ~y), np.sum(~pred & y)
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


def best_threshold(p: np.ndarray, y: np.ndarray) -> float | None:
    """The threshold of THRESHOLDS at which the gate (p >= t) calls as many of (p, y: 1, 0 or MISSING) neutral as are
    neutral: a dashboard's neutral share is then the feed's (ties: the better neutral F1). None with fewer than
    MIN_EACH neutral or non-neutral examples. (The threshold of the best neutral F1 fired on 49 % of GoEmotions'
    validation comments, 30 % of which are neutral, and cost 5.5 points of emotion macro-F1: README, "Neutral".)"""
    keep = y != MISSING
    yk, pk = y[keep] == 1, p[keep]
    if yk.sum() < MIN_EACH or (~yk).sum() < MIN_EACH:
        return None
    return min((abs(np.mean(pk >= t) - yk.mean()), -_f1(yk, pk >= t), float(t)) for t in THRESHOLDS)[2]


def calibrate_gates(model, val: Encoded, heads) -> dict[str, float | None]:
    """Set each gated head's threshold (Head.neutral_threshold; None = none) from `val`; returns {head: threshold}."""
    out = {}
    for combo in heads:
        head = model.heads[combo]
        if head.neutral is None:
            continue
        _, _, p = head_outputs(model, val, combo)
        y = val.having(Combo.parse(combo).modalities).neutral.numpy()
        out[combo] = best_threshold(p, y)
        head.neutral_threshold = out[combo]
    return out


def gate_metrics(y_neutral: np.ndarray, y_emotion: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Scores of 9-class predictions (`pred`: an emotion index, or NEUTRAL) against the neutral labels (1, 0,
    MISSING) and the emotion labels (index or MISSING) of the same posts: precision, recall and F1 of neutral over the
    posts whose neutral label is known; accuracy and 8-emotion macro-F1 over the posts that have an emotion (NEUTRAL
    counts as a miss)."""
    kn, ke = y_neutral != MISSING, y_emotion != MISSING
    truth, said = y_neutral[kn] == 1, pred[kn] == NEUTRAL
    tp = int(np.sum(truth & said))
    return {
        "n_neutral_known": int(kn.sum()),
        "n_neutral": int(truth.sum()),
        "n_emotion": int(ke.sum()),
        "neutral_precision": tp / said.sum() if said.sum() else float("nan"),
        "neutral_recall": tp / truth.sum() if truth.sum() else float("nan"),
        "neutral_f1": _f1(truth, said),
        "neutral_share_said": float(said.mean()) if kn.any() else float("nan"),
        "emotion_acc": float(np.mean(pred[ke] == y_emotion[ke])) if ke.any() else float("nan"),
        "emotion_f1": macro_f1(y_emotion[ke], pred[ke], len(EMOTIONS)) if ke.any() else float("nan"),
    }


@torch.no_grad()
def evaluate_gate(model, data: Encoded, combo: str, threshold: float | None) -> dict[str, dict[str, float]]:
    """{"without gate": ..., "with gate": ...} gate_metrics of one head on `data`."""
    emo, _, p = head_outputs(model, data, combo)
    sub = data.having(Combo.parse(combo).modalities)
    y_n, y_e = sub.neutral.numpy(), sub.emotion.numpy()
    plain = emo.argmax(1) if len(emo) else np.zeros(0, dtype=int)
    out = {"without gate": gate_metrics(y_n, y_e, plain)}
    if threshold is not None:
        out["with gate"] = {**gate_metrics(y_n, y_e, np.where(p >= threshold, NEUTRAL, plain)), "threshold": threshold}
    return out
