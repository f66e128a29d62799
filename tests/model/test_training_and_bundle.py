"""A short real training run on the demo data lifts every head above chance; the bundle round-trips exactly."""

import json

import numpy as np
import pytest

from contracts.combos import COMBO_NAMES
from contracts.labels import EMOTIONS
from core.bundle_info import BundleInfo
from core.manifest import read_manifest
from model.bundle import load_bundle
from model.data import encode, split_of

CHANCE = 1 / len(EMOTIONS)


def test_every_head_well_above_chance(demo_bundle):
    for combo in COMBO_NAMES:
        r = demo_bundle.test_metrics[combo]
        assert r["n"] > 50
        assert r["emotion_acc"] > 2.4 * CHANCE, (combo, r)  # > 30 % on 8 classes
        assert r["sentiment_acc"] > 0.58, (combo, r)  # chance 50 %


def test_bundle_contents(demo_bundle):
    meta = json.loads((demo_bundle.bundle_path / "bundle.json").read_text())
    assert meta["labels"]["emotions"] == list(EMOTIONS)
    assert meta["combos"] == list(COMBO_NAMES)
    assert len(meta["manifest_sha256"]) == 64
    info = BundleInfo.load(demo_bundle.bundle_path)  # the word limit is stored once, by the tokenizer
    assert meta["preprocessing"]["image_size"] == 64 and info.max_words == 150
    assert meta["preprocessing"]["social_tokens"] is True and meta["languages"] == ["en"]  # the demo's English texts
    assert (demo_bundle.bundle_path.parent / "latest").resolve() == demo_bundle.bundle_path.resolve()


def test_round_trip_gives_identical_predictions(demo_bundle):
    a, b = load_bundle(demo_bundle.bundle_path), load_bundle(demo_bundle.bundle_path.parent)
    assert a.version == b.version
    exs = split_of(read_manifest(demo_bundle.manifest))["test"][:40]
    data, _ = encode(exs, a.tokenizer, demo_bundle.manifest.parent, a.image_size, progress=False)
    for i in range(len(data)):
        post = {"text": exs[i].text, "tags": exs[i].tags, "image": data.images[i].numpy() if data.mask[i, 0] else None}
        pa, pb = a.predict(post), b.predict(post)
        assert pa == pb
        assert pa["head"] == "image_text_tags"
        assert abs(sum(pa["emotion_scores"].values()) - 1) < 1e-5


def test_predict_any_subset_uses_matching_head(demo_bundle):
    b = load_bundle(demo_bundle.bundle_path)
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    assert b.predict({"image": img})["head"] == "image"
    assert b.predict({"text": "happy party", "tags": []})["head"] == "text"
    assert b.predict({"tags": ["#x"], "image": img})["head"] == "image_tags"
    with pytest.raises(ValueError, match="at least one modality"):
        b.predict({"text": "", "tags": None})


def test_checkpoints_hold_the_last_and_the_best_epoch(demo_bundle):
    import torch

    last = torch.load(demo_bundle.checkpoints / "last.pt", weights_only=True)
    best = torch.load(demo_bundle.checkpoints / "best.pt", weights_only=True)
    assert last["epoch"] == demo_bundle.epochs
    assert best["epoch"] <= last["epoch"] and best["val_loss"] <= last["val_loss"]
    assert set(last["model"]) == set(load_bundle(demo_bundle.bundle_path).model.state_dict())
    assert last["optimizer"]["state"]
