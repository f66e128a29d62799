"""bench/gpu.sh is ready for a GPU machine: its CPU dry run goes through every step (export with the runner's
providers, perf_analyzer and our client on the image ensemble, the mixed end-to-end stream, the training step of each
backbone) and writes the report."""

import json
import subprocess

import pytest

from tests.helpers.stream import ROOT

pytestmark = pytest.mark.stack


def test_gpu_script_dry_run_on_the_cpu(stack):
    res = subprocess.run(
        ["bash", "bench/gpu.sh", "--cpu", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads((ROOT / "artifacts/bench/gpu.json").read_text())
    assert report["device"] == "cpu" and [r["batch"] for r in report["image_ensemble"]] == [1, 4]
    assert all(r["perf_analyzer_img_per_s"] > 0 and 0.5 < r["own_over_pa"] < 2 for r in report["image_ensemble"])
    mixed = report["end_to_end"]["layouts"]["shared"]["streams"]["mixed"]
    run = next(iter(mixed["runs"].values()))
    assert run["n"]["median"] > 0 and run["posts_per_s"]["median"] > 0 and run["50%"]["n"]["median"] > 0
    assert "Image ensemble on the cpu" in (ROOT / "artifacts/bench/gpu.md").read_text()
    training = {r["backbone"]: r for r in report["training"]}  # the trainer's step, each backbone, on the CPU here
    assert set(training) == {"densenet121", "efficientnet-lite0"}
    assert all(r["device"] == "cpu" and r["amp"] is None and r["frozen_examples_per_s"] > 0 for r in training.values())
    assert all(r["finetune_examples_per_s"] > 0 for r in training.values())
