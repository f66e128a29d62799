"""The neutral gate's pure logic: the manifest label, the threshold choice on validation, and its scores."""

import numpy as np
import pytest

from core.manifest import Example
from model.loss import MISSING
from model.neutral import MIN_EACH, NEUTRAL, THRESHOLDS, best_threshold, gate_metrics


def test_manifest_neutral_label_is_derived_from_the_other_labels_unless_given():
    assert Example(id="a", text="x", emotion="fear").neutral is False
    assert Example(id="b", text="x", sentiment="positive").neutral is False
    assert Example(id="c", text="x").neutral is None
    assert Example(id="d", text="x", neutral=True).neutral is True
    assert Example(id="e", text="x", sentiment="positive", neutral=None).neutral is None  # the raters disagreed
    with pytest.raises(ValueError, match="neutral example has no emotion"):
        Example(id="f", text="x", emotion="fear", neutral=True)


def test_threshold_calls_the_neutral_share_neutral_on_validation_and_is_none_when_too_few():
    rng = np.random.default_rng(0)
    y = np.array([1] * 40 + [0] * 60 + [MISSING] * 10)
    p = np.where(y == 1, rng.uniform(0.55, 1.0, len(y)), rng.uniform(0.0, 0.6, len(y)))
    t = best_threshold(p, y)
    keep = y != MISSING
    gap = {c: abs(np.mean(p[keep] >= c) - 0.4) for c in THRESHOLDS}  # 40 of the 100 known posts are neutral
    assert 0.55 <= t <= 0.6 and gap[t] == min(gap.values())
    f1 = {
        c: gate_metrics(y, np.full(len(y), MISSING), np.where(p >= c, NEUTRAL, 0))["neutral_f1"] for c in (0.3, t, 0.9)
    }
    assert f1[t] > f1[0.3] and f1[t] > f1[0.9] and keep.sum() == 100
    few = np.array([1] * (MIN_EACH - 1) + [0] * 100)
    assert best_threshold(rng.uniform(size=len(few)), few) is None


def test_gate_metrics_count_a_gated_emotion_post_as_a_miss():
    y_neutral = np.array([1, 1, 0, 0, 0, MISSING])
    y_emotion = np.array([MISSING, MISSING, 2, 3, MISSING, 2])
    pred = np.array([NEUTRAL, 2, NEUTRAL, 3, 5, 2])
    m = gate_metrics(y_neutral, y_emotion, pred)
    assert m["neutral_precision"] == 0.5 and m["neutral_recall"] == 0.5 and m["neutral_f1"] == 0.5
    assert m["n_neutral_known"] == 5 and m["n_emotion"] == 3
    assert m["emotion_acc"] == pytest.approx(2 / 3)  # the post of emotion 2 called neutral is wrong
    # class 2: 1 hit of 2, class 3: 1 of 1 -> F1 2/3 and 1
    assert m["emotion_f1"] == pytest.approx((2 / 3 + 1) / 2)
