"""`emostream experiment` end to end on the synthetic demo data (64 px, 2 epochs: the machinery, not the numbers):
c with the paper's 1 % fraction, a with --trimodal-only testing every head on the trimodal test posts, b reporting
late fusion's sentiment."""

import json

import pytest

from contracts.combos import COMBO_NAMES
from model.config import ModelConfig, TrainConfig
from model.experiments import main, trimodal_view
from model.train import prepare

FAST = ["--repeats", "1", "--max-epochs", "2", "--image-size", "64", "--quiet"]


def _run(which, demo_bundle, tmp_path, *extra) -> dict:
    out = tmp_path / "exp"
    args = [which, "--manifest", str(demo_bundle.manifest), "--out", str(out), "--cache", str(tmp_path / "c")]
    assert main([*args, *FAST, *extra]) == 0
    (run,) = out.iterdir()
    return json.loads((run / "results.json").read_text())["runs"][0]


def test_trimodal_view_cuts_every_split_and_keeps_examples_aligned(demo_bundle):
    prep = prepare(demo_bundle.manifest, TrainConfig(), ModelConfig(image_size=64), log=lambda *_: None)
    view = trimodal_view(prep)
    for name, enc in view.splits.items():
        assert len(enc) == int(prep.splits[name].mask.all(dim=1).sum()) > 0
        assert enc.mask.all() and enc.ids == [e.id for e in view.examples[name]]


def test_experiment_c_runs_the_one_percent_fraction(demo_bundle, tmp_path):
    rows = _run("c", demo_bundle, tmp_path, "--fractions", "0.01", "1")
    assert list(rows) == ["0.01", "1"]
    for p in rows.values():
        assert {"multitask", "single-task"} == set(p) and all(0 <= v["emotion_acc"] <= 1 for v in p.values())


@pytest.mark.parametrize("which", ["a", "b"])
def test_trimodal_only_and_late_fusion_sentiment(demo_bundle, tmp_path, which):
    prep = prepare(demo_bundle.manifest, TrainConfig(), ModelConfig(image_size=64), log=lambda *_: None)
    trimodal_test = int(prep.splits["test"].mask.all(dim=1).sum())
    if which == "a":
        rows = _run("a", demo_bundle, tmp_path, "--trimodal-only")
        assert {rows[c]["multitask"]["n"] for c in COMBO_NAMES} == {trimodal_test}  # every head, the same posts
    else:
        rows = _run("b", demo_bundle, tmp_path)
        for c in COMBO_NAMES:
            assert 0 <= rows[c]["late fusion"]["sentiment_acc"] <= 1 and rows[c]["multitask"]["n"] == trimodal_test
