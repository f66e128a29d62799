"""The strong simple baseline of every table: TF-IDF + logistic regression (scikit-learn) per modality subset, on the
same splits and labels as the network. Text: word 1-2-grams of the network's tokenizer (hashtags split out the same
way); tags: the tag tokens; image: the frozen DenseNet's pooled features, standardised. The regularisation C and the
class weighting are chosen on the validation split, per task (emotion: macro-F1; sentiment: accuracy); the emotion
classifier gets the same logit adjustment as the network when the trainer calibrates (model/calibration.py), tau
chosen on the validation split."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import StandardScaler

from contracts.combos import Combo
from contracts.labels import EMOTIONS
from core.manifest import Example
from core.tokenizer import Tokenizer

from .calibration import best_tau, log_prior
from .data import Encoded
from .loss import MISSING

__all__ = ["GRID", "baseline_head"]

GRID = [(c, w) for c in (0.25, 1.0, 4.0, 16.0) for w in (None, "balanced")]


def _features(combo: Combo, tok: Tokenizer, splits: dict[str, list[Example]], data: dict[str, Encoded], rows: dict):
    """Sparse feature matrices per split for the rows (indices into the split) that have the combo's modalities."""
    out = {name: [] for name in splits}
    if "text" in combo:
        vec = TfidfVectorizer(
            tokenizer=lambda t: t, lowercase=False, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True, min_df=2
        )
        docs = {n: [tok.post_tokens(splits[n][i].text, splits[n][i].tags)[0] for i in rows[n]] for n in splits}
        vec.fit(docs["train"])
        for n in splits:
            out[n].append(vec.transform(docs[n]))
    if "tags" in combo:
        vec = TfidfVectorizer(tokenizer=lambda t: t, lowercase=False, token_pattern=None, sublinear_tf=True, min_df=1)
        docs = {n: [tok.post_tokens(splits[n][i].text, splits[n][i].tags)[1] for i in rows[n]] for n in splits}
        vec.fit(docs["train"])
        for n in splits:
            out[n].append(vec.transform(docs[n]))
    if "image" in combo:
        scaler = StandardScaler().fit(data["train"].image_pooled[rows["train"]].numpy())
        for n in splits:
            out[n].append(sp.csr_matrix(scaler.transform(data[n].image_pooled[rows[n]].numpy())))
    return {n: sp.hstack(m).tocsr() for n, m in out.items()}


def _log_proba(model: LogisticRegression, X, n_classes: int) -> np.ndarray:
    """(N, n_classes) log-probabilities; classes the model never saw get a very low score."""
    out = np.full((X.shape[0], n_classes), -1e9)
    out[:, model.classes_] = np.log(np.maximum(model.predict_proba(X), 1e-300))
    return out


def baseline_head(
    combo: Combo,
    tok: Tokenizer,
    splits: dict[str, list[Example]],
    data: dict[str, Encoded],
    grid=GRID,
    calibrate: bool = True,
) -> dict:
    """Test metrics of TF-IDF + LR for one head: {n, emotion_acc, emotion_f1, sentiment_acc, sentiment_f1, C, ...}.
    `splits`: the examples of train/val/test; `data`: their encodings (modality masks, labels, image features);
    `calibrate`: logit adjustment of the emotion classifier (as TrainConfig.calibrate)."""
    need = [("image", "text", "tags").index(m) for m in combo]
    rows = {n: data[n].mask[:, need].all(dim=1).nonzero(as_tuple=True)[0].numpy() for n in splits}
    result = {"n": int(len(rows["test"]))}
    if min(len(r) for r in rows.values()) == 0:
        return {**result, **{k: float("nan") for k in ("emotion_acc", "emotion_f1", "sentiment_acc", "sentiment_f1")}}
    X = _features(combo, tok, splits, data, rows)
    for task in ("emotion", "sentiment"):
        y = {n: getattr(data[n], task)[rows[n]].numpy() for n in splits}
        keep = {n: y[n] != MISSING for n in splits}
        if not all(k.any() for k in keep.values()) or len(set(y["train"][keep["train"]])) < 2:
            result.update({f"{task}_acc": float("nan"), f"{task}_f1": float("nan")})
            continue
        best = None
        for c, w in grid:
            m = LogisticRegression(C=c, class_weight=w, max_iter=3000).fit(
                X["train"][keep["train"]], y["train"][keep["train"]]
            )
            pred = m.predict(X["val"][keep["val"]])
            val = (
                f1_score(y["val"][keep["val"]], pred, average="macro")
                if task == "emotion"
                else accuracy_score(y["val"][keep["val"]], pred)
            )
            if best is None or val > best[0]:
                best = (val, c, w, m)
        truth, x_test = y["test"][keep["test"]], X["test"][keep["test"]]
        if task == "emotion" and calibrate:
            k = len(EMOTIONS)
            prior = log_prior(y["train"][keep["train"]], k)
            tau = best_tau(_log_proba(best[3], X["val"][keep["val"]], k), y["val"][keep["val"]], prior)
            pred = (_log_proba(best[3], x_test, k) - tau * prior).argmax(1)
            result["emotion_tau"] = tau
        else:
            pred = best[3].predict(x_test)
        result.update(
            {
                f"{task}_acc": float(accuracy_score(truth, pred)),
                f"{task}_f1": float(f1_score(truth, pred, average="macro")),
                f"{task}_C": best[1],
                f"{task}_class_weight": best[2] or "none",
            }
        )
    return result


def baseline_neutral(
    combo: Combo, tok: Tokenizer, splits: dict[str, list[Example]], data: dict[str, Encoded], grid=GRID
) -> dict:
    """TF-IDF + LR given the neutral gate's classes: one classifier of 9 classes (the 8 emotions and neutral), trained
    on the posts having one of them, C and class weighting chosen on the validation 9-class macro-F1. Returns
    model.neutral.gate_metrics on the test posts having the combo's modalities (and C, class_weight)."""
    from .neutral import NEUTRAL, gate_metrics

    need = [("image", "text", "tags").index(m) for m in combo]
    rows = {n: data[n].mask[:, need].all(dim=1).nonzero(as_tuple=True)[0].numpy() for n in splits}
    X = _features(combo, tok, splits, data, rows)
    y = {}
    for n in splits:
        emo, neu = data[n].emotion[rows[n]].numpy(), data[n].neutral[rows[n]].numpy()
        y[n] = np.where(neu == 1, NEUTRAL, emo)  # MISSING where neither
    keep = {n: y[n] != MISSING for n in splits}
    best = None
    for c, w in grid:
        m = LogisticRegression(C=c, class_weight=w, max_iter=3000).fit(
            X["train"][keep["train"]], y["train"][keep["train"]]
        )
        val = f1_score(y["val"][keep["val"]], m.predict(X["val"][keep["val"]]), average="macro")
        if best is None or val > best[0]:
            best = (val, c, w, m)
    test = data["test"]
    pred = best[3].predict(X["test"])
    metrics = gate_metrics(test.neutral[rows["test"]].numpy(), test.emotion[rows["test"]].numpy(), pred)
    return {**metrics, "C": best[1], "class_weight": best[2] or "none"}
