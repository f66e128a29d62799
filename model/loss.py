"""The multitask loss of paper section 3.2: a sum of cross-entropies over the heads each example can feed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MISSING = -1  # label index of "no label given"


def multitask_loss(
    outputs: dict[str, tuple],
    emotion: torch.Tensor,
    sentiment: torch.Tensor,
    batch_size: int,
    emotion_weights: torch.Tensor | None = None,
    neutral: torch.Tensor | None = None,
    neutral_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """(1/B) * sum over examples of sum over the heads whose modalities it has of CE(emotion) + CE(sentiment)
    [+ neutral_weight * BCE(neutral gate)].

    `outputs` is EmotionNet.forward's; labels are indices or MISSING (`neutral`: 1, 0 or MISSING); `emotion_weights`
    optionally weights the emotion classes (inverse frequency, for macro-F1 on skewed data). Heads an example cannot
    feed (a modality absent), labels it lacks and heads without a gate contribute zero. Returns the loss and each
    head's share.
    """
    total = torch.zeros((), device=emotion.device)
    parts = {}
    for combo, (rows, emo_logits, sent_logits, neutral_logits) in outputs.items():
        e, s = emotion[rows], sentiment[rows]
        term = torch.zeros((), device=emotion.device)
        if (ke := e != MISSING).any():
            term = term + F.cross_entropy(emo_logits[ke], e[ke], weight=emotion_weights, reduction="sum")
        if (ks := s != MISSING).any():
            term = term + F.cross_entropy(sent_logits[ks], s[ks], reduction="sum")
        if neutral is not None and neutral_logits is not None and neutral_weight:
            n = neutral[rows]
            if (kn := n != MISSING).any():
                bce = F.binary_cross_entropy_with_logits(neutral_logits[kn], n[kn].float(), reduction="sum")
                term = term + neutral_weight * bce
        parts[combo] = term.item() / batch_size
        total = total + term
    return total / batch_size, parts


def aux_loss(logits: torch.Tensor, target: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(1/B) * sum over rows of the cross-entropy between `target` (each row a distribution over the source
    categories, or zeros: no categories, no loss) and softmax(`logits`)."""
    return -(target * F.log_softmax(logits, dim=1)).sum() / batch_size
