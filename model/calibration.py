"""Logit adjustment of the emotion outputs, chosen on the validation split (Menon et al., "Long-tail learning via
logit adjustment", ICLR 2021): a head's emotion logits get `-tau * log(prior)` added, prior = the emotion frequencies
of the training split, and one number `tau` per head is the one of TAUS that gives the best validation macro-F1.

Training with inverse-frequency class weights (TrainConfig.class_weight_power) learns features for the rare emotions
but over-predicts them; a negative tau gives back part of the prior. One number per head, so it cannot fit the
validation split the way per-class thresholds would; the test split is never looked at. The offset lives in the
network (Head.emotion_offset), so PyTorch, the bundle and the Triton export all score with it.
"""

from __future__ import annotations

import numpy as np
import torch

from contracts.combos import Combo

from .data import Encoded
from .metrics import head_predictions, macro_f1

__all__ = ["TAUS", "MIN_LABELLED", "log_prior", "best_tau", "offsets", "calibrate"]

TAUS = np.round(np.arange(-1.5, 1.0001, 0.1), 1)
MIN_LABELLED = 50  # a head with fewer labelled validation examples keeps tau = 0


def log_prior(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """log of the class frequencies of `labels` (class indices >= 0); a class never seen counts once."""
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    return np.log(counts / counts.sum())


def best_tau(log_probs: np.ndarray, y: np.ndarray, prior: np.ndarray) -> float:
    """The tau of TAUS whose adjusted argmax has the best macro-F1 on (log_probs, y); ties go to the smallest |tau|,
    and too few labelled examples give 0."""
    keep = y >= 0
    if keep.sum() < MIN_LABELLED:
        return 0.0
    lp, yk = log_probs[keep], y[keep]
    scored = [(macro_f1(yk, (lp - t * prior).argmax(1), len(prior)), -abs(t), float(t)) for t in TAUS]
    return max(scored)[2]


def offsets(tau: float, prior: np.ndarray) -> np.ndarray:
    """The emotion logit offsets of one head: -tau * log(prior)."""
    return (-tau * prior).astype(np.float32)


def calibrate(model, train: Encoded, val: Encoded, heads) -> dict[str, float]:
    """Set each head's emotion offsets from its tau on `val` (heads not listed get none); returns {head: tau}."""
    n_classes = model.cfg.n_emotions
    prior = log_prior(train.emotion.numpy(), n_classes)
    taus = {}
    for head in model.heads.values():
        head.emotion_offset.zero_()
    for combo in heads:
        emo, _ = head_predictions(model, val, combo)
        y = val.having(Combo.parse(combo).modalities).emotion.numpy()
        taus[combo] = best_tau(np.log(np.maximum(emo, 1e-12)), y, prior)  # 0 when too few labelled
        model.heads[combo].emotion_offset.copy_(torch.from_numpy(offsets(taus[combo], prior)))
    return taus
