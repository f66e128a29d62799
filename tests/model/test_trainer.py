"""The trainer's options on real training runs: presets, the image-feature cache keyed by the backbone's weights, an
epoch log that shows the labels that exist, and the TF-IDF baseline in the same harness."""

import argparse
import json
import math
import shutil

import numpy as np
import pytest
import torch

from contracts.combos import Combo
from core.manifest import Example
from model.architecture import ImageEncoder
from model.backbones import BACKBONES
from model.baseline import baseline_head
from model.bundle import load_bundle, save_bundle
from model.calibration import log_prior, offsets
from model.config import ModelConfig, TrainConfig
from model.data import Encoded, aux_targets, backbone_fingerprint, feature_cache_key, head_examples, pooled_features
from model.device import placement
from model.loss import aux_loss, multitask_loss
from model.train import build_model, calibrate_heads, class_weights, fit, prepare, score, train_args, train_config

DENSENET_FEATURES = BACKBONES["densenet121"].features


def test_presets():
    paper = TrainConfig.from_preset("paper")
    assert (paper.lr, paper.batch_size, paper.grad_clip, paper.early_stop, paper.lr_schedule) == (
        0.01,
        64,
        None,
        "loss",
        "none",
    )
    default = TrainConfig.from_preset("default", lr=0.002)
    assert default.lr == 0.002 and default.grad_clip == 1.0 and default.early_stop == "score"
    assert paper.text_widths == (3, 4, 5) and default.text_widths == (1, 2, 3)
    ap = argparse.ArgumentParser()
    train_args(ap)
    assert train_config(ap.parse_args(["--preset", "paper", "--text-widths", "2", "3"])).text_widths == (2, 3)
    for bad in ((), (0, 2)):
        with pytest.raises(ValueError, match="text_widths"):
            TrainConfig(text_widths=bad)
    with pytest.raises(SystemExit, match="--text-widths.0: Input should be greater than 0"):
        train_config(ap.parse_args(["--text-widths", "0"]))


def test_feature_cache_is_keyed_by_the_backbones_weights(demo_bundle, tmp_path):
    cache = tmp_path / "cache"
    feats = {}
    for seed in (0, 1, 0):
        cfg = TrainConfig(seed=seed, max_epochs=1, image_weights="none")  # a random backbone per seed
        prep = prepare(demo_bundle.manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
        model = build_model(prep, cfg, cache, log=lambda *_: None)
        feats.setdefault(seed, []).append((backbone_fingerprint(model.image), prep.splits["test"].image_pooled))
    (fp0, f0), (fp1, f1), (fp0b, f0b) = feats[0][0], feats[1][0], feats[0][1]
    assert fp0 != fp1 and fp0 == fp0b
    assert not torch.allclose(f0, f1) and torch.equal(
        f0, f0b
    )  # two seeds never share features; one seed reuses its own
    assert len(list(cache.glob("pooled-*.pt"))) == 2 * 3  # per seed: train, val, test


def _text_only(demo_bundle, out, keep_every: int = 1):
    rows = [json.loads(line) for line in demo_bundle.manifest.read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if k != "image"} for r in rows[::keep_every] if r.get("text") or r.get("tags")]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def test_feature_cache_gives_each_data_set_its_own_features(demo_bundle, tmp_path):
    """Two text-only sets of different sizes share nothing (the cache once handed one's tensor to the other: an
    IndexError in training), and two image sets with the same images in another order get their features on the right
    rows, equal to an uncached computation."""
    cache = tmp_path / "cache"
    cfg = TrainConfig(seed=0, max_epochs=1)
    sizes = []
    for i, every in enumerate((1, 2)):
        manifest = _text_only(demo_bundle, tmp_path / f"text{i}.jsonl", every)
        prep = prepare(manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
        build_model(prep, cfg, cache, log=lambda *_: None)
        for split in prep.splits.values():
            assert split.image_pooled.shape == (len(split), BACKBONES[cfg.image_backbone].features)
        sizes.append(len(prep.splits["train"]))
    assert sizes[0] != sizes[1]

    torch.manual_seed(0)
    encoder = ImageEncoder().eval()
    n = 6
    images = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8)
    mask = torch.zeros(n, 3, dtype=torch.bool)
    mask[[0, 2, 3, 5], 0] = True
    labels = torch.zeros(n, dtype=torch.long)

    def data(order):
        o = torch.tensor(order)
        return Encoded([str(i) for i in order], mask[o], labels[o], labels[o], images[o], labels[o], labels[o])

    for order in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 0, 1, 5, 3, 4]):
        d = data(order)
        cached = pooled_features(encoder, d, cache, progress=False)
        fresh = pooled_features(encoder, d, None, progress=False)
        assert torch.allclose(cached, fresh, atol=1e-5), order
        assert (cached[~d.mask[:, 0]] == 0).all()
    # a file under a key whose tensor has another shape (a cache written by an older version) is not used
    d = data([0, 1, 2, 3, 4, 5])
    path = cache / f"pooled-{feature_cache_key(backbone_fingerprint(encoder), d)}.pt"
    torch.save(torch.zeros(3, DENSENET_FEATURES), path)
    assert pooled_features(encoder, d, cache, progress=False).shape == (n, DENSENET_FEATURES)


def _sentiment_only(demo_bundle, tmp_path):
    rows = [json.loads(line) for line in demo_bundle.manifest.read_text().splitlines()]
    out = tmp_path / "manifest.jsonl"
    out.write_text(
        "".join(
            json.dumps(
                {
                    "id": r["id"],
                    "text": r.get("text"),
                    "tags": r.get("tags"),
                    "split": r["split"],
                    "sentiment": "positive"
                    if r["emotion"] in ("amusement", "awe", "contentment", "excitement")
                    else "negative",
                }
            )
            + "\n"
            for r in rows
            if r.get("text")
        )
    )
    return out


def test_epoch_log_shows_the_labels_that_exist(demo_bundle, tmp_path):
    manifest = _sentiment_only(demo_bundle, tmp_path)
    cfg = TrainConfig(max_epochs=2, seed=0)
    prep = prepare(manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    model = build_model(prep, cfg, None, log=lambda *_: None)
    assert [c.kernel_size[0] for c in model.text.convs] == list(cfg.text_widths)  # the preset reaches the model
    lines = []
    history = fit(model, prep.splits["train"], prep.splits["val"], cfg, log=lines.append, progress=False)
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 2 and all(
        "sent 0." in line and "emo" not in line and "nan" not in line for line in epoch_lines
    )
    assert 0.5 < history[-1]["val_score"] <= 1 and history[-1]["examples_per_s"] > 0
    assert head_examples(prep.splits["train"])["text"] > 0 and head_examples(prep.splits["train"])["image"] == 0


def _epoch_before_the_device_code(model, train, cfg) -> float:
    """The trainer's epoch as it was before --device (commit c22ae23): CPU tensors, no autocast, no scaler."""
    gen = torch.Generator().manual_seed(cfg.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    weights = class_weights(train, cfg.class_weight_power)
    model.train()
    model.image.backbone.eval()
    total, n = 0.0, 0
    for idx in train.index_batches(cfg.batch_size, shuffle=True, generator=gen):
        batch, emo, sent = train.labelled_batch(idx)
        outputs = model.classify(model.encode(batch), batch["mask"], None)
        loss, _ = multitask_loss(outputs, emo, sent, len(emo), weights, train.neutral[idx], cfg.neutral_weight)
        total += loss.item() * len(emo)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        n += len(emo)
    return total / n


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device_code_leaves_cpu_training_unchanged(demo_bundle, device):
    """One epoch through fit() (placement, batches delivered by Encoded.on, autocast and scaler no-ops on the CPU)
    has the loss of the loop it replaced, to 1e-6, from the same seed; 'auto' is the CPU on a host without a GPU."""
    if device == "auto" and placement("auto").cuda:
        device = "cpu"  # on a GPU host 'auto' trains on the GPU, in mixed precision: not this comparison
    cfg = TrainConfig(seed=0, max_epochs=1, device=device, aux_weight=0)
    prep = prepare(demo_bundle.manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    history = fit(
        build_model(prep, cfg, None, log=lambda *_: None),
        prep.splits["train"],
        prep.splits["val"],
        cfg,
        log=lambda *_: None,
        progress=False,
    )
    before = _epoch_before_the_device_code(build_model(prep, cfg, None, log=lambda *_: None), prep.splits["train"], cfg)
    assert history[0]["train_loss"] == pytest.approx(before, abs=1e-6, rel=0)
    assert not placement("cpu").cuda and placement("cpu").amp_dtype is None


def test_cuda_without_a_gpu_is_said_plainly():
    if torch.cuda.is_available():
        assert placement("cuda").cuda
    else:
        with pytest.raises(RuntimeError, match="sees no GPU"):
            placement("cuda")


def test_score_weights_heads_by_their_examples():
    metrics = {
        "text": {"n": 900, "emotion_f1": 0.6, "sentiment_acc": 0.8},
        "tags": {"n": 100, "emotion_f1": float("nan"), "sentiment_acc": 0.0},
    }
    assert score(metrics) == pytest.approx((0.6 * 900 + 0.8 * 900) / (1900))


def test_baseline_learns_the_synthetic_cues(demo_bundle):
    cfg = TrainConfig(seed=1)
    prep = prepare(demo_bundle.manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    build_model(prep, cfg, None, log=lambda *_: None)
    for combo in ("text", "tags", "image_text_tags"):
        r = baseline_head(Combo.parse(combo), prep.tokenizer, prep.examples, prep.splits, grid=[(1.0, None)])
        assert r["n"] > 50 and r["emotion_acc"] > 0.3 and not math.isnan(r["sentiment_acc"]), (combo, r)


def test_calibration_shifts_the_emotion_logits_and_travels_in_the_bundle(demo_bundle, tmp_path):
    cfg = TrainConfig(max_epochs=2, seed=3, class_weight_power=1.0)
    prep = prepare(demo_bundle.manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    model = build_model(prep, cfg, tmp_path / "cache", log=lambda *_: None)
    history = fit(model, prep.splits["train"], prep.splits["val"], cfg, log=lambda *_: None, progress=False)
    batch = prep.splits["test"].batch(torch.arange(20))
    model.eval()
    with torch.no_grad():
        raw = model(batch)["text"][1]
    lines = []
    taus = calibrate_heads(model, prep.splits["train"], prep.splits["val"], cfg, log=lines.append)
    assert set(taus) == {c for c, n in head_examples(prep.splits["train"]).items() if n} and "T " in lines[0]
    prior = log_prior(prep.splits["train"].emotion.numpy(), 8)
    for combo, tau in taus.items():
        np.testing.assert_allclose(model.heads[combo].emotion_offset.numpy(), offsets(tau, prior), rtol=1e-6)
    with torch.no_grad():
        adjusted = model(batch)["text"][1]
    torch.testing.assert_close(adjusted, raw + torch.from_numpy(offsets(taus["text"], prior)))
    # the offsets are part of the weights: the bundle (and so the Triton export) scores with them
    path = save_bundle(tmp_path / "b", model, prep, cfg, history, {}, None, taus)
    loaded = load_bundle(path)
    assert {c.name: t for c, t in loaded.meta.emotion_tau.items()} == taus
    for combo in taus:
        torch.testing.assert_close(loaded.model.heads[combo].emotion_offset, model.heads[combo].emotion_offset)


def test_bundles_from_before_the_calibration_load_with_zero_offsets(demo_bundle, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(demo_bundle.bundle_path, old)
    state = torch.load(old / "weights.pt", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.endswith("emotion_offset")}, old / "weights.pt")
    assert all(float(h.emotion_offset.abs().sum()) == 0 for h in load_bundle(old).model.heads.values())
    torch.save({k: v for k, v in state.items() if not k.startswith("text.fc")}, old / "weights.pt")
    with pytest.raises(ValueError, match="text.fc"):
        load_bundle(old)


def test_aux_targets_and_loss():
    rows = [
        Example(id="a", text="x", categories=["joy", "love"]),
        Example(id="b", text="y", categories=["other"]),
        Example(id="c", text="z"),
    ]
    target = aux_targets(rows, ("joy", "love", "neutral"))
    torch.testing.assert_close(target, torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    logits = torch.tensor([[2.0, 0.0, -1.0], [5.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    want = -(0.5 * torch.log_softmax(logits[0], 0)[:2]).sum() / 3  # rows without categories add nothing
    torch.testing.assert_close(aux_loss(logits, target, 3), want)


def _with_categories(demo_bundle, tmp_path):
    rows = [json.loads(line) for line in demo_bundle.manifest.read_text().splitlines()]
    out = tmp_path / "manifest.jsonl"
    cats = lambda r: [r["emotion"] or "neutral", f"{r['split']}-only"]  # noqa: E731
    out.write_text("".join(json.dumps({**r, "categories": cats(r)}) + "\n" for r in rows))
    return out


def test_source_categories_train_an_auxiliary_text_output_kept_in_the_bundle(demo_bundle, tmp_path):
    manifest = _with_categories(demo_bundle, tmp_path)
    cfg = TrainConfig(max_epochs=1, seed=0)
    prep = prepare(manifest, cfg, ModelConfig(image_size=64), log=lambda *_: None)
    cats = prep.model_cfg.aux_categories
    assert "train-only" in cats and "val-only" not in cats and list(cats) == sorted(cats)  # from the training split
    train = prep.splits["train"]
    torch.testing.assert_close(train.aux.sum(1), torch.ones(len(train)))
    assert ((prep.splits["val"].aux > 0).sum(1) == 1).all()  # "val-only" is not a training category: ignored
    model = build_model(prep, cfg, tmp_path / "cache", log=lambda *_: None)
    before = model.aux.weight.detach().clone()
    lines = []
    history = fit(model, train, prep.splits["val"], cfg, log=lines.append, progress=False)
    assert not torch.allclose(before, model.aux.weight)  # the auxiliary loss reaches its output
    assert history[-1]["train_aux_loss"] > 0 and "(aux " in lines[0]  # logged apart from the multitask loss
    path = save_bundle(tmp_path / "b", model, prep, cfg, history, {}, None, {})
    loaded = load_bundle(path)
    assert loaded.config.aux_categories == cats
    torch.testing.assert_close(loaded.model.aux.weight, model.aux.weight)
    off = prepare(manifest, TrainConfig(aux_weight=0), ModelConfig(image_size=64), log=lambda *_: None)
    assert off.model_cfg.aux_categories == () and off.splits["train"].aux is None
    assert build_model(off, cfg, tmp_path / "cache", log=lambda *_: None).aux is None
    assert TrainConfig.from_preset("paper").aux_weight == 0
